"""Signed summary entries: the envelope, signing and verification.

An entry's **payload** is the canonical msgpack (:mod:`protocol.wire`) of the
map::

    {"author": <32-byte node id>, "body": {...}, "key": <text>,
     "kind": "genesis" | "admit" | "profile" | "practice" | "credit" | "retract",
     "network": <32-byte network id>, "version": <int, ms>}

Its **signature** is Ed25519 by ``author`` over::

    b"hedgerow/entry/v2\\x00" + network id + payload

A ``genesis`` entry must found the network it is signed for: its network id
is :func:`protocol.bodies.network_id_of` its author and nonce.

The prefix separates entry signatures from every other thing a node key signs
(HTTP messages); the network id is mixed in so that an entry signed for one
network is worthless in another even if the payload were rewritten
(DESIGN.md "Concepts: Network").

The **entry id** is SHA-256 of the payload bytes. An entry travels as the
exact bytes that were signed, ``[payload, signature]`` (a two-element
msgpack list inside a larger message, or :func:`encode_signed` alone).

Verification order (each step refuses with a specific :class:`EntryError`):
size → decode (canonical, :func:`protocol.wire.decode`) → envelope shape →
network → body schema → signature over the bytes received. Checking the
signature last keeps messages precise; a forged entry never passes, and the
cheap checks spare the expensive one for hopeless input.

Valid payloads take a quick path (msgspec decodes the envelope into a typed
struct, checking its bounds in C, and re-encodes it); anything it does not
accept goes through the strict path above, which alone words the errors, so
the quick path changes speed, never verdicts or messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Annotated, Any, Final

import msgspec
from cryptography.exceptions import InvalidSignature

from .bodies import KINDS, check_decoded_body, network_id_of
from .errors import DecodeError, EntryError, InvalidArgument, SignatureError, WrongNetwork
from .ids import short_id
from .keys import SIGNATURE_LENGTH, NodeKey, public_key
from .wire import decode, decode_for_schema, encode

__all__ = [
    "MAX_ENTRY_BYTES",
    "SIGNATURE_PREFIX",
    "Entry",
    "SignedEntry",
    "VerifiedEntry",
    "decode_signed",
    "encode_signed",
    "entry_id",
    "sign_entry",
    "verify_entries",
    "verify_entry",
]

#: Largest signed entry (payload + signature), DESIGN.md / issue: ≤ 16 KiB.
MAX_ENTRY_BYTES = 16 * 1024
SIGNATURE_PREFIX = b"hedgerow/entry/v2\x00"
_MAX_VERSION = 2**63 - 1
_MAX_KEY = 160
_ENVELOPE_FIELDS = ("author", "body", "key", "kind", "network", "version")


# The three entry types are frozen msgspec Structs rather than frozen
# dataclasses: the same guarantees (immutable, typed fields, compared by
# value), but built in C. A frozen dataclass sets each field through
# object.__setattr__, about 1 µs per entry for these three, which was a
# tenth of Hedgerow's own work per received entry.


class Entry(msgspec.Struct, frozen=True, gc=False):
    """A decoded, validated entry (the content of a payload)."""

    network: bytes
    author: bytes
    kind: str
    key: str
    version: int
    body: dict[str, Any]

    def payload(self) -> bytes:
        return encode({
            "author": self.author, "body": self.body, "key": self.key, "kind": self.kind,
            "network": self.network, "version": self.version,
        })

    def describe(self) -> str:
        """A short human label, e.g. ``practice repair-cafe v1700… by 54TXMKB``."""
        return f"{self.kind} {self.key} v{self.version} by {short_id(self.author)}"


class SignedEntry(msgspec.Struct, frozen=True, gc=False):
    """The exact bytes that were signed, and the signature. Verify before trusting."""

    payload: bytes
    sig: bytes

    @property
    def id(self) -> bytes:
        """The entry id: SHA-256 of the payload bytes."""
        return entry_id(self.payload)

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.sig)

    def to_wire(self) -> list[bytes]:
        return [self.payload, self.sig]


class VerifiedEntry(msgspec.Struct, frozen=True, gc=False):
    """An entry whose signature, network and schema have all been checked."""

    entry: Entry
    signed: SignedEntry
    id: bytes


# A fresh hash object makes OpenSSL 3 look the algorithm up in its provider
# tables (ossl_sa_get, ossl_ht_get under perf); a copy of one made in advance
# skips that. Within verify_entries, hashing a payload cost 4.5–6.5 µs with a
# fresh object and 1.5–2 µs with a copy (measured in one process, 4,000
# entries), where a hot micro-benchmark shows only 1.4 against 0.95 µs.
_SHA256: Final = hashlib.sha256()


def entry_id(payload: bytes) -> bytes:
    """The entry id: SHA-256 of the payload bytes."""
    digest = _SHA256.copy()
    digest.update(payload)
    return digest.digest()


def _signing_message(network: bytes, payload: bytes) -> bytes:
    return SIGNATURE_PREFIX + network + payload


def sign_entry(key: NodeKey, entry: Entry) -> SignedEntry:
    """Validate ``entry`` as a receiver would, then sign it with ``key``.

    Raises :class:`InvalidArgument` if ``key`` is not the entry's author and
    :class:`EntryError` (with the same message a peer would get) if the entry
    is invalid: a node never signs what others would refuse.
    """
    if key.public != entry.author:
        raise InvalidArgument("an entry can only be signed by its author's key")
    payload = entry.payload()
    if len(payload) + SIGNATURE_LENGTH > MAX_ENTRY_BYTES:
        raise EntryError(f"entry is {len(payload) + SIGNATURE_LENGTH} bytes; the limit is "
                         f"{MAX_ENTRY_BYTES}", code="entry_too_large")
    # Check the canonical bytes exactly as a receiver will.
    _read_payload(payload, None)
    return SignedEntry(payload, key.sign(_signing_message(entry.network, payload)))


def encode_signed(signed: SignedEntry) -> bytes:
    return encode(signed.to_wire())


def decode_signed(data: bytes | list[Any]) -> SignedEntry:
    """Read ``[payload, signature]`` (bytes, or a value already decoded) without verifying."""
    value = decode(data, max_bytes=MAX_ENTRY_BYTES + 16) if isinstance(data, bytes) else data
    if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], bytes)
            or not isinstance(value[1], bytes)):
        raise EntryError("an entry is [payload bytes, signature bytes]", code="bad_envelope")
    return SignedEntry(value[0], value[1])


class _Payload(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """A payload as the quick decoder reads it: the envelope's fields in
    canonical order, their types and bounds checked in C as it decodes."""

    author: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    body: dict[str, Any]
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=_MAX_KEY)]
    kind: str
    network: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    version: Annotated[int, msgspec.Meta(ge=1, le=_MAX_VERSION)]


# msgspec decodes a payload into the struct above, checking the envelope as
# it goes, and encodes it back with less than half the work msgpack-python's
# unpack and re-pack took (callgrind, a practice entry: 27k instructions
# against 61k), where entries are checked by the thousand. Both libraries
# write the smallest form of every integer, string, byte string, list and
# map, in the order given (tests/protocol/test_wire.py checks that they
# agree), so "re-encodes to itself" means the same for both.
_decode_payload = msgspec.msgpack.Decoder(_Payload).decode
_encode_payload = msgspec.msgpack.Encoder().encode


def _read_payload(payload: bytes, network: bytes | None) -> Entry:
    """Decode and check a payload whose size the caller has checked.

    decode → envelope shape → network (when given) → field bounds → body
    schema, each once: this runs once per received entry (DESIGN.md "What
    good means": ingest is bound by signature verification, not by our own
    code). The quick decoder goes first; the strict one only when it does
    not accept the payload.
    """
    return _check_payload(_decode_quickly(payload, network), payload, network)


def _decode_quickly(payload: bytes, network: bytes | None) -> _Payload | None:
    """The payload's envelope if the quick decoder accepts it for ``network``, else None."""
    try:
        quick = _decode_payload(payload)
        # Re-encoding gives the same bytes only if the input used the
        # smallest forms, had no duplicate or unknown fields and nothing
        # after the value (DESIGN.md "Wire protocol"); the envelope's keys
        # are then in canonical order too, the body's are checked with it.
        if _encode_payload(quick) == payload and (network is None or quick.network == network):
            return quick
    except Exception:
        # Whatever is wrong (msgspec's errors, nesting past the interpreter's
        # limit, ...) is found again, and worded, by _read_strictly, so every
        # implementation gives the same error for the same bytes.
        pass
    return None


