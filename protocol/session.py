"""The sync session: one client-driven exchange that fills both directions.

The node that starts a session is the client. It reconciles (Negentropy V1)
until it knows both differences, then fetches what it lacks and pushes what
the server lacks, all within the same session — so a node that nobody can
reach (behind a home router) still sends *and* receives, by starting sessions
itself (DESIGN.md "Wire protocol").

This is sans-I/O, like h11: the session consumes reply bodies and emits
*actions* for its driver. It never reads the clock, the network or the store.

Actions (frozen dataclasses):

* :class:`SendRequest` — POST ``body`` to ``/sync/v1/<endpoint>``, then call
  :meth:`SyncSession.receive` with the reply body.
* :class:`IngestEntries` — store these fetched entries (verify, then keep),
  then call :meth:`SyncSession.ingested` with one outcome per entry.
* :class:`LoadEntries` — read these ids from the store, then call
  :meth:`SyncSession.loaded` with the entries still held (any order, any
  subset: ids superseded meanwhile are skipped).
* :class:`Finished` — the session is over; ``stats`` says what happened.

State machine rules:

1. ``RECONCILING`` — :meth:`start` emits the first reconcile request, with
   one Negentropy exchange per set (:data:`~protocol.messages.RECONCILE_SETS`:
   the ``members`` set, then ``all``), in the same requests. Each reply's
   messages go to their set's Negentropy client; ``have`` ids queue for
   pushing, ``need`` ids for fetching — the members set's first, so that
   the admissions are stored before the entries of those they admit, and an
   id needed by both sets once. A set with a next message takes part in the
   next round; when none has one, the session moves on. More than
   :data:`MAX_ROUNDS` rounds is a protocol error (bounded work).
2. ``FETCHING`` — while ids are queued to fetch: request up to
   :data:`~protocol.messages.MAX_FETCH_IDS` at a time; the reply's entries go
   out as :class:`IngestEntries`; ids the server listed in ``more`` go back on
   the queue (at most :data:`MAX_REFETCH` times each, so a server cannot keep
   a session alive forever).
3. ``PUSHING`` — while ids are queued to push: :class:`LoadEntries` for a
   batch, then push the loaded entries in requests of at most
   :data:`~protocol.messages.MAX_PUSH_ENTRIES` entries and
   :data:`~protocol.messages.MAX_PUSH_BYTES` bytes.
4. ``DONE`` — :class:`Finished`. Any call after that, or out of turn, raises
   :class:`~protocol.errors.InvalidArgument` (the driver's bug); anything wrong
   in a reply raises :class:`~protocol.errors.PeerError` (the server's fault),
   and the session moves to ``FAILED``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .entries import SignedEntry
from .errors import InvalidArgument, PeerError, SessionError
from .messages import (
    MAX_FETCH_IDS,
    MAX_PUSH_BYTES,
    MAX_PUSH_ENTRIES,
    PushResult,
    decode_fetch_reply,
    decode_push_reply,
    decode_reconcile,
    encode_fetch_request,
    encode_push_request,
    encode_reconcile,
)
from .negentropy import Negentropy, NegentropyStorage

__all__ = [
    "MAX_REFETCH",
    "MAX_ROUNDS",
    "Action",
    "Finished",
    "IngestEntries",
    "LoadEntries",
    "SendRequest",
    "SessionState",
    "SessionStats",
    "SyncSession",
    "answer_reconcile",
]

#: Reconciliation rounds allowed in one session (each costs a round trip).
MAX_ROUNDS: Final = 64
#: How often one id may come back in a fetch reply's ``more`` list.
MAX_REFETCH: Final = 3
#: Ids loaded from the store per :class:`LoadEntries` (a few pushes' worth).
LOAD_BATCH: Final = 4 * MAX_PUSH_ENTRIES


class SessionState(enum.Enum):
    IDLE = "idle"
    RECONCILING = "reconciling"
    FETCHING = "fetching"
    PUSHING = "pushing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SendRequest:
    endpoint: str  # "reconcile" | "fetch" | "push"
    body: bytes


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
    refetches: dict[bytes, int] = field(default_factory=dict)

    def freeze(self) -> SessionStats:
        return SessionStats(self.rounds, self.requests, self.bytes_up, self.bytes_down,
                            self.have, self.need, self.received, self.accepted, self.pushed,
                            self.push_accepted)


class SyncSession:
    """The client side of one sync session over a sealed storage of our current set."""

    def __init__(self, storages: NegentropyStorage | Mapping[str, NegentropyStorage], *,
                 frame_size_limit: int = 0, skip: frozenset[bytes] = frozenset()) -> None:
        """``storages``: this node's storage of each set to reconcile, in the
        order their missing entries are fetched (a single storage is the
        ``all`` set). ``skip``: ids the driver already holds outside them
        (entries waiting for their author's admission): never fetched again."""
        if isinstance(storages, NegentropyStorage):
            storages = {"all": storages}
        self._negs = {name: Negentropy(storage, frame_size_limit)
                      for name, storage in storages.items()}
        self._skip = skip
        self._state = SessionState.IDLE
        # Ids to fetch, per set in priority order, and every id queued so far.
        self._needs: dict[str, deque[bytes]] = {name: deque() for name in self._negs}
        self._queued: set[bytes] = set()
        self._pushing: set[bytes] = set()
        self._to_fetch: deque[bytes] = deque()
        self._to_push: deque[bytes] = deque()
        self._loaded: deque[SignedEntry] = deque()
        # The request awaiting its reply: its endpoint, and the ids it asked
        # for (fetch, push, load) or the sets it named (reconcile).
        self._awaiting: tuple[str, tuple[Any, ...]] | None = None
        self._n = _Counters()

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def stats(self) -> SessionStats:
        return self._n.freeze()

    def start(self) -> Action:
        """Begin: the first reconcile request."""
        if self._state is not SessionState.IDLE:
            raise InvalidArgument("a session starts once")
        self._state = SessionState.RECONCILING
        self._n.rounds = 1
        messages = {name: neg.initiate() for name, neg in self._negs.items()}
        return self._send("reconcile", encode_reconcile(messages), tuple(messages))

    def receive(self, body: bytes) -> Action:
        """Feed the reply body of the last :class:`SendRequest`."""
        if self._awaiting is None:
            raise InvalidArgument("no request is waiting for a reply")
        endpoint, sent = self._awaiting
        self._awaiting = None
        self._n.bytes_down += len(body)
        try:
            if endpoint == "reconcile":
                return self._on_reconcile(body, sent)
            if endpoint == "fetch":
                return self._on_fetch(body, sent)
            return self._on_push(body, sent)
        except PeerError:
            self._state = SessionState.FAILED
            raise

    def ingested(self, outcomes: Sequence[str]) -> Action:
        """Report what the store made of the last :class:`IngestEntries`."""
        if self._awaiting is None or self._awaiting[0] != "ingest":
            raise InvalidArgument("no entries are waiting to be ingested")
        self._awaiting = None
        self._n.accepted += sum(1 for o in outcomes if o == "accepted")
        return self._next()

    def loaded(self, entries: Sequence[SignedEntry]) -> Action:
        """Hand over the entries read for the last :class:`LoadEntries`."""
        if self._awaiting is None or self._awaiting[0] != "load":
            raise InvalidArgument("no entries were asked to be loaded")
        asked = set(self._awaiting[1])
        self._awaiting = None
        for e in entries:
            if e.id not in asked:
                raise InvalidArgument("loaded an entry that was not asked for")
        self._loaded.extend(entries)
        return self._next()

    # -- internals ---------------------------------------------------------

    def _send(self, endpoint: str, body: bytes, sent: tuple[Any, ...]) -> SendRequest:
        self._awaiting = (endpoint, sent)
        self._n.requests += 1
        self._n.bytes_up += len(body)
        return SendRequest(endpoint, body)

    def _on_reconcile(self, body: bytes, sets: tuple[str, ...]) -> Action:
        replies = decode_reconcile(body, sets)
        following: dict[str, bytes] = {}
        for name in sets:
            message, have, need = self._negs[name].reconcile_client(replies[name])
            # Every entry of the members set is in the all set too: each id
            # is pushed or fetched once, the members set's first.
            pushing = self._pushing
            for id_ in have:
                if id_ not in pushing:
                    pushing.add(id_)
                    self._to_push.append(id_)
                    self._n.have += 1
            queue, queued, skip = self._needs[name], self._queued, self._skip
            for id_ in need:
                if id_ not in queued and id_ not in skip:
                    queued.add(id_)
                    queue.append(id_)
            if message is not None:
                following[name] = message
        if following:
            if self._n.rounds >= MAX_ROUNDS:
                raise SessionError(f"reconciliation did not settle in {MAX_ROUNDS} rounds",
                                   code="too_many_rounds")
            self._n.rounds += 1
            return self._send("reconcile", encode_reconcile(following), tuple(following))
        for queue in self._needs.values():
            self._n.need += len(queue)
            self._to_fetch.extend(queue)
            queue.clear()
        return self._next()

    def _on_fetch(self, body: bytes, requested: tuple[bytes, ...]) -> Action:
        entries, more = decode_fetch_reply(body, requested)
        for id_ in more:
            count = self._n.refetches.get(id_, 0) + 1
            if count > MAX_REFETCH:
                raise SessionError("the server keeps deferring the same entries",
                                   code="no_progress")
            self._n.refetches[id_] = count
            self._to_fetch.append(id_)
        if entries:
            self._n.received += len(entries)
            self._awaiting = ("ingest", ())
            return IngestEntries(tuple(entries))
        return self._next()

    def _on_push(self, body: bytes, pushed: tuple[bytes, ...]) -> Action:
        results: list[PushResult] = decode_push_reply(body, pushed)
        self._n.push_accepted += sum(1 for r in results if r.outcome == "accepted")
        return self._next()

    def _next(self) -> Action:
        if self._to_fetch:
            self._state = SessionState.FETCHING
            batch: list[bytes] = []
            while self._to_fetch and len(batch) < MAX_FETCH_IDS:
                batch.append(self._to_fetch.popleft())
            return self._send("fetch", encode_fetch_request(batch), tuple(batch))
        if self._loaded:
            self._state = SessionState.PUSHING
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
        if self._to_push:
            self._state = SessionState.PUSHING
            ids: list[bytes] = []
            while self._to_push and len(ids) < LOAD_BATCH:
                ids.append(self._to_push.popleft())
            self._awaiting = ("load", tuple(ids))
            return LoadEntries(tuple(ids))
        self._state = SessionState.DONE
        return Finished(self._n.freeze())


def answer_reconcile(
    storages: Mapping[str, NegentropyStorage], messages: Mapping[str, bytes], *,
    frame_size_limit: int = 0
) -> bytes:
    """The server's side of one reconcile request: its Negentropy message per
    set (:func:`~protocol.messages.decode_reconcile`) and this node's storage
    of each of those sets in, the reply body out.

    Negentropy servers keep no state between messages (each message is
    self-contained), so a server needs no session object at all.
    """
    return encode_reconcile({
        name: Negentropy(storages[name], frame_size_limit).reconcile_server(message)
        for name, message in messages.items()})
