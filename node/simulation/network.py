"""A whole network in one process, on virtual time, running the real protocol code.

Every node does what a Hedgerow node does (node/sync/gossip.py, view.py,
relay.py), through the same pure functions of protocol/:

* **anti-entropy** — at a random moment of the first interval (nodes start
  at different times), at once whenever it comes back up, and then after
  each :func:`protocol.peers.round_delay`, a node refreshes its partial view
  (:func:`protocol.peers.refresh_view` over candidates drawn at random from
  the profiles it holds, keeping the peers that answered and are not
  failing, after dropping those :func:`protocol.peers.should_forget` names),
  picks ``fanout`` peers with :func:`protocol.peers.choose_peers` and runs a
  full push-pull :class:`protocol.session.SyncSession` with each; a session
  that fails is replaced at once by one with another due peer, at most
  :data:`protocol.peers.REPLACEMENTS` × ``fanout`` times a round
  (protocol/peers.py, rule 4). The server answers with
  :func:`protocol.session.answer_reconcile` and the fetch and push encoders
  of :mod:`protocol.messages`. Every answer is booked with
  :func:`protocol.peers.record_success`, every failure with
  :func:`protocol.peers.record_failure` (backoff with jitter). A node that
  takes in new entries also refreshes its view, at most every 10 s; a member
  that makes a request to a node goes into its book (source ``inbound``)
  until the next refresh keeps it or not.
* **rumours** (unless ``relay`` is off) — the author of a new entry starts a
  :class:`protocol.rumours.Rumour` whose first push goes to
  ``push_fanout`` peers of its view at once; a node that takes in new
  entries, from a push or a session, starts one for them with the peer they
  came from as its source. A node pushes its live rumours to the peers
  :func:`protocol.rumours.next_targets` picks (its own publications among
  all the peers of its view, others among the due ones; one push per peer
  in flight, all rumours for that peer in it), marks them
  :func:`protocol.rumours.sent`, takes the outcome for each rumour from the
  receiver's verdicts (:func:`protocol.rumours.outcome_of`), and goes on per
  :func:`protocol.rumours.after_push` and :func:`protocol.rumours.alive`. A
  push unanswered within :data:`protocol.rumours.PUSH_TIMEOUT_MS` has failed.

Each node starts holding every member's profile, so every other node is a
candidate for its view, and with a view of its own (``refresh_view`` from
nothing). The transport delivers each message (a request or its reply) after
a latency drawn uniformly from 0.5–1.5 × ``latency_ms``, or loses it with
probability ``loss``; a request to a node that is down gets no answer. A
session request left unanswered fails after ``timeout_s`` (the node's
``request_timeout``). Exactly ``down`` of the nodes are down at any moment:
each stays down for an exponentially distributed time (mean ``down_time``
intervals), and when it comes back another live node, at random, goes down.
A node that goes down loses its rumours and whatever it had in flight, and
keeps its entries and its peer book (they are in its database).

Publications (``publications`` per seed) are made by random live nodes at
random moments of the first interval after the warm-up. Each is *watched* at
the nodes that were up when it was made, until they go down; it has reached
every live node once every node still watched holds it. (A node that comes
back up later catches up in its sync at start, and is not waited for.) One
exception keeps the measure honest: the author of a publication that no
other node holds yet is not taken down, since nothing can spread an entry
that only a dead node holds. Traffic is counted over a fixed window of
``window`` intervals from the end of the warm-up, so that it is traffic per
interval at a steady rate of publications; a run stops once the window is
over and every publication has reached every live node, or at the horizon.

Shortcuts, each giving the same answers as the long way round:

1. **Tiny sets.** A node's set is only the publications being measured (no
   profiles, no history): the simulation measures how those spread, and a
   Negentropy session's work grows with the difference, not the set.
2. **Converged sessions are not run.** When a reconcile request reaches a
   server holding exactly the set the client started the session with, the
   real session would end after that one round trip; the simulator skips it
   and charges the bytes of a converged exchange over that set, measured once
   per set with the real code (:meth:`Network.converged_cost`). Random draws
   (loss, latency) are the same as for the real session, so a run with
   ``shortcut=False`` gives exactly the same results
   (tests/node/test_simulation.py checks it).
3. **View candidates by sampling.** A node draws the profiles of 64 nodes
   at random (node/sync/view.py) and :func:`protocol.peers.refresh_view`
   takes at most ``VIEW_SIZE`` of those not in its view, at random; the
   simulator hands it ``VIEW_SIZE`` distinct nodes drawn at random among
   those not in the view, which gives the same distribution of views.
4. **No signature checks.** The entries are really signed, but receivers take
   them by id (the simulation has no forgers); ingest verdicts are
   ``accepted`` for an entry not held yet and ``duplicate`` otherwise.
5. **Encodings worked out once.** Push requests and replies are encoded and
   decoded with protocol.messages, once per distinct content (they are pure
   functions of it).

Randomness comes from one ``random.Random(seed)`` per run, and nothing
depends on the order of a set, so a seed gives the same result every time.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar, cast

from protocol import Entry, NodeKey, SignedEntry, sign_entry
from protocol.messages import (
    MAX_REPLY_FRAME,
    PushResult,
    decode_fetch_request,
    decode_push_reply,
    decode_push_request,
    decode_reconcile_request,
    encode_fetch_reply,
    encode_push_reply,
    encode_push_request,
)
from protocol.negentropy import NegentropyStorage
from protocol.peers import (
    REPLACEMENTS,
    VIEW_SIZE,
    PeerHealth,
    choose_peers,
    is_due,
    record_failure,
    record_success,
    refresh_view,
    round_delay,
    should_forget,
)
from protocol.rumours import (
    PUSH_TIMEOUT_MS,
    PushOutcome,
    Rumour,
    after_push,
    alive,
    next_targets,
    outcome_of,
    sent,
)
from protocol.session import (
    Finished,
    IngestEntries,
    LoadEntries,
    SendRequest,
    SyncSession,
    answer_reconcile,
)

from .results import PublicationResult, SeedResult, SimulationSettings

__all__ = ["Network", "run_seed", "simulate"]

_T = TypeVar("_T")

#: Versions look like a real hybrid logical clock: milliseconds from this moment on.
EPOCH_MS: Final = 1_750_000_000_000
NETWORK_ID: Final = hashlib.sha256(b"hedgerow simulated network").digest()
_DESCRIPTION: Final = (
    "Neighbours bring broken lamps, bikes, clothes and toasters; volunteers with tools "
    "fix them together with their owners over tea and cake, and teach how to do it. "
    "Whatever cannot be saved is taken apart for parts. Open on the first Saturday of "
    "each month in the church hall; we keep a log of what was mended and what it saved."
)

#: As node/sync/view.py: a node refreshes its view at most this often because
#: entries arrived (NEWS_REFRESH_S), and records a member that made a request
#: at most this often (INBOUND_RECHECK_S), remembering at most _MEMORY of them.
NEWS_REFRESH_MS: Final = 10_000
INBOUND_RECHECK_MS: Final = 300_000
INBOUND_MEMORY: Final = 10_000
#: Learned peers in a node's book at the most (node/sync/peerbook.py).
MAX_LEARNED_PEERS: Final = 200

# Event kinds, in the heap as (time_ms, sequence, kind, payload).
_TICK, _ARRIVE, _REPLY, _TIMEOUT, _UP, _PUBLISH, _WINDOW_OVER, _END, _NEWS = range(9)


def _push_reply(outcomes: tuple[str, ...]) -> bytes:
    # Push replies carry no ids: the verdicts, in the order of the entries pushed.
    return encode_push_reply([PushResult(b"", outcome) for outcome in outcomes])


def _push_verdicts(reply_and_ids: tuple[bytes, tuple[bytes, ...]]) -> tuple[str, ...]:
    """The verdicts of a push reply on the entries pushed, in their order."""
    reply, ids = reply_and_ids
    return tuple(r.outcome for r in decode_push_reply(reply, ids))


class _Node:
    __slots__ = ("address", "busy", "health", "held", "inbound_checked", "incarnation",
                 "index", "news", "own", "refreshed_at", "replacements", "rumours",
                 "syncing", "up", "view")

    def __init__(self, index: int) -> None:
        self.index = index
        self.address = str(index)
        self.up = True
        self.incarnation = 0  # bumped when the node goes down: what it had in flight is void
        self.held: frozenset[bytes] = frozenset()
        #: The learned peers in its book: the partial view, and the members that
        #: made requests to it since the last refresh (source ``inbound``).
        self.view: list[str] = []
        self.health: dict[str, PeerHealth] = {}  # rows of the view's peers that were tried
        self.inbound_checked: dict[int, int] = {}  # member → when it was last recorded
        self.refreshed_at = 0  # when the view was last refreshed
        self.news = False  # entries arrived since then
        self.rumours: dict[int, Rumour] = {}  # live rumours, by number
        self.own: set[int] = set()  # the rumours of this node's own publications
        self.busy: set[str] = set()  # peers with a push from this node in flight
        self.syncing: set[str] = set()  # peers with a session from this node in flight
        self.replacements = 0  # failed sessions this round may still replace


class _Session:
    """A sync session from ``client`` to ``server``; ``sync`` is None until it is
    known not to be a converged one (shortcut 2)."""

    __slots__ = ("client", "over", "server", "snapshot", "sync")

    def __init__(self, client: _Node, server: _Node, snapshot: frozenset[bytes]) -> None:
        self.client, self.server, self.snapshot = client, server, snapshot
        self.sync: SyncSession | None = None
        #: Ended (finished, or failed on a request): replies still in flight are dropped.
        self.over = False


class _Push:
    """A relay push of rumours (by number; their entries, ``ids``) from ``client`` to
    ``server``."""

    __slots__ = ("client", "ids", "numbers", "server")

    def __init__(self, client: _Node, server: _Node, numbers: list[int],
                 ids: tuple[bytes, ...]) -> None:
        self.client, self.server, self.numbers, self.ids = client, server, numbers, ids


class _Call:
    """One request in flight and, once answered, its reply."""

    __slots__ = ("body", "converged", "endpoint", "exchange", "incarnation", "reply", "request",
                 "sent_ms")

    def __init__(self, exchange: _Session | _Push, endpoint: str, body: bytes,
                 sent_ms: int, request: SendRequest | None = None) -> None:
        self.exchange, self.endpoint, self.body, self.sent_ms = exchange, endpoint, body, sent_ms
        #: The session's request this call carries (its reply is fed back with it).
        self.request = request
        self.incarnation = exchange.client.incarnation
        self.reply = b""
        #: A reconcile exchange between equal sets, not run (shortcut 2); ``body``
        #: and ``reply`` stay empty and are charged at their measured size.
        self.converged = False


class _Publication:
    """How one publication spread.

    It is *watched* at the nodes up when it was published, until they go
    down; it has reached every live node once every node still watched holds
    it (nodes that come back later catch up by their sync at start, and are
    not waited for).
    """

    __slots__ = ("author", "by_relay", "hops", "id", "missing", "published_ms", "reached_ms",
                 "received", "relay_hops", "watched")

    def __init__(self, id_: bytes, author: _Node, now_ms: int, watched: bytearray) -> None:
        self.id, self.author, self.published_ms = id_, author, now_ms
        self.watched = watched  # 1 for each node watched
        watched[author.index] = 0
        self.missing = sum(watched)  # nodes watched that lack it
        #: Transfers from the author to each node that holds it (0 for the author).
        self.hops: dict[int, int] = {author.index: 0}
        self.received = self.by_relay = 0  # by watched nodes: all, and by a relay push
        self.relay_hops: list[int] = []
        self.reached_ms: int | None = None if self.missing else now_ms

    @property
    def holders(self) -> int:
        return len(self.hops)


class Network:
    """One seed's network; :meth:`run` plays it out and returns what happened."""

    def __init__(self, settings: SimulationSettings, seed: int) -> None:
        settings.check()
        self.settings = settings
        self.seed = seed
        self.rng = random.Random(seed)
        self.interval_ms = round(settings.interval_s * 1000)
        self.timeout_ms = round(settings.timeout_s * 1000)
        self.now = 0
        self.nodes = [_Node(i) for i in range(settings.nodes)]
        self.addresses = [n.address for n in self.nodes]
        #: The row of a peer never tried (one shared, immutable, per address).
        self.fresh = {a: PeerHealth(a) for a in self.addresses}
        self.up_flags = bytearray(b"\x01" * settings.nodes)
        self.events: list[tuple[int, int, int, Any]] = []
        self.sequence = 0
        # Traffic is counted over a fixed window from the end of the warm-up;
        # publications are made in its first interval.
        self.window_start = round(settings.warm_up * self.interval_ms)
        self.window_end = self.window_start + round(settings.window * self.interval_ms)
        self.window_over = False
        self.end_ms = self.window_start + round((1 + settings.horizon) * self.interval_ms)
        self.finished = False
        # The entries: each publication's signed entry and version, by id.
        self.entries: dict[bytes, SignedEntry] = {}
        self.versions: dict[bytes, int] = {}
        self.publications: list[_Publication] = []
        self.publications_by_id: dict[bytes, _Publication] = {}
        self.pending: list[_Publication] = []  # published, not yet at every live node
        self.storages: dict[frozenset[bytes], NegentropyStorage] = {}
        self.converged: dict[frozenset[bytes], tuple[int, int]] = {}
        self.push_bodies: dict[tuple[bytes, ...], bytes] = {}
        self.codecs: dict[tuple[Callable[[Any], Any], Any], Any] = {}
        # Counters (traffic only inside the measured window).
        self.messages = self.bytes = self.lost = 0
        self.sessions = self.failed_sessions = self.pushes = self.failed_pushes = 0
        self.restarts = self.skipped = 0
        self.rumour_numbers = 0
        self.down_count = settings.down_count
        self.down_seen = [self.down_count, self.down_count]
        # Live nodes × milliseconds inside the window, summed as the count changes.
        self.live_area = 0
        self.live_since = self.window_start

    # --- the event loop ----------------------------------------------------------

    def at(self, time_ms: int, kind: int, payload: Any) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (time_ms, self.sequence, kind, payload))

    def run(self) -> SeedResult:
        self._set_up()
        handlers: list[Callable[[Any], None]] = [
            self._tick, self._arrive, self._reply, self._timeout, self._come_up,
            self._publish, self._close_window, self._end, self._refresh_for_news]
        events = self.events
        while events and not self.finished:
            time_ms, _, kind, payload = heapq.heappop(events)
            self.now = time_ms
            handlers[kind](payload)
        return self._result()

    def _set_up(self) -> None:
        rng, interval = self.rng, self.interval_ms
        for node in self.nodes:
            node.view = refresh_view([], self._candidates(node), rng)
        for index in rng.sample(range(len(self.nodes)), self.down_count):
            node = self.nodes[index]
            node.up = False
            self.up_flags[index] = 0
            self.at(self._down_for(), _UP, node)
        for node in self.nodes:
            if node.up:  # nodes started at different moments: first rounds spread out
                self.at(int(rng.random() * interval), _TICK, (node, node.incarnation))
        for _ in range(self.settings.publications):
            self.at(self.window_start + int(rng.random() * interval), _PUBLISH, None)
        self.at(self.window_end, _WINDOW_OVER, None)
        self.at(max(self.end_ms, self.window_end), _END, None)

    def _close_window(self, _: None) -> None:
        self._live_changes()
        self.window_over = True
        self._check_finished()

    def _end(self, _: None) -> None:
        self.finished = True

    def _check_finished(self) -> None:
        """Stop once the window is over and every publication is at every live node."""
        if (self.window_over and not self.pending
                and len(self.publications) == self.settings.publications):
            self.finished = True

    def _down_for(self) -> int:
        mean = self.settings.down_time * self.interval_ms
        return self.now + max(1, round(self.rng.expovariate(1.0 / mean)))

    def _latency(self) -> int:
        return int(self.settings.latency_ms * (0.5 + self.rng.random()))

    # --- anti-entropy ------------------------------------------------------------

    def _tick(self, payload: tuple[_Node, int]) -> None:
        node, incarnation = payload
        if incarnation != node.incarnation:
            return  # a round planned before the node went down
        rng, now = self.rng, self.now
        self._refresh_view(node)
        node.replacements = REPLACEMENTS * self.settings.fanout
        self._sync_with(node, self.settings.fanout)
        self._pump(node)
        self.at(now + round_delay(self.interval_ms, rng), _TICK, (node, incarnation))

    def _refresh_view(self, node: _Node) -> None:
        now = self.now
        health = node.health
        current = [p for p in node.view if p not in health or not should_forget(health[p], now)]
        # Kept: the peers that answered and are not failing (node/sync/view.py).
        keep = frozenset(p for p in current if (row := health.get(p)) is not None
                         and row.failures == 0 and row.last_success_ms is not None)
        view = refresh_view(current, self._candidates(node), self.rng, keep=keep)
        node.refreshed_at, node.news = now, False
        staying = set(view)
        for address in node.view:
            if address not in staying:
                health.pop(address, None)  # rows of learned peers left out are dropped
        node.view = view

    def _news(self, node: _Node) -> None:
        """Entries arrived: the view is refreshed soon, at most every NEWS_REFRESH_MS."""
        if not node.news:
            node.news = True
            self.at(max(self.now, node.refreshed_at + NEWS_REFRESH_MS), _NEWS,
                    (node, node.incarnation))

    def _refresh_for_news(self, payload: tuple[_Node, int]) -> None:
        node, incarnation = payload
        if incarnation != node.incarnation or not node.news:
            return  # down since, or a round refreshed the view meanwhile
        if self.now - node.refreshed_at < NEWS_REFRESH_MS:
            self.at(node.refreshed_at + NEWS_REFRESH_MS, _NEWS, payload)
            return
        self._refresh_view(node)

    def _inbound(self, node: _Node, member: _Node) -> None:
        """``member`` made a request to ``node``: it goes into its book (node/sync/view.py)."""
        checked = node.inbound_checked
        last = checked.get(member.index)
        if last is not None and self.now - last < INBOUND_RECHECK_MS:
            return
        if len(checked) >= INBOUND_MEMORY:
            checked.clear()
        checked[member.index] = self.now
        if member.address not in node.view and len(node.view) < MAX_LEARNED_PEERS:
            node.view.append(member.address)

    def _candidates(self, node: _Node) -> list[str]:
        """Candidates for the view that are not in it (shortcut 3)."""
        excluded = set(node.view)
        excluded.add(node.address)
        available = len(self.nodes) - len(excluded)
        if available <= 4 * VIEW_SIZE:
            return [a for a in self.addresses if a not in excluded]
        picked: dict[str, None] = {}
        addresses, randrange, count = self.addresses, self.rng.randrange, len(self.nodes)
        while len(picked) < VIEW_SIZE:
            address = addresses[randrange(count)]
            if address not in excluded:
                picked[address] = None
        return list(picked)

    def _sync_with(self, node: _Node, count: int) -> None:
        """Start sessions with ``count`` due peers of the view (fewer if fewer are due)."""
        syncing = node.syncing
        rows, fresh = node.health, self.fresh
        peers = [rows.get(p) or fresh[p] for p in node.view if p not in syncing]
        for chosen in choose_peers(peers, self.now, count, self.rng):
            self._start_session(node, self.nodes[int(chosen.address)])

    def _start_session(self, client: _Node, server: _Node) -> None:
        if self._in_window():
            self.sessions += 1
        client.syncing.add(server.address)
        session = _Session(client, server, client.held)
        if self.settings.shortcut:
            request_bytes, _ = self.converged_cost(client.held)
            self._send(_Call(session, "reconcile", b"", self.now), request_bytes)
            return
        session.sync = SyncSession(self.storage(client.held))
        self._client_step(session, session.sync.start())

    def _client_step(self, session: _Session, action: Any) -> None:
        """Carry out the client's actions until it waits for replies or finishes.

        As the running node's driver does (node/sync/client.py): ask the session
        for work until it has none, several requests may be in flight at once;
        ingests and loads are done at once here (virtual time charges only the
        network)."""
        client, server = session.client, session.server
        sync = session.sync
        assert sync is not None
        while action is not None:
            if isinstance(action, SendRequest):
                self._send(_Call(session, action.endpoint, action.body, self.now, action),
                           len(action.body))
            elif isinstance(action, IngestEntries):
                sync.ingested(self._take_in(client, action.entries, server, relay=False),
                              of=action)
            elif isinstance(action, LoadEntries):
                held = client.held
                sync.loaded([self.entries[i] for i in action.ids if i in held])
            else:
                assert isinstance(action, Finished)
                self._session_over(session, ok=True)
                return
            action = sync.next_action()

    def _session_over(self, session: _Session, *, ok: bool) -> None:
        session.over = True
        client, address = session.client, session.server.address
        client.syncing.discard(address)
        self._book(client, address, ok=ok)
        if not ok:
            if self._in_window():
                self.failed_sessions += 1
            if client.replacements > 0:  # replaced at once by another due peer (rule 4)
                client.replacements -= 1
                self._sync_with(client, 1)

    def _book(self, node: _Node, address: str, *, ok: bool) -> None:
        if address not in node.view:
            return  # dropped from the book meanwhile: there is no row to update
        health = node.health.get(address) or self.fresh[address]
        if ok:
            node.health[address] = record_success(health, self.now)
        else:
            node.health[address] = record_failure(health, self.now, self.rng)

    # --- the transport -------------------------------------------------------------

    def _timeout_of(self, call: _Call) -> int:
        return PUSH_TIMEOUT_MS if isinstance(call.exchange, _Push) else self.timeout_ms

    def _in_window(self) -> bool:
        return self.window_start <= self.now < self.window_end

    def _count(self, size: int) -> None:
        if self.window_start <= self.now < self.window_end:
            self.messages += 1
            self.bytes += size

    def _send(self, call: _Call, size: int) -> None:
        self._count(size)
        if self.rng.random() < self.settings.loss:
            if self._in_window():
                self.lost += 1
            self.at(call.sent_ms + self._timeout_of(call), _TIMEOUT, call)
        else:
            self.at(self.now + self._latency(), _ARRIVE, call)

    def _arrive(self, call: _Call) -> None:
        """A request reaches its server; the reply goes back (or is lost)."""
        exchange = call.exchange
        server = exchange.server
        if not server.up:
            self.at(call.sent_ms + self._timeout_of(call), _TIMEOUT, call)
            return
        self._inbound(server, exchange.client)
        if isinstance(exchange, _Push):
            call.reply = self._answer_push(server, exchange.client, call.body, relay=True)
            self._count(len(call.reply))
        else:
            call.reply = self._answer_session(exchange, call)
            self._count(self.converged_cost(exchange.snapshot)[1] if call.converged
                        else len(call.reply))
        if self.rng.random() < self.settings.loss:
            if self._in_window():
                self.lost += 1
            self.at(call.sent_ms + self._timeout_of(call), _TIMEOUT, call)
        else:
            self.at(self.now + self._latency(), _REPLY, call)

    def _answer_session(self, session: _Session, call: _Call) -> bytes:
        server = session.server
        if call.endpoint == "reconcile" and session.sync is None:
            # Shortcut 2: the session started without running the real client.
            if server.held == session.snapshot:
                self.skipped += 1
                call.converged = True
                return b""
            session.sync = SyncSession(self.storage(session.snapshot))
            start = session.sync.start()
            assert isinstance(start, SendRequest)
            if len(start.body) != self.converged_cost(session.snapshot)[0]:
                raise RuntimeError("the first reconcile request changed size: the "
                                   "simulator's shortcut no longer holds")
            call.body, call.request = start.body, start
        if call.endpoint == "reconcile":
            # The frame the client asks for, within the server's own limit, as the
            # running server answers it (node/sync/reconcile_worker.py).
            messages, frame = decode_reconcile_request(call.body)
            storage = self.storage(server.held)
            return answer_reconcile({name: storage for name in messages}, messages,
                                    frame_size_limit=min(frame, MAX_REPLY_FRAME))
        if call.endpoint == "fetch":
            ids = decode_fetch_request(call.body)
            held = server.held
            return encode_fetch_reply(ids, [self.entries[i] for i in ids if i in held])
        return self._answer_push(server, session.client, call.body, relay=False)

    def _answer_push(self, server: _Node, client: _Node, body: bytes, *, relay: bool) -> bytes:
        entries = self.codec(decode_push_request, body)
        outcomes = self._take_in(server, entries, client, relay=relay)
        return self.codec(_push_reply, tuple(outcomes))

    def _reply(self, call: _Call) -> None:
        exchange = call.exchange
        if call.incarnation != exchange.client.incarnation:
            return  # the client went down meanwhile
        if isinstance(exchange, _Push):
            outcomes = self.codec(_push_verdicts, (call.reply, exchange.ids))
            self._push_over(exchange, dict(zip(exchange.ids, outcomes, strict=True)))
        elif exchange.over:
            return  # the session failed on another request meanwhile
        elif call.converged:
            self._session_over(exchange, ok=True)
        else:
            sync = exchange.sync
            assert sync is not None and call.request is not None
            sync.receive(call.request, call.reply)
            self._client_step(exchange, sync.next_action())

    def _timeout(self, call: _Call) -> None:
        exchange = call.exchange
        if call.incarnation != exchange.client.incarnation:
            return
        if isinstance(exchange, _Push):
            if self._in_window():
                self.failed_pushes += 1
            self._push_over(exchange, None)
        elif not exchange.over:
            self._session_over(exchange, ok=False)

    # --- rumours ---------------------------------------------------------------------

    def _start_rumour(self, node: _Node, rumour: Rumour) -> int:
        self.rumour_numbers += 1
        node.rumours[self.rumour_numbers] = rumour
        return self.rumour_numbers

    def _pump(self, node: _Node) -> None:
        """Push live rumours to peers with nothing in flight, as node/sync/relay.py does:
        this node's own publications to any peer of its view, others to due peers."""
        rumours = node.rumours
        if not rumours:
            return
        now, view, health, own = self.now, node.view, node.health, node.own
        due = [p for p in view if p not in health or is_due(health[p], now)]
        for number, rumour in list(rumours.items()):
            if not alive(rumour, view if number in own else due):
                del rumours[number]
                own.discard(number)
        for mine in (True, False):
            numbers = [n for n in rumours if (n in own) == mine]
            targets = next_targets([rumours[n] for n in numbers], view if mine else due,
                                   node.busy, self.rng)
            for address, indexes in targets.items():
                chosen = [numbers[i] for i in indexes]
                for number in chosen:
                    rumours[number] = sent(rumours[number], [address])
                node.busy.add(address)
                ids = tuple(sorted({i for n in chosen for i in rumours[n].ids}))
                body = self.push_body(ids)
                if self._in_window():
                    self.pushes += 1
                self._send(_Call(_Push(node, self.nodes[int(address)], chosen, ids), "push",
                                 body, now), len(body))

    def _push_over(self, push: _Push, verdicts: dict[bytes, str] | None) -> None:
        """A push answered (``verdicts``: the receiver's, by id) or failed (None)."""
        node, address = push.client, push.server.address
        node.busy.discard(address)
        for number in push.numbers:
            rumour = node.rumours.get(number)
            if rumour is None:
                continue  # it died meanwhile
            outcome = (PushOutcome.FAILED if verdicts is None
                       else outcome_of([verdicts[i] for i in rumour.ids]))
            after = after_push(rumour, address, outcome)
            if after is None:
                del node.rumours[number]
                node.own.discard(number)
            else:
                node.rumours[number] = after
        self._book(node, address, ok=verdicts is not None)
        self._pump(node)

    # --- entries -------------------------------------------------------------------

    def _take_in(self, node: _Node, entries: Sequence[SignedEntry], sender: _Node, *,
                 relay: bool) -> list[str]:
        """Store what is new to ``node``; one verdict per entry; start a rumour for the new."""
        held = node.held
        outcomes: list[str] = []
        new: list[bytes] = []
        for entry in entries:
            id_ = entry.id
            if id_ in held or id_ in new:
                outcomes.append("duplicate")
            else:
                new.append(id_)
                outcomes.append("accepted")
        if new:
            node.held = held.union(new)
            for id_ in new:
                self._received(node, id_, sender, relay=relay)
            self._news(node)
            if self.settings.relay:
                self._start_rumour(node, Rumour(frozenset(new), source=sender.address))
                self._pump(node)
        return outcomes

    def _received(self, node: _Node, id_: bytes, sender: _Node, *, relay: bool) -> None:
        publication = self.publications_by_id[id_]
        hops = publication.hops[node.index] = publication.hops[sender.index] + 1
        if publication.watched[node.index]:
            publication.watched[node.index] = 0
            publication.received += 1
            if relay:
                publication.by_relay += 1
                publication.relay_hops.append(hops)
            publication.missing -= 1
            self._check_reached(publication)

    def _check_reached(self, publication: _Publication) -> None:
        if publication.missing == 0 and publication.reached_ms is None:
            publication.reached_ms = self.now
            self.pending.remove(publication)
            self._check_finished()

    def _publish(self, _: None) -> None:
        author = self._random_up_node(lambda node: True)
        assert author is not None  # at least two nodes are always up
        number = len(self.publications)
        key = NodeKey.from_seed(hashlib.sha256(
            f"hedgerow simulate {self.seed} {number}".encode()).digest())
        version = EPOCH_MS + self.now
        signed = sign_entry(key, Entry(NETWORK_ID, key.public, "practice", f"practice-{number}",
                                       version, {"title": f"Repair café {number}",
                                                 "status": "active",
                                                 "description": _DESCRIPTION,
                                                 "themes": ["repair", "reuse"]}))
        id_ = signed.id
        self.entries[id_] = signed
        self.versions[id_] = version
        publication = _Publication(id_, author, self.now, bytearray(self.up_flags))
        self.publications.append(publication)
        self.publications_by_id[id_] = publication
        author.held = author.held | {id_}
        if publication.reached_ms is None:
            self.pending.append(publication)
        if self.settings.relay and self.settings.push_fanout:
            # Told to push_fanout peers at once (node/sync/gossip.py, watch_own_feed).
            number = self._start_rumour(author, Rumour(frozenset({id_}),
                                                       width=self.settings.push_fanout))
            author.own.add(number)
            self._pump(author)

    # --- nodes going down and coming back ---------------------------------------------

    def _come_up(self, node: _Node) -> None:
        """A down node comes back (and syncs at once); another live node goes down."""
        node.up = True
        self.up_flags[node.index] = 1
        if self._in_window():
            self.restarts += 1
        node.incarnation += 1
        self.at(self.now, _TICK, (node, node.incarnation))
        # Never the only holder of a publication (see the module's docstring).
        sole = {p.author.index for p in self.pending if p.holders == 1}
        victim = self._random_up_node(lambda n: n is not node and n.index not in sole)
        if victim is None:
            self._live_changes()
            self.down_count -= 1
        else:
            self._go_down(victim)
        self.down_seen[0] = min(self.down_seen[0], self.down_count)
        self.down_seen[1] = max(self.down_seen[1], self.down_count)

    def _go_down(self, node: _Node) -> None:
        node.up = False
        self.up_flags[node.index] = 0
        node.incarnation += 1  # its rounds, sessions and pushes in flight are void
        node.rumours = {}
        node.own = set()
        node.busy = set()
        node.syncing = set()
        node.news = False
        node.inbound_checked = {}
        self.at(self._down_for(), _UP, node)
        for publication in list(self.pending):
            if publication.watched[node.index]:  # watched nodes lack it
                publication.watched[node.index] = 0
                publication.missing -= 1
                self._check_reached(publication)

    def _live_changes(self) -> None:
        """Add up the live node-time until now, before the number of live nodes changes."""
        until = min(self.now, self.window_end)
        if until > self.live_since:
            self.live_area += (len(self.nodes) - self.down_count) * (until - self.live_since)
            self.live_since = until

    def _random_up_node(self, eligible: Callable[[_Node], bool]) -> _Node | None:
        nodes, randrange = self.nodes, self.rng.randrange
        for _ in range(64):
            node = nodes[randrange(len(nodes))]
            if node.up and eligible(node):
                return node
        choices = [n for n in nodes if n.up and eligible(n)]
        return self.rng.choice(choices) if choices else None

    # --- costs, storages, encodings -----------------------------------------------------

    def push_body(self, ids: tuple[bytes, ...]) -> bytes:
        """The push request carrying these entries (shortcut 5)."""
        body = self.push_bodies.get(ids)
        if body is None:
            body = self.push_bodies[ids] = encode_push_request([self.entries[i] for i in ids])
        return body

    def codec(self, function: Callable[[Any], _T], argument: Any) -> _T:
        """``function(argument)``, worked out once per argument (shortcut 5)."""
        key = (function, argument)
        try:
            return cast(_T, self.codecs[key])
        except KeyError:
            value = self.codecs[key] = function(argument)
            return value

    def storage(self, held: frozenset[bytes]) -> NegentropyStorage:
        """The Negentropy storage of a set of entries (built once per set)."""
        storage = self.storages.get(held)
        if storage is None:
            versions = self.versions
            storage = NegentropyStorage.from_sorted(sorted((versions[i], i) for i in held))
            self.storages[held] = storage
        return storage

    def converged_cost(self, held: frozenset[bytes]) -> tuple[int, int]:
        """Bytes of the reconcile request and reply when both sides hold ``held``,
        measured with the real session (shortcut 2)."""
        cost = self.converged.get(held)
        if cost is None:
            storage = self.storage(held)
            session = SyncSession(storage)
            request = session.start()
            assert isinstance(request, SendRequest)
            messages, frame = decode_reconcile_request(request.body)
            reply = answer_reconcile({"all": storage}, messages,
                                     frame_size_limit=min(frame, MAX_REPLY_FRAME))
            session.receive(request, reply)
            if not isinstance(session.next_action(), Finished):
                raise RuntimeError("a converged session took more than one round trip: the "
                                   "simulator's shortcut no longer holds")
            cost = self.converged[held] = (len(request.body), len(reply))
        return cost

    # --- the outcome ------------------------------------------------------------------

    def _result(self) -> SeedResult:
        interval = self.interval_ms
        results = []
        for publication in self.publications:
            reached = (None if publication.reached_ms is None else
                       (publication.reached_ms - publication.published_ms) / interval)
            results.append(PublicationResult(
                publication.author.index, reached, publication.received, publication.by_relay,
                tuple(sorted(publication.relay_hops))))
        self._live_changes()
        return SeedResult(
            seed=self.seed, publications=tuple(results), messages=self.messages,
            bytes=self.bytes, node_intervals=self.live_area / interval, lost=self.lost,
            sessions=self.sessions, failed_sessions=self.failed_sessions, pushes=self.pushes,
            failed_pushes=self.failed_pushes, restarts=self.restarts,
            down_min=self.down_seen[0], down_max=self.down_seen[1],
            skipped_sessions=self.skipped)


def run_seed(settings: SimulationSettings, seed: int) -> SeedResult:
    """One seed's run of ``settings``."""
    return Network(settings, seed).run()


def simulate(settings: SimulationSettings) -> Iterator[SeedResult]:
    """Every seed's run of ``settings``, one after the other (check first)."""
    settings.check()
    for seed in range(settings.first_seed, settings.first_seed + settings.seeds):
        yield run_seed(settings, seed)
