"""The sync client: sessions with a peer, both directions, over signed HTTP.

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

Catching up. However large the difference, every session stores something:
fetches start while reconciliation goes on, the entries fetched are
ingested while the next batch is on its way (one ingest under way, a couple
of fetches), and a session that has found :data:`protocol.session.MAX_SESSION_IDS`
ids hands over to the next one, which starts from what the store then
holds. :meth:`SyncClient.sync_with` runs sessions until one completes (or
one makes no progress), so one call — one ``hedgerow sync``, one gossip
round — catches a new node up with a whole network. Nothing is held but
one frame's worth of ids and a few batches of entries.

Several peers at once. ``helpers`` are other peers of the network: fetches
go to whichever of the session's peer and its helpers has the fewest
requests under way, so the ids found are split between them as they go,
and a slow peer simply takes fewer batches. Ids a helper does not hold come
back to the session's own peer. Sessions of this client that run at the
same time share :attr:`SyncClient.claims`, so two of them never fetch the
same id; entries waiting for their author's admission (the store's pending
table) are not fetched again either.

A peer that answers 429 or 503 with ``Retry-After`` is waited for (within
:data:`MAX_RETRY_WAIT_S`, a few times a request), not given up on: a member's
allowance that runs out slows a session down, it does not end it.

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
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

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
    MAX_REPLY_FRAME,
    MAX_REQUEST_BYTES,
    RECONCILE_SETS,
    decode_join_reply,
    decode_push_reply,
    encode_join_request,
    encode_push_request,
)
from protocol.session import MAX_SESSION_IDS

from ..errors import AddressRefused, PeerRefused, PeerUnreachable, SyncFailed
from ..events import EventBus
from ..store.reconciliation import ReconciliationSet
from ..store.store import Store
from .dialling import DialPolicy, DialRefusedError
from .intake import take_in
from .progress import CatchUp
from .wire import (
    CONTENT_TYPE,
    BodyTooLarge,
    node_key_for,
    read_bounded,
    sign_message_fields,
)

__all__ = ["MAX_RETRY_WAIT_S", "MAX_SESSIONS", "Helper", "PushReport", "SyncClient",
           "SyncReport"]

log = logging.getLogger(__name__)

_REPLY_LIMIT: Final = {"reconcile": len(RECONCILE_SETS) * (MAX_REPLY_FRAME + 64) + 4096,
                       "fetch": MAX_FETCH_REPLY_BYTES + 4096,
                       "push": MAX_REQUEST_BYTES,
                       "join": (MAX_JOIN_CHAIN + 2) * MAX_ENTRY_BYTES}
#: The sets a session reconciles, in the order their missing entries are
#: fetched (protocol/session.py): the members first.
_SETS: Final = ("members", "all")
#: A push waits no longer than this for its answer: a rumour's pushes follow
#: one another, and a peer that does not answer is replaced (protocol/rumours.py).
PUSH_TIMEOUT_S: Final = 10.0
#: A peer's Retry-After is waited out up to this long, and up to _RETRIES times a request.
MAX_RETRY_WAIT_S: Final = 60.0
_RETRIES: Final = 5
#: Claimed ids kept for sessions still running, in windows (MAX_SESSION_IDS): beyond
#: that a session gives its own back as it ends, and a session that overlapped it may
#: fetch a few of those again (the store takes them as duplicates).
_CLAIMS_KEPT: Final = 4
#: Sessions one sync may run, one after another, each going on from the last (a
#: million entries take ten of MAX_SESSION_IDS; a peer that keeps offering work
#: without it ever ending is left for the next round).
MAX_SESSIONS: Final = 50


@dataclass(frozen=True, slots=True)
class Helper:
    """Another peer a session may fetch from (see the module's "Several peers at once")."""

    address: str
    node_id: bytes | None = None
    learned: bool = False  # the address came from the network (the dial policy applies)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did: its sessions with one peer, added up."""

    address: str
    peer_id: bytes | None
    stats: SessionStats
    own_entries_received: int
    #: This node's own entries the peer lacked (pushed to it in the session).
    own_entries_sent: int = 0
    #: This node's own entries it held when the session began.
    own_entries_held: int = 0
    sessions: int = 1
    seconds: float = 0.0

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


def _add(a: SessionStats, b: SessionStats) -> SessionStats:
    """Two sessions' stats as one: counts added, the last session's state kept."""
    values: dict[str, Any] = {}
    for f in fields(SessionStats):
        x, y = getattr(a, f.name), getattr(b, f.name)
        values[f.name] = y if isinstance(y, bool) or f.name == "peer_holds" else x + y
    return SessionStats(**values)


class SyncClient:
    def __init__(self, store: Store, events: EventBus, http: aiohttp.ClientSession, *,
                 recset: ReconciliationSet, timeout_s: float = 30.0,
                 blocked: frozenset[bytes] = frozenset(),
                 learned_http: aiohttp.ClientSession | None = None,
                 policy: DialPolicy | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store, self.events, self.http, self.recset = store, events, http, recset
        #: Connections to learned addresses: names resolve through the dial
        #: policy's resolver (node/sync/dialling.py).
        self.learned_http = learned_http or http
        self.policy = policy
        self.timeout_s = timeout_s
        self.blocked = blocked
        self.monotonic = monotonic
        #: Per address, the peer's clock minus ours (seconds) at its last signed reply.
        self.clock_offsets: dict[str, int] = {}
        #: Ids a session of this client fetched, or is fetching, while other sessions
        #: run: those leave them (see _session).
        self.claims: set[bytes] = set()
        self._sessions = 0  # sessions under way
        #: Ids one session learns of before the next takes over, and the reply frame
        #: it asks for (protocol/session.py).
        self.session_ids = MAX_SESSION_IDS
        self.reply_frame = MAX_REPLY_FRAME
        #: How far this node has got catching up (events, status, the pages).
        self.catch_up = CatchUp(store, events, monotonic=monotonic)

    async def sync_with(self, address: str, *, expect: bytes | None = None,
                        learned: bool = False, helpers: Sequence[Helper] = ()) -> SyncReport:
        """Sync with the node at ``address`` (``http(s)://host:port``) until caught up.

        Runs sessions one after another while the last one stopped at its
        window and made progress (at most :data:`MAX_SESSIONS`). ``expect``:
        the node id that must answer (from an invitation or the peer book); a
        reply signed by any other node ends the sync. ``learned``: the address
        came from the network, not from a person (the dial policy's rule 2
        applies). ``helpers``: other peers to fetch from at the same time.
        """
        started = self.monotonic()
        total: SessionStats | None = None
        peer_id = expect
        own = own_sent = 0
        sessions = 0
        # What catch-up after a restore needs to know (node/store/node_state.py),
        # counted only then: whether the peer held this node's own entries.
        catching_up = await self.store.needs_catch_up()
        own_held = await self.store.own_entry_count() if catching_up else 0
        async with self.catch_up.syncing(address):
            while True:
                sessions += 1
                try:
                    stats, peer_id, got_own, sent_own = await self._session(
                        address, peer_id, helpers, learned=learned, count_own=catching_up)
                except SyncFailed as exc:
                    if total is not None and exc.stats is not None:
                        exc.stats = _add(total, exc.stats)
                    raise
                own += got_own
                own_sent += sent_own
                total = stats if total is None else _add(total, stats)
                # A session that stored nothing (all it found was refused, or waits for
                # an admission) is not repeated at once: the next round tries again.
                moved = stats.accepted or stats.push_accepted
                if stats.complete or not moved or sessions >= MAX_SESSIONS:
                    break
        assert total is not None
        return SyncReport(address, peer_id, total, own, own_sent, own_held, sessions,
                          self.monotonic() - started)

    async def _session(self, address: str, expect: bytes | None, helpers: Sequence[Helper], *,
                       learned: bool, count_own: bool
                       ) -> tuple[SessionStats, bytes | None, int, int]:
        """One session: (its stats, the node that answered, own entries received and sent)."""
        self._sessions += 1
        try:
            return await self._one_session(address, expect, helpers, learned=learned,
                                           count_own=count_own)
        finally:
            self._sessions -= 1
            if self._sessions == 0:
                self.claims.clear()

    async def _one_session(self, address: str, expect: bytes | None,
                           helpers: Sequence[Helper], *, learned: bool, count_own: bool
                           ) -> tuple[SessionStats, bytes | None, int, int]:
        storages = {name: await self.recset.storage(name) for name in _SETS}
        session = SyncSession(storages, skip=await self.store.pending_ids(),
                              claims=self.claims, max_ids=self.session_ids,
                              reply_frame=self.reply_frame)
        self.catch_up.session_started(address, len(storages["all"]))
        run = _SessionRun(self, session, address, expect, helpers, learned=learned,
                          count_own=count_own)
        try:
            stats = await run.run()
        except PeerError as exc:
            raise SyncFailed(f"{address} sent something invalid: {exc.message}",
                             stats=session.stats) from exc
        except SyncFailed as exc:
            exc.stats = session.stats
            raise
        finally:
            # A session that began before these entries were stored would find them
            # missing: its ids stay claimed while other sessions run (all are given
            # back when none does), unless that holds more than a few windows' worth.
            if self._sessions == 1 or len(self.claims) > _CLAIMS_KEPT * self.session_ids:
                session.release_claims(self.claims)
            self.catch_up.session_ended(session.stats.requests, session.stats.bytes_down)
        return stats, run.peer_id, run.own, run.own_sent

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
        """POST a signed request; a 429 or 503 with Retry-After is waited out and retried."""
        for attempt in range(1, _RETRIES + 1):
            try:
                return await self._post_once(address, endpoint, body, expect=expect,
                                             learned=learned, timeout_s=timeout_s)
            except PeerRefused as exc:
                wait = exc.retry_after
                if (exc.status not in (429, 503) or wait is None or wait > MAX_RETRY_WAIT_S
                        or attempt == _RETRIES):
                    raise
                log.debug("%s asked to wait %.0f s before %s; waiting", address, wait,
                          endpoint)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _post_once(self, address: str, endpoint: str, body: bytes, *,
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
        fields_ = sign_message_fields(msg, self.store.key, self.store.network,
                                      self.store.now_ms() // 1000)
        sent = msg.with_headers(fields_)
        try:
            async with asyncio.timeout(timeout), http.post(
                url, data=body, headers={"Content-Type": CONTENT_TYPE, **fields_},
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
                                      f"{reason or resp.reason}", status=resp.status,
                                      retry_after=_retry_after(resp.headers.get("Retry-After")))
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

    def _resolve_key(self, keyid: str) -> Ed25519PublicKey:
        return node_key_for(keyid, self.blocked)

    @staticmethod
    def _refused(address: str, expect: bytes | None, reason: str) -> AddressRefused:
        # One line per refusal, naming the peer and the reason (DESIGN.md
        # "Discovery and topology"); the peer book backs the address off.
        node = f" (node {id_to_text(expect)[:7]})" if expect is not None else ""
        log.info("not dialling %s%s: %s", address, node, reason)
        return AddressRefused(f"{address} is not dialled: {reason}")


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (RFC 9110 §10.2.3: delay-seconds; a date is not waited for)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(int(value.strip()))


class _SessionRun:
    """Drives one :class:`SyncSession`: its requests, ingests and loads, several at once."""

    def __init__(self, client: SyncClient, session: SyncSession, address: str,
                 expect: bytes | None, helpers: Sequence[Helper], *, learned: bool,
                 count_own: bool) -> None:
        self.client, self.session, self.address = client, session, address
        self.peer_id = expect
        self.learned, self.count_own = learned, count_own
        self.helpers = [h for h in helpers if h.address != address]
        self.own = self.own_sent = 0
        # Requests under way per peer (the session's own peer is "").
        self.busy: dict[str, int] = {"": 0, **{h.address: 0 for h in self.helpers}}
        self.tasks: dict[asyncio.Task[Any], tuple[Any, str]] = {}
        self.ingest_busy = 0.0
        self._ingest_started = 0.0
        self._ingesting = 0

    async def run(self) -> SessionStats:
        session = self.session
        action: Any = session.start()
        t0 = time.perf_counter()
        failure: BaseException | None = None
        try:
            while True:
                while action is not None and not isinstance(action, Finished):
                    if failure is None or isinstance(action, IngestEntries):
                        self._dispatch(action)
                    action = session.next_action()
                if isinstance(action, Finished):
                    return action.stats
                if not self.tasks:
                    if failure is not None:
                        raise failure
                    raise AssertionError("the session waits with nothing under way")
                done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    try:
                        await self._finish(task)
                    except (SyncFailed, PeerError) as exc:
                        if failure is not None:
                            continue
                        # The peer failed: what is already on its way is still taken
                        # in (each reply is whole and checked), then the session ends.
                        failure = exc
                        session.drain()
                await self.client.catch_up.save_if_due()
                action = session.next_action()
        finally:
            # Whether the store or the network set the pace: an ingest under way nearly
            # all the time means the network kept up.
            log.debug("session with %s: %.2f s, an ingest under way for %.2f s of it",
                      self.address, time.perf_counter() - t0, self.ingest_busy)
            await self._wind_down()

    def _dispatch(self, action: Any) -> None:
        client = self.client
        if isinstance(action, SendRequest):
            peer = self._peer_for(action)
            self.busy[peer] += 1
            if peer:
                helper = next(h for h in self.helpers if h.address == peer)
                coro: Any = client._post(peer, action.endpoint, action.body,
                                         expect=helper.node_id, learned=helper.learned)
            else:
                coro = client._post(self.address, action.endpoint, action.body,
                                    expect=self.peer_id, learned=self.learned)
            self.tasks[asyncio.create_task(coro)] = (action, peer)
        elif isinstance(action, IngestEntries):
            if not self._ingesting:
                self._ingest_started = time.perf_counter()
            self._ingesting += 1
            coro = take_in(client.store, client.events, action.entries, peer=self.address,
                           blocked=client.blocked)
            self.tasks[asyncio.create_task(coro)] = (action, "")
        else:
            assert isinstance(action, LoadEntries)
            self.tasks[asyncio.create_task(client.store.get_entries(list(action.ids)))] = \
                (action, "")

    def _peer_for(self, request: SendRequest) -> str:
        """The peer with the fewest requests under way ("" is the session's own)."""
        if not request.any_peer or not self.helpers:
            return ""
        return min(self.busy, key=lambda p: (self.busy[p], p != ""))

    async def _finish(self, task: asyncio.Task[Any]) -> None:
        action, peer = self.tasks.pop(task)
        session = self.session
        if isinstance(action, SendRequest):
            self.busy[peer] -= 1
            try:
                body, signer = task.result()
            except (SyncFailed, PeerError) as exc:
                if not peer:
                    raise
                # A helper that fails is left out for the rest of the session; what it
                # was asked for goes back to the session's own peer.
                log.debug("helper %s failed: %s", peer, getattr(exc, "message", exc))
                self.helpers = [h for h in self.helpers if h.address != peer]
                self.busy.pop(peer, None)
                session.helper_failed(action)
                return
            if not peer:
                self.peer_id = signer
            try:
                if action.endpoint == "reconcile":
                    # Reconciling a large frame is tens of milliseconds of CPU: off
                    # the event loop, so the pages and the server keep answering.
                    # Nothing else touches the session meanwhile (this loop is its
                    # only driver).
                    await asyncio.to_thread(session.receive, action, body)
                else:
                    session.receive(action, body, from_helper=bool(peer))
            except PeerError as exc:
                if not peer:
                    raise
                # A helper's bad reply: the session gave its ids back to its own
                # peer; the helper is left out for the rest of the session.
                log.info("helper %s sent a reply that was refused: %s", peer, exc.message)
                self.helpers = [h for h in self.helpers if h.address != peer]
                self.busy.pop(peer, None)
                return
            if action.endpoint == "reconcile":
                self.client.catch_up.peer_holds(self.address, session.stats.peer_holds)
        elif isinstance(action, IngestEntries):
            self._ingesting -= 1
            if not self._ingesting:
                self.ingest_busy += time.perf_counter() - self._ingest_started
            outcomes = task.result()
            self.own += sum(1 for o in outcomes if o.own)
            session.ingested([o.status.value for o in outcomes], of=action)
            self.client.catch_up.ingested(sum(1 for o in outcomes if o.stored))
        else:
            loaded = task.result()
            if self.count_own:
                me = self.client.store.node_id
                self.own_sent += sum(1 for e in loaded if decode(e.payload)["author"] == me)
            session.loaded(loaded)

    async def _wind_down(self) -> None:
        """Requests still under way are dropped; an ingest under way is let finish,
        so that what it stores is counted."""
        for task, (action, _) in self.tasks.items():
            if not isinstance(action, IngestEntries):
                task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        self.tasks.clear()
