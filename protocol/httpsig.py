"""HTTP Message Signatures (RFC 9421) with Ed25519, and Content-Digest (RFC 9530).

Sans-I/O: plain values in, plain values out. The caller passes ``now`` and the
nonce; nothing here reads the clock, draws randomness or touches a socket.

Layers
------

1. **RFC 9421 core** — :class:`HttpMessage` describes a request or response,
   :func:`signature_base` builds the signature base (§2.5), :func:`sign_message`
   returns ``Signature-Input`` and ``Signature`` values, :func:`verify_message`
   checks one labelled signature against explicit requirements. This layer
   reproduces the RFC's Ed25519 example (B.2.6) byte for byte.
2. **Hedgerow policy** — :func:`sign_hedgerow` and :func:`verify_hedgerow`
   apply the requirements below on top of the core.

Hedgerow policy
---------------

* ``alg="ed25519"``; ``keyid`` is the node id text; ``created``, ``expires``,
  ``nonce`` and ``tag`` are all required (:data:`REQUIRED_PARAMS`).
* ``tag`` = :func:`network_tag` of the 32-byte network id, so a signature made
  for one network is refused by every other (wrong_tag), before key lookup.
* Requests cover ``@method @authority @path @query content-digest
  content-type`` (:data:`REQUIRED_REQUEST_COMPONENTS`). We use ``@path`` and
  ``@query`` rather than ``@target-uri`` because a node behind a TLS-terminating
  proxy cannot know the scheme the client used; ``@target-uri`` would then fail
  for honest peers while adding nothing the authority, path and query do not
  already bind (transport security is TLS's job, not the signature's).
* Responses cover ``@status content-digest content-type`` and
  ``"signature";req;key="hedgerow"`` — the request's own signature value
  (RFC 9421 §2.4). That value covers the request's method, target, body digest
  and nonce, so a response verifies only against the exact request it answers:
  an old response replayed to a new request fails. The client must keep the
  request it sent (with its Signature field) to verify the response.
* A request signature can never pass as a response or vice versa: ``@status``
  is invalid on requests and ``@method`` without ``;req`` is invalid on
  responses (§2.2.1, §2.2.9).
* Freshness: ``created`` at most :data:`MAX_AGE` (300 s) old and at most
  :data:`MAX_FUTURE` (120 s) ahead; ``expires`` not passed. Nonces are
  remembered (scoped by keyid) until the signature could no longer pass the
  freshness checks, in a bounded :class:`NonceCache`.
* Content-Digest must match the body received (sha-256 or sha-512).

Deliberate limits (strictness): the structured-field parser accepts only
what these fields use (no decimals, dates or display strings), rejects
duplicate dictionary keys and parameters instead of letting the last win,
and bounds field length, labels, components and parameters. Component
parameters supported: ``req`` and ``key`` (in that order); ``sf``, ``bs``,
``tr`` and ``@query-param`` are refused as unsupported.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import AuthError, InvalidArgument
from .structured_fields import (
    FIELD_VALUE_RE,
    KEY_RE,
    MAX_COMPONENTS,
    MAX_INTEGER,
    PRINTABLE_RE,
    Bare,
    FieldFailure,
    InnerList,
    Item,
    Member,
    Parser,
    Token,
    fail,
    serialise_bare,
    serialise_member,
    serialise_params,
)

__all__ = [
    "ALGORITHM",
    "LABEL",
    "MAX_AGE",
    "MAX_FUTURE",
    "REQUIRED_COMPONENTS",
    "REQUIRED_PARAMS",
    "REQUIRED_REQUEST_COMPONENTS",
    "REQUIRED_RESPONSE_COMPONENTS",
    "SIGNATURE_LIFETIME",
    "Component",
    "HttpMessage",
    "NonceCache",
    "NonceCheck",
    "VerifiedSignature",
    "claimed_keyid",
    "combine_fields",
    "content_digest",
    "network_tag",
    "sign_hedgerow",
    "sign_message",
    "signature_base",
    "verify_content_digest",
    "verify_hedgerow",
    "verify_message",
]

LABEL: Final = "hedgerow"
ALGORITHM: Final = "ed25519"
MAX_AGE: Final = 300
MAX_FUTURE: Final = 120
SIGNATURE_LIFETIME: Final = 300
MIN_NONCE_LENGTH: Final = 16

# Bounds on what a peer can make us parse (more in protocol.structured_fields).
MAX_LABELS: Final = 8
MAX_PARAM_STRING: Final = 256

_PARAM_ORDER: Final = ("created", "expires", "nonce", "alg", "keyid", "tag")
REQUIRED_PARAMS: Final = frozenset(_PARAM_ORDER)
_DERIVED: Final = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target"}
    | {"@path", "@query", "@status"}
)
_DIGESTS: Final = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_TAG_DOMAIN: Final = b"hedgerow/httpsig/network-tag/v2\x00"


_FIELD_NAME_RE: Final = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")
_DERIVED_VALUE_RE: Final = re.compile(r"(?:[!-~](?:[ -~]*[!-~])?)?")
_OBS_FOLD_RE: Final = re.compile(r"\r\n[ \t]+")


# --------------------------------------------------------------------------
# Messages and components
# --------------------------------------------------------------------------


def combine_fields(lines: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lowercase field names and combine repeated fields with ``", "`` (RFC 9421 §2.1)."""
    out: dict[str, str] = {}
    for name, value in lines:
        key = name.lower()
        value = _OBS_FOLD_RE.sub(" ", value).strip(" \t")
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


