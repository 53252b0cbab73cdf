"""Gossip: when and with whom this node syncs.

Three jobs, run by an apscheduler ``AsyncIOScheduler`` that the running node
owns (started in :meth:`Gossip.start`, shut down in :meth:`Gossip.stop`),
and the relay's task (node/sync/relay.py), owned the same way:

* **anti-entropy** — as soon as the node starts, then each round ¾ to all
  of ``sync_interval`` after the last, at random
  (:func:`protocol.peers.round_delay`: nodes drift apart instead of syncing
  in step, and none waits longer than the interval), refresh the partial
  view of peers (node/sync/view.py) and sync with ``sync_fanout`` peers
  chosen at random among the due ones (:func:`protocol.choose_peers`); a
  round that brought entries refreshes the view again. A node that holds an
  invitation and is not a member yet first joins
  (:meth:`Gossip.join_if_invited`);
* **publish** — every couple of seconds, refresh the peer view if entries
  arrived (at most every ten seconds), and look whether this node's own feed
  has a newer version than last time (the CLI may publish from another
  process), and if so hand the new entries to the relay, which pushes them
  to ``push_fanout`` peers at once and on from there; entries accepted from
  peers are relayed too (DESIGN.md "Dissemination");
* **maintenance** — hourly, forget learned peers that have been failing for
  ``forget_peers_after_days`` since they last answered.

Each sync's outcome goes to the peer book (liveness, backoff, bytes and
entries each way) and to the event bus (for the log and the pages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from protocol import (
    HedgerowError,
    PeerHealth,
    choose_peers,
    id_to_text,
    parse_invitation,
    record_failure,
    record_success,
    should_forget,
)
from protocol.peers import round_delay

from ..errors import AddressRefused, PeerRefused, SyncFailed
from ..events import EventBus, Joined, JoinFailed, PeerSynced, PeerUnreachable, Published
from ..settings import Config
from ..store.store import Store
from . import peerbook
from .client import Helper, SyncClient, SyncReport
from .dialling import DialPolicy
from .peerbook import PeerRow, SyncRecord
from .relay import Relay
from .view import PeerView

__all__ = ["Gossip"]

log = logging.getLogger(__name__)

FEED_WATCH_SECONDS: Final = 2.0
MAINTENANCE_SECONDS: Final = 3600.0
#: How long stop() waits for the jobs under way to wind down.
STOP_WAIT_S: Final = 10.0


class Gossip:
    def __init__(self, store: Store, client: SyncClient, config: Config, events: EventBus, *,
                 rng: random.Random | None = None,
                 on_tick: Callable[[], Awaitable[None]] | None = None) -> None:
        self.store, self.client, self.config, self.events = store, client, config, events
        self.on_tick = on_tick
        self.rng = rng or random.Random()
        self.view = PeerView(store, self.rng, client.policy or DialPolicy())
        self.relay = Relay(store, client, self.rng, book_failure=self._book_failure)
        self._scheduler: AsyncIOScheduler | None = None
        self._jobs: set[asyncio.Task[Any]] = set()  # the scheduler's jobs under way
        self._unsubscribe: list[Callable[[], None]] = []
        self._last_own_version: int | None = None

    # --- one peer --------------------------------------------------------------

    async def sync_peer(self, address: str, *, remember: bool = True,
                        helpers: Sequence[Helper] = ()) -> SyncReport:
        """Sync with one peer now and book the outcome; raises :class:`SyncFailed`.

        An address that is not a peer yet becomes one only if ``remember``:
        a one-off sync leaves the peer book as it was, so that a mistyped
        address does not stay behind as a failing peer. :meth:`remember_peer`
        keeps it afterwards. ``helpers``: other peers it may fetch from at the
        same time (node/sync/client.py "Several peers at once").
        """
        address = peerbook.normalise_address(address)
        row = await self.store.db.read(peerbook.peer_by_address, address)
        if row is None and remember:
            row = (await self.store.db.write(peerbook.add_peer, address, source="manual",
                                             now_ms=self.store.now_ms()))[0]
        await self.join_if_invited()
        if row is not None:
            return await self._sync_row(row, helpers=helpers)
        report = await self.client.sync_with(address, helpers=helpers)
        await self._after_success(report)
        return report

    async def remember_peer(self, report: SyncReport) -> PeerRow:
        """Keep the address of a one-off sync that succeeded as a peer, with its outcome."""
        row, _ = await self.store.db.write(peerbook.add_peer, report.address, source="manual",
                                           now_ms=self.store.now_ms(), node_id=report.peer_id)
        await self._record_success(row, report)
        found = await self.store.db.read(peerbook.peer_by_address, report.address)
        assert found is not None
        return found

    async def join_if_invited(self) -> bool:
        """Join the network with the invitation this node was made with, if not a member yet.

        True if this node is a member (now or already). A failure is logged
        once per attempt with what to do, and kept for ``hedgerow status``;
        the next round tries again while the invitation is valid.
        """
        joining = await self.store.joining()
        if joining is None:
            return await self.store.is_member()
        if joining.joined_ms is not None:
            return True
        if await self.store.is_member():
            await self.store.record_joining_error("", joined=True)
            return True
        invitation = parse_invitation(joining.code)
        me = id_to_text(self.store.node_id)
        if invitation.expired(self.store.now_ms() // 1000):
            message = ("the invitation this node was made with has expired: ask for a new one "
                       f"(`hedgerow init` again), or ask any member to run `hedgerow admit {me}`")
            await self.store.record_joining_error(message)
            self.events.publish(JoinFailed(message))
            return False
        try:
            await self.client.join(invitation)
        except SyncFailed as exc:
            message = (f"could not join through the inviting node: {exc.message}. If it cannot "
                       f"be reached, any member can admit this node instead: `hedgerow admit "
                       f"{me}`, then `hedgerow sync <that member's address>`")
            await self.store.record_joining_error(message)
            self.events.publish(JoinFailed(message))
            return False
        await self.store.record_joining_error("", joined=True)
        self.events.publish(Joined(id_to_text(invitation.inviter)))
        return True

    async def _record_success(self, row: PeerRow, report: SyncReport) -> None:
        now = self.store.now_ms()
        stats = report.stats
        await self.store.db.write(
            peerbook.record_sync, row.address,
            SyncRecord(True, "", stats.bytes_up, stats.bytes_down, stats.accepted,
                       stats.push_accepted,
                       clock_offset_s=self.client.clock_offsets.get(report.address)),
            health=record_success(row.health, now), now_ms=now, node_id=report.peer_id)

    async def _book_success(self, row: PeerRow, report: SyncReport) -> None:
        await self._record_success(row, report)
        await self._after_success(report)

    async def _after_success(self, report: SyncReport) -> None:
        stats = report.stats
        # Only a sync that completed (reconciled to the end) and fetched everything it
        # found itself holds all the peer had: ids left to a session beside it may
        # not be stored yet.
        if stats.complete and not stats.left_to_others and await self.store.needs_catch_up():
            # A restored node must catch up on its own entries before it
            # publishes, or it could fork itself (DESIGN.md). A completed
            # session leaves it holding every entry of its own that this peer
            # held; it counts once the peer held some, or once enough
            # distinct peers answered (node/store/node_state.py).
            peer = id_to_text(report.peer_id) if report.peer_id else report.address
            why = await self.store.record_catch_up_session(
                peer, held_own=report.peer_held_own,
                peers_known=await self.store.db.read(peerbook.peers_known))
            if why is not None:
                log.info("caught up after the restore: %s; publishing is allowed again", why)
        self.events.publish(PeerSynced(report.address, stats.accepted, stats.push_accepted,
                                       stats.bytes_up, stats.bytes_down, stats.rounds))

    async def _book_failure(self, row: PeerRow, exc: SyncFailed) -> None:
        now = self.store.now_ms()
        health = record_failure(row.health, now, self.rng)
        stats = exc.stats
        await self.store.db.write(
            peerbook.record_sync, row.address,
            SyncRecord(False, exc.message, stats.bytes_up if stats else 0,
                       stats.bytes_down if stats else 0, stats.accepted if stats else 0,
                       stats.push_accepted if stats else 0),
            health=health, now_ms=now)
        retry = max(0.0, (health.next_attempt_ms - now) / 1000)
        if isinstance(exc, PeerRefused):
            log.info("%s refused the sync: %s", row.address, exc.message)
        if isinstance(exc, AddressRefused):
            return  # logged once by the client; not an unreachable peer
        self.events.publish(PeerUnreachable(row.address, exc.message, retry))

    # --- rounds ----------------------------------------------------------------

    async def anti_entropy_round(self) -> list[SyncReport]:
        """Refresh the peer view, then sync with up to ``sync_fanout`` due peers, concurrently;
        refresh the view again if the sessions brought entries (profiles among them)."""
        try:
            await self.view.refresh()
        except HedgerowError as exc:  # a full disk, say: sync with the peers known
            log.warning("could not refresh the peer view: %s", exc.message)
        reports = await self._round(self.config.sync_fanout, due_only=True)
        if any(report.stats.accepted for report in reports):
            # The profiles just received are candidates at once: a node that
            # has just joined learns its peers from its first round.
            try:
                await self.view.refresh()
            except HedgerowError as exc:
                log.warning("could not refresh the peer view: %s", exc.message)
        return reports

    async def push_round(self) -> list[SyncReport]:
        """Full sessions with ``push_fanout`` peers now, due or not (the demo, `hedgerow sync`)."""
        if self.config.push_fanout == 0:
            return []
        return await self._round(self.config.push_fanout, due_only=False)

    async def _round(self, fanout: int, *, due_only: bool) -> list[SyncReport]:
        with contextlib.suppress(HedgerowError):
            await self.join_if_invited()
        rows = await self.store.db.read(peerbook.list_peers)
        now = self.store.now_ms()
        health: Sequence[PeerHealth] = [r.health for r in rows]
        if not due_only:
            health = [replace(h, next_attempt_ms=0) for h in health]
        chosen = {h.address for h in choose_peers(health, now, fanout, self.rng)}
        return await self.sync_rows([row for row in rows if row.address in chosen])

    async def sync_rows(self, rows: Sequence[PeerRow]) -> list[SyncReport]:
        """Sync with ``rows`` at once, each session helped by the others.

        The catch-up entry point of a round: when this node is far behind,
        the entries found with any peer are fetched from all of them, split
        as they go (node/sync/client.py "Several peers at once").
        """
        reports: list[SyncReport] = []
        everyone = [Helper(row.address, row.node_id, row.learned) for row in rows]

        async def one(row: PeerRow) -> None:
            # A failure is booked and reported as an event already.
            with contextlib.suppress(SyncFailed):
                reports.append(await self._sync_row(row, helpers=everyone))

        async with asyncio.TaskGroup() as group:
            for row in rows:
                group.create_task(one(row))
        return reports

    async def _sync_row(self, row: PeerRow, *, helpers: Sequence[Helper] = ()) -> SyncReport:
        try:
            report = await self.client.sync_with(row.address, expect=row.node_id,
                                                 learned=row.learned, helpers=helpers)
        except SyncFailed as exc:
            await self._book_failure(row, exc)
            raise
        await self._book_success(row, report)
        return report

    async def watch_own_feed(self) -> bool:
        """Relay what this node published since the last look; True if it published.

        Publications may come from another process (the CLI), so the feed is
        watched rather than told. Each new own entry becomes a
        :class:`~node.events.Published` event, and all of them one rumour
        pushed to ``push_fanout`` peers at once.
        """
        if self.on_tick is not None:
            await self.on_tick()
        try:
            await self.view.refresh_if_news()
        except HedgerowError as exc:
            log.warning("could not refresh the peer view: %s", exc.message)
        version = await self.store.own_highest_version()
        last, self._last_own_version = self._last_own_version, version
        if last is None or version <= last:
            return False
        offset = 0
        new: list[bytes] = []
        while True:
            page = await self.store.current_entries(author=self.store.node_id, limit=1000,
                                                    offset=offset)
            for held in page:
                if held.entry.version > last:
                    new.append(held.id)
                    self.events.publish(Published(held.entry.kind, held.entry.key,
                                                  held.entry.version))
            if len(page) < 1000:
                break
            offset += len(page)
        if self.config.push_fanout:
            self.relay.add(new, width=self.config.push_fanout)
        return True

    async def maintenance(self) -> list[str]:
        """Forget learned peers dead for too long; returns their addresses."""
        now = self.store.now_ms()
        after_ms = self.config.forget_peers_after_days * 86_400_000
        forgotten = []
        for row in await self.store.db.read(peerbook.list_peers):
            if should_forget(row.health, now, after_ms=after_ms, added_ms=row.added_ms):
                await self.store.db.write(peerbook.forget_peer, row.address)
                forgotten.append(row.address)
        return forgotten

    # --- scheduling ------------------------------------------------------------

    async def _job(self, what: str, coro: Callable[[], object]) -> None:
        task = asyncio.current_task()
        if task is not None:
            # Owned here: stop() waits for a job the scheduler cancels, so that
            # nothing it does (an ingest finishing) outlives the store.
            self._jobs.add(task)
        try:
            result = coro()
            if asyncio.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            # The node is stopping while a job runs (a sync at start, say): the
            # job ends here. Not re-raised: this coroutine is the top of the
            # scheduler's task, which would log a cancelled job as a crash.
            log.debug("gossip job %s stopped with the node", what)
        except Exception:
            log.exception("gossip job %s failed", what)
        finally:
            if task is not None:
                self._jobs.discard(task)

    def _book_round(self, scheduler: AsyncIOScheduler, when: datetime) -> None:
        scheduler.add_job(self._rounds, "date", run_date=when, id="anti-entropy",
                          replace_existing=True, misfire_grace_time=None)

    async def _rounds(self) -> None:
        """One anti-entropy round, then the next one booked after
        :func:`protocol.peers.round_delay` (¾ to 1 interval at random: nodes drift
        apart, and none waits longer than an interval), as the simulator does."""
        try:
            await self._job("anti-entropy", self.anti_entropy_round)
        finally:
            scheduler = self._scheduler
            if scheduler is not None and scheduler.running:
                delay_ms = round_delay(self.config.sync_interval * 1000, self.rng)
                self._book_round(scheduler, datetime.now(UTC) + timedelta(milliseconds=delay_ms))

    def start(self) -> None:
        scheduler = AsyncIOScheduler()
        # The first round runs at once: a node that has just joined, or was
        # down, holds the network within seconds of starting; each round then
        # books the next (_rounds).
        self._book_round(scheduler, datetime.now(UTC))
        scheduler.add_job(self._job, "interval", args=("feed", self.watch_own_feed),
                          seconds=FEED_WATCH_SECONDS, max_instances=1, coalesce=True,
                          id="feed")
        scheduler.add_job(self._job, "interval", args=("maintenance", self.maintenance),
                          seconds=MAINTENANCE_SECONDS, max_instances=1, coalesce=True,
                          id="maintenance")
        scheduler.start()
        self._scheduler = scheduler
        self.relay.start()
        self._unsubscribe = [self.events.subscribe(self.relay.on_event),
                             self.events.subscribe(self.view.on_event)]

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # cancels the jobs under way
            self._scheduler = None
        running = [task for task in self._jobs if task is not asyncio.current_task()]
        for task in running:
            task.cancel()
        if running:
            # Bounded: a job winding down only lets an ingest under way finish.
            await asyncio.wait(running, timeout=STOP_WAIT_S)
        await self.relay.stop()
