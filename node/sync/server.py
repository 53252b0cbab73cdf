"""The sync server: ``POST /sync/v2/{reconcile,fetch,push,join}`` and ``GET /.well-known/hedgerow``.

Every sync request passes these gates, in order, and each failure changes
nothing and gets a plain-text reason:

1. the protocol version in the path: another version gets 400 naming both;
2. per-IP rate limit → 429 (with ``Retry-After``);
3. who claims to sign it, from the headers alone, before any work is done
   (DESIGN.md "Membership"): a key that is not a member of this network →
   401 "not a member of this network"; a blocked node → 403. Only ``join``
   is open to a key that is not a member yet;
4. body size: a declared ``Content-Length`` over 256 KiB is refused before
   reading, and reading stops at the limit → 413; a body slower than
   ``request_timeout`` → 408;
5. RFC 9421 signature by Hedgerow's policy (:func:`protocol.verify_hedgerow`):
   missing, malformed, stale, future, replayed, wrong network or bad → 401;
6. the peer's misbehaviour score (ignored for a while) and per-peer rate
   limit → 429;
7. the body itself (:mod:`protocol.messages`) → 400, and the peer is
   penalised. A join whose invitation fails → 403 saying how.

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
    PROTOCOL_VERSION,
    AuthError,
    HttpMessage,
    InvalidIdText,
    NonceCache,
    PeerError,
    PushResult,
    answer_reconcile,
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
    decode_reconcile,
    encode_fetch_reply,
    encode_join_reply,
    encode_push_reply,
)

from ..errors import NotMember
from ..events import EventBus
from ..settings import Config
from ..store import blocklist
from ..store.ingest import HONEST_REJECTIONS, IngestStatus
from ..store.membership import JoinRefused
from ..store.reconciliation import ReconciliationSet
from ..store.store import Store
from .intake import take_in
from .limits import PeerScores, RateLimiter
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
        self.nonces = NonceCache()
        self.ip_limits = RateLimiter(config.rate_limit_per_ip, 5 * config.rate_limit_per_ip)
        self.peer_limits = RateLimiter(config.rate_limit_per_peer,
                                       5 * config.rate_limit_per_peer)
        self.scores = PeerScores()
        self.blocked: frozenset[bytes] = frozenset()
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
            wait = self.ip_limits.allow(request.remote or "?", now)
            if wait:
                raise _Refuse(429, "too many requests from this address", wait)
            await self._admit_signer(request, endpoint)
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
                                           resolve_key=self._resolve_key, nonces=self.nonces)
            except AuthError as exc:
                if exc.code == "blocked":
                    raise _Refuse(403, exc.message) from None
                raise _Refuse(401, f"signature refused: {exc.message}") from None
            peer = verified.keyid
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

    async def _admit_signer(self, request: web.Request, endpoint: str) -> None:
        """Refuse, on the headers alone, a signer that could never be accepted (gate 3)."""
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

    async def refresh_blocked(self) -> None:
        """Re-read the blocklist (called at start and whenever it changes)."""
        self.blocked = frozenset(await self.store.db.read(blocklist.blocked_nodes))

    async def _answer(self, endpoint: str, body: bytes, peer: str) -> bytes:
        if endpoint == "reconcile":
            messages = decode_reconcile(body)
            storages = {name: await self.recset.storage(name) for name in messages}
            return answer_reconcile(storages, messages, frame_size_limit=FRAME_SIZE_LIMIT)
        if endpoint == "fetch":
            ids = decode_fetch_request(body)
            found = await self.store.get_entries(ids)
            return encode_fetch_reply(ids, found)
        if endpoint == "join":
            return await self._join(body, peer)
        entries = decode_push_request(body)
        outcomes = await take_in(self.store, self.events, entries, peer=peer,
                                 blocked=self.blocked)
        if any(o.status is IngestStatus.REJECTED and o.code not in HONEST_REJECTIONS
               for o in outcomes):
            self.scores.penalise(peer, "rejected_entry", self.monotonic())
        return encode_push_reply([PushResult(o.entry_id, o.status.value, o.reason)
                                  for o in outcomes])

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
