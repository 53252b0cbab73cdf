"""The relay: passing new entries on, by rumour mongering (protocol/rumours.py).

DESIGN.md "Dissemination": the author pushes a new entry at once to a few
peers; every node that accepts new entries keeps pushing them on to further
random peers until :data:`protocol.rumours.ALREADY_HELD_LIMIT` of them already
held them (Demers' counter rule), replacing peers that fail. The rules are
pure functions in protocol/rumours.py, which ``hedgerow simulate`` runs too;
this module runs them for a live node:

* entries accepted from a peer (an :class:`~node.events.EntriesReceived`
  event, pushed to us or fetched by us) and this node's own publications
  (:meth:`Relay.add`, from gossip's feed watch) start rumours;
* one task, owned by :class:`Relay` (started and stopped by gossip), pushes
  each live rumour to a peer chosen by :func:`protocol.rumours.next_targets`
  among the due peers of the peer book (this node's own publications: among
  all of them, backing off or not, as a person publishing expects every
  peer to be told) — at most one push to a peer in flight, all the rumours
  for that peer in one push (coalesced);
* a push's outcome, from the receiver's verdict on each entry, feeds
  :func:`protocol.rumours.after_push`; the peer's health is booked as for a
  sync.

Bounded: a batch of more than :data:`MAX_NEWS` entries is a catch-up, not
news, and is left to anti-entropy; live rumours hold at most
:data:`MAX_RUMOUR_IDS` ids (the oldest rumours give way); pushes in flight are
at most one per peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from protocol import id_from_text, record_success
from protocol.errors import InvalidIdText
from protocol.peers import RandomSource, is_due
from protocol.rumours import (
    PushOutcome,
    Rumour,
    after_push,
    alive,
    next_targets,
    outcome_of,
    sent,
)

from ..errors import SyncFailed
from ..events import EntriesReceived, Event
from ..store.store import Store
from . import peerbook
from .client import PushReport, SyncClient
from .peerbook import PeerRow, SyncRecord

__all__ = ["MAX_NEWS", "MAX_RUMOUR_IDS", "Relay"]

log = logging.getLogger(__name__)

#: Entries accepted at once that are still news; more is a catch-up.
MAX_NEWS: Final = 200
#: Ids held in live rumours together.
MAX_RUMOUR_IDS: Final = 2000

BookFailure = Callable[[PeerRow, SyncFailed], Awaitable[None]]


class Relay:
    def __init__(self, store: Store, client: SyncClient, rng: RandomSource, *,
                 book_failure: BookFailure) -> None:
        self.store, self.client, self.rng = store, client, rng
        self.book_failure = book_failure
        self.rumours: dict[int, Rumour] = {}
        self._numbers = itertools.count()
        self._waiting: list[tuple[tuple[bytes, ...], str, int]] = []
        self._own: set[int] = set()  # rumours of this node's own publications
        self._busy: set[str] = set()
        self._pushes: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Pushes made and their outcomes, for the log and the tests.
        self.outcomes: dict[str, int] = {o.value: 0 for o in PushOutcome}

    # --- starting rumours ---------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Event-bus subscriber: entries accepted from a peer become a rumour."""
        if isinstance(event, EntriesReceived) and 0 < len(event.ids) <= MAX_NEWS:
            self.add(event.ids, source=event.peer)

    def add(self, ids: Sequence[bytes], *, source: str = "", width: int = 1) -> None:
        """Start a rumour of ``ids``; ``source``: the peer they came from (address or node id).

        ``width``: peers its first push goes to at once (an author's
        publication goes to ``push_fanout`` peers). A rumour with no source
        is this node's own publication.
        """
        if ids:
            self._waiting.append((tuple(ids), source, max(1, width)))
            self._wake.set()

    # --- running --------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        tasks = [*self._pushes, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.pump()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay failed; new entries wait for anti-entropy")
                self.rumours.clear()
                self._own.clear()

    async def settled(self) -> None:
        """Wait until every rumour has run its course as far as it can (tests, the simulator)."""
        while True:
            if self._pushes:
                await asyncio.wait(set(self._pushes))
                continue
            await self.pump()
            if not self._pushes:
                return

    async def pump(self) -> None:
        """Start rumours waiting, push live ones to peers with nothing in flight."""
        rows = [r for r in await self.store.db.read(peerbook.list_peers)
                if r.node_id != self.store.node_id]
        now = self.store.now_ms()
        peers = {r.address: r for r in rows}
        due = [r.address for r in rows if is_due(r.health, now)]
        await self._start_waiting()
        for number, rumour in list(self.rumours.items()):
            if not alive(rumour, peers if number in self._own else due):
                self._forget(number)
        for own in (True, False):
            numbers = [n for n in self.rumours if (n in self._own) == own]
            targets = next_targets([self.rumours[n] for n in numbers],
                                   list(peers) if own else due, self._busy, self.rng)
            for address, indexes in targets.items():
                chosen = [numbers[i] for i in indexes]
                for number in chosen:
                    self.rumours[number] = sent(self.rumours[number], [address])
                self._busy.add(address)
                task = asyncio.get_running_loop().create_task(
                    self._push(peers[address], chosen))
                self._pushes.add(task)
                task.add_done_callback(self._pushes.discard)

    def _forget(self, number: int) -> None:
        self.rumours.pop(number, None)
        self._own.discard(number)

    async def _start_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for ids, source, width in waiting:
            tried: frozenset[str] = frozenset()
            address = source if source.startswith(("http://", "https://")) else None
            if source and address is None:
                # Pushed to us by a node: never push back to any of its addresses (rule 1).
                with contextlib.suppress(InvalidIdText):
                    tried = frozenset(await self.store.db.read(peerbook.addresses_of,
                                                               id_from_text(source)))
            number = next(self._numbers)
            self.rumours[number] = Rumour(frozenset(ids), source=address, tried=tried,
                                          width=width)
            if not source:
                self._own.add(number)
        # Bounded: the oldest rumours give way (anti-entropy repairs what they missed).
        while sum(len(r.ids) for r in self.rumours.values()) > MAX_RUMOUR_IDS \
                and len(self.rumours) > 1:
            self._forget(min(self.rumours))

    async def _push(self, row: PeerRow, numbers: list[int]) -> None:
        address = row.address
        try:
            ids = sorted({i for n in numbers if n in self.rumours for i in self.rumours[n].ids})
            # Only what is still current here: a newer version may have replaced some.
            entries = await self.store.get_entries(ids)
            if not entries:  # all replaced since: nothing left to tell
                for number in numbers:
                    self._forget(number)
                return
            report: PushReport | None = None
            try:
                report = await self.client.push(address, entries, expect=row.node_id,
                                                learned=row.learned)
            except SyncFailed as exc:
                await self.book_failure(row, exc)
            else:
                await self._book(row, report)
            for number in numbers:
                rumour = self.rumours.get(number)
                if rumour is None:
                    continue
                outcome = PushOutcome.FAILED if report is None else outcome_of(
                    [report.statuses[i] for i in rumour.ids if i in report.statuses])
                self.outcomes[outcome.value] += 1
                after = after_push(rumour, address, outcome)
                if after is None:
                    self._forget(number)
                else:
                    self.rumours[number] = after
        finally:
            self._busy.discard(address)
            self._wake.set()

    async def _book(self, row: PeerRow, report: PushReport) -> None:
        now = self.store.now_ms()
        took = sum(1 for s in report.statuses.values() if s == "accepted")
        await self.store.db.write(
            peerbook.record_sync, row.address,
            SyncRecord(True, "", report.bytes_up, report.bytes_down, 0, took,
                       clock_offset_s=self.client.clock_offsets.get(row.address)),
            health=record_success(row.health, now), now_ms=now, node_id=report.peer_id)
