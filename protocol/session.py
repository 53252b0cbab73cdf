"""The sync session: one client-driven exchange that fills both directions.

The node that starts a session is the client. It reconciles (Negentropy V1)
with one peer and, while reconciliation goes on, fetches the entries it
lacks and pushes those the peer lacks — so a node that nobody can reach
(behind a home router) still sends *and* receives, by starting sessions
itself (DESIGN.md "Wire protocol"). Every round stores something, however
large the difference: ids found in one round are fetched in the next
requests, in bounded batches.

This is sans-I/O, like h11: the session consumes reply bodies and emits
*actions* for its driver. It never reads the clock, the network or the store.
Several actions may be under way at once (a reconcile request, a couple of
fetches, an ingest): the driver asks :meth:`SyncSession.next_action` for
work until it answers ``None`` (wait for something under way to finish),
and reports each finished action with the method named below.

Actions (frozen dataclasses):

* :class:`SendRequest` — POST ``body`` to ``/sync/v2/<endpoint>``, then call
  :meth:`SyncSession.receive` with the request and the reply body. A fetch
  whose ``any_peer`` is true may go to any peer of the network that holds
  the same entries (a *helper*, to pull from several peers at once); say so
  with ``from_helper=True``, and report a helper's failure with
  :meth:`SyncSession.helper_failed`: its ids go back to this session's peer.
* :class:`IngestEntries` — store these fetched entries (verify, then keep),
  then call :meth:`SyncSession.ingested` with one outcome per entry. At most
  ``max_ingests`` are under way at a time (two: one batch verifies while the
  last is stored), handed out in the order the entries arrived.
* :class:`LoadEntries` — read these ids from the store, then call
  :meth:`SyncSession.loaded` with the entries still held (any order, any
  subset: ids superseded meanwhile are skipped).
* :class:`Finished` — the session is over; ``stats`` says what happened.

State machine rules:

1. Reconciling. :meth:`start` prepares the first reconcile request, with one
   Negentropy exchange per set (:data:`~protocol.messages.RECONCILE_SETS`:
   the ``members`` set, then ``all``), in the same requests, asking for reply
   frames of ``reply_frame`` bytes. Each reply's messages go to their set's
   Negentropy client; ``have`` ids queue for pushing, ``need`` ids for
   fetching, an id needed by both sets once, ``skip`` ids never. One reconcile
   request is under way at a time, and the next is sent only while fewer
   than ``fetch_ahead`` (:data:`FETCH_AHEAD`) ids wait to be fetched: the ids in hand are
   fetched first, so memory holds one frame's worth of ids, not the whole
   difference.
2. Fetching, alongside: up to ``max_fetches`` fetch requests at once, each
   of up to :data:`~protocol.messages.MAX_FETCH_IDS` ids — the members
   set's first, and the ``all`` set's only once every members entry fetched
   is ingested, so that admissions are stored before the entries of those
   they admit. Entries go out as :class:`IngestEntries` of at most
   :data:`INGEST_BATCH`. Ids the server listed in ``more`` go back on the
   queue (at most :data:`MAX_REFETCH` times each, so a server cannot keep a
   session alive forever); ids a helper did not send go back to the
   session's own peer, which reported them.
3. Pushing, alongside once reconciliation is over: :class:`LoadEntries` for a
   batch, then push the loaded entries in requests of at most
   :data:`~protocol.messages.MAX_PUSH_ENTRIES` entries and
   :data:`~protocol.messages.MAX_PUSH_BYTES` bytes, one at a time.
4. Bounded sessions. Once a session has learned of ``max_ids`` ids (both
   directions), it sends no further reconcile request: it fetches and pushes
   what it found and finishes with ``stats.complete`` false. Nothing it got is
   lost; the next session starts from what the store then holds and goes on
   from there (a catch-up is a run of sessions). No cap on rounds ends a
   session that makes progress: the window bounds the work. A server whose
   replies find nothing new for :data:`MAX_QUIET_ROUNDS` rounds in a row
   (Negentropy narrows a difference down 16-fold a round: a million items
   need five) is not reconciling, and the session fails (what it stored
   stays).
5. Ending early: after :meth:`SyncSession.drain` (the driver's peer failed),
   only ingests are handed out — of everything fetched, including replies
   still under way — so whatever arrived is stored.
6. ``DONE`` — :class:`Finished`, once nothing is left and nothing is under
   way. Any call after that, or out of turn, raises
   :class:`~protocol.errors.InvalidArgument` (the driver's bug). Anything
   wrong in a reply raises :class:`~protocol.errors.PeerError` (the
   server's fault) and changes nothing it carried: from a helper, its ids go
   back to this session's peer and the session goes on; from the session's
   own peer, the session drains as in rule 5 (replies under way are still
   taken, what was fetched is handed out to ingest) and moves to ``FAILED``
   once nothing is under way (:meth:`SyncSession.next_action` then answers
   ``None``, and the driver reports the failure).
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from .entries import SignedEntry
from .errors import InvalidArgument, PeerError, SessionError
from .messages import (
    MAX_FETCH_IDS,
    MAX_NEG_MESSAGE_BYTES,
    MAX_PUSH_BYTES,
    MAX_PUSH_ENTRIES,
    MAX_REPLY_FRAME,
    PushResult,
    decode_fetch_reply,
    decode_push_reply,
    decode_reconcile_reply,
    encode_fetch_request,
    encode_push_request,
    encode_reconcile_reply,
    encode_reconcile_request,
)
from .negentropy import Negentropy, NegentropyStorage

__all__ = [
    "FETCH_AHEAD",
    "INGEST_BATCH",
    "MAX_FETCHES",
    "MAX_INGESTS",
    "MAX_QUIET_ROUNDS",
    "MAX_REFETCH",
    "MAX_SESSION_IDS",
    "Action",
    "Finished",
    "IngestEntries",
    "LoadEntries",
    "SendRequest",
    "SessionState",
    "SessionStats",
    "SyncSession",
    "answer_reconcile",
    "drive",
]

#: Rounds in a row that find no new id before a session gives up on its server.
MAX_QUIET_ROUNDS: Final = 32
#: How often one id may come back in a fetch reply's ``more`` list.
MAX_REFETCH: Final = 3
#: Ids loaded from the store per :class:`LoadEntries` (a few pushes' worth).
LOAD_BATCH: Final = 4 * MAX_PUSH_ENTRIES
#: Entries per :class:`IngestEntries`: the store takes batches of at most 1,000.
INGEST_BATCH: Final = 1000
#: The next reconcile request waits while this many ids wait to be fetched: a
#: full reply frame's worth (about 32,000 ids), so ids are streamed, never piled up.
FETCH_AHEAD: Final = MAX_REPLY_FRAME // 32
#: Ids (both directions) one session learns of before it stops reconciling, fetches
#: and pushes what it found, and hands over to the next session. Each id costs the
#: Negentropy client and the session about 200 bytes: 100,000 ids, about 20 MB. A
#: new session costs a read of this node's set (about a second at a million).
MAX_SESSION_IDS: Final = 100_000
#: Fetch requests under way at once: one being answered while the last is ingested.
MAX_FETCHES: Final = 2
#: Ingests under way at once: the store verifies one batch while it commits another.
MAX_INGESTS: Final = 2
#: Fetched entries waiting for their ingest, in batches, before fetching pauses.
_INGEST_QUEUE: Final = 2


class SessionState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SendRequest:
    endpoint: str  # "reconcile" | "fetch" | "push"
    body: bytes
    #: Tells requests under way apart (the driver hands it back with the reply).
    seq: int = 0
    #: A fetch any peer holding the same entries may answer (see from_helper).
    any_peer: bool = False


@dataclass(frozen=True, slots=True)
class IngestEntries:
    entries: tuple[SignedEntry, ...]


@dataclass(frozen=True, slots=True)
class LoadEntries:
    ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class SessionStats:
    rounds: int = 0  # reconciliation round trips
    requests: int = 0  # all requests sent
    bytes_up: int = 0  # request bodies sent
    bytes_down: int = 0  # reply bodies received
    have: int = 0  # ids we hold that the server lacked
    need: int = 0  # ids the server held that we lacked
    received: int = 0  # entries fetched and handed over for ingest
    accepted: int = 0  # of those, accepted by our store
    pushed: int = 0  # entries pushed
    push_accepted: int = 0  # of those, accepted by the server
    complete: bool = True  # reconciled to the end (false: the next session goes on)
    peer_holds: int = 0  # items in the server's ``all`` set, at its last reply
    helper_received: int = 0  # of ``received``, entries fetched from helpers
    #: Ids this session lacked and left to sessions running beside it (``claims``):
    #: when not 0, this session alone does not show that the node holds all the
    #: peer had, even if ``complete``.
    left_to_others: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    stats: SessionStats


Action = SendRequest | IngestEntries | LoadEntries | Finished


@dataclass
class _Counters:
    rounds: int = 0
    requests: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    have: int = 0
    need: int = 0
    received: int = 0
    accepted: int = 0
    pushed: int = 0
    push_accepted: int = 0
    complete: bool = True
    peer_holds: int = 0
    helper_received: int = 0
    left_to_others: int = 0
    refetches: dict[bytes, int] = field(default_factory=dict)

    def freeze(self) -> SessionStats:
        return SessionStats(self.rounds, self.requests, self.bytes_up, self.bytes_down,
                            self.have, self.need, self.received, self.accepted, self.pushed,
                            self.push_accepted, self.complete, self.peer_holds,
                            self.helper_received, self.left_to_others)


@dataclass(frozen=True, slots=True)
class _Fetch:
    ids: tuple[bytes, ...]
    set_name: str
    primary_only: bool


class SyncSession:
    """The client side of one sync session over a sealed storage of our current set."""

    def __init__(self, storages: NegentropyStorage | Mapping[str, NegentropyStorage], *,
                 frame_size_limit: int | None = None, reply_frame: int = MAX_REPLY_FRAME,
                 skip: frozenset[bytes] = frozenset(), max_ids: int = MAX_SESSION_IDS,
                 max_fetches: int = MAX_FETCHES, fetch_ahead: int = FETCH_AHEAD,
                 claims: set[bytes] | None = None, max_ingests: int = MAX_INGESTS) -> None:
        """``storages``: this node's storage of each set to reconcile, in the
        order their missing entries are fetched (a single storage is the
        ``all`` set). ``frame_size_limit``: the largest Negentropy message
        this side sends per set (default: its share of a request's room).
        ``reply_frame``: the reply frame to ask the server for. ``skip``: ids
        the driver already holds outside them (entries waiting for their
        author's admission): never fetched again. ``max_ids``: the session's
        window (rule 4). ``fetch_ahead``: the next reconcile request waits
        while this many ids wait to be fetched (rule 1). ``claims``: ids that
        sessions running beside this one are fetching, shared between them:
        this session leaves those and adds its own (give them back with
        :meth:`release_claims` when it ends)."""
        if isinstance(storages, NegentropyStorage):
            storages = {"all": storages}
        if frame_size_limit is None:
            frame_size_limit = MAX_NEG_MESSAGE_BYTES // max(1, len(storages))
        if max_ids < 1 or max_fetches < 1 or max_ingests < 1:
            raise InvalidArgument("max_ids, max_fetches and max_ingests are at least 1")
        self._negs = {name: Negentropy(storage, frame_size_limit)
                      for name, storage in storages.items()}
        self._reply_frame = reply_frame
        self._skip = skip
        self._max_ids = max_ids
        self._max_fetches = max_fetches
        self._max_ingests = max_ingests
        self._fetch_ahead = fetch_ahead
        self._state = SessionState.IDLE
        self._seq = itertools.count(1)
        # The next reconcile request's messages, once the last reply is in.
        self._reconcile_next: dict[str, bytes] | None = None
        self._reconciling = False  # a reconcile request is under way
        self._reconciled = False  # no further reconcile request will be sent
        # Ids to fetch, per set in priority order; ids only this session's peer
        # is known to hold (a helper did not send them); every id queued so far.
        self._needs: dict[str, deque[bytes]] = {name: deque() for name in self._negs}
        self._primary_needs: dict[str, deque[bytes]] = {name: deque() for name in self._negs}
        self._queued: set[bytes] = set()
        self._claims = claims if claims is not None else self._queued
        self._pushing: set[bytes] = set()
        self._to_push: deque[bytes] = deque()
        self._loaded: deque[SignedEntry] = deque()
        self._to_ingest: deque[tuple[str, tuple[SignedEntry, ...]]] = deque()
        # What is under way: requests by seq, the ingest and the load.
        self._requests: dict[int, tuple[str, tuple[str, ...] | _Fetch | tuple[bytes, ...]]] = {}
        self._ingesting: deque[tuple[str, IngestEntries]] = deque()
        self._loading: LoadEntries | None = None
        # Members entries fetched or being ingested: the all set waits for them.
        self._members_in_flight = 0
        self._draining = False
        self._failed = False  # the session's own peer sent a bad reply (rule 6)
        self._quiet_rounds = 0
        self._n = _Counters()

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def stats(self) -> SessionStats:
        return self._n.freeze()

    @property
    def waiting_ids(self) -> int:
        """Ids found and not yet fetched (for progress)."""
        return sum(len(q) for q in self._needs.values()) + \
            sum(len(q) for q in self._primary_needs.values())

    def start(self) -> Action:
        """Begin: the first reconcile request."""
        if self._state is not SessionState.IDLE:
            raise InvalidArgument("a session starts once")
        self._state = SessionState.RUNNING
        self._reconcile_next = {name: neg.initiate() for name, neg in self._negs.items()}
        action = self.next_action()
        assert action is not None
        return action

    def next_action(self) -> Action | None:
        """The next thing to do, or ``None``: wait for something under way to finish."""
        if self._state is SessionState.IDLE:
            raise InvalidArgument("start the session first")
        if self._state is not SessionState.RUNNING:
            raise InvalidArgument("the session is over")
        if len(self._ingesting) < self._max_ingests and self._to_ingest:
            set_name, entries = self._to_ingest.popleft()
            action = IngestEntries(entries)
            self._ingesting.append((set_name, action))
            return action
        if self._draining:
            if self._failed and not self._requests and not self._ingesting \
                    and not self._to_ingest and self._loading is None:
                self._state = SessionState.FAILED  # drained: the driver reports the failure
            return None
        if (self._reconcile_next is not None and not self._reconciling
                and self.waiting_ids < self._fetch_ahead):
            messages, self._reconcile_next = self._reconcile_next, None
            self._reconciling = True
            self._n.rounds += 1
            return self._send("reconcile",
                              encode_reconcile_request(messages, self._reply_frame),
                              tuple(messages))
        fetch = self._next_fetch()
        if fetch is not None:
            return fetch
        if self._reconciled:
            push = self._next_push()
            if push is not None:
                return push
            if not self._requests and not self._ingesting and not self._to_ingest \
                    and self._loading is None and self.waiting_ids == 0:
                self._state = SessionState.DONE
                return Finished(self._n.freeze())
        return None

    def receive(self, request: SendRequest, body: bytes, *, from_helper: bool = False) -> None:
        """Feed the reply body of ``request`` (one of this session's requests under way).

        ``from_helper``: a fetch that another peer answered (``any_peer``).
        """
        sent = self._requests.pop(request.seq, None)
        if sent is None or sent[0] != request.endpoint:
            raise InvalidArgument("that request is not under way")
        if from_helper and not request.any_peer:
            raise InvalidArgument("only an any_peer fetch may be answered by a helper")
        self._n.bytes_down += len(body)
        try:
            endpoint, what = sent
            if endpoint == "reconcile":
                assert isinstance(what, tuple)
                self._on_reconcile(body, what)  # type: ignore[arg-type]
            elif endpoint == "fetch":
                assert isinstance(what, _Fetch)
                self._on_fetch(body, what, from_helper)
            else:
                assert isinstance(what, tuple)
                self._on_push(body, what)  # type: ignore[arg-type]
        except PeerError:
            if from_helper:
                # Rule 2: a helper's bad reply is that helper's failure; its ids go
                # back to this session's own peer, and the session goes on.
                what = sent[1]
                assert isinstance(what, _Fetch)
                self._give_back(what)
                raise
            # Rule 6: the session's own peer is at fault. The session drains
            # (rule 5): what was fetched is still handed out to ingest.
            self._draining = self._failed = True
            raise

    def helper_failed(self, request: SendRequest) -> None:
        """A helper could not answer ``request`` (an ``any_peer`` fetch): its ids go
        back to this session's own peer."""
        sent = self._requests.pop(request.seq, None)
        if sent is None or not request.any_peer:
            raise InvalidArgument("that request is not a helper's fetch under way")
        fetch = sent[1]
        assert isinstance(fetch, _Fetch)
        self._give_back(fetch)

    def _give_back(self, fetch: _Fetch) -> None:
        self._primary_needs[fetch.set_name].extend(fetch.ids)
        if fetch.set_name == "members":
            self._members_in_flight -= 1

    def ingested(self, outcomes: Sequence[str], *, of: IngestEntries | None = None) -> None:
        """Report what the store made of an :class:`IngestEntries` under way: ``of``
        (default: the oldest under way)."""
        if not self._ingesting:
            raise InvalidArgument("no entries are being ingested")
        index = 0
        if of is not None:
            index = next((i for i, (_, a) in enumerate(self._ingesting) if a is of), -1)
            if index < 0:
                raise InvalidArgument("those entries are not being ingested")
        set_name, action = self._ingesting[index]
        if len(outcomes) != len(action.entries):
            raise InvalidArgument("one outcome per entry ingested")
        del self._ingesting[index]
        if set_name == "members":
            self._members_in_flight -= 1
        self._n.accepted += sum(1 for o in outcomes if o == "accepted")

    def drain(self) -> None:
        """The session is ending early (its peer failed): from now on only the
        entries already fetched are handed out to ingest, so that nothing that
        arrived is lost; replies still under way may be fed in as usual."""
        self._draining = True

    def release_claims(self, claims: set[bytes]) -> None:
        """Take this session's ids out of the shared ``claims`` (when it ends)."""
        claims.difference_update(self._queued)

    def loaded(self, entries: Sequence[SignedEntry]) -> None:
        """Hand over the entries read for the :class:`LoadEntries` under way."""
        if self._loading is None:
            raise InvalidArgument("no entries were asked to be loaded")
        asked = set(self._loading.ids)
        self._loading = None
        for e in entries:
            if e.id not in asked:
                raise InvalidArgument("loaded an entry that was not asked for")
        self._loaded.extend(entries)

    # -- internals ---------------------------------------------------------

    def _send(self, endpoint: str, body: bytes,
              sent: tuple[str, ...] | _Fetch | tuple[bytes, ...], *,
              any_peer: bool = False) -> SendRequest:
        seq = next(self._seq)
        self._requests[seq] = (endpoint, sent)
        self._n.requests += 1
        self._n.bytes_up += len(body)
        return SendRequest(endpoint, body, seq, any_peer)

    def _next_fetch(self) -> SendRequest | None:
        fetching = sum(1 for endpoint, _ in self._requests.values() if endpoint == "fetch")
        if fetching >= self._max_fetches or len(self._to_ingest) >= _INGEST_QUEUE:
            return None
        for set_name in self._negs:
            if set_name != "members" and self._members_in_flight:
                return None  # admissions are stored first (rule 2)
            for queue, primary_only in ((self._primary_needs[set_name], True),
                                        (self._needs[set_name], False)):
                if not queue:
                    continue
                batch = tuple(queue.popleft() for _ in range(min(MAX_FETCH_IDS, len(queue))))
                if set_name == "members":
                    self._members_in_flight += 1
                return self._send("fetch", encode_fetch_request(batch),
                                  _Fetch(batch, set_name, primary_only),
                                  any_peer=not primary_only)
        return None

    def _next_push(self) -> SendRequest | LoadEntries | None:
        if any(endpoint == "push" for endpoint, _ in self._requests.values()):
            return None
        if self._loaded:
            batch_entries: list[SignedEntry] = []
            size = 0
            while (self._loaded and len(batch_entries) < MAX_PUSH_ENTRIES
                   and size + self._loaded[0].size + 16 <= MAX_PUSH_BYTES):
                entry = self._loaded.popleft()
                size += entry.size + 16
                batch_entries.append(entry)
            self._n.pushed += len(batch_entries)
            return self._send("push", encode_push_request(batch_entries),
                              tuple(e.id for e in batch_entries))
        if self._to_push and self._loading is None:
            ids = tuple(self._to_push.popleft() for _ in range(min(LOAD_BATCH,
                                                                  len(self._to_push))))
            self._loading = LoadEntries(ids)
            return self._loading
        return None

    def _on_reconcile(self, body: bytes, sets: tuple[str, ...]) -> None:
        self._reconciling = False
        replies, held = decode_reconcile_reply(body, sets, self._reply_frame)
        if "all" in held:
            self._n.peer_holds = held["all"]
        following: dict[str, bytes] = {}
        found_before = self._n.have + self._n.need + self._n.left_to_others
        for name in sets:
            message, have, need = self._negs[name].reconcile_client(replies[name])
            # Every entry of the members set is in the all set too: each id
            # is pushed or fetched once, the members set's first.
            pushing = self._pushing
            for id_ in have:
                if id_ not in pushing:
                    if self._n.have + self._n.need >= self._max_ids:
                        # The window bounds the push direction too (rule 4): a node
                        # far ahead of its peer pushes a window's worth per session,
                        # never a whole store's ids held at once.
                        self._n.complete = False
                        break
                    pushing.add(id_)
                    self._to_push.append(id_)
                    self._n.have += 1
            queue, queued, skip, claims = (self._needs[name], self._queued, self._skip,
                                           self._claims)
            for id_ in need:
                if id_ in queued or id_ in skip:
                    continue
                if id_ in claims:
                    # Another session beside this one fetches it: found, so progress
                    # (rule 4), but this session does not show the node holds it.
                    self._n.left_to_others += 1
                    continue
                queued.add(id_)
                claims.add(id_)
                queue.append(id_)
                self._n.need += 1
            if message is not None:
                following[name] = message
        if self._n.have + self._n.need + self._n.left_to_others > found_before:
            self._quiet_rounds = 0
        else:
            self._quiet_rounds += 1
        if following and self._quiet_rounds >= MAX_QUIET_ROUNDS:
            raise SessionError(f"reconciliation found nothing new in {MAX_QUIET_ROUNDS} rounds",
                               code="no_progress")
        if following and self._n.have + self._n.need >= self._max_ids:
            # The window is full (rule 4): what was found is fetched and pushed,
            # and the next session goes on from there.
            self._n.complete = False
            following = {}
        if following:
            self._reconcile_next = following
        else:
            self._reconciled = True

    def _on_fetch(self, body: bytes, fetch: _Fetch, from_helper: bool) -> None:
        entries, more = decode_fetch_reply(body, fetch.ids)
        refetches = self._n.refetches
        if any(refetches.get(id_, 0) >= MAX_REFETCH for id_ in more):
            # Checked before anything changes: a failing reply leaves the session as
            # it was (its ids go back, rule 2, or it drains, rule 6).
            raise SessionError("the server keeps deferring the same entries",
                               code="no_progress")
        for id_ in more:
            refetches[id_] = refetches.get(id_, 0) + 1
        if fetch.set_name == "members":
            self._members_in_flight -= 1
        queue = self._primary_needs if fetch.primary_only else self._needs
        queue[fetch.set_name].extendleft(reversed(more))
        if from_helper:
            # A helper may not hold what this session's peer reported: those go
            # back to the peer that did.
            got = {e.id for e in entries}
            got.update(more)
            self._primary_needs[fetch.set_name].extend(i for i in fetch.ids if i not in got)
            self._n.helper_received += len(entries)
        if entries:
            self._n.received += len(entries)
            for start in range(0, len(entries), INGEST_BATCH):
                if fetch.set_name == "members":
                    self._members_in_flight += 1
                self._to_ingest.append((fetch.set_name,
                                        tuple(entries[start:start + INGEST_BATCH])))

    def _on_push(self, body: bytes, pushed: tuple[bytes, ...]) -> None:
        results: list[PushResult] = decode_push_reply(body, pushed)
        self._n.push_accepted += sum(1 for r in results if r.outcome == "accepted")


def answer_reconcile(
    storages: Mapping[str, NegentropyStorage], messages: Mapping[str, bytes], *,
    frame_size_limit: int = 0
) -> bytes:
    """The server's side of one reconcile request: its Negentropy message per
    set (:func:`~protocol.messages.decode_reconcile_request`) and this node's
    storage of each of those sets in, the reply body out (each set's message
    within ``frame_size_limit``, 0 for none).

    Negentropy servers keep no state between messages (each message is
    self-contained), so a server needs no session object at all.
    """
    return encode_reconcile_reply(
        {name: Negentropy(storages[name], frame_size_limit).reconcile_server(message)
         for name, message in messages.items()},
        {name: len(storages[name]) for name in messages})


def drive(session: SyncSession, send: Callable[[SendRequest], bytes],
          ingest: Callable[[tuple[SignedEntry, ...]], Sequence[str]],
          load: Callable[[tuple[bytes, ...]], Sequence[SignedEntry]]) -> SessionStats:
    """Run ``session`` to its end one action at a time (tests, benchmarks, tools).

    ``send`` answers a request with the reply body, ``ingest`` gives the
    outcomes of a batch and ``load`` the entries held among some ids.
    """
    action: Action | None = session.start()
    while not isinstance(action, Finished):
        if isinstance(action, SendRequest):
            session.receive(action, send(action))
        elif isinstance(action, IngestEntries):
            session.ingested(ingest(action.entries))
        elif isinstance(action, LoadEntries):
            session.loaded(load(action.ids))
        action = session.next_action()
        if action is None:
            raise InvalidArgument("nothing is under way, yet the session waits")
    return action.stats