@dataclass(frozen=True, slots=True)
class HttpMessage:
    """One HTTP message as the signature sees it.

    A request has ``status=None`` and ``method``; a response has ``status``
    and, to use ``;req`` components, the ``request`` it answers (as sent or
    received, including its Signature fields). ``headers`` maps lowercase
    names to values with repeated fields already combined (see
    :func:`combine_fields`). ``query`` excludes the ``?``: ``None`` means no
    query, ``""`` an empty one. ``body`` is needed to check a covered
    Content-Digest.
    """

    headers: Mapping[str, str]
    method: str | None = None
    authority: str | None = None
    path: str = "/"
    query: str | None = None
    scheme: str = "https"
    status: int | None = None
    request: HttpMessage | None = None
    body: bytes | None = None

    def __post_init__(self) -> None:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise InvalidArgument("header names and values must be str")
            if name.lower() in headers:
                raise InvalidArgument(f"header {name.lower()!r} given twice; combine it")
            headers[name.lower()] = value
        object.__setattr__(self, "headers", MappingProxyType(headers))
        if self.status is not None and self.method is not None:
            raise InvalidArgument("a message has either a method (request) or a status")

    @property
    def is_request(self) -> bool:
        return self.status is None

    @classmethod
    def for_request(
        cls, method: str, target_uri: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> HttpMessage:
        """A request from its absolute target URI, e.g. ``https://host:8443/sync?x=1``."""
        scheme, sep, rest = target_uri.partition("://")
        if not sep or not scheme:
            raise InvalidArgument("target_uri must be absolute (scheme://authority/path)")
        rest = rest.partition("#")[0]
        head, qmark, query = rest.partition("?")
        authority, slash, path = head.partition("/")
        query_or_none = query if qmark else None
        return cls(
            headers, method, authority, slash + path, query_or_none, scheme.lower(), body=body
        )

    def with_headers(self, extra: Mapping[str, str]) -> HttpMessage:
        """A copy with ``extra`` fields added or replaced (names case-insensitive)."""
        merged = dict(self.headers)
        merged.update({k.lower(): v for k, v in extra.items()})
        return replace(self, headers=merged)


@dataclass(frozen=True, slots=True)
class Component:
    """A covered component identifier: a derived ``@name`` or a lowercase field
    name, with the ``req`` flag (§2.4) and the dictionary ``key`` (§2.1.2)."""

    name: str
    req: bool = False
    key: str | None = None

    def __post_init__(self) -> None:
        if self.name == "@signature-params":
            # §2.3: @signature-params is never listed among covered components.
            raise InvalidArgument("@signature-params cannot be a covered component")
        if self.name.startswith("@"):
            if self.name not in _DERIVED:
                raise InvalidArgument(f"unsupported derived component {self.name!r}")
        elif not _FIELD_NAME_RE.fullmatch(self.name):
            raise InvalidArgument("field names must be lowercase tokens")
        if self.key is not None and not KEY_RE.fullmatch(self.key):
            raise InvalidArgument("a dictionary key must be an sf-key")

    def identifier(self) -> str:
        """The serialised component identifier, e.g. ``"signature";req;key="hedgerow"``."""
        params: list[tuple[str, Bare]] = []
        if self.req:
            params.append(("req", True))
        if self.key is not None:
            params.append(("key", self.key))
        return serialise_bare(self.name) + serialise_params(tuple(params))

    def __str__(self) -> str:
        return self.identifier()


def _as_components(components: Iterable[str | Component]) -> tuple[Component, ...]:
    out = tuple(c if isinstance(c, Component) else Component(c) for c in components)
    if len(set(out)) != len(out):
        raise InvalidArgument("a component is listed twice")
    if len(out) > MAX_COMPONENTS:
        raise InvalidArgument(f"more than {MAX_COMPONENTS} components")
    return out


def _component_from_item(item: Item) -> Component:
    value = item.value
    if not isinstance(value, str) or isinstance(value, Token):
        fail("malformed", "Signature-Input: a component identifier must be a string")
    names = [k for k, _ in item.params]
    if any(k not in ("req", "key") for k in names):
        fail("unsupported_component", f"component {value!r}: unsupported parameter")
    if names not in ([], ["req"], ["key"], ["req", "key"]):
        fail("unsupported_component", f"component {value!r}: parameters must be ;req;key")
    params = dict(item.params)
    req, key = params.get("req", False), params.get("key")
    if req is not True and "req" in params:
        fail("malformed", f"component {value!r}: req must be a bare flag")
    if key is not None and (not isinstance(key, str) or isinstance(key, Token)):
        fail("malformed", f"component {value!r}: key must be a string")
    try:
        return Component(value, req="req" in params, key=key)
    except InvalidArgument as exc:
        # §2.3: @signature-params is never covered; other unknown @names are unsupported.
        unsupported = value.startswith("@") and value != "@signature-params"
        code = "unsupported_component" if unsupported else "malformed"
        raise FieldFailure(code, f"component identifier: {exc.message}") from exc


def _normalise_authority(authority: str, scheme: str) -> str:
    # §2.2.3 via RFC 9110 §4.2.3: lowercase host, default port omitted.
    value = authority.lower()
    default = {"https": ":443", "http": ":80"}.get(scheme.lower())
    if default is not None and value.endswith(default):
        value = value[: -len(default)]
    return value


def _derive(msg: HttpMessage, name: str) -> str:
    if name == "@status":
        if msg.status is None:
            fail("malformed", "@status covered on a request")  # §2.2.9
        if not 100 <= msg.status <= 999:
            fail("malformed", "status is not a three-digit code")
        return str(msg.status)
    if not msg.is_request:
        fail("malformed", f"{name} covered on a response without ;req")  # §2.2
    target = msg.path or "/"
    if msg.query is not None:
        target += "?" + msg.query
    if name == "@method":
        value = msg.method or ""
    elif name == "@authority":
        value = _normalise_authority(msg.authority or "", msg.scheme)
    elif name == "@scheme":
        value = msg.scheme.lower()
    elif name == "@path":
        value = msg.path or "/"
    elif name == "@query":
        value = "?" + (msg.query or "")
    elif name == "@request-target":
        value = target
    else:  # @target-uri
        value = f"{msg.scheme.lower()}://{_normalise_authority(msg.authority or '', msg.scheme)}"
        value += target
    if not value:
        fail("component_unavailable", f"{name} is not known for this message")
    return value


def _component_value(msg: HttpMessage, comp: Component) -> str:
    ctx = msg
    if comp.req:
        if msg.is_request:
            fail("malformed", f"{comp} uses ;req on a request")  # §2.4
        if msg.request is None:
            fail("component_unavailable", f"{comp} needs the related request")
        ctx = msg.request
    if comp.name.startswith("@"):
        if comp.key is not None:
            fail("unsupported_component", f"{comp}: key applies to dictionary fields only")
        value = _derive(ctx, comp.name)
        # §2.2: derived values are printable, without newlines or outer whitespace.
        if not _DERIVED_VALUE_RE.fullmatch(value):
            fail("malformed", f"{comp.name} contains characters a signature base cannot hold")
        return value
    raw = ctx.headers.get(comp.name)
    if raw is None:
        fail("component_unavailable", f"covered field {comp.name!r} is absent")  # §2.5
    # §2.1: strip outer whitespace, replace obsolete line folding with one space.
    value = _OBS_FOLD_RE.sub(" ", raw).strip(" \t")
    if not FIELD_VALUE_RE.fullmatch(value):
        # A CR or LF here could forge extra lines in the signature base.
        fail("malformed", f"field {comp.name!r} contains characters outside printable ASCII")
    if comp.key is not None:
        # §2.1.2: the strictly re-serialised dictionary member.
        members = Parser(value, f"field {comp.name!r}").dictionary(MAX_LABELS)
        member = members.get(comp.key)
        if member is None:
            fail("component_unavailable", f"{comp}: no such dictionary member")
        value = serialise_member(member)
    return value


@dataclass(frozen=True, slots=True)
class _SigParams:
    components: tuple[Component, ...]
    params: tuple[tuple[str, int | str], ...]

    def serialise(self) -> str:
        # §2.3: an Inner List of component identifiers, then the parameters in order.
        inner = " ".join(c.identifier() for c in self.components)
        return f"({inner}){serialise_params(self.params)}"

    def int_param(self, name: str) -> int | None:
        value = dict(self.params).get(name)
        return value if isinstance(value, int) else None

    def str_param(self, name: str) -> str | None:
        value = dict(self.params).get(name)
        return value if isinstance(value, str) else None


def _base(msg: HttpMessage, sp: _SigParams) -> bytes:
    # §2.5: one `"identifier": value` line per component in order, then the
    # @signature-params line, joined by LF with no trailing newline.
    lines = [f"{c.identifier()}: {_component_value(msg, c)}" for c in sp.components]
    lines.append(f'"@signature-params": {sp.serialise()}')
    return "\n".join(lines).encode("ascii")


def _prepare(
    msg: HttpMessage, components: Iterable[str | Component], values: Mapping[str, int | str | None]
) -> tuple[_SigParams, bytes]:
    """Check the signer's parameters, in the order created, expires, nonce, alg,
    keyid, tag (absent ones skipped), and build the signature base."""
    params: list[tuple[str, int | str]] = []
    for name in _PARAM_ORDER:
        value = values.get(name)
        if value is None:
            continue
        if name in ("created", "expires"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument(f"{name} must be an integer timestamp")
            if not 0 <= value <= MAX_INTEGER:
                raise InvalidArgument(f"{name} must be a non-negative integer timestamp")
        elif not isinstance(value, str) or not PRINTABLE_RE.fullmatch(value):
            raise InvalidArgument(f"{name} must be printable ASCII")
        elif not 0 < len(value) <= MAX_PARAM_STRING:
            raise InvalidArgument(f"{name} must be 1-{MAX_PARAM_STRING} characters")
        params.append((name, value))
    sp = _SigParams(_as_components(components), tuple(params))
    try:
        return sp, _base(msg, sp)
    except FieldFailure as exc:
        raise InvalidArgument(f"cannot build the signature base: {exc.message}") from exc


def signature_base(
    msg: HttpMessage,
    components: Iterable[str | Component],
    *,
    created: int | None = None,
    expires: int | None = None,
    nonce: str | None = None,
    alg: str | None = None,
    keyid: str | None = None,
    tag: str | None = None,
) -> bytes:
    """The RFC 9421 §2.5 signature base, as :func:`sign_message` would sign it."""
    values = dict(created=created, expires=expires, nonce=nonce, alg=alg, keyid=keyid, tag=tag)
    return _prepare(msg, components, values)[1]


def sign_message(
    msg: HttpMessage,
    *,
    key: Ed25519PrivateKey,
    keyid: str,
    created: int,
    expires: int | None,
    nonce: str | None,
    tag: str | None,
    components: Sequence[str | Component],
    label: str = LABEL,
    alg: str | None = ALGORITHM,
) -> dict[str, str]:
    """Sign ``msg``; returns ``{"Signature-Input": ..., "Signature": ...}`` (§3.1, §4).

    ``alg=None`` leaves the parameter out (as RFC 9421's B.2.6 example does).
    """
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidArgument("key must be an Ed25519PrivateKey")
    if not KEY_RE.fullmatch(label):
        raise InvalidArgument("label must be an sf-key (lowercase, digits, _-.*)")
    if alg not in (None, ALGORITHM):
        raise InvalidArgument(f"only alg={ALGORITHM!r} is supported")
    values = dict(created=created, expires=expires, nonce=nonce, alg=alg, keyid=keyid, tag=tag)
    sp, base = _prepare(msg, components, values)
    signature = key.sign(base)  # §3.3.6: Ed25519 (RFC 8032) over the base bytes
    return {
        "Signature-Input": f"{label}={sp.serialise()}",
        "Signature": f"{label}={serialise_bare(signature)}",
    }


# --------------------------------------------------------------------------
# Content-Digest (RFC 9530)
# --------------------------------------------------------------------------


def content_digest(body: bytes, algorithm: str = "sha-256") -> str:
    """The Content-Digest field value for ``body``, e.g. ``sha-256=:...:``."""
    if algorithm not in _DIGESTS:
        raise InvalidArgument(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}={serialise_bare(_DIGESTS[algorithm](body).digest())}"


def verify_content_digest(value: str, body: bytes) -> None:
    """Check a received Content-Digest against ``body``.

    Every sha-256 / sha-512 member must match; other algorithms are ignored
    (RFC 9530 §2); a field naming none we support is refused.
    """
    try:
        members = Parser(value, "Content-Digest").dictionary(MAX_LABELS)
    except FieldFailure as exc:
        raise AuthError(exc.message, code=exc.code) from exc
    checked = 0
    for name, member in members.items():
        if name not in _DIGESTS:
            continue
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise AuthError(f"Content-Digest {name} is not a byte sequence", code="malformed")
        if not hmac.compare_digest(member.value, _DIGESTS[name](body).digest()):
            raise AuthError(
                f"Content-Digest {name} does not match the body", code="digest_mismatch"
            )
        checked += 1
    if not checked:
        raise AuthError(
            "Content-Digest names no supported algorithm (sha-256, sha-512)",
            code="digest_unsupported",
        )


# --------------------------------------------------------------------------
# Verification (RFC 9421 §3.2)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """What a verified signature says about its message."""

    label: str
    keyid: str
    created: int
    expires: int | None
    nonce: str | None
    tag: str | None
    alg: str | None
    components: tuple[Component, ...]


class NonceCache:
    """Nonces seen recently, each kept until its signature could no longer pass.

    Pure and bounded: ``now`` is passed in; at most ``max_entries`` live
    nonces. When full of live nonces it refuses (fails closed, code
    ``nonce_cache_full``) rather than forget one that could still be replayed.
    """

    __slots__ = ("_expiry", "_heap", "max_entries")

    def __init__(self, max_entries: int = 16384) -> None:
        if max_entries < 1:
            raise InvalidArgument("max_entries must be positive")
        self.max_entries = max_entries
        self._expiry: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def prune(self, now: int) -> None:
        """Forget nonces whose expiry is before ``now``."""
        while self._heap and self._heap[0][0] < now:
            expiry, nonce = heapq.heappop(self._heap)
            if self._expiry.get(nonce) == expiry:
                del self._expiry[nonce]

    def seen_or_add(self, nonce: str, expires: int, now: int) -> bool:
        """True if ``nonce`` is already remembered; otherwise remember it until ``expires``."""
        self.prune(now)
        if nonce in self._expiry:
            return True
        if expires < now:
            return False  # could not pass the freshness checks again anyway
        if len(self._expiry) >= self.max_entries:
            raise AuthError(
                "too many recent signatures to remember; try again later", code="nonce_cache_full"
            )
        self._expiry[nonce] = expires
        heapq.heappush(self._heap, (expires, nonce))
        return False


NonceCheck = NonceCache | Callable[[str, int, int], bool]


def _label_member(fields: Mapping[str, str], name: str, label: str, missing: str) -> Member:
    raw = fields.get(name.lower())
    if raw is None:
        fail(missing, f"no {name} field")
    members = Parser(raw, name).dictionary(MAX_LABELS)
    if label not in members:
        fail(missing, f"{name} has no signature labelled {label!r}")
    return members[label]


def _parse_input(member: Member, is_request: bool) -> _SigParams:
    if not isinstance(member, InnerList):
        fail("malformed", "Signature-Input member is not an inner list")  # §4.1
    comps = tuple(_component_from_item(it) for it in member.items)
    if len(set(comps)) != len(comps):
        fail("malformed", "Signature-Input covers a component twice")  # §2.3: ordered set
    if is_request and any(c.req for c in comps):
        fail("malformed", "a request signature cannot use ;req")  # §2.4
    params: list[tuple[str, int | str]] = []
    for name, value in member.params:
        if name not in REQUIRED_PARAMS:
            fail("malformed", f"unknown signature parameter {name!r}")
        if name in ("created", "expires"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                fail("malformed", f"{name} must be a non-negative integer")  # §2.3
        elif (
            not isinstance(value, str)
            or isinstance(value, Token)
            or not 0 < len(value) <= MAX_PARAM_STRING
        ):
            fail("malformed", f"{name} must be a string of 1-{MAX_PARAM_STRING} chars")
        params.append((name, value))
    return _SigParams(comps, tuple(params))


def claimed_keyid(headers: Mapping[str, str], *, label: str = LABEL) -> str | None:
    """The ``keyid`` a request's signature claims, read without verifying anything.

    For a server's cheapest refusal: a request from a key that could never
    be accepted (not a member, blocked) is refused on its headers alone,
    before its body is read or any signature checked. None if the
    Signature-Input field does not parse or names no keyid.
    """
    try:
        member = _label_member(headers, "Signature-Input", label, "missing_signature_input")
        return _parse_input(member, True).str_param("keyid")
    except FieldFailure:
        return None


def verify_message(
    msg: HttpMessage,
    *,
    now: int,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
    expected_tag: str | None,
    required_components: Iterable[str | Component],
    nonce_seen: NonceCheck | None,
    required_params: Collection[str] = REQUIRED_PARAMS,
    max_age: int = MAX_AGE,
    max_future: int = MAX_FUTURE,
    label: str = LABEL,
) -> VerifiedSignature:
    """Verify the signature labelled ``label`` on ``msg`` (RFC 9421 §3.2).

    ``required_params`` names the signature parameters that must be present
    (``created`` and ``keyid`` always are). ``expected_tag``, when not None,
    must equal ``tag``. ``resolve_key`` maps a keyid to its public key and may
    return None or raise :class:`AuthError` for unknown, blocked or foreign
    keys. ``nonce_seen`` (a :class:`NonceCache` or ``f(nonce, expires, now)``)
    is consulted only after the signature verifies. If ``content-digest`` is
    covered, ``msg.body`` must be given and is checked. Every failure raises
    :class:`AuthError` with a distinct ``code``.
    """
    required = _as_components(required_components)
    if not {"created", "keyid"} <= set(required_params) <= REQUIRED_PARAMS:
        raise InvalidArgument("required_params must include created and keyid")
    try:
        # §3.2 step 1: find the signature by label in both fields.
        sig_member = _label_member(msg.headers, "Signature", label, "missing_signature")
        input_member = _label_member(
            msg.headers, "Signature-Input", label, "missing_signature_input"
        )
        sp = _parse_input(input_member, msg.is_request)  # step 2
        if not isinstance(sig_member, Item) or not isinstance(sig_member.value, bytes):
            fail("malformed", "Signature member is not a byte sequence")  # §4.2, step 3
        # Step 4: the parameters against our requirements (§3.2.1).
        alg = sp.str_param("alg")
        if alg is not None and alg != ALGORITHM:
            # §3.2 step 6.4: the algorithm must agree with the (Ed25519) key material.
            fail("unknown_algorithm", f"algorithm {alg!r} is not {ALGORITHM!r}")
        for name in _PARAM_ORDER:
            if name in required_params and name not in dict(sp.params):
                fail("missing_param", f"signature parameter {name!r} is required")
        tag = sp.str_param("tag")
        if expected_tag is not None and tag != expected_tag:
            # The tag binds the network id: a signature for another network stops here.
            fail("wrong_tag", "signature tag is not this network's")
        covered = set(sp.components)
        for comp in required:
            if comp not in covered:
                fail("missing_component", f"signature does not cover {comp}")
        created, expires = sp.int_param("created"), sp.int_param("expires")
        keyid, nonce = sp.str_param("keyid"), sp.str_param("nonce")
        if created is None or keyid is None:
            fail("missing_param", "signature parameters created and keyid are required")
        if created > now + max_future:
            fail("future", f"signature created {created - now} s in the future")
        if now - created > max_age:
            fail("stale", f"signature created {now - created} s ago (limit {max_age} s)")
        if expires is not None:
            if expires < created:
                fail("malformed", "signature expires before it was created")
            if expires < now:
                fail("expired", f"signature expired {now - expires} s ago")
        base = _base(msg, sp)  # step 7
        # Step 5: the key; the resolver decides trust (membership, blocklist).
        try:
            public = resolve_key(keyid)
        except LookupError as exc:
            raise FieldFailure("unknown_key", "signature keyid is not a known key") from exc
        if public is None:
            fail("unknown_key", "signature keyid is not a known key")
        if not isinstance(public, Ed25519PublicKey):
            raise InvalidArgument("resolve_key must return an Ed25519PublicKey")
        signature = sig_member.value
        if len(signature) != 64:
            fail("bad_signature", "an Ed25519 signature is 64 bytes")
        try:
            public.verify(signature, base)  # step 8 (§3.3.6)
        except InvalidSignature as exc:
            raise FieldFailure("bad_signature",
                               "signature does not verify over the message") from exc
        if Component("content-digest") in covered:
            if msg.body is None:
                raise InvalidArgument("content-digest is covered: pass the body to check it")
            # RFC 9530: the signature covers the digest field, the digest covers the body.
            verify_content_digest(msg.headers["content-digest"], msg.body)
        if nonce is not None and nonce_seen is not None:
            # Remember the nonce only once everything else has passed; keep it until
            # the signature would fail freshness anyway (scoped by signer).
            keep_until = created + max_age if expires is None else min(expires, created + max_age)
            check = nonce_seen.seen_or_add if isinstance(nonce_seen, NonceCache) else nonce_seen
            if check(f"{keyid}\n{nonce}", keep_until, now):
                fail("replayed_nonce", "signature nonce has been seen before")
        return VerifiedSignature(label, keyid, created, expires, nonce, tag, alg, sp.components)
    except FieldFailure as exc:
        raise AuthError(exc.message, code=exc.code) from exc


# --------------------------------------------------------------------------
# Hedgerow policy
# --------------------------------------------------------------------------

REQUIRED_REQUEST_COMPONENTS: Final = _as_components(
    ("@method", "@authority", "@path", "@query", "content-digest", "content-type")
)
REQUIRED_RESPONSE_COMPONENTS: Final = (
    *_as_components(("@status", "content-digest", "content-type")),
    Component("signature", req=True, key=LABEL),
)
REQUIRED_COMPONENTS: Final[Mapping[str, tuple[Component, ...]]] = MappingProxyType(
    {"request": REQUIRED_REQUEST_COMPONENTS, "response": REQUIRED_RESPONSE_COMPONENTS}
)


def network_tag(network_id: bytes) -> str:
    """The signature ``tag`` for a network: ``hedgerow-v2-`` + 32 hex digits.

    The digits are the first 16 bytes of SHA-256 over a fixed domain prefix
    and the 32-byte network id: short, fixed-length, and never equal to a
    hash of the id taken for another purpose.
    """
    if not isinstance(network_id, bytes) or len(network_id) != 32:
        raise InvalidArgument("network id must be 32 bytes")
    return "hedgerow-v2-" + hashlib.sha256(_TAG_DOMAIN + network_id).digest()[:16].hex()


def sign_hedgerow(
    msg: HttpMessage,
    *,
    key: Ed25519PrivateKey,
    keyid: str,
    network_id: bytes,
    now: int,
    nonce: str,
    lifetime: int = SIGNATURE_LIFETIME,
) -> dict[str, str]:
    """Sign a request or response by Hedgerow's policy.

    ``msg`` needs ``body`` and a content-type field; a response needs the
    signed ``request`` it answers. Returns the Content-Digest, Signature-Input
    and Signature fields to add to the message. ``nonce`` comes from the caller
    (e.g. ``secrets.token_urlsafe(16)``), at least 16 characters.
    """
    if msg.body is None:
        raise InvalidArgument("the body is needed to compute Content-Digest")
    if not msg.is_request and msg.request is None:
        raise InvalidArgument("a response is signed together with the request it answers")
    if len(nonce) < MIN_NONCE_LENGTH:
        raise InvalidArgument(f"nonce must be at least {MIN_NONCE_LENGTH} characters")
    if not 0 < lifetime <= MAX_AGE:
        raise InvalidArgument(f"lifetime must be 1-{MAX_AGE} seconds")
    digest = content_digest(msg.body)
    fields = sign_message(
        msg.with_headers({"content-digest": digest}),
        key=key,
        keyid=keyid,
        created=now,
        expires=now + lifetime,
        nonce=nonce,
        tag=network_tag(network_id),
        components=REQUIRED_COMPONENTS["request" if msg.is_request else "response"],
    )
    return {"Content-Digest": digest, **fields}


def verify_hedgerow(
    msg: HttpMessage,
    *,
    now: int,
    network_id: bytes,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
    nonces: NonceCheck | None,
) -> VerifiedSignature:
    """Verify a request or response by Hedgerow's policy; ``msg.body`` is required.

    For a request ``nonces`` is required. For a response ``msg.request`` must
    be the request as sent, with its Signature field; ``nonces`` may be None
    there, since the binding to the request's signature already stops replays.
    """
    if msg.body is None:
        raise InvalidArgument("the body is needed to check Content-Digest")
    if msg.is_request and nonces is None:
        raise InvalidArgument("verifying a request needs a nonce cache")
    if not msg.is_request and msg.request is None:
        raise InvalidArgument("a response is verified together with the request it answers")
    return verify_message(
        msg,
        now=now,
        resolve_key=resolve_key,
        expected_tag=network_tag(network_id),
        required_components=REQUIRED_COMPONENTS["request" if msg.is_request else "response"],
        nonce_seen=nonces,
    )
