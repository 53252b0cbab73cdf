"""The HTTP side of the sync protocol: bounded bodies and signed messages.

Shared by the sync server and client: both read a peer's body only up to a
limit (never an unbounded ``read()``), and both turn aiohttp messages into
:class:`protocol.HttpMessage` for RFC 9421 signing and verification.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Final

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import (
    AuthError,
    HttpMessage,
    InvalidIdText,
    NodeKey,
    id_from_text,
    public_key,
    sign_hedgerow,
)
from protocol.httpsig import combine_fields

__all__ = [
    "CONTENT_TYPE",
    "BodyTooLarge",
    "network_fingerprint",
    "node_key_for",
    "read_bounded",
    "request_message",
    "sign_message_fields",
]

CONTENT_TYPE: Final = "application/vnd.hedgerow.sync+msgpack"
_CHUNK: Final = 64 * 1024


class BodyTooLarge(Exception):
    """A body went past its limit (the caller answers 413 or drops the peer)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


async def read_bounded(stream: aiohttp.StreamReader, limit: int,
                       declared: int | None = None) -> bytes:
    """Read a whole body, refusing (before reading) a declared or actual size over ``limit``."""
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in stream.iter_chunked(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def request_message(request: web.Request, body: bytes) -> HttpMessage:
    """The signature's view of a request the server received."""
    path, qmark, query = request.raw_path.partition("?")
    return HttpMessage(
        combine_fields(request.headers.items()), method=request.method,
        authority=request.host, path=path, query=query if qmark else None,
        scheme=request.scheme, body=body,
    )


def sign_message_fields(msg: HttpMessage, key: NodeKey, network: bytes, now_s: int) -> dict[str,
                                                                                          str]:
    """Content-Digest, Signature-Input and Signature for ``msg``, by Hedgerow's policy."""
    return sign_hedgerow(msg, key=key.private_key, keyid=key.node_id, network_id=network,
                         now=now_s, nonce=secrets.token_urlsafe(18))


def node_key_for(keyid: str, blocked: frozenset[bytes]) -> Ed25519PublicKey:
    """The public key a signature's ``keyid`` names, unless that node is blocked.

    Raises :class:`protocol.AuthError` (``unknown_key`` or ``blocked``).
    """
    try:
        node = id_from_text(keyid)
    except InvalidIdText as exc:
        raise AuthError(f"keyid is not a node id: {exc.message}", code="unknown_key") from exc
    if node in blocked:
        raise AuthError("that node is blocked here", code="blocked")
    return public_key(node)


def network_fingerprint(network: bytes) -> str:
    """A short public digest of the network id, which itself is not published."""
    return hashlib.sha256(b"hedgerow/network-fingerprint/v1\x00" + network).hexdigest()[:16]


def response_headers(fields: Mapping[str, str]) -> dict[str, str]:
    return {"Content-Type": CONTENT_TYPE, **fields}