def _check_payload(quick: _Payload | None, payload: bytes, network: bytes | None) -> Entry:
    """Check the body of a payload the quick decoder accepted (``quick``), or
    read the payload strictly if it did not."""
    if quick is None:
        return _read_strictly(payload, network)
    try:
        check_decoded_body(quick.kind, quick.key, quick.body, quick.author)
    except Exception:
        # The body may hold what the strict decoder refuses before any schema
        # (ext types, floats, ...): the strict path words what is wrong. A
        # fault in the checks themselves is raised again there.
        return _read_strictly(payload, network)
    if quick.kind == "genesis":
        _check_genesis(quick.author, quick.body, quick.network)
    return Entry(quick.network, quick.author, quick.kind, quick.key, quick.version, quick.body)


def _check_genesis(author: bytes, body: dict[str, Any], network: bytes) -> None:
    # DESIGN.md "Membership": the network id is derived from the founder's
    # signed genesis entry, so a genesis founds exactly one network.
    if network_id_of(author, body["nonce"]) != network:
        raise EntryError("genesis: this entry does not found the network it is signed for",
                         code="bad_genesis")


def _read_strictly(payload: bytes, network: bytes | None) -> Entry:
    """Decode with the strict decoder (msgpack-python and the byte scanner), then check."""
    try:
        value = decode_for_schema(payload, max_bytes=MAX_ENTRY_BYTES)
    except DecodeError as exc:
        raise EntryError(f"payload: {exc.message}", code=exc.code) from exc
    return _read_decoded(value, network)


