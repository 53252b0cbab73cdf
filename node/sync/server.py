"""The sync server: ``POST /sync/v1/{reconcile,fetch,push}`` and ``GET /.well-known/hedgerow``.

Every sync request passes these gates, in order, and each failure changes
nothing and gets a plain-text reason:

0. the node's front door (:mod:`node.front`): any content coding, or a
   content type other than ``application/vnd.hedgerow.sync+msgpack`` → 415,
   before a byte of the body is read;
1. per-IP rate limit (the client's address, through ``trusted_proxies``)
   → 429 (with ``Retry-After``);
2. body size: a declared ``Content-Length`` over 256 KiB is refused before
   reading, and reading stops at the limit → 413; a body slower than
   ``request_timeout`` → 408;
3. RFC 9421 signature by Hedgerow's policy (:func:`protocol.verify_hedgerow`):
   missing, malformed, stale, future, replayed (also across a restart: the
   nonces of accepted signatures are kept in the database) wrong network or
   bad → 401;
   a blocked node → 403;
4. the peer's misbehaviour score (ignored for a while) and per-peer rate
   limit → 429;
5. the body itself (:mod:`protocol.messages`) → 400, and the peer is
   penalised.

Replies are signed too, bound to the request they answer (RFC 9421 §2.4
``"signature";req``), so a client knows the reply came from the node it
asked and was not replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import protocol
from protocol import (
    AuthError,
    HttpMessage,
    PeerError,
    PushResult,
    answer_reconcile,
    verify_hedgerow,
)
from protocol.messages import (
    MAX_REQUEST_BYTES,
    decode_fetch_request,
    decode_push_request,
    encode_fetch_reply,
    encode_push_reply,
)

from ..events import EventBus
from ..front import client_of
from ..settings import Config
from ..store import blocklist
from ..store.ingest import IngestStatus
from ..store.reconciliation import ReconciliationSet
from ..store.store import Store
from .intake import take_in
from .limits import PeerScores, RateLimiter
from .nonces import PersistentNonces
from .wire import (
    CONTENT_TYPE,
    BodyTooLarge,
    network_fingerprint,
    node_key_for,
    read_bounded,
    request_message,
    sign_message_fields,
)

__all__ = ["PROTOCOL_VERSIONS", "SYNC_SERVER", "SyncServer"]

log = logging.getLogger(__name__)

PROTOCOL_VERSIONS: Final = ("hedgerow-sync/1",)
_ENDPOINTS: Final = ("reconcile", "fetch", "push")
#: Frame limit for our reconcile replies: bounded work and bytes per request.
FRAME_SIZE_LIMIT: Final = 60_000


class _Refuse(Exception):
    def __init__(self, status: int, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


class SyncServer:
    """Answers peers' sync sessions from the store."""

    def __init__(self, store: Store, config: Config, events: EventBus, *,
                 recset: ReconciliationSet, monotonic: Callable[[], float] = time.monotonic,
                 version: str = "0") -> None:
        self.store, self.config, self.events, self.recset = store, config, events, recset
        self.monotonic = monotonic
        self.version = version
        self.nonces = PersistentNonces(store.db)
        self.ip_limits = RateLimiter(config.rate_limit_per_ip, 5 * config.rate_limit_per_ip)
        self.peer_limits = RateLimiter(config.rate_limit_per_peer,
                                       5 * config.rate_limit_per_peer)
        self.scores = PeerScores()
        self.blocked: frozenset[bytes] = frozenset()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/.well-known/hedgerow", self.well_known),
            web.post("/sync/v1/{endpoint}", self.handle),
        ]

    async def well_known(self, request: web.Request) -> web.Response:
        return web.json_response({
            "node_id": self.store.key.node_id,
            "network_fingerprint": network_fingerprint(self.store.network),
            "protocol_versions": list(PROTOCOL_VERSIONS),
            "negentropy_version": protocol.negentropy.PROTOCOL_VERSION,
            "software": f"hedgerow {self.version}",
        })

    async def handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        now = self.monotonic()
        peer = ""
        try:
            if endpoint not in _ENDPOINTS:
                raise _Refuse(404, f"unknown sync endpoint {endpoint[:40]!r}")
            wait = self.ip_limits.allow(client_of(request).address, now)
            if wait:
                raise _Refuse(429, "too many requests from this address", wait)
            try:
                async with asyncio.timeout(self.config.request_timeout):
                    body = await read_bounded(request.content, MAX_REQUEST_BYTES,
                                              request.content_length)
            except TimeoutError:
                raise _Refuse(408, "the request body took too long to arrive") from None
            except BodyTooLarge as exc:
                raise _Refuse(413, str(exc)) from None
            msg = request_message(request, body)
            try:
                verified = verify_hedgerow(msg, now=self.store.now_ms() // 1000,
                                           network_id=self.store.network,
                                           resolve_key=self._resolve_key,
                                           nonces=self.nonces.seen_or_add)
            except AuthError as exc:
                if exc.code == "blocked":
                    raise _Refuse(403, exc.message) from None
                raise _Refuse(401, f"signature refused: {exc.message}") from None
            peer = verified.keyid
            # The nonce is on disk before anything is done: a replay after a restart
            # is refused like any other (node/sync/nonces.py).
            await self.nonces.persist()
            ignored = self.scores.ignored_for(peer, now)
            if ignored:
                raise _Refuse(429, "too many bad requests from this node; ignored for a while",
                              ignored)
            wait = self.peer_limits.allow(peer, now)
            if wait:
                raise _Refuse(429, "too many requests from this node", wait)
            try:
                reply = await self._answer(endpoint, body, peer)
            except PeerError as exc:
                self.scores.penalise(peer, "malformed", now)
                raise _Refuse(400, exc.message) from None
            return self._signed_reply(msg, reply)
        except _Refuse as refusal:
            if refusal.status in (400, 401, 413) and peer:
                self.scores.penalise(peer, "bad_signature" if refusal.status == 401
                                     else "malformed", now)
            headers = {"Retry-After": str(max(1, round(refusal.retry_after)))} \
                if refusal.status == 429 else {}
            log.debug("refused %s %s from %s: %s", endpoint, refusal.status, request.remote,
                      refusal.reason)
            return web.Response(status=refusal.status, text=refusal.reason, headers=headers)

    def _resolve_key(self, keyid: str) -> Ed25519PublicKey:
        return node_key_for(keyid, self.blocked)

    async def start(self) -> None:
        """Read what outlives a restart: the blocklist, and the nonces still live."""
        await self.nonces.load(self.store.now_ms() // 1000)
        await self.refresh_blocked()

    async def refresh_blocked(self) -> None:
        """Re-read the blocklist (called at start and whenever it changes)."""
        self.blocked = frozenset(await self.store.db.read(blocklist.blocked_nodes))

    async def _answer(self, endpoint: str, body: bytes, peer: str) -> bytes:
        if endpoint == "reconcile":
            storage = await self.recset.storage()
            return answer_reconcile(storage, body, frame_size_limit=FRAME_SIZE_LIMIT)
        if endpoint == "fetch":
            ids = decode_fetch_request(body)
            found = await self.store.get_entries(ids)
            return encode_fetch_reply(ids, found)
        entries = decode_push_request(body)
        outcomes = await take_in(self.store, self.events, entries, peer=peer,
                                 blocked=self.blocked)
        if any(o.status is IngestStatus.REJECTED for o in outcomes):
            self.scores.penalise(peer, "rejected_entry", self.monotonic())
        return encode_push_reply([PushResult(o.entry_id, o.status.value, o.reason)
                                  for o in outcomes])

    def _signed_reply(self, request: HttpMessage, body: bytes) -> web.Response:
        msg = HttpMessage({"content-type": CONTENT_TYPE}, status=200, request=request, body=body)
        fields = sign_message_fields(msg, self.store.key, self.store.network,
                                     self.store.now_ms() // 1000)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, **fields})


SYNC_SERVER: Final = web.AppKey("sync_server", SyncServer)
