"""Tests for protocol/httpsig.py: RFC 9421 conformance, Hedgerow's policy, rejections."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import httpsig as hs
from protocol.errors import AuthError, InvalidArgument
from protocol.structured_fields import MAX_FIELD_LENGTH

# ---------------------------------------------------------------------------
# RFC 9421 B.2.6 (Ed25519) conformance, from shared/vectors beside the project
# ---------------------------------------------------------------------------

VECTOR = (
    Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "rfc9421-ed25519-b26.md"
)
B26_COMPONENTS = ("date", "@method", "@path", "@authority", "content-type", "content-length")


def _unwrap_8792(block: str) -> str:
    """Undo RFC 8792 single-backslash line wrapping."""
    lines = block.split("\n")
    if lines[0].startswith("NOTE: '\\' line wrapping per RFC 8792"):
        assert lines[1] == "", "RFC 8792 note must be followed by a blank line"
        lines = lines[2:]
    out: list[str] = []
    pending: str | None = None
    for line in lines:
        if pending is not None:
            line = pending + line.lstrip(" ")
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = None
        out.append(line)
    assert pending is None, "wrapped line at end of block"
    return "\n".join(out)


@cache
def b26() -> dict[str, Any]:
    assert VECTOR.is_file(), (
        f"conformance vector not found at {VECTOR}: the RFC 9421 Ed25519 example must be "
        "in shared/vectors/ beside the project checkout"
    )
    text = VECTOR.read_text(encoding="utf-8")
    blocks = {
        m.group(1): m.group(2)
        for m in re.finditer(r"\*\*([^*\n]+)\*\*\s*\n```[a-z]*\n(.*?)\n```", text, re.S)
    }

    def block(prefix: str) -> str:
        found = [v for k, v in blocks.items() if k.startswith(prefix)]
        assert len(found) == 1, f"vector file: expected one block headed {prefix!r}"
        return found[0]

    keys = block("B.1.4 key")
    private_pem = re.search(r"-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----", keys, re.S)
    public_pem = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", keys, re.S)
    assert private_pem and public_pem, "vector file: key PEMs not found"
    private = load_pem_private_key(private_pem.group().encode(), password=None)
    public = load_pem_public_key(public_pem.group().encode())
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)

    request_text = _unwrap_8792(block("B.2 `test-request`"))
    head, _, body = request_text.partition("\n\n")
    request_line, *field_lines = head.split("\n")
    method, target, _version = request_line.split(" ")
    headers = hs.combine_fields(tuple(line.split(":", 1)) for line in field_lines)  # type: ignore[misc]
    path, qmark, query = target.partition("?")
    msg = hs.HttpMessage(
        headers=headers,
        method=method,
        authority=headers["host"],
        path=path,
        query=query if qmark else None,
        body=body.encode(),
    )
    assert int(headers["content-length"]) == len(msg.body or b"")

    fields = dict(
        line.split(": ", 1)
        for line in _unwrap_8792(block("B.2.6 resulting fields")).split("\n")
        if line
    )
    size = re.search(r"It is (\d+) bytes, sha256 `([0-9a-f]{64})`", text)
    assert size, "vector file: derived base size and hash not found"
    return {
        "private": private,
        "public": public,
        "msg": msg,
        "base": _unwrap_8792(block("B.2.6 signature base")),
        "fields": fields,
        "base_len": int(size.group(1)),
        "base_sha256": size.group(2),
        "created": int(re.search(r"created=(\d+)", fields["Signature-Input"]).group(1)),  # type: ignore[union-attr]
        "keyid": "test-key-ed25519",
    }


def test_b26_signature_base_is_byte_exact() -> None:
    v = b26()
    base = hs.signature_base(v["msg"], B26_COMPONENTS, created=v["created"], keyid=v["keyid"])
    assert base == v["base"].encode("ascii")
    assert len(base) == v["base_len"]
    assert hashlib.sha256(base).hexdigest() == v["base_sha256"]
    assert not base.endswith(b"\n")


def test_b26_signature_matches_expected_fields() -> None:
    v = b26()
    fields = hs.sign_message(
        v["msg"],
        key=v["private"],
        keyid=v["keyid"],
        created=v["created"],
        expires=None,
        nonce=None,
        tag=None,
        components=B26_COMPONENTS,
        label="sig-b26",
        alg=None,
    )
    assert fields == v["fields"]


def test_b26_verifies_with_a_permissive_policy() -> None:
    v = b26()
    msg = v["msg"].with_headers(v["fields"])

    def verify(now: int) -> hs.VerifiedSignature:
        return hs.verify_message(
            msg,
            now=now,
            resolve_key=lambda keyid: v["public"] if keyid == v["keyid"] else None,
            expected_tag=None,
            required_components=B26_COMPONENTS,
            nonce_seen=None,
            required_params=("created", "keyid"),
            label="sig-b26",
        )

    result = verify(v["created"] + 30)
    assert result.keyid == v["keyid"]
    assert result.created == v["created"]
    assert result.expires is None and result.nonce is None and result.alg is None
    assert [c.identifier() for c in result.components] == [f'"{c}"' for c in B26_COMPONENTS]
    # The freshness rule still applies below Hedgerow's policy.
    with pytest.raises(AuthError) as err:
        verify(v["created"] + hs.MAX_AGE + 1)
    assert err.value.code == "stale"
    # Hedgerow's policy is stricter: no alg, expires, nonce or tag.
    with pytest.raises(AuthError) as err:
        hs.verify_message(
            msg,
            now=v["created"],
            resolve_key=lambda _k: v["public"],
            expected_tag=None,
            required_components=B26_COMPONENTS,
            nonce_seen=None,
            label="sig-b26",
        )
    assert err.value.code == "missing_param"


def test_b2_content_digest_sha512() -> None:
    v = b26()
    msg = v["msg"]
    hs.verify_content_digest(msg.headers["content-digest"], msg.body)
    with pytest.raises(AuthError) as err:
        hs.verify_content_digest(msg.headers["content-digest"], msg.body + b" ")
    assert err.value.code == "digest_mismatch"


# ---------------------------------------------------------------------------
# Hedgerow policy
# ---------------------------------------------------------------------------

NOW = 1_700_000_000
NET = bytes(range(32))
OTHER_NET = bytes(range(1, 33))
CLIENT_KEY = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
SERVER_KEY = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
STRANGER_KEY = Ed25519PrivateKey.from_private_bytes(b"\x03" * 32)
KEYS = {"client-node": CLIENT_KEY.public_key(), "server-node": SERVER_KEY.public_key()}
NONCE = "n-0123456789abcdef"
BODY = b"\x82\xa4kind\xa4sync\xa3ids\x90"


def resolve(keyid: str) -> Ed25519PublicKey:
    if keyid not in KEYS:
        raise AuthError("not a member of this network", code="unknown_key")
    return KEYS[keyid]


def request(body: bytes = BODY) -> hs.HttpMessage:
    return hs.HttpMessage.for_request(
        "POST",
        "https://Peer.Example:443/v1/sync?session=abc",
        {"Content-Type": "application/msgpack"},
        body,
    )


def signed_request(
    *,
    now: int = NOW,
    nonce: str = NONCE,
    key: Ed25519PrivateKey = CLIENT_KEY,
    keyid: str = "client-node",
    network_id: bytes = NET,
    lifetime: int = hs.SIGNATURE_LIFETIME,
) -> hs.HttpMessage:
    msg = request()
    fields = hs.sign_hedgerow(
        msg, key=key, keyid=keyid, network_id=network_id, now=now, nonce=nonce, lifetime=lifetime
    )
    assert set(fields) == {"Content-Digest", "Signature-Input", "Signature"}
    return msg.with_headers(fields)


def verify(
    msg: hs.HttpMessage,
    *,
    now: int = NOW,
    network_id: bytes = NET,
    nonces: hs.NonceCache | None = None,
    resolve_key: Callable[[str], Ed25519PublicKey | None] = resolve,
) -> hs.VerifiedSignature:
    return hs.verify_hedgerow(
        msg,
        now=now,
        network_id=network_id,
        resolve_key=resolve_key,
        nonces=nonces if nonces is not None else hs.NonceCache(),
    )


def rejected(msg: hs.HttpMessage, **kwargs: Any) -> str:
    with pytest.raises(AuthError) as err:
        verify(msg, **kwargs)
    assert err.value.message
    return err.value.code


def without(msg: hs.HttpMessage, name: str) -> hs.HttpMessage:
    return replace(msg, headers={k: v for k, v in msg.headers.items() if k != name})


def test_request_round_trip() -> None:
    msg = signed_request()
    result = verify(msg)
    assert result.keyid == "client-node"
    assert result.created == NOW and result.expires == NOW + hs.SIGNATURE_LIFETIME
    assert result.nonce == NONCE and result.alg == "ed25519"
    assert result.tag == hs.network_tag(NET)
    assert result.components == hs.REQUIRED_REQUEST_COMPONENTS
    # The authority is normalised (lowercase, default port dropped) on both sides.
    base = hs.signature_base(msg, ["@authority", "@path", "@query", "@target-uri"])
    assert base.split(b"\n")[:4] == [
        b'"@authority": peer.example',
        b'"@path": /v1/sync',
        b'"@query": ?session=abc',
        b'"@target-uri": https://peer.example/v1/sync?session=abc',
    ]
    # A server building the message from its own view of the request agrees.
    server_view = hs.HttpMessage(
        headers=hs.combine_fields(msg.headers.items()),
        method="POST",
        authority="peer.example",
        path="/v1/sync",
        query="session=abc",
        scheme="http",  # behind a TLS-terminating proxy
        body=BODY,
    )
    assert verify(server_view).keyid == "client-node"


def test_response_round_trip_and_binding() -> None:
    sent = signed_request()
    verify(sent)
    response = hs.HttpMessage(
        headers={"content-type": "application/msgpack"}, status=200, request=sent, body=b"\x90"
    )
    fields = hs.sign_hedgerow(
        response,
        key=SERVER_KEY,
        keyid="server-node",
        network_id=NET,
        now=NOW + 1,
        nonce="r-0123456789abcdef",
    )
    signed = response.with_headers(fields)
    result = verify(signed, now=NOW + 2)
    assert result.keyid == "server-node"
    assert result.components == hs.REQUIRED_RESPONSE_COMPONENTS
    assert '"signature";req;key="hedgerow"' in fields["Signature-Input"]
    # The same response presented for a different request (another nonce) fails.
    other = signed_request(nonce="n-another-nonce-0000")
    assert rejected(replace(signed, request=other), now=NOW + 2) == "bad_signature"
    # Without the request's signature the binding cannot be checked.
    assert rejected(replace(signed, request=request()), now=NOW + 2) == "component_unavailable"
    # A tampered status fails.
    assert rejected(replace(signed, status=201), now=NOW + 2) == "bad_signature"


def test_request_signature_cannot_pass_as_response() -> None:
    sent = signed_request()
    as_response = hs.HttpMessage(headers=dict(sent.headers), status=200, request=sent, body=BODY)
    assert rejected(as_response) == "missing_component"


def test_missing_signature() -> None:
    assert rejected(without(signed_request(), "signature")) == "missing_signature"


def test_missing_signature_input() -> None:
    assert rejected(without(signed_request(), "signature-input")) == "missing_signature_input"


def test_other_label_only() -> None:
    msg = signed_request()
    relabelled = msg.with_headers(
        {k: "other" + msg.headers[k][len("hedgerow") :] for k in ("signature", "signature-input")}
    )
    assert rejected(relabelled) == "missing_signature"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("signature-input", 'hedgerow=("@method" "@path"'),
        ("signature-input", 'hedgerow=("@method");created=1.5'),
        ("signature-input", "hedgerow=(@method);created=1"),
        ("signature-input", 'hedgerow=("@method"),'),
        ("signature-input", 'hedgerow=("@method"), hedgerow=("@path")'),
        ("signature-input", 'hedgerow=("@method");created=1;created=2'),
        ("signature-input", 'hedgerow=("@method" "@method");created=1;keyid="x"'),
        ("signature-input", 'hedgerow=("Content-Type");created=1;keyid="x"'),
        ("signature-input", 'hedgerow=("@method");created="1";keyid="x"'),
        ("signature-input", 'hedgerow=("@method");created=1;keyid=x'),
        ("signature-input", 'hedgerow=("@method");created=1;keyid="x";color="red"'),
        ("signature-input", 'hedgerow="@method"'),
        ("signature-input", 'hedgerow=("@method");créé=1'),
        ("signature", "hedgerow=:not base64!:"),
        ("signature", "hedgerow=:QUJD=:"),
        ("signature", 'hedgerow="c2ln"'),
        ("signature", "hedgerow=(:c2ln:)"),
    ],
)
def test_malformed_structured_fields(field: str, value: str) -> None:
    assert rejected(signed_request().with_headers({field: value})) == "malformed"


def test_too_large_fields() -> None:
    msg = signed_request()
    huge = msg.with_headers({"signature": msg.headers["signature"] + " " * MAX_FIELD_LENGTH})
    assert rejected(huge) == "too_large"
    many = ", ".join(f"l{i}=:c2ln:" for i in range(hs.MAX_LABELS + 1))
    assert rejected(msg.with_headers({"signature": many})) == "too_large"


def test_unknown_algorithm() -> None:
    msg = signed_request()
    value = msg.headers["signature-input"].replace('alg="ed25519"', 'alg="hmac-sha256"')
    assert rejected(msg.with_headers({"signature-input": value})) == "unknown_algorithm"


def test_unsupported_component_parameter_and_name() -> None:
    msg = signed_request()
    value = msg.headers["signature-input"].replace('"content-type"', '"content-type";sf')
    assert rejected(msg.with_headers({"signature-input": value})) == "unsupported_component"
    value = msg.headers["signature-input"].replace('"@query"', '"@query-param";name="x"')
    assert rejected(msg.with_headers({"signature-input": value})) == "unsupported_component"


def test_req_on_a_request_is_malformed() -> None:
    msg = signed_request()
    value = msg.headers["signature-input"].replace('"@method"', '"@method";req')
    assert rejected(msg.with_headers({"signature-input": value})) == "malformed"


def test_unknown_key() -> None:
    msg = signed_request(key=STRANGER_KEY, keyid="stranger-node")
    assert rejected(msg) == "unknown_key"
    assert rejected(signed_request(), resolve_key=lambda _k: None) == "unknown_key"
    assert rejected(signed_request(), resolve_key={}.__getitem__) == "unknown_key"


def test_wrong_key_for_keyid() -> None:
    assert rejected(signed_request(key=STRANGER_KEY)) == "bad_signature"


def test_tampered_body_fails_digest() -> None:
    assert rejected(replace(signed_request(), body=BODY + b"\x00")) == "digest_mismatch"


def test_content_digest_rules() -> None:
    assert hs.content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    both = hs.content_digest(BODY) + ", " + hs.content_digest(BODY, "sha-512")
    hs.verify_content_digest(both, BODY)
    hs.verify_content_digest("md5=:AAAA:, " + hs.content_digest(BODY), BODY)
    bad_512 = hs.content_digest(BODY) + ", " + hs.content_digest(b"x", "sha-512")
    codes = {}
    for value in ("md5=:AAAA:", bad_512, "sha-256=1", "sha-256=:AAAA", ""):
        with pytest.raises(AuthError) as err:
            hs.verify_content_digest(value, BODY)
        codes[value] = err.value.code
    assert codes == {
        "md5=:AAAA:": "digest_unsupported",
        bad_512: "digest_mismatch",
        "sha-256=1": "malformed",
        "sha-256=:AAAA": "malformed",
        "": "digest_unsupported",
    }


def test_tampered_covered_header() -> None:
    msg = signed_request().with_headers({"content-type": "application/json"})
    assert rejected(msg) == "bad_signature"
    msg = signed_request().with_headers({"content-digest": hs.content_digest(b"evil")})
    assert rejected(replace(msg, body=b"evil")) == "bad_signature"


def test_uncovered_header_may_change() -> None:
    assert verify(signed_request().with_headers({"user-agent": "x"})).keyid == "client-node"


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"path": "/v1/other"},
        {"query": "session=abd"},
        {"query": None},
        {"authority": "evil.example"},
        {"authority": "peer.example:8443"},
    ],
)
def test_tampered_control_data(change: dict[str, Any]) -> None:
    assert rejected(replace(signed_request(), **change)) == "bad_signature"


def test_header_value_with_newline_is_refused() -> None:
    msg = signed_request().with_headers({"content-type": 'application/msgpack\n"@method": GET'})
    assert rejected(msg) == "malformed"


def test_stale() -> None:
    msg = signed_request()
    assert verify(msg, now=NOW + hs.MAX_AGE).keyid == "client-node"
    assert rejected(msg, now=NOW + hs.MAX_AGE + 1) == "stale"


def test_future() -> None:
    msg = signed_request()
    assert verify(msg, now=NOW - hs.MAX_FUTURE).keyid == "client-node"
    assert rejected(msg, now=NOW - hs.MAX_FUTURE - 1) == "future"


def test_expired() -> None:
    msg = signed_request(lifetime=10)
    assert verify(msg, now=NOW + 10).keyid == "client-node"
    assert rejected(msg, now=NOW + 11) == "expired"


def test_replayed_nonce() -> None:
    cache = hs.NonceCache()
    msg = signed_request()
    verify(msg, nonces=cache)
    assert rejected(msg, nonces=cache) == "replayed_nonce"
    # The same nonce from another signer is a different nonce.
    verify(signed_request(key=SERVER_KEY, keyid="server-node"), nonces=cache)
    # A message that fails does not burn its nonce.
    fresh = signed_request(nonce="n-fresh-0123456789")
    assert rejected(replace(fresh, body=b""), nonces=cache) == "digest_mismatch"
    verify(fresh, nonces=cache)


def test_wrong_tag_other_network() -> None:
    assert rejected(signed_request(network_id=OTHER_NET)) == "wrong_tag"
    assert rejected(signed_request(), network_id=OTHER_NET) == "wrong_tag"


def _sign_low_level(msg: hs.HttpMessage, **overrides: Any) -> hs.HttpMessage:
    msg = msg.with_headers({"content-digest": hs.content_digest(msg.body or b"")})
    kwargs: dict[str, Any] = {
        "key": CLIENT_KEY,
        "keyid": "client-node",
        "created": NOW,
        "expires": NOW + 60,
        "nonce": NONCE,
        "tag": hs.network_tag(NET),
        "components": hs.REQUIRED_REQUEST_COMPONENTS,
    }
    kwargs.update(overrides)
    return msg.with_headers(hs.sign_message(msg, **kwargs))


def test_low_level_signature_passes_policy() -> None:
    assert verify(_sign_low_level(request())).nonce == NONCE


def test_missing_required_component() -> None:
    for dropped in hs.REQUIRED_REQUEST_COMPONENTS:
        comps = [c for c in hs.REQUIRED_REQUEST_COMPONENTS if c != dropped]
        assert rejected(_sign_low_level(request(), components=comps)) == "missing_component"


@pytest.mark.parametrize("param", ["expires", "nonce", "tag", "alg"])
def test_missing_required_param(param: str) -> None:
    msg = _sign_low_level(request(), **{param: None})
    assert rejected(msg) == "missing_param"


def test_covered_field_absent() -> None:
    msg = _sign_low_level(
        request().with_headers({"x-extra": "1"}),
        components=(*hs.REQUIRED_REQUEST_COMPONENTS, "x-extra"),
    )
    assert verify(msg).keyid == "client-node"
    assert rejected(without(msg, "x-extra")) == "component_unavailable"


def test_expires_before_created() -> None:
    assert rejected(_sign_low_level(request(), expires=NOW - 1)) == "malformed"


def test_signing_misuse_is_a_local_error() -> None:
    with pytest.raises(InvalidArgument):
        hs.sign_hedgerow(request(), key=CLIENT_KEY, keyid="k", network_id=NET, now=NOW, nonce="x")
    with pytest.raises(InvalidArgument):
        hs.sign_hedgerow(
            replace(request(), body=None),
            key=CLIENT_KEY,
            keyid="k",
            network_id=NET,
            now=NOW,
            nonce=NONCE,
        )
    with pytest.raises(InvalidArgument):
        _sign_low_level(request(), components=("@status",))
    with pytest.raises(InvalidArgument):
        _sign_low_level(request(), components=("x-absent",))
    with pytest.raises(InvalidArgument):
        _sign_low_level(request(), alg="rsa-pss-sha512")
    with pytest.raises(InvalidArgument):
        hs.Component("@signature-params")
    with pytest.raises(InvalidArgument):
        hs.network_tag(b"short")


def test_nonce_callable_and_combine_fields() -> None:
    seen: list[tuple[str, int, int]] = []

    def check(nonce: str, keep_until: int, now: int) -> bool:
        seen.append((nonce, keep_until, now))
        return False

    hs.verify_hedgerow(
        signed_request(), now=NOW + 5, network_id=NET, resolve_key=resolve, nonces=check
    )
    assert seen == [(f"client-node\n{NONCE}", NOW + hs.SIGNATURE_LIFETIME, NOW + 5)]
    lines = [("Cache-Control", " max-age=60 "), ("cache-control", "must-revalidate")]
    assert hs.combine_fields(lines) == {"cache-control": "max-age=60, must-revalidate"}


def test_signature_params_cannot_be_covered() -> None:
    msg = signed_request()
    value = msg.headers["signature-input"].replace('"@query"', '"@signature-params"')
    assert rejected(msg.with_headers({"signature-input": value})) == "malformed"


def test_network_tag() -> None:
    tag = hs.network_tag(NET)
    assert re.fullmatch(r"hedgerow-v2-[0-9a-f]{32}", tag)
    assert tag == hs.network_tag(bytes(NET))
    assert tag != hs.network_tag(OTHER_NET)


def test_nonce_cache_is_bounded_and_prunes() -> None:
    cache = hs.NonceCache(max_entries=2)
    assert cache.seen_or_add("a", expires=100, now=0) is False
    assert cache.seen_or_add("a", expires=100, now=50) is True
    assert cache.seen_or_add("b", expires=10, now=0) is False
    with pytest.raises(AuthError) as err:
        cache.seen_or_add("c", expires=100, now=5)
    assert err.value.code == "nonce_cache_full"
    assert cache.seen_or_add("c", expires=100, now=11) is False  # "b" pruned
    assert len(cache) == 2
    assert cache.seen_or_add("a", expires=200, now=101) is False  # "a" expired, reusable
    assert cache.seen_or_add("old", expires=5, now=6) is False
    assert len(cache) == 1


# ---------------------------------------------------------------------------
# Property: whatever a peer sends, only AuthError comes out
# ---------------------------------------------------------------------------

SIGNED = signed_request()
SF_ALPHABET = st.sampled_from(list('()"=;:, ?*-@\\\t\n\x00éaZ09+/'))
SF_FRAGMENTS = st.sampled_from(
    [
        "hedgerow=",
        '("@method" "@path")',
        ";created=1700000000",
        ';keyid="client-node"',
        ';alg="ed25519"',
        ";expires=1700000300",
        ":AAAA:",
        '"content-digest";req;key="x"',
        ";nonce=",
        ", ",
        "(",
        ")",
        '"',
        ";tag=",
        "?1",
        "-1",
        "1.5",
        "*tok/en:",
    ]
)
SF_TEXT = st.lists(st.one_of(SF_FRAGMENTS, SF_ALPHABET), max_size=40).map("".join)


def _verify_only_auth_errors(msg: hs.HttpMessage) -> None:
    try:
        verify(msg)
    except AuthError as exc:
        assert exc.code and exc.message


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["signature", "signature-input", "content-digest", "content-type"]),
    value=st.one_of(st.text(max_size=200), SF_TEXT),
)
def test_random_field_values_only_raise_auth_error(field: str, value: str) -> None:
    _verify_only_auth_errors(SIGNED.with_headers({field: value}))


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["signature", "signature-input", "content-digest"]),
    position=st.integers(min_value=0, max_value=400),
    char=st.characters(max_codepoint=0x17F),
)
def test_mutated_fields_only_raise_auth_error(field: str, position: int, char: str) -> None:
    value = SIGNED.headers[field]
    position %= len(value) + 1
    mutated = value[:position] + char + value[position + 1 :]
    _verify_only_auth_errors(SIGNED.with_headers({field: mutated}))


@settings(max_examples=100, deadline=None)
@given(signature_input=SF_TEXT, signature=SF_TEXT)
def test_random_signature_pairs_only_raise_auth_error(signature_input: str, signature: str) -> None:
    _verify_only_auth_errors(
        SIGNED.with_headers({"signature-input": signature_input, "signature": signature})
    )
