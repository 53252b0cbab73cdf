"""The sync client: run one session with a peer, both directions, over signed HTTP.

:meth:`SyncClient.sync_with` drives a :class:`protocol.SyncSession` — the
pure state machine decides what to send; this module only moves bytes and
calls the store. Every request is signed (RFC 9421) and every reply must be
signed by a node of our network and bound to the request it answers; reply
bodies are read only up to a limit. Connections are reused through one
:class:`aiohttp.ClientSession` owned by the caller.

Failures are :class:`node.errors.SyncFailed` subclasses, carrying what the
session achieved before it failed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import (
    AuthError,
    Finished,
    HttpMessage,
    IngestEntries,
    LoadEntries,
    PeerError,
    SendRequest,
    SessionStats,
    SyncSession,
    id_from_text,
    verify_hedgerow,
)
from protocol.httpsig import combine_fields
from protocol.messages import MAX_FETCH_REPLY_BYTES, MAX_REQUEST_BYTES

from ..errors import PeerRefused, PeerUnreachable, SyncFailed
from ..events import EventBus
from ..store.reconciliation import ReconciliationSet
from ..store.store import Store
from .intake import take_in
from .wire import (
    CONTENT_TYPE,
    BodyTooLarge,
    node_key_for,
    read_bounded,
    sign_message_fields,
)

__all__ = ["SyncClient", "SyncReport"]

log = logging.getLogger(__name__)

_REPLY_LIMIT: Final = {"reconcile": MAX_REQUEST_BYTES, "fetch": MAX_FETCH_REPLY_BYTES + 4096,
                       "push": MAX_REQUEST_BYTES}


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one session did."""

    address: str
    peer_id: bytes | None
    stats: SessionStats
    own_entries_received: int


class SyncClient:
    def __init__(self, store: Store, events: EventBus, http: aiohttp.ClientSession, *,
                 recset: ReconciliationSet, timeout_s: float = 30.0,
                 blocked: frozenset[bytes] = frozenset()) -> None:
        self.store, self.events, self.http, self.recset = store, events, http, recset
        self.timeout_s = timeout_s
        self.blocked = blocked
        #: Per address, the peer's clock minus ours (seconds) at its last signed reply.
        self.clock_offsets: dict[str, int] = {}

    async def sync_with(self, address: str) -> SyncReport:
        """One full session with the node at ``address`` (``http(s)://host:port``)."""
        session = SyncSession(await self.recset.storage())
        peer_id: bytes | None = None
        own = 0
        action = session.start()
        try:
            while not isinstance(action, Finished):
                if isinstance(action, SendRequest):
                    reply, peer_id = await self._post(address, action.endpoint, action.body)
                    action = session.receive(reply)
                elif isinstance(action, IngestEntries):
                    outcomes = await take_in(self.store, self.events, action.entries,
                                             peer=address, blocked=self.blocked)
                    own += sum(1 for o in outcomes if o.own)
                    action = session.ingested([o.status.value for o in outcomes])
                else:
                    assert isinstance(action, LoadEntries)
                    action = session.loaded(await self.store.get_entries(list(action.ids)))
        except PeerError as exc:
            raise SyncFailed(f"{address} sent something invalid: {exc.message}",
                             stats=session.stats) from exc
        except SyncFailed as exc:
            exc.stats = session.stats
            raise
        return SyncReport(address, peer_id, action.stats, own)

    async def _post(self, address: str, endpoint: str, body: bytes) -> tuple[bytes, bytes]:
        url = f"{address.rstrip('/')}/sync/v1/{endpoint}"
        msg = HttpMessage.for_request("POST", url, {"content-type": CONTENT_TYPE}, body)
        fields = sign_message_fields(msg, self.store.key, self.store.network,
                                     self.store.now_ms() // 1000)
        sent = msg.with_headers(fields)
        try:
            async with asyncio.timeout(self.timeout_s), self.http.post(
                url, data=body, headers={"Content-Type": CONTENT_TYPE, **fields},
                allow_redirects=False,
            ) as resp:
                if resp.status != 200:
                    reason = (await resp.content.read(300)).decode("utf-8", "replace").strip()
                    raise PeerRefused(f"{address} answered {resp.status}: "
                                      f"{reason or resp.reason}", status=resp.status)
                data = await read_bounded(resp.content, _REPLY_LIMIT[endpoint],
                                          resp.content_length)
                headers = combine_fields(resp.headers.items())
        except TimeoutError:
            raise PeerUnreachable(f"{address} did not answer within {self.timeout_s:g} s") \
                from None
        except BodyTooLarge as exc:
            raise SyncFailed(f"{address} sent a reply larger than {exc.limit} bytes") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise PeerUnreachable(f"{address} is unreachable: {exc}") from exc
        reply = HttpMessage(headers, status=200, request=sent, body=data)
        try:
            verified = verify_hedgerow(reply, now=self.store.now_ms() // 1000,
                                       network_id=self.store.network,
                                       resolve_key=self._resolve_key, nonces=None)
        except AuthError as exc:
            raise SyncFailed(f"{address} sent a reply whose signature is refused: "
                             f"{exc.message}") from exc
        if len(self.clock_offsets) > 10_000:
            self.clock_offsets.clear()
        self.clock_offsets[address] = verified.created - self.store.now_ms() // 1000
        return data, id_from_text(verified.keyid)

    def _resolve_key(self, keyid: str) -> Ed25519PublicKey:
        return node_key_for(keyid, self.blocked)
