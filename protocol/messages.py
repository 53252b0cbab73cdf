"""Sync messages (wire protocol version 2): the bodies of ``/sync/v2/…`` requests.

Every body is one canonical msgpack map (:mod:`protocol.wire`). Each endpoint
has a request and a reply; both directions are parsed with the same strict
rules, because a client is as hostile to a server as a server to a client.

=============  ======================================  =========================================
endpoint       request                                 reply
=============  ======================================  =========================================
``reconcile``  ``{"frame": <bytes>,                      ``{"held": {<set>: <count>, …},
               "sets": {<set>: <Negentropy V1          "sets": {<set>: <Negentropy V1
               message>, …}}``                         message>, …}}``
``fetch``      ``{"ids": [<32-byte id>, …]}``           ``{"entries": [[payload, sig], …],
                                                         "more": [<id>, …]}``
``push``       ``{"entries": [[payload, sig], …]}``    ``{"results": [<outcome> |
                                                         [<outcome>, <reason>], …]}``
``join``       ``{"invitation": <8-byte id>,           ``{"entries": [[payload, sig], …]}``
               "proof": <32 bytes>}``                  (≤ 66)
=============  ======================================  =========================================

``reconcile`` runs over one or both of two sets of the server's current
entries, each its own Negentropy exchange: ``all`` of them, and the
``members`` set (the genesis, admissions and withdrawn admissions), whose
missing entries a session fetches first so that it knows who the members
are before it takes in their entries (DESIGN.md "Membership"). A request
names the sets still being reconciled; the reply answers each. Two nodes
that agree learn it for both sets in one round trip.

``frame`` (optional) is the largest Negentropy message the client wants back
for each set: the server answers within ``min(frame, its own limit)``, never
less than :data:`~protocol.negentropy.MIN_FRAME_SIZE_LIMIT` (Negentropy V1's
frame-size rule: a reply that would not fit is cut and the rest of the space
answered next round). Large frames make a large difference take a handful of
round trips: a 1 MiB frame carries about 32,000 ids. Without ``frame`` the
server uses :data:`DEFAULT_REPLY_FRAME`. The reply says how many items the
server holds in each set (``held``), so a client can show how far it has
got.
``join`` is the one request a node that is not yet a member may make: it
proves it holds an invitation (:func:`protocol.invitations.join_proof`), and
the reply holds the network's genesis, the admissions on the inviter's own
chain from the founder, and the admission the inviter signed.

``fetch`` returns the requested entries it still holds, in any order, up to a
byte budget; ids left out for lack of room are listed in ``more`` so the
client asks again. Ids it no longer holds (superseded meanwhile) are simply
absent. ``push`` carries at most :data:`MAX_PUSH_ENTRIES` entries and gets one
result per entry, in order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .entries import MAX_ENTRY_BYTES, SignedEntry
from .errors import DecodeError, SessionError
from .invitations import INVITATION_ID_BYTES, JOIN_PROOF_BYTES
from .negentropy import MIN_FRAME_SIZE_LIMIT
from .wire import decode, encode

__all__ = [
    "DEFAULT_REPLY_FRAME",
    "ENDPOINTS",
    "MAX_FETCH_IDS",
    "MAX_FETCH_REPLY_BYTES",
    "MAX_JOIN_CHAIN",
    "MAX_NEG_MESSAGE_BYTES",
    "MAX_PUSH_BYTES",
    "MAX_PUSH_ENTRIES",
    "MAX_REPLY_FRAME",
    "OUTCOMES",
    "PROTOCOL_VERSION",
    "RECONCILE_SETS",
    "PushResult",
    "decode_fetch_reply",
    "decode_fetch_request",
    "decode_join_reply",
    "decode_join_request",
    "decode_push_reply",
    "decode_push_request",
    "decode_reconcile",
    "decode_reconcile_reply",
    "decode_reconcile_request",
    "encode_fetch_reply",
    "encode_fetch_request",
    "encode_join_reply",
    "encode_join_request",
    "encode_push_reply",
    "encode_push_request",
    "encode_reconcile",
    "encode_reconcile_reply",
    "encode_reconcile_request",
]

#: The version of the wire protocol and entry format (docs/protocol.md). Nodes of
#: different versions do not sync: each refuses the other, naming both versions.
PROTOCOL_VERSION: Final = 2
#: The sync endpoints, under ``/sync/v<PROTOCOL_VERSION>/``.
ENDPOINTS: Final = ("reconcile", "fetch", "push", "join")
#: The sets a reconcile request may name.
RECONCILE_SETS: Final = ("all", "members")
#: Admissions on the inviter's chain a join reply carries at most (DESIGN.md: a node is
#: a member while a chain of admissions leads to it); deeper chains come with the sync.
MAX_JOIN_CHAIN: Final = 64
#: Entries in a join reply: the genesis, the inviter's chain, the new admission.
_MAX_JOIN_ENTRIES: Final = MAX_JOIN_CHAIN + 2
#: Request bodies are capped at 256 KiB (issue: "request body ≤ 256 KiB").
MAX_REQUEST_BYTES: Final = 256 * 1024
#: The Negentropy messages of a request are bounded well inside its body.
MAX_NEG_MESSAGE_BYTES: Final = 200 * 1024
#: The largest reply frame (per set) a client may ask for: about 32,000 ids, so that
#: a difference of 100,000 entries is found in four round trips, not fifty.
MAX_REPLY_FRAME: Final = 1024 * 1024
#: The reply frame when a request does not ask for one.
DEFAULT_REPLY_FRAME: Final = 60_000
#: Ids in one fetch request: with entries of about 500 bytes, one full reply.
MAX_FETCH_IDS: Final = 2000
#: A fetch reply is filled up to this many bytes of entries (then ``more``).
MAX_FETCH_REPLY_BYTES: Final = 2 * 1024 * 1024
#: Limits on everything a peer sends: at most 50 entries per push.
MAX_PUSH_ENTRIES: Final = 50
MAX_PUSH_BYTES: Final = 200 * 1024
OUTCOMES: Final = ("accepted", "duplicate", "stale", "fork", "pending", "rejected")
_ID = 32


@dataclass(frozen=True, slots=True)
class PushResult:
    id: bytes
    outcome: str
    reason: str = ""


def _parse(body: bytes, max_bytes: int, fields: tuple[str, ...], what: str) -> dict[str, Any]:
    try:
        value = decode(body, max_bytes=max_bytes)
    except DecodeError as exc:
        raise SessionError(f"{what}: {exc.message}", code=exc.code) from exc
    if not isinstance(value, dict) or tuple(value) != fields:
        raise SessionError(f"{what} must be a map with exactly {', '.join(fields)}",
                           code="bad_message")
    return value


def _ids(value: Any, limit: int, what: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > limit:
        raise SessionError(f"{what}: a list of at most {limit} ids", code="bad_message")
    for item in value:
        if not isinstance(item, bytes) or len(item) != _ID:
            raise SessionError(f"{what}: every id is {_ID} bytes", code="bad_message")
    return value


def _entries(value: Any, limit: int, what: str) -> list[SignedEntry]:
    if not isinstance(value, list) or len(value) > limit:
        raise SessionError(f"{what}: a list of at most {limit} entries", code="bad_message")
    out = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], bytes)
                or not isinstance(item[1], bytes)
                or len(item[0]) + len(item[1]) > MAX_ENTRY_BYTES):
            raise SessionError(f"{what}: each entry is [payload, signature] within "
                               f"{MAX_ENTRY_BYTES} bytes", code="bad_message")
        out.append(SignedEntry(item[0], item[1]))
    return out


def _neg(value: Any) -> bytes:
    if not isinstance(value, bytes) or not value or len(value) > MAX_NEG_MESSAGE_BYTES:
        raise SessionError("reconcile message: neg must be 1 to "
                           f"{MAX_NEG_MESSAGE_BYTES} bytes", code="bad_message")
    return value


def encode_reconcile(messages: Mapping[str, bytes]) -> bytes:
    """A reconcile request without a frame size (the server's default applies)."""
    return encode({"sets": dict(messages)})


def encode_reconcile_request(messages: Mapping[str, bytes], frame: int) -> bytes:
    """A reconcile request asking for reply frames of up to ``frame`` bytes per set."""
    return encode({"frame": frame, "sets": dict(messages)})


def encode_reconcile_reply(messages: Mapping[str, bytes], held: Mapping[str, int]) -> bytes:
    """A reconcile reply: a message per set asked about, and how many items each holds."""
    return encode({"held": {name: held[name] for name in messages}, "sets": dict(messages)})


def _sets(value: Any, expected: Collection[str] | None, max_each: int) -> dict[str, bytes]:
    if not isinstance(value, dict) or not value or \
            any(name not in RECONCILE_SETS for name in value):
        raise SessionError("reconcile message: sets maps "
                           f"{' and/or '.join(RECONCILE_SETS)} to Negentropy messages",
                           code="bad_message")
    if expected is not None and set(value) != set(expected):
        raise SessionError("reconcile reply: it must answer each set asked about, and no other",
                           code="bad_message")
    for message in value.values():
        if not isinstance(message, bytes) or not message or len(message) > max_each:
            raise SessionError(f"reconcile message: each set's message is 1 to {max_each} "
                               "bytes", code="bad_message")
    return value


def decode_reconcile_request(body: bytes) -> tuple[dict[str, bytes], int]:
    """A reconcile request's message per set, and the reply frame it asks for.

    A request names one or both sets, with at most :data:`MAX_NEG_MESSAGE_BYTES`
    of messages in all. ``frame`` must be from
    :data:`~protocol.negentropy.MIN_FRAME_SIZE_LIMIT` to :data:`MAX_REPLY_FRAME`;
    a request without it asks for :data:`DEFAULT_REPLY_FRAME`.
    """
    try:
        value = decode(body, max_bytes=MAX_REQUEST_BYTES)
    except DecodeError as exc:
        raise SessionError(f"reconcile message: {exc.message}", code=exc.code) from exc
    if not isinstance(value, dict) or tuple(value) not in (("sets",), ("frame", "sets")):
        raise SessionError("reconcile message must be a map with exactly sets, or frame and "
                           "sets", code="bad_message")
    frame = value.get("frame", DEFAULT_REPLY_FRAME)
    if type(frame) is not int or not MIN_FRAME_SIZE_LIMIT <= frame <= MAX_REPLY_FRAME:
        raise SessionError(f"reconcile message: frame is {MIN_FRAME_SIZE_LIMIT} to "
                           f"{MAX_REPLY_FRAME} bytes", code="bad_message")
    messages = _sets(value["sets"], None, MAX_NEG_MESSAGE_BYTES)
    if sum(len(m) for m in messages.values()) > MAX_NEG_MESSAGE_BYTES:
        raise SessionError(f"reconcile message: more than {MAX_NEG_MESSAGE_BYTES} bytes of "
                           "Negentropy messages", code="bad_message")
    return messages, frame


def decode_reconcile(body: bytes, expected: Collection[str] | None = None) -> dict[str, bytes]:
    """A reconcile request's message per set (see :func:`decode_reconcile_request`)."""
    messages, _ = decode_reconcile_request(body)
    if expected is not None and set(messages) != set(expected):
        raise SessionError("reconcile reply: it must answer each set asked about, and no other",
                           code="bad_message")
    return messages


def decode_reconcile_reply(body: bytes, expected: Collection[str],
                           frame: int) -> tuple[dict[str, bytes], dict[str, int]]:
    """A reconcile reply to a request that named the sets ``expected`` and asked for
    ``frame``: each set's message (at most ``frame`` bytes), and how many items the
    server holds in each."""
    value = _parse(body, len(expected) * (frame + 64) + 256, ("held", "sets"),
                   "reconcile reply")
    messages = _sets(value["sets"], expected, frame)
    held = value["held"]
    if not isinstance(held, dict) or set(held) != set(expected) or \
            any(type(n) is not int or n < 0 for n in held.values()):
        raise SessionError("reconcile reply: held counts the items of each set answered",
                           code="bad_message")
    return messages, held


def encode_join_request(invitation_id: bytes, proof: bytes) -> bytes:
    return encode({"invitation": invitation_id, "proof": proof})


def decode_join_request(body: bytes) -> tuple[bytes, bytes]:
    """A join request's invitation id and proof."""
    value = _parse(body, 1024, ("invitation", "proof"), "join request")
    invitation, proof = value["invitation"], value["proof"]
    if (not isinstance(invitation, bytes) or len(invitation) != INVITATION_ID_BYTES
            or not isinstance(proof, bytes) or len(proof) != JOIN_PROOF_BYTES):
        raise SessionError(f"join request: invitation is {INVITATION_ID_BYTES} bytes and "
                           f"proof {JOIN_PROOF_BYTES}", code="bad_message")
    return invitation, proof


def encode_join_reply(entries: Sequence[SignedEntry]) -> bytes:
    return encode({"entries": [e.to_wire() for e in entries]})


def decode_join_reply(body: bytes) -> list[SignedEntry]:
    """The genesis and the admission a join reply carries (verify them before use)."""
    value = _parse(body, _MAX_JOIN_ENTRIES * MAX_ENTRY_BYTES, ("entries",), "join reply")
    return _entries(value["entries"], _MAX_JOIN_ENTRIES, "join reply")


def encode_fetch_request(ids: Sequence[bytes]) -> bytes:
    return encode({"ids": list(ids)})


def decode_fetch_request(body: bytes) -> list[bytes]:
    return _ids(_parse(body, MAX_REQUEST_BYTES, ("ids",), "fetch request")["ids"],
                MAX_FETCH_IDS, "fetch request")


def encode_fetch_reply(requested: Sequence[bytes], found: Iterable[SignedEntry]) -> bytes:
    """Fill a fetch reply up to :data:`MAX_FETCH_REPLY_BYTES`; list the rest in ``more``."""
    entries: list[list[bytes]] = []
    sent: set[bytes] = set()
    more: list[bytes] = []
    budget = MAX_FETCH_REPLY_BYTES - 64 * 1024  # headroom for framing and ``more``
    for signed in found:
        if signed.size > budget:
            more.append(signed.id)
            continue
        budget -= signed.size + 8
        entries.append(signed.to_wire())
        sent.add(signed.id)
    return encode({"entries": entries, "more": more})


def decode_fetch_reply(body: bytes, requested: Sequence[bytes]) -> tuple[list[SignedEntry],
                                                                          list[bytes]]:
    """Parse a fetch reply; every entry and every ``more`` id must have been requested."""
    value = _parse(body, MAX_FETCH_REPLY_BYTES, ("entries", "more"), "fetch reply")
    asked = set(requested)
    entries = _entries(value["entries"], len(requested), "fetch reply")
    more = _ids(value["more"], len(requested), "fetch reply more")
    for signed in entries:
        if signed.id not in asked:
            raise SessionError("fetch reply: holds an entry that was not asked for",
                               code="unrequested_entry")
        asked.discard(signed.id)
    for id_ in more:
        if id_ not in asked:
            raise SessionError("fetch reply: more lists an id that was not asked for "
                               "or was already sent", code="unrequested_entry")
    return entries, more


def encode_push_request(entries: Sequence[SignedEntry]) -> bytes:
    return encode({"entries": [e.to_wire() for e in entries]})


def decode_push_request(body: bytes) -> list[SignedEntry]:
    return _entries(_parse(body, MAX_REQUEST_BYTES, ("entries",), "push request")["entries"],
                    MAX_PUSH_ENTRIES, "push request")


def encode_push_reply(results: Sequence[PushResult]) -> bytes:
    # Results are in the order of the entries pushed, so they carry no ids:
    # an outcome alone, or [outcome, reason] for a rejection. At 500 entries
    # a round that saves ~16 KiB against echoing every 32-byte id.
    out: list[Any] = []
    for r in results:
        out.append([r.outcome, r.reason[:200]] if r.reason else r.outcome)
    return encode({"results": out})


def decode_push_reply(body: bytes, pushed: Sequence[bytes]) -> list[PushResult]:
    """Parse a push reply: one result per pushed entry, in order."""
    value = _parse(body, MAX_REQUEST_BYTES, ("results",), "push reply")
    results = value["results"]
    if not isinstance(results, list) or len(results) != len(pushed):
        raise SessionError("push reply: needs one result per pushed entry", code="bad_message")
    out = []
    for item, id_ in zip(results, pushed, strict=True):
        outcome, reason = (item, "") if isinstance(item, str) else (
            tuple(item) if isinstance(item, list) and len(item) == 2 else (None, None))
        if outcome not in OUTCOMES or not isinstance(reason, str) or len(reason) > 200:
            raise SessionError("push reply: each result is an outcome, or [outcome, reason], "
                               "for the entry pushed at that place", code="bad_message")
        out.append(PushResult(id_, str(outcome), reason))
    return out
