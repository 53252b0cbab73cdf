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
takes in the genesis and its admission. :meth:`SyncClient.push` passes new
entries on without a session (the relay: node/sync/relay.py).

Addresses learned from the network go through the dial policy
(node/sync/dialling.py): their IP literals are checked here, their names
when they resolve, in the connections of ``learned_http``.

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
    SignedEntry,
    SyncSession,
    decode,
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
    MAX_PUSH_BYTES,
    MAX_PUSH_ENTRIES,
    MAX_REQUEST_BYTES,
    decode_join_reply,
    decode_push_reply,
    encode_join_request,
    encode_push_request,
)

from ..errors import AddressRefused, PeerRefused, PeerUnreachable, SyncFailed
from ..events import EventBus
from ..store.reconciliation import ReconciliationSet
from ..store.store import Store
from .dialling import DialPolicy, DialRefusedError
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
#: A push waits no longer than this for its answer: a rumour's pushes follow
#: one another, and a peer that does not answer is replaced (protocol/rumours.py).
PUSH_TIMEOUT_S: Final = 10.0
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
    #: This node's own entries the peer lacked (pushed to it in the session).
    own_entries_sent: int = 0
    #: This node's own entries it held when the session began.
    own_entries_held: int = 0

    @property
    def peer_held_own(self) -> bool:
        """Whether the peer held at least one of this node's own entries (catch-up)."""
        return self.own_entries_received > 0 or self.own_entries_sent < self.own_entries_held


@dataclass(frozen=True, slots=True)
class PushReport:
    """What one push did: the receiver's verdict on each entry, by id."""

    address: str
    peer_id: bytes
    statuses: dict[bytes, str]
    bytes_up: int
    bytes_down: int


class SyncClient:
    def __init__(self, store: Store, events: EventBus, http: aiohttp.ClientSession, *,
                 recset: ReconciliationSet, timeout_s: float = 30.0,
                 blocked: frozenset[bytes] = frozenset(),
                 learned_http: aiohttp.ClientSession | None = None,
                 policy: DialPolicy | None = None) -> None:
        self.store, self.events, self.http, self.recset = store, events, http, recset
        #: Connections to learned addresses: names resolve through the dial
        #: policy's resolver (node/sync/dialling.py).
        self.learned_http = learned_http or http
        self.policy = policy
        self.timeout_s = timeout_s
        self.blocked = blocked
        #: Per address, the peer's clock minus ours (seconds) at its last signed reply.
        self.clock_offsets: dict[str, int] = {}

    async def sync_with(self, address: str, *, expect: bytes | None = None,
                        learned: bool = False) -> SyncReport:
        """One full session with the node at ``address`` (``http(s)://host:port``).

        ``expect``: the node id that must answer (from an invitation or the
        peer book); a reply signed by any other node ends the session.
        ``learned``: the address came from the network, not from a person
        (the dial policy's rule 2 applies).
        """
        peer_id: bytes | None = expect
        own = own_sent = 0
        # What catch-up needs to know (node/store/node_state.py), counted only
        # while the node catches up: whether the peer held its own entries.
        catching_up = await self.store.needs_catch_up()
        own_held = await self.store.own_entry_count() if catching_up else 0
        storages = {name: await self.recset.storage(name) for name in _SETS}
        session = SyncSession(storages, skip=await self.store.pending_ids())
        action = session.start()
        try:
            while not isinstance(action, Finished):
                if isinstance(action, SendRequest):
                    reply, peer_id = await self._post(address, action.endpoint, action.body,
                                                      expect=peer_id, learned=learned)
                    action = session.receive(reply)
                elif isinstance(action, IngestEntries):
                    outcomes = await take_in(self.store, self.events, action.entries,
                                             peer=address, blocked=self.blocked)
                    own += sum(1 for o in outcomes if o.own)
                    action = session.ingested([o.status.value for o in outcomes])
                else:
                    assert isinstance(action, LoadEntries)
                    loaded = await self.store.get_entries(list(action.ids))
                    if catching_up:
                        own_sent += sum(1 for e in loaded
                                        if decode(e.payload)["author"] == self.store.node_id)
                    action = session.loaded(loaded)
        except PeerError as exc:
            raise SyncFailed(f"{address} sent something invalid: {exc.message}",
                             stats=session.stats) from exc
        except SyncFailed as exc:
            exc.stats = session.stats
            raise
        return SyncReport(address, peer_id, action.stats, own, own_sent, own_held)

    async def push(self, address: str, entries: list[SignedEntry], *,
                   expect: bytes | None = None, learned: bool = False) -> PushReport:
        """Push ``entries`` to the node at ``address``, in requests within the push limits."""
        statuses: dict[bytes, str] = {}
        up = down = 0
        peer_id = expect
        batch: list[SignedEntry] = []
        size = 0

        async def send() -> None:
            nonlocal up, down, peer_id
            body = encode_push_request(batch)
            reply, peer_id = await self._post(address, "push", body, expect=peer_id,
                                              learned=learned,
                                              timeout_s=min(self.timeout_s, PUSH_TIMEOUT_S))
            up, down = up + len(body), down + len(reply)
            try:
                results = decode_push_reply(reply, [e.id for e in batch])
            except PeerError as exc:
                raise SyncFailed(f"{address} sent something invalid: {exc.message}") from exc
            statuses.update((r.id, r.outcome) for r in results)

        for signed in entries:
            wire = len(signed.payload) + len(signed.sig) + 16
            if batch and (len(batch) >= MAX_PUSH_ENTRIES or size + wire > MAX_PUSH_BYTES):
                await send()
                batch, size = [], 0
            batch.append(signed)
            size += wire
        if batch:
            await send()
        assert peer_id is not None or not entries
        return PushReport(address, peer_id or b"", statuses, up, down)

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
                    expect: bytes | None = None, learned: bool = False,
                    timeout_s: float | None = None) -> tuple[bytes, bytes]:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        url = f"{address.rstrip('/')}/sync/v{PROTOCOL_VERSION}/{endpoint}"
        if self.policy is not None:
            refusal = self.policy.check_url(url, learned=learned)
            if refusal is not None:
                raise self._refused(address, expect, refusal)
        http = self.learned_http if learned else self.http
        msg = HttpMessage.for_request("POST", url, {"content-type": CONTENT_TYPE}, body)
        fields = sign_message_fields(msg, self.store.key, self.store.network,
                                     self.store.now_ms() // 1000)
        sent = msg.with_headers(fields)
        try:
            async with asyncio.timeout(timeout), http.post(
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
            raise PeerUnreachable(f"{address} did not answer within {timeout:g} s") from None
        except BodyTooLarge as exc:
            raise SyncFailed(f"{address} sent a reply larger than {exc.limit} bytes") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, DialRefusedError):
                raise self._refused(address, expect, exc.os_error.reason) from None
            raise PeerUnreachable(f"{address} is unreachable: {exc}") from exc
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

    @staticmethod
    def _refused(address: str, expect: bytes | None, reason: str) -> AddressRefused:
        # One line per refusal, naming the peer and the reason (DESIGN.md
        # "Discovery and topology"); the peer book backs the address off.
        node = f" (node {id_to_text(expect)[:7]})" if expect is not None else ""
        log.info("not dialling %s%s: %s", address, node, reason)
        return AddressRefused(f"{address} is not dialled: {reason}")

    def _resolve_key(self, keyid: str) -> Ed25519PublicKey:
        return node_key_for(keyid, self.blocked)

