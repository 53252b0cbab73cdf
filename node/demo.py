"""A live demo network: several real nodes in one process, seeded with sample groups.

Everything is real — aiohttp servers on loopback ports, SQLite files, Ed25519
signatures, signed HTTP sync sessions — only the organisations are samples
(:mod:`node.samples`). :class:`DemoNetwork` does the work and reports
progress as values; ``hedgerow demo`` (``cli/demo.py``) prints them.

The steps, in order:

1. :meth:`DemoNetwork.start` — create each node in its own data directory
   under ``root``, start its server (ports from ``port_base``, skipping
   ports in use; 0 for any free port), give each node two neighbours as
   peers (a ring, so the network is connected but nobody knows everyone),
   and seed it with its sample organisation.
2. :meth:`DemoNetwork.settle` — gossip rounds until every node holds the
   same entries: the starting state of the network.
3. :meth:`DemoNetwork.publish_live` — the last node publishes a new practice
   (adapted from the first node's, with a credit), and
   :meth:`DemoNetwork.spread_round` runs one gossip round at a time — the
   publisher's push first, then anti-entropy rounds of one random peer per
   node — and says which nodes hold the new practice.
4. :meth:`DemoNetwork.start_gossip` — hand over to each node's own gossip
   scheduler, so the network keeps syncing while people try it.
5. :meth:`DemoNetwork.stop` — silence the watchers (:meth:`DemoNetwork.watch`),
   stop every node and close every database.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .errors import InvalidInput, LocalProblem
from .events import Event, EventBus
from .home import run_lock
from .samples import LIVE_PRACTICE, SAMPLE_ORGANISATIONS, SampleOrganisation, add_practice
from .samples import seed_organisation as seed_sample
from .service import NodeService
from .settings import Config
from .store.datadir import init_node
from .store.store import Store
from .sync import peerbook

__all__ = ["MAX_DEMO_NODES", "DemoNetwork", "DemoNode", "LivePublication", "SpreadRound"]

MAX_DEMO_NODES: Final = len(SAMPLE_ORGANISATIONS)
#: How many ports past the wanted one are tried before giving up.
_PORT_TRIES: Final = 50


@dataclass(slots=True)
class DemoNode:
    index: int
    sample: SampleOrganisation
    data_dir: Path
    store: Store
    service: NodeService
    events: EventBus

    @property
    def name(self) -> str:
        return self.sample.name

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def node_id(self) -> bytes:
        return self.store.node_id


@dataclass(frozen=True, slots=True)
class LivePublication:
    publisher: int
    title: str
    key: str
    entry_id: bytes
    adapted_from: int | None  # the node whose practice it was adapted from


@dataclass(frozen=True, slots=True)
class SpreadRound:
    number: int
    holders: tuple[int, ...]  # indexes of the nodes that hold the live practice
    sessions: int  # sync sessions run in the round
    total: int

    @property
    def everywhere(self) -> bool:
        return len(self.holders) == self.total


def demo_config(sync_interval: int) -> Config:
    """Settings for demo nodes: loopback only, no mDNS, quick gossip, generous limits."""
    return Config(host="127.0.0.1", mdns=False, sync_interval=sync_interval, sync_fanout=1,
                  push_fanout=2, rate_limit_per_peer=1000, rate_limit_per_ip=1000)


class DemoNetwork:
    def __init__(self, root: Path, *, nodes: int = 5, port_base: int = 8470,
                 sync_interval: int = 5, rng: random.Random | None = None) -> None:
        if not 2 <= nodes <= MAX_DEMO_NODES:
            raise InvalidInput(f"the demo runs 2 to {MAX_DEMO_NODES} nodes", field="nodes")
        if not 0 <= port_base <= 65535:
            raise InvalidInput("port base: must be from 0 to 65535", field="port_base")
        self.root = Path(root)
        self.size, self.port_base = nodes, port_base
        self.config = demo_config(sync_interval)
        self.rng = rng or random.Random()
        self.nodes: list[DemoNode] = []
        self.live: LivePublication | None = None
        self._rounds = 0
        self._locks = contextlib.ExitStack()
        self._unwatch: list[Callable[[], None]] = []

    # --- 1. start -----------------------------------------------------------------------

    async def start(self) -> None:
        """Create, start, connect and seed every node (stopped again if anything fails)."""
        try:
            next_port = self.port_base
            network: bytes | None = None
            for index, sample in enumerate(SAMPLE_ORGANISATIONS[:self.size]):
                node = await self._start_node(index, sample, next_port, network)
                self.nodes.append(node)
                network = node.store.network
                if next_port:
                    next_port = node.service.port + 1
            # The first node founded the network; every other joins with an
            # invitation from it, over HTTP, as `hedgerow init --join` does.
            founder = self.nodes[0]
            for node in self.nodes[1:]:
                invitation = await founder.store.create_invitation(founder.url,
                                                                   note=node.sample.name)
                assert node.service.client is not None
                await node.service.client.join(invitation)
            for node in self.nodes:
                for step in (1, 2) if self.size > 2 else (1,):
                    neighbour = self.nodes[(node.index + step) % self.size]
                    await node.store.db.write(peerbook.add_peer, neighbour.url,
                                              source="config", now_ms=node.store.now_ms(),
                                              node_id=neighbour.node_id)
            node_ids = [node.node_id for node in self.nodes]
            for node in self.nodes:
                await seed_sample(node.store, node.sample, area=node.sample.area,
                                  addresses=[node.url], node_ids=node_ids)
        except BaseException:
            await self.stop()
            raise

    async def _start_node(self, index: int, sample: SampleOrganisation, port: int,
                          network: bytes | None) -> DemoNode:
        data_dir = self.root / f"node{index + 1}"
        init_node(data_dir, network=network, nonce=None if network else os.urandom(16),
                  seed=os.urandom(32), now_ms=time.time_ns() // 1_000_000)
        # Like `hedgerow up`: no second node, and no offline restore, in this directory.
        self._locks.enter_context(run_lock(data_dir))
        store = await Store.open(data_dir, verify_workers=1)
        try:
            for attempt in range(_PORT_TRIES if port else 1):
                events = EventBus()
                service = NodeService(store, self.config, events=events,
                                      rng=random.Random(self.rng.random()))
                try:
                    await service.start(host="127.0.0.1", port=port + attempt if port else 0,
                                        gossip=False, mdns=False)
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE or port + attempt >= 65535:
                        raise
                    continue
                return DemoNode(index, sample, data_dir, store, service, events)
            raise LocalProblem(f"no free port from {port} to {port + _PORT_TRIES - 1}; choose "
                               "another with --port-base (0: any free port)")
        except BaseException:
            await store.close()
            raise

    # --- 2. settle ----------------------------------------------------------------------

    async def _holdings(self) -> list[set[bytes]]:
        return [{entry_id for _, entry_id in await node.store.current_set()}
                for node in self.nodes]

    async def settle(self, *, max_rounds: int = 12) -> int:
        """Gossip until every node holds the same entries; returns the rounds it took."""
        for rounds in range(max_rounds + 1):
            held = await self._holdings()
            if all(h == held[0] for h in held):
                return rounds
            await self._all_nodes(push=True)
        raise LocalProblem(f"the demo network did not converge in {max_rounds} rounds")

    async def entry_count(self) -> int:
        return len(await self.nodes[0].store.current_set())

    # --- 3. publish live and watch it spread --------------------------------------------

    async def publish_live(self) -> LivePublication:
        publisher = self.nodes[-1]
        key = await add_practice(publisher.store, LIVE_PRACTICE, area=publisher.sample.area,
                                 node_ids=[node.node_id for node in self.nodes])
        entry = await publisher.store.current_entry(publisher.node_id, "practice", key)
        assert entry is not None
        source = LIVE_PRACTICE.adapted_from[0].organisation if LIVE_PRACTICE.adapted_from \
            else None
        self.live = LivePublication(publisher.index, LIVE_PRACTICE.title, key, entry.id,
                                    source)
        self._rounds = 0
        return self.live

    async def holders(self) -> tuple[int, ...]:
        """The nodes that hold the live practice now."""
        if self.live is None:
            return ()
        held = await self._holdings()
        return tuple(i for i, ids in enumerate(held) if self.live.entry_id in ids)

    async def spread_round(self) -> SpreadRound:
        """One gossip round: first the publisher's push, then one random peer per node."""
        if self.live is None:
            raise LocalProblem("publish the live practice first")
        self._rounds += 1
        if self._rounds == 1:
            publisher = self.nodes[self.live.publisher].service.gossip
            assert publisher is not None
            sessions = len(await publisher.push_round())
        else:
            sessions = await self._all_nodes(push=False)
        return SpreadRound(self._rounds, await self.holders(), sessions, self.size)

    async def _all_nodes(self, *, push: bool) -> int:
        async def one(node: DemoNode) -> int:
            gossip = node.service.gossip
            assert gossip is not None
            reports = await (gossip.push_round() if push else gossip.anti_entropy_round())
            return len(reports)

        counts = await asyncio.gather(*(one(node) for node in self.nodes))
        return sum(counts)

    # --- 4. keep running ----------------------------------------------------------------

    def start_gossip(self) -> None:
        """Let each node's own scheduler take over (anti-entropy, push on publish)."""
        for node in self.nodes:
            if node.service.gossip is not None:
                node.service.gossip.start()

    def watch(self, callback: Callable[[DemoNode, Event], None]) -> None:
        """Call ``callback`` with each event of every node, until :meth:`stop` begins."""
        for node in self.nodes:
            self._unwatch.append(node.events.subscribe(functools.partial(callback, node)))

    # --- 5. stop ------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop every node (its gossip, server and client), then close every database.

        Watchers hear nothing from the moment stopping begins: a node whose
        sync fails because its peer has just stopped is not news.
        """
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch.clear()
        nodes, self.nodes = self.nodes, []
        try:
            for node in nodes:
                try:
                    await node.service.stop()
                finally:
                    await node.store.close()
        finally:
            self._locks.close()
