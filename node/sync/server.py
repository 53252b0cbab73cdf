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
5. the peer's turn and work budget (:mod:`.limits`): one request at a time
   per peer, a few waiting (more → 429); a peer that has used up its
   seconds of work waits for them to come back — slowed down, never refused
   mid-session;
6. the body itself (:mod:`protocol.messages`) → 400, and the peer is
   penalised. Reconcile frames are answered by a worker process
   (:mod:`.reconcile_worker`), never on the event loop (worker gone → 503).

Replies are signed too, bound to the request they answer (RFC 9421 §2.4
``"signature";req``), so a client knows the reply came from the node it
asked and was not replayed.
"""

from __future__ import annotations

import asyncio
import logging
import re
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
from .limits import PeerQueue, PeerScores, QueueFull, RateLimiter, WorkBudget
from .nonces import PersistentNonces
from .reconcile_worker import ReconcileWorker, WorkerGone
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
#: Each peer's allowance of work (node.sync.limits.WorkBudget): seconds of CPU a second,
#: saved up to a burst. A 200 KiB reconcile frame costs up to ~0.1 s; an honest
#: catch-up of a million entries about 20 s of reconciliation plus fetching, so it
#: finishes in a few minutes, while one peer can never take more than a fifth of a core.
WORK_PER_S: Final = 0.2
WORK_BURST_S: Final = 2.0
#: Estimated cost of the work a fetch or a push asks for, per entry (reading or
#: verifying and storing one entry); a reconcile frame's cost is measured.
FETCH_COST_S: Final = 0.00002
PUSH_COST_S: Final = 0.0002


_KEYID: Final = re.compile(r'keyid="([^"]{1,120})"')


def _claimed_keyid(request: web.Request) -> str:
    """The keyid a request's Signature-Input names (unverified: only for a cheap pre-check)."""
    found = _KEYID.search(request.headers.get("Signature-Input", "")[:2000])
    return found.group(1) if found else ""


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
        self.work = WorkBudget(WORK_PER_S, WORK_BURST_S)
        self.turns = PeerQueue()
        self.reconciler = ReconcileWorker(store.db.path, frame_size_limit=FRAME_SIZE_LIMIT)
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
            if self.turns.full(_claimed_keyid(request)):
                # Checked before the body is read: a flooding peer's surplus costs nothing.
                # Only the node that keyid names can fill its own queue, so naming another
                # node gains a stranger nothing.
                raise _Refuse(429, "too many requests at once from this node", 1.0)
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
                async with self.turns.turn(peer):
                    reply = await self._answer_within_budget(endpoint, body, peer)
            except QueueFull as exc:
                raise _Refuse(429, str(exc), 1.0) from None
            except WorkerGone as exc:
                raise _Refuse(503, f"{exc.message}; try again", 1.0) from None
            except PeerError as exc:
                self.scores.penalise(peer, "malformed", now)
                raise _Refuse(400, exc.message) from None
            return self._signed_reply(msg, reply)
        except _Refuse as refusal:
            if refusal.status in (400, 401, 413) and peer:
                self.scores.penalise(peer, "bad_signature" if refusal.status == 401
                                     else "malformed", now)
            headers = {"Retry-After": str(max(1, round(refusal.retry_after)))} \
                if refusal.status in (429, 503) else {}
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

    async def close(self) -> None:
        """End the reconciliation worker, if one is running."""
        await self.reconciler.close()

    async def _answer_within_budget(self, endpoint: str, body: bytes, peer: str) -> bytes:
        # A peer that has spent its allowance waits for it (slowed, not refused).
        wait = self.work.wait_for(peer, self.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        reply, cost = await self._answer(endpoint, body, peer)
        self.work.spend(peer, cost, self.monotonic())
        return reply

    async def _answer(self, endpoint: str, body: bytes, peer: str) -> tuple[bytes, float]:
        """The reply body, and the seconds of work it cost."""
        if endpoint == "reconcile":
            # In the worker process: a large frame never stalls the event loop.
            return await self.reconciler.answer(body)
        if endpoint == "fetch":
            ids = decode_fetch_request(body)
            found = await self.store.get_entries(ids)
            return encode_fetch_reply(ids, found), len(ids) * FETCH_COST_S
        entries = decode_push_request(body)
        outcomes = await take_in(self.store, self.events, entries, peer=peer,
                                 blocked=self.blocked)
        if any(o.status is IngestStatus.REJECTED for o in outcomes):
            self.scores.penalise(peer, "rejected_entry", self.monotonic())
        return encode_push_reply([PushResult(o.entry_id, o.status.value, o.reason)
                                  for o in outcomes]), len(entries) * PUSH_COST_S

    def _signed_reply(self, request: HttpMessage, body: bytes) -> web.Response:
        msg = HttpMessage({"content-type": CONTENT_TYPE}, status=200, request=request, body=body)
        fields = sign_message_fields(msg, self.store.key, self.store.network,
                                     self.store.now_ms() // 1000)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, **fields})


SYNC_SERVER: Final = web.AppKey("sync_server", SyncServer)
