"""The sync server: ``POST /sync/v2/{reconcile,fetch,push,join}`` and ``GET /.well-known/hedgerow``.

Every sync request passes these gates, in order, and each failure changes
nothing and gets a plain-text reason:

0. the node's front door (:mod:`node.front`): any content coding, or a
   content type other than ``application/vnd.hedgerow.sync+msgpack`` → 415,
   before a byte of the body is read;
1. the protocol version in the path: another version gets 400 naming both;
2. per-IP rate limit (the client's address, through ``trusted_proxies``)
   → 429 (with ``Retry-After``);
3. who claims to sign it, from the headers alone, before any work is done
   (DESIGN.md "Membership"): a key that is not a member of this network →
   401 "not a member of this network"; a blocked node → 403. Only ``join``
   is open to a key that is not a member yet. A member with too many
   requests waiting → 429, before its body is read;
4. body size: a declared ``Content-Length`` over 256 KiB is refused before
   reading, and reading stops at the limit → 413; a body slower than
   ``request_timeout`` → 408;
5. RFC 9421 signature by Hedgerow's policy (:func:`protocol.verify_hedgerow`):
   missing, malformed, stale, future, replayed (also across a restart: the
   nonces of accepted signatures are kept in the database), wrong network
   or bad → 401;
6. the peer's misbehaviour score (ignored for a while) and per-peer rate
   limit → 429;
7. the peer's turn and work budget (:mod:`.limits`): one request at a time
   per peer, a few waiting (more → 429); a peer that has used up its
   seconds of work waits for them to come back — slowed down, never refused
   mid-session;
8. the body itself (:mod:`protocol.messages`) → 400, and the peer is
   penalised; a join whose invitation fails → 403 saying how. Reconcile
   frames are answered by a worker process (:mod:`.reconcile_worker`), never
   on the event loop (worker gone → 503).

Replies are signed too, bound to the request they answer (RFC 9421 §2.4
``"signature";req``), so a client knows the reply came from the node it
asked and was not replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import protocol
from protocol import (
    PROTOCOL_VERSION,
    AuthError,
    HedgerowError,
    HttpMessage,
    InvalidIdText,
    PeerError,
    PushResult,
    id_from_text,
    id_to_text,
    verify_hedgerow,
)
from protocol.httpsig import claimed_keyid, combine_fields
from protocol.messages import (
    ENDPOINTS,
    MAX_REQUEST_BYTES,
    decode_fetch_request,
    decode_join_request,
    decode_push_request,
    encode_fetch_reply,
    encode_join_reply,
    encode_push_reply,
)

from ..errors import NotMember
from ..events import EventBus
from ..front import client_of
from ..settings import Config
from ..store import blocklist
from ..store.ingest import HONEST_REJECTIONS, IngestStatus
from ..store.membership import JoinRefused
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

PROTOCOL_VERSIONS: Final = (f"hedgerow-sync/{PROTOCOL_VERSION}",)
_VERSION_PATH: Final = f"v{PROTOCOL_VERSION}"


def version_mismatch(theirs: str) -> str:
    """What a node of another protocol version is told: both versions, and what to do."""
    return (f"this node speaks Hedgerow protocol version {PROTOCOL_VERSION}; the request was "
            f"version {theirs[:8]!r}: nodes of different versions cannot sync, upgrade the "
            "older one")


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
        #: Told the node id of each member whose request was answered: the
        #: peer view records where it can be reached (node/sync/view.py).
        self.on_member_request: Callable[[bytes], Awaitable[object]] | None = None
        # The members, as of membership generation ``_members_at`` (see _is_member).
        self.members: frozenset[bytes] = frozenset()
        self._members_at = -1

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/.well-known/hedgerow", self.well_known),
            web.post("/sync/{version}/{endpoint}", self.handle),
        ]

    async def well_known(self, request: web.Request) -> web.Response:
        return web.json_response({
            "node_id": self.store.key.node_id,
            "network_fingerprint": network_fingerprint(self.store.network),
            "protocol_version": PROTOCOL_VERSION,
            "protocol_versions": list(PROTOCOL_VERSIONS),
            "negentropy_version": protocol.negentropy.PROTOCOL_VERSION,
            "software": f"hedgerow {self.version}",
        })

    async def handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        now = self.monotonic()
        peer = ""
        try:
            version = request.match_info["version"]
            if version != _VERSION_PATH:
                raise _Refuse(400, version_mismatch(version.removeprefix("v")))
            if endpoint not in ENDPOINTS:
                raise _Refuse(404, f"unknown sync endpoint {endpoint[:40]!r}")
            wait = self.ip_limits.allow(client_of(request).address, now)
            if wait:
                raise _Refuse(429, "too many requests from this address", wait)
            keyid = await self._admit_signer(request, endpoint)
            if self.turns.full(keyid):
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
            if self.on_member_request is not None:
                await self._tell_member_request(peer)
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

    async def _tell_member_request(self, peer: str) -> None:
        assert self.on_member_request is not None
        try:
            await self.on_member_request(id_from_text(peer))
        except HedgerowError as exc:  # a full disk, say: the reply still goes out
            log.warning("could not record node %s as a peer: %s", peer[:7], exc.message)

    async def _admit_signer(self, request: web.Request, endpoint: str) -> str:
        """Refuse, on the headers alone, a signer that could never be accepted (gate 3).

        Returns the keyid the request claims (not verified yet)."""
        keyid = claimed_keyid(combine_fields(request.headers.items()))
        if keyid is None:
            raise _Refuse(401, "signature refused: the request carries no readable signature")
        try:
            node = id_from_text(keyid)
        except InvalidIdText:
            raise _Refuse(401, "signature refused: keyid is not a node id") from None
        if node in self.blocked:
            raise _Refuse(403, "that node is blocked here")
        if endpoint != "join" and not await self._is_member(node):
            raise _Refuse(401, "not a member of this network: a node joins with an invitation "
                               "from a member, or a member admits it (`hedgerow admit`)")
        return keyid

    async def _is_member(self, node: bytes) -> bool:
        """Whether ``node`` is a member now, by the members held in memory.

        One small read of the membership generation per request says whether
        they are current (another process — `hedgerow admit` — or a session
        may have changed them); they are read again only when it moved on.
        """
        if await self.store.membership_generation() != self._members_at:
            await self.refresh_members()
        return node in self.members

    async def refresh_members(self) -> None:
        """Re-read the members (at start, and whenever they may have changed)."""
        self._members_at, self.members = await self.store.member_ids()

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
        if endpoint == "join":
            return await self._join(body, peer), PUSH_COST_S
        entries = decode_push_request(body)
        started = self.monotonic()
        outcomes = await take_in(self.store, self.events, entries, peer=peer,
                                 blocked=self.blocked)
        # Charged what it took, if more than the estimate: entries that make
        # the node work out its members again cost it more than storing does.
        spent = max(len(entries) * PUSH_COST_S, self.monotonic() - started)
        if any(o.status is IngestStatus.REJECTED and o.code not in HONEST_REJECTIONS
               for o in outcomes):
            self.scores.penalise(peer, "rejected_entry", self.monotonic())
        return encode_push_reply([PushResult(o.entry_id, o.status.value, o.reason)
                                  for o in outcomes]), spent

    async def _join(self, body: bytes, peer: str) -> bytes:
        """A node proves it holds one of this node's invitations; admit it (DESIGN.md)."""
        invitation, proof = decode_join_request(body)
        node = id_from_text(peer)
        try:
            entries = await self.store.accept_join(invitation, node, proof)
        except (JoinRefused, NotMember) as exc:
            raise _Refuse(403, exc.message) from None
        await self.refresh_members()
        log.info("admitted %s, who joined with an invitation", id_to_text(node))
        return encode_join_reply(entries)

    def _signed_reply(self, request: HttpMessage, body: bytes) -> web.Response:
        msg = HttpMessage({"content-type": CONTENT_TYPE}, status=200, request=request, body=body)
        fields = sign_message_fields(msg, self.store.key, self.store.network,
                                     self.store.now_ms() // 1000)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, **fields})


SYNC_SERVER: Final = web.AppKey("sync_server", SyncServer)
