"""Catching up: large differences through the real server, peers that drop connections,
several peers at once, and the progress people see.

Nodes run in this process with real aiohttp servers on loopback and real SQLite
(test_sync.py's ``make_node``); the kill -9 test with real processes is in
tests/cli/test_catch_up_processes.py.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sqlite3
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from node.errors import SyncFailed
from node.events import CatchUpProgress, CaughtUp, Event
from node.service import NodeService
from node.settings import Config
from node.store.catch_up import read_catch_up
from protocol import SignedEntry
from protocol.messages import MAX_REPLY_FRAME

from ..conftest import START_MS, FakeClock
from ..peer_entries import ROSTER, practice
from .test_sync import MakeNode, connect, ids

#: Every limit as a node runs with no settings changed (rate limits, frames, budgets).
PRODUCTION = Config(mdns=False)


@functools.cache
def entries(count: int) -> tuple[SignedEntry, ...]:
    """``count`` practice summaries from 60 admitted authors, versions before the clock."""
    authors = ROSTER[:60]
    return tuple(practice(authors[i % 60], f"practice-{i}", START_MS - 10_000_000 + i,
                          title=f"Practice {i}", description="Neighbours share tools. " * 8)
                 for i in range(count))


async def fill(service: NodeService, batch: tuple[SignedEntry, ...]) -> None:
    for start in range(0, len(batch), 1000):
        await service.store.ingest(batch[start:start + 1000])


def integrity(service: NodeService) -> str:
    with sqlite3.connect(service.store.db.path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def test_twenty_thousand_entries_converge_in_one_session_under_production_limits(
        make_node: MakeNode) -> None:
    """The real server with every production limit (10 requests a second per peer,
    bursts of 50, the work allowance, reply frames): a new node takes in a
    difference of 20,000 entries in one session, in a handful of rounds."""
    full = await make_node("full", config=PRODUCTION)
    batch = entries(20_000)
    await fill(full, batch)
    joining = await make_node("joining", config=PRODUCTION)
    await connect(joining, full)
    seen: list[Event] = []
    joining.events.subscribe(seen.append)
    report = await joining.gossip.sync_peer(full.url)
    assert report.sessions == 1 and report.stats.complete
    assert report.stats.accepted == len(batch)
    assert await ids(joining) == await ids(full)
    # 20,000 ids are 640 KB: one or two frames, not the fifty that 60 KB frames took.
    assert report.stats.rounds <= 3
    # Bytes: the entries themselves, their ids once, and little else.
    entry_bytes = sum(e.size for e in batch)
    assert report.stats.bytes_down < 1.1 * entry_bytes
    # Progress was shown, and one event says the catch-up completed.
    progress = [e for e in seen if isinstance(e, CatchUpProgress)]
    assert progress and progress[-1].held >= len(batch) and progress[-1].expected >= len(batch)
    done = [e for e in seen if isinstance(e, CaughtUp)]
    assert len(done) == 1 and done[0].received >= len(batch) and done[0].seconds > 0
    state = await joining.store.db.read(read_catch_up)
    assert state is not None and state.state == "caught_up" and state.held >= len(batch)


async def test_one_sync_runs_session_after_session_until_caught_up(
        make_node: MakeNode) -> None:
    """Sessions are bounded (each learns of at most so many ids, so memory holds a
    window, never the whole difference); one sync runs them one after another, each
    going on from what the last stored, until one completes."""
    full = await make_node("windowed-full")
    batch = entries(6_000)
    await fill(full, batch)
    joining = await make_node("windowed-joining")
    assert joining.client is not None
    joining.client.session_ids = 1_000
    joining.client.reply_frame = 8_192  # about 250 ids a round
    report = await joining.gossip.sync_peer(full.url)
    assert report.stats.complete and report.sessions >= 4
    assert report.stats.accepted == len(batch)
    assert await ids(joining) == await ids(full)


class DroppingProxy:
    """A reverse proxy in front of a node that drops the connection, without an
    answer, about every ``every``-th request (at random, seeded): a flaky link, or a
    peer that keeps restarting; and that answers ``delay`` seconds late: a slow peer."""

    def __init__(self, target: str, every: int, delay: float = 0.0) -> None:
        self.target, self.every, self.delay = target, every, delay
        self.rng = random.Random(f"dropping every {every}")
        self.requests = self.dropped = 0
        self.fetches = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * MAX_REPLY_FRAME)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._http = aiohttp.ClientSession(auto_decompress=False)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()
        if request.path.endswith("/fetch"):
            self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.every and self.rng.random() < 1 / self.every:
            self.dropped += 1
            assert request.transport is not None
            request.transport.abort()  # gone, mid-request, as a dropped link is
            return web.Response(status=500)
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding")}
        async with self._http.request(request.method, self.target + request.path_qs,
                                      data=body, headers=headers) as reply:
            data = await reply.read()
            out = {k: v for k, v in reply.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding",
                                        "content-encoding", "connection")}
            return web.Response(status=reply.status, body=data, headers=out)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()


ProxyFor = Callable[..., asyncio.Future[DroppingProxy]]


@pytest.fixture
async def proxy_for() -> AsyncIterator[ProxyFor]:
    proxies: list[DroppingProxy] = []

    async def make(target: str, every: int, delay: float = 0.0) -> DroppingProxy:
        proxy = DroppingProxy(target, every, delay)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield make  # type: ignore[misc]
    for proxy in proxies:
        await proxy.stop()


async def test_a_peer_that_drops_the_connection_every_few_requests_still_converges(
        make_node: MakeNode, proxy_for: ProxyFor, clock: FakeClock) -> None:
    """About one request in three is dropped: each session keeps what it stored
    before the drop (and what was already on its way), the next goes on from
    there, and in the end nothing is missing and the store is intact."""
    full = await make_node("flaky-full")
    batch = entries(6_000)
    await fill(full, batch)
    proxy = await proxy_for(full.url, 3)
    joining = await make_node("flaky-joining")
    held_after: list[int] = []
    failures = 0
    for _ in range(30):
        try:
            report = await joining.gossip.sync_peer(proxy.url)
        except SyncFailed:  # a dropped request ends the session: booked as a failure
            failures += 1
            held_after.append(len(await ids(joining)))
            clock.advance(60_000)  # past the peer's backoff
            continue
        if report.stats.complete:
            break
    assert proxy.dropped >= 2 and failures >= 2
    # Sessions that failed had stored what they fetched before the drop.
    assert held_after == sorted(held_after) and held_after[-1] > held_after[0]
    assert await ids(joining) == await ids(full)
    assert integrity(joining) == "ok"


async def test_several_peers_share_the_fetching_and_a_slow_one_does_not_set_the_pace(
        make_node: MakeNode, proxy_for: ProxyFor) -> None:
    """With two peers holding the same entries, one sync round fetches from both at
    once, no entry twice; one of them answers every request a second late, and the
    batches go to whichever peer is free, so the fast one fetches most of them."""
    batch = entries(8_000)
    fast = await make_node("fast-peer")
    slow = await make_node("slow-peer")
    await fill(fast, batch)
    await fill(slow, batch)
    slow_proxy = await proxy_for(slow.url, 0, 1.0)
    joining = await make_node("between-them")
    await connect(joining, fast)
    from node.sync import peerbook

    await joining.store.db.write(peerbook.add_peer, slow_proxy.url, source="manual",
                                 now_ms=joining.store.now_ms())
    rows = await joining.store.db.read(peerbook.list_peers)
    reports = await joining.gossip.sync_rows(rows)
    assert len(reports) == 2
    assert await ids(joining) == await ids(fast)
    assert sum(r.stats.received for r in reports) == len(batch)  # each entry fetched once
    assert sum(r.stats.accepted for r in reports) == len(batch)
    fetches = -(-len(batch) // 2000)
    assert 1 <= slow_proxy.fetches <= fetches // 2  # it helped, and did not set the pace


async def test_a_peer_whose_replies_are_refused_fails_alone(make_node: MakeNode) -> None:
    """A helper that answers fetches with garbage is dropped and its share goes back to
    the session's own peer: the round ends normally, and the network converges."""
    from node.sync import peerbook

    batch = entries(4_000)
    good, bad = await make_node("good-peer"), await make_node("bad-peer")
    await fill(good, batch)
    await fill(bad, batch)
    answer = bad.server._answer

    async def garbage_fetches(endpoint: str, body: bytes, peer: str) -> tuple[bytes, float]:
        reply, cost = await answer(endpoint, body, peer)
        return (b"\x00garbage", cost) if endpoint == "fetch" else (reply, cost)

    bad.server._answer = garbage_fetches  # type: ignore[method-assign]
    joining = await make_node("joining")
    await connect(joining, good)
    await connect(joining, bad)
    assert joining.gossip is not None
    rows = await joining.store.db.read(peerbook.list_peers)
    await joining.gossip.sync_rows(rows)  # no exception escapes the round
    # What the bad peer's own session had claimed, if its failure left any, comes in
    # the next round (the bad peer, failed, backs off: not due then).
    await joining.gossip.sync_rows([r for r in rows if r.address == good.url])
    assert {e.id for e in batch} <= await ids(joining)
    booked = {r.address: r for r in await joining.store.db.read(peerbook.list_peers)}
    assert booked[good.url].last_outcome == "ok"