def _read_decoded(value: Any, network: bytes | None) -> Entry:
    """Check a decoded payload: envelope, network, field bounds, body and key."""
    if type(value) is not dict or tuple(value) != _ENVELOPE_FIELDS:
        raise _envelope_fields_error(value)
    author, body, key, kind, entry_network, version = value.values()
    if type(entry_network) is not bytes or type(author) is not bytes:
        raise EntryError("network and author must be byte strings", code="bad_envelope")
    if type(kind) is not str or type(key) is not str:
        raise EntryError("kind and key must be text", code="bad_envelope")
    if type(version) is not int:
        raise EntryError("version: must be an integer", code="bad_version")
    if network is not None and entry_network != network:
        raise WrongNetwork("entry was signed for another network", code="wrong_network")
    if len(entry_network) != 32:
        raise EntryError("network: must be a 32-byte network id", code="bad_envelope")
    if len(author) != 32:
        raise EntryError("author: must be a 32-byte node id", code="bad_envelope")
    if kind not in KINDS:
        raise EntryError(f"kind: unknown kind; expected one of {', '.join(KINDS)}",
                         code="unknown_kind")
    if not 1 <= len(key) <= _MAX_KEY:
        raise EntryError(f"key: must be 1 to {_MAX_KEY} characters", code="bad_key")
    if not 1 <= version <= _MAX_VERSION:
        raise EntryError("version: must be a positive 63-bit integer", code="bad_version")
    check_decoded_body(kind, key, body, author)
    if kind == "genesis":
        _check_genesis(author, body, entry_network)
    return Entry(entry_network, author, kind, key, version, body)


def _envelope_fields_error(value: Any) -> EntryError:
    if not isinstance(value, dict):
        return EntryError("payload must be a map", code="bad_envelope")
    if sorted(value, key=str) == list(_ENVELOPE_FIELDS):
        return EntryError("payload: fields out of order", code="unsorted_keys")
    missing = [f for f in _ENVELOPE_FIELDS if f not in value]
    extra = [f for f in value if f not in _ENVELOPE_FIELDS]
    what = (f"missing {', '.join(missing)}" if missing else "") + \
           ("; " if missing and extra else "") + \
           (f"unknown field {', '.join(repr(e[:40]) for e in extra)}" if extra else "")
    return EntryError(f"payload: {what}", code="bad_envelope")


def _check_sizes(signed: SignedEntry) -> None:
    payload, sig = signed.payload, signed.sig
    if len(payload) + len(sig) > MAX_ENTRY_BYTES:
        raise EntryError(f"entry is {len(payload) + len(sig)} bytes; the limit is "
                         f"{MAX_ENTRY_BYTES}", code="entry_too_large")
    if len(sig) != SIGNATURE_LENGTH:
        raise EntryError(f"signature is {len(sig)} bytes; Ed25519 signatures are "
                         f"{SIGNATURE_LENGTH}", code="bad_signature_length")


def _signature_error() -> SignatureError:
    return SignatureError("signature does not verify", code="bad_signature")


def verify_entry(signed: SignedEntry, network: bytes) -> VerifiedEntry:
    """Fully check a received entry for ``network``; raise :class:`EntryError` if bad."""
    _check_sizes(signed)
    entry = _read_payload(signed.payload, network)
    # Verify over the exact bytes received (DESIGN.md "Wire protocol"); the
    # canonical re-encode check already happened in _read_payload.
    try:
        public_key(entry.author).verify(signed.sig, SIGNATURE_PREFIX + network + signed.payload)
    except InvalidSignature as exc:
        raise _signature_error() from exc
    return VerifiedEntry(entry, signed, entry_id(signed.payload))


def verify_entries(batch: Sequence[SignedEntry],
                   network: bytes) -> list[VerifiedEntry | EntryError]:
    """:func:`verify_entry` for every entry of a batch, in order: each one's
    :class:`VerifiedEntry`, or the :class:`EntryError` it would raise.

    The same checks in the same order for each entry, done in two passes:
    every entry is decoded and its body checked, then every signature is
    verified. Checking a body straight after decoding it finds its objects
    still in the CPU's caches, and verifying signatures one after another
    keeps the curve arithmetic's code and tables there. Measured in one
    process against the other orders: +0.9 to +2.4 points of the
    bench_protocol ratio over decoding all, checking all, then verifying
    all; about 3 points over doing everything entry by entry.
    """
    checked: list[Entry | EntryError] = []
    keep = checked.append
    for signed in batch:
        try:
            _check_sizes(signed)
            keep(_check_payload(_decode_quickly(signed.payload, network), signed.payload,
                                network))
        except EntryError as exc:
            keep(exc)
    prefix = SIGNATURE_PREFIX + network
    results: list[VerifiedEntry | EntryError] = []
    give = results.append
    for signed, entry in zip(batch, checked, strict=True):
        if isinstance(entry, EntryError):
            give(entry)
            continue
        try:
            public_key(entry.author).verify(signed.sig, prefix + signed.payload)
        except InvalidSignature:
            give(_signature_error())
            continue
        give(VerifiedEntry(entry, signed, entry_id(signed.payload)))
    return results
