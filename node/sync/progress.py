"""How far this node has got catching up with the network.

A sync counts as a *catch-up* once this node learns that its peers hold at
least :data:`CATCH_UP_FROM` entries more than it does (a new node joining a
big network, a node back after months offline). From then until the last
sync under way ends, :class:`CatchUp` tells everyone who shows progress:

* the event bus gets :class:`~node.events.CatchUpProgress` (entries held and
  expected, the rate) at most every :data:`EVENT_EVERY_S`: the progress bars
  of ``hedgerow sync`` and ``hedgerow up`` and the pages' live view follow it;
* the store's ``catch_up`` row gets the same figures at most every
  :data:`SAVE_EVERY_S` (``hedgerow status --json`` and the pages read it:
  they may run in another process);
* when it completes, one :class:`~node.events.CaughtUp` event (the log's
  one line, with the duration) and the row marked ``caught_up``.

"Expected" is the largest ``all`` set a peer said it holds in a reconcile
reply during the catch-up (protocol/messages.py), never less than what this
node holds: entries this node refuses (blocked authors, entries waiting for
an admission) keep "held" a little below it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

from ..events import CatchUpProgress, CaughtUp, EventBus
from ..store.catch_up import CatchUpState, record_catch_up
from ..store.store import Store

__all__ = ["CATCH_UP_FROM", "EVENT_EVERY_S", "SAVE_EVERY_S", "CatchUp"]

#: Entries behind from which a sync counts as a catch-up (and shows progress).
CATCH_UP_FROM: Final = 1000
EVENT_EVERY_S: Final = 0.5
SAVE_EVERY_S: Final = 2.0


class CatchUp:
    """The running catch-up, if any: updated by the sync client, read by everyone else."""

    def __init__(self, store: Store, events: EventBus, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store, self.events, self.monotonic = store, events, monotonic
        self.held = 0
        self.expected = 0
        self._active = 0  # syncs under way
        self._complete = True  # whether the last sync ended caught up
        self._started: float | None = None  # monotonic time the catch-up began
        self._started_ms = 0
        self._held_at_start = 0
        self._peers: set[str] = set()
        self._last_event = float("-inf")
        self._last_save = float("-inf")
        self._dirty = False
        self._requests = 0
        self._bytes_down = 0

    @property
    def catching_up(self) -> bool:
        return self._started is not None

    @property
    def per_s(self) -> float:
        if self._started is None:
            return 0.0
        elapsed = self.monotonic() - self._started
        return (self.held - self._held_at_start) / elapsed if elapsed > 0 else 0.0

    @contextlib.asynccontextmanager
    async def syncing(self, address: str) -> AsyncIterator[None]:
        """Around one sync (its sessions with one peer)."""
        self._active += 1
        complete = False
        try:
            yield
            complete = True
        finally:
            self._active -= 1
            self._complete = complete
            if self._active == 0 and self._started is not None:
                await self._end(complete)

    def session_started(self, address: str, held: int) -> None:
        """A session began; this node's ``all`` set holds ``held`` items."""
        self.held = held
        if self._started is not None:
            self._peers.add(address)

    def peer_holds(self, address: str, count: int) -> None:
        """A peer said how many items its ``all`` set holds."""
        self.expected = max(self.expected if self._started is not None else 0, count)
        if self._started is None and self.expected - self.held >= CATCH_UP_FROM:
            self._started = self.monotonic()
            self._started_ms = self.store.now_ms()
            self._held_at_start = self.held
            self._peers = {address}
            self._requests = self._bytes_down = 0
            self._dirty = True
        elif self._started is not None:
            self._peers.add(address)
        self._progress()

    def session_ended(self, requests: int, bytes_down: int) -> None:
        """A session of the catch-up ended, after ``requests`` requests."""
        if self._started is not None:
            self._requests += requests
            self._bytes_down += bytes_down

    def ingested(self, stored: int) -> None:
        """Entries were stored (fetched in a session, or released from waiting)."""
        self.held += stored
        if self._started is not None:
            self._dirty = True
            self._progress()

    def _progress(self) -> None:
        if self._started is None:
            return
        now = self.monotonic()
        if now - self._last_event >= EVENT_EVERY_S:
            self._last_event = now
            self.events.publish(CatchUpProgress(self.held, max(self.expected, self.held),
                                                self.per_s, len(self._peers)))

    def _state(self, state: str, finished_ms: int | None = None) -> CatchUpState:
        return CatchUpState(state, self._started_ms, self.store.now_ms(), finished_ms,
                            self.held, max(self.expected, self.held),
                            self.held - self._held_at_start, round(self.per_s, 1),
                            len(self._peers))

    async def save_if_due(self) -> None:
        """Write the figures to the store, at most every :data:`SAVE_EVERY_S`."""
        now = self.monotonic()
        if self._started is None or not self._dirty or now - self._last_save < SAVE_EVERY_S:
            return
        self._last_save = now
        self._dirty = False
        await self.store.db.write(record_catch_up, self._state("catching_up"))

    async def _end(self, complete: bool) -> None:
        if not complete:
            # Stopped short (a peer failed): the figures stay "catching up", and the
            # next round goes on from what the store holds.
            self._last_save = float("-inf")
            await self.save_if_due()
            return
        assert self._started is not None
        seconds = self.monotonic() - self._started
        final = self._state("caught_up", self.store.now_ms())
        self.events.publish(CatchUpProgress(self.held, max(self.expected, self.held),
                                            self.per_s, len(self._peers)))
        self.events.publish(CaughtUp(final.received, seconds, final.peers, self.held,
                                     self._requests, self._bytes_down))
        self._started = None
        self._dirty = False
        await self.store.db.write(record_catch_up, final)
