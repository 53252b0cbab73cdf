"""The sync client: run one session with a peer, both directions, over signed HTTP.

:meth:`SyncClient.sync_with` drives :class:`protocol.SyncSession` — the
pure state machine decides what to send; this module only moves bytes and
calls the store. A session reconciles the ``members`` set first (the
genesis and admissions), then ``all`` entries, so that the members are known
before their entries arrive (DESIGN.md "Membership"). Every request is
signed (RFC 9421) and every reply must be signed by a node of our network,
bound to the request it answers, and — when the caller knows whom it meant
to reach — signed by that node; reply bodies are read only up to a limit.
Connections are reused through one :class:`aiohttp.ClientSession` owned by
the caller.

:meth:`SyncClient.join` is a node's first request to the member that invited
it: it proves it holds the invitation (:func:`protocol.join_proof`) and
takes in the genesis and its admission.

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
    PROTOCOL_VERSION,
    AuthError,
    Finished,
    HttpMessage,
    IngestEntries,
    Invitation,
    LoadEntries,
    PeerError,
    SendRequest,
    SessionStats,
    SyncSession,
    id_from_text,
    id_to_text,
    join_proof,
    verify_hedgerow,
)
from protocol.entries import MAX_ENTRY_BYTES
from protocol.httpsig import combine_fields
from protocol.messages import (
    MAX_FETCH_REPLY_BYTES,
    MAX_JOIN_CHAIN,
    MAX_REQUEST_BYTES,
    decode_join_reply,
    encode_join_request,
)

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
                       "push": MAX_REQUEST_BYTES,
                       "join": (MAX_JOIN_CHAIN + 2) * MAX_ENTRY_BYTES}
#: The sets a session reconciles, in the order their missing entries are
#: fetched (protocol/session.py): the members first.
_SETS: Final = ("members", "all")


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

    async def sync_with(self, address: str, *, expect: bytes | None = None) -> SyncReport:
        """One full session with the node at ``address`` (``http(s)://host:port``).

        ``expect``: the node id that must answer (from an invitation or the
        peer book); a reply signed by any other node ends the session.
        """
        peer_id: bytes | None = expect
        own = 0
        storages = {name: await self.recset.storage(name) for name in _SETS}
        session = SyncSession(storages, skip=await self.store.pending_ids())
        action = session.start()
        try:
            while not isinstance(action, Finished):
                if isinstance(action, SendRequest):
                    reply, peer_id = await self._post(address, action.endpoint, action.body,
                                                      expect=peer_id)
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

    async def join(self, invitation: Invitation) -> int:
        """Prove to the inviter that this node holds ``invitation``; returns entries accepted.

        The inviter admits this node and replies with the genesis and the
        admission, which are taken in at once; the node is then a member and
        its next session with the inviter is an ordinary sync.
        """
        proof = join_proof(invitation.secret, invitation.network, invitation.id,
                           self.store.node_id)
        try:
            reply, _ = await self._post(invitation.address, "join",
                                        encode_join_request(invitation.id, proof),
                                        expect=invitation.inviter)
            entries = decode_join_reply(reply)
        except PeerError as exc:
            raise SyncFailed(f"{invitation.address} sent something invalid: {exc.message}"
                             ) from exc
        outcomes = await take_in(self.store, self.events, entries, peer=invitation.address,
                                 blocked=self.blocked)
        return sum(1 for o in outcomes if o.stored)

    async def _post(self, address: str, endpoint: str, body: bytes, *,
                    expect: bytes | None = None) -> tuple[bytes, bytes]:
        url = f"{address.rstrip('/')}/sync/v{PROTOCOL_VERSION}/{endpoint}"
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
                    if resp.status == 404 and endpoint != "join":
                        # Every node of this version serves every sync endpoint.
                        reason = (f"it does not speak Hedgerow protocol version "
                                  f"{PROTOCOL_VERSION} (it may run another version of "
                                  "Hedgerow, or not be a Hedgerow node)")
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
        signer = id_from_text(verified.keyid)
        if expect is not None and signer != expect:
            # The address now answers as another node (moved, or an impostor):
            # nothing it says is taken in (DESIGN.md: a learned address is a
            # candidate until the expected node answers there).
            raise SyncFailed(f"{address} answered as node {id_to_text(signer)[:7]}, not the "
                             f"node {id_to_text(expect)[:7]} expected there")
        # Its clock against ours, for `hedgerow doctor` (node/doctor.py).
        if len(self.clock_offsets) > 10_000:
            self.clock_offsets.clear()
        self.clock_offsets[address] = verified.created - self.store.now_ms() // 1000
        return data, signer

    def _resolve_key(self, keyid: str) -> Ed25519PublicKey:
        return node_key_for(keyid, self.blocked)

