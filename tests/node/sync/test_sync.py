"""Whole networks of real nodes in one process: aiohttp servers on loopback, real SQLite.

Rounds are driven explicitly (gossip's scheduler is off), so convergence is
checked round by round with no sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from node import Store, init_node
from node.errors import PeerRefused, SyncFailed
from node.service import NodeService
from node.settings import Config
from node.store.ingest import IngestStatus
from node.sync.server import USEFUL_REPLY_BYTES
from protocol import HttpMessage, Negentropy, NegentropyStorage, NodeKey, decode, encode
from protocol.messages import (
    encode_fetch_reply,
    encode_fetch_request,
    encode_push_request,
    encode_reconcile,
)

from ..conftest import START_MS, FakeClock, make_member_node
from ..peer_entries import NETWORK, OTHER_NETWORK, admitted, peer_key, practice

CONFIG = Config(mdns=False, sync_fanout=3, push_fanout=3, rate_limit_per_peer=1000,
                rate_limit_per_ip=1000)

MakeNode = Callable[..., Awaitable[NodeService]]


@pytest.fixture
async def make_node(tmp_path: Path, clock: FakeClock) -> AsyncIterator[MakeNode]:
    services: list[NodeService] = []
    stores: list[Store] = []

    async def make(name: str, *, listen: bool = True, config: Config = CONFIG,
                   network: bytes = NETWORK, gossip: bool = False) -> NodeService:
        data_dir = tmp_path / name
        seed = hashlib.sha256(name.encode()).digest()
        if network == NETWORK:
            # A member of the test network, and every node made so far knows
            # it is one, as if its admission had spread (and it theirs).
            make_member_node(data_dir, seed=seed)
        else:
            init_node(data_dir, network=network, seed=seed, now_ms=START_MS)
        store = await Store.open(data_dir, clock=clock)
        if network == NETWORK:
            for other in stores:
                if other.network == NETWORK:
                    await other.ingest(admitted(store.key))
                    await store.ingest(admitted(other.key))
        stores.append(store)
        service = NodeService(store, config, rng=random.Random(name))
        await service.start(host="127.0.0.1", port=0, listen=listen, gossip=gossip, mdns=False)
        services.append(service)
        return service

    yield make
    for service in services:
        await service.stop()
    for store in stores:
        await store.close()


async def publish(service: NodeService, title: str) -> bytes:
    """Publish a practice from a private record; returns the entry id."""
    store = service.store
    practice_row = await store.create_practice({"title": title})
    signed = await store.publish_practice(practice_row.key)
    return signed.id


async def ids(service: NodeService) -> set[bytes]:
    return {i for _, i in await service.store.current_set()}


async def connect(a: NodeService, b: NodeService) -> None:
    """Tell ``a`` about ``b`` (as `hedgerow peer add` would)."""
    from node.sync import peerbook

    await a.store.db.write(peerbook.add_peer, b.url, source="manual",
                           now_ms=a.store.now_ms())


async def test_two_nodes_exchange_both_ways_in_one_session(make_node: MakeNode) -> None:
    a, b = await make_node("a"), await make_node("b")
    on_a = await publish(a, "Repair café")
    on_b = await publish(b, "Play street")
    assert b.gossip is not None
    report = await b.gossip.sync_peer(a.url)
    assert report.stats.accepted == 1 and report.stats.push_accepted == 1
    assert await ids(a) == await ids(b) >= {on_a, on_b}
    # Converged: the next session costs one round trip and a few hundred bytes.
    again = await b.gossip.sync_peer(a.url)
    assert again.stats.rounds == 1 and again.stats.requests == 1
    assert again.stats.bytes_up + again.stats.bytes_down < 1024
    assert report.peer_id == a.store.node_id


async def test_a_node_that_does_not_listen_syncs_both_ways(make_node: MakeNode) -> None:
    hub = await make_node("hub")
    hidden = await make_node("behind-a-router", listen=False)
    assert hidden.addresses == []
    on_hub = await publish(hub, "Community fridge")
    on_hidden = await publish(hidden, "Tenants' union")
    assert hidden.gossip is not None
    await hidden.gossip.sync_peer(hub.url)
    assert {on_hub, on_hidden} <= await ids(hub)
    assert {on_hub, on_hidden} <= await ids(hidden)


async def test_ten_nodes_converge_in_bounded_rounds(make_node: MakeNode) -> None:
    nodes = [await make_node(f"n{i}") for i in range(10)]
    # A sparse, connected graph: a ring plus a few chords.
    for i, node in enumerate(nodes):
        await connect(node, nodes[(i + 1) % 10])
        await connect(node, nodes[(i + 4) % 10])
    entry = await publish(nodes[0], "Street party")
    rounds = 0
    async def everywhere() -> bool:
        return all([entry in await ids(n) for n in nodes])

    while not await everywhere():
        rounds += 1
        assert rounds <= 6, "a publication must reach all ten nodes within six rounds"
        for node in nodes:
            assert node.gossip is not None
            await node.gossip.push_round()
    assert rounds <= 6


async def test_fork_proof_spreads_and_flags_the_author(make_node: MakeNode) -> None:
    nodes = [await make_node(f"f{i}") for i in range(4)]
    for i, node in enumerate(nodes):
        await connect(node, nodes[(i + 1) % 4])
    rogue = peer_key("rogue")
    one = practice(rogue, "bake-sale", START_MS, title="Bake sale")
    two = practice(rogue, "bake-sale", START_MS, title="Cake sale")
    # Each half of the network hears a different entry with the same version.
    for node in nodes[:2]:
        await node.store.ingest([one])
    for node in nodes[2:]:
        await node.store.ingest([two])
    for _ in range(3):
        for node in nodes:
            assert node.gossip is not None
            await node.gossip.push_round()
    for node in nodes:
        held = await ids(node)
        assert {one.id, two.id} <= held
        assert rogue.public in await node.store.forked_authors()


async def test_unreachable_peer_backs_off(make_node: MakeNode) -> None:
    a = await make_node("lonely")
    assert a.gossip is not None
    with pytest.raises(SyncFailed):
        await a.gossip.sync_peer("http://127.0.0.1:9")  # discard port: nothing listens
    from node.sync import peerbook

    row = await a.store.db.read(peerbook.peer_by_address, "http://127.0.0.1:9")
    assert row is not None and row.health.failures == 1
    assert row.health.next_attempt_ms > a.store.now_ms()


# --- hostile requests ------------------------------------------------------------


class Forger:
    """Builds sync requests by hand, correctly signed or deliberately not."""

    def __init__(self, key: NodeKey, network: bytes, target: NodeService) -> None:
        self.key, self.network, self.target = key, network, target

    def signed_headers(self, endpoint: str, body: bytes, *, now_s: int,
                       nonce: str = "n" * 22) -> dict[str, str]:
        from protocol import sign_hedgerow

        url = f"{self.target.url}/sync/v2/{endpoint}"
        msg = HttpMessage.for_request("POST", url, {"content-type": CT}, body)
        fields = sign_hedgerow(msg, key=self.key.private_key, keyid=self.key.node_id,
                               network_id=self.network, now=now_s, nonce=nonce)
        return {"Content-Type": CT, **fields}


CT = "application/vnd.hedgerow.sync+msgpack"


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body,
                                                          headers=headers) as resp:
        return resp.status, (await resp.read()).decode("utf-8", "replace")[:300]


@pytest.fixture
async def target(make_node: MakeNode) -> NodeService:
    return await make_node("target")


async def test_hostile_requests_get_the_right_status_and_store_nothing(
        target: NodeService, clock: FakeClock) -> None:
    url = f"{target.url}/sync/v2/push"
    intruder = peer_key("intruder")
    entry = practice(intruder, "not-welcome", START_MS)
    body = encode_push_request([entry])
    now_s = clock() // 1000
    good = Forger(intruder, NETWORK, target)
    before = await ids(target)

    # No signature at all.
    assert (await post(url, body, {"Content-Type": CT}))[0] == 401
    # Signed for another network.
    other = Forger(intruder, OTHER_NETWORK, target).signed_headers("push", body, now_s=now_s)
    status, text = await post(url, body, other)
    assert status == 401 and "network" in text.lower()
    # Tampered body (digest no longer matches).
    headers = good.signed_headers("push", body, now_s=now_s, nonce="t" * 22)
    assert (await post(url, body + b"\x00", headers))[0] == 401
    # Forged: signed by one key, claiming another.
    headers = good.signed_headers("push", body, now_s=now_s, nonce="f" * 22)
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        intruder.node_id, peer_key("victim").node_id)
    assert (await post(url, body, headers))[0] == 401
    # Stale and future-dated signatures.
    stale = good.signed_headers("push", body, now_s=now_s - 301, nonce="s" * 22)
    assert (await post(url, body, stale))[0] == 401
    future = good.signed_headers("push", body, now_s=now_s + 121, nonce="u" * 22)
    assert (await post(url, body, future))[0] == 401
    assert await ids(target) == before

    # Oversized: a declared body over 256 KiB is refused before it is read.
    big = b"\x00" * (256 * 1024 + 1)
    headers = good.signed_headers("push", big, now_s=now_s, nonce="o" * 22)
    assert (await post(url, big, headers))[0] == 413

    # A good request is accepted once; the same request replayed is refused.
    headers = good.signed_headers("push", body, now_s=now_s, nonce="r" * 22)
    assert (await post(url, body, headers))[0] == 200
    assert entry.id in await ids(target)
    assert (await post(url, body, headers))[0] == 401


async def test_rate_limits_answer_429(make_node: MakeNode, clock: FakeClock) -> None:
    strict = Config(mdns=False, rate_limit_per_peer=1, rate_limit_per_ip=1000)
    target = await make_node("strict", config=strict)
    peer = peer_key("chatty")
    forger = Forger(peer, NETWORK, target)
    url = f"{target.url}/sync/v2/fetch"
    body = encode_fetch_request([])
    statuses = []
    for i in range(8):  # burst allowance is 5 x the rate
        headers = forger.signed_headers("fetch", body, now_s=clock() // 1000,
                                        nonce=f"{i:022d}")
        statuses.append((await post(url, body, headers))[0])
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]


async def test_requests_that_move_work_are_paid_for_by_the_work_allowance(
        make_node: MakeNode, clock: FakeClock) -> None:
    """A member's allowance is spent per unit of work, not per request: fetches that
    each move real work keep going past the request burst that empty ones stop at."""
    strict = Config(mdns=False, rate_limit_per_peer=1, rate_limit_per_ip=1000)
    target = await make_node("working", config=strict)
    author = peer_key(7)
    entries = [practice(author, f"w{i}", START_MS - 10_000 + i, description="d" * 400)
               for i in range(200)]
    await target.store.ingest(entries)
    wanted = encode_fetch_request([e.id for e in entries])
    assert len(encode_fetch_reply([e.id for e in entries], entries)) >= USEFUL_REPLY_BYTES
    forger = Forger(peer_key("chatty"), NETWORK, target)
    url = f"{target.url}/sync/v2/fetch"
    statuses = []
    for i in range(12):  # more than twice the burst of 5
        headers = forger.signed_headers("fetch", wanted, now_s=clock() // 1000,
                                        nonce=f"w{i:021d}")
        statuses.append((await post(url, wanted, headers))[0])
    assert statuses == [200] * 12
    empty = encode_fetch_request([])
    for i in range(8):
        headers = forger.signed_headers("fetch", empty, now_s=clock() // 1000,
                                        nonce=f"e{i:021d}")
        statuses.append((await post(url, empty, headers))[0])
    assert 429 in statuses[12:]


async def test_a_member_that_floods_is_held_back_and_others_still_sync(
        make_node: MakeNode, clock: FakeClock) -> None:
    """Production limits: a member firing requests many at once and back to back gets
    429 past its turn and its rate, is served no more than the rate allows, and a
    member syncing meanwhile converges."""
    production = Config(mdns=False)
    target = await make_node("flooded", config=production)
    await publish(target, "Repair cafe")
    flooder = Forger(peer_key("pest"), NETWORK, target)
    url = f"{target.url}/sync/v2/reconcile"
    body = encode_reconcile({"all": Negentropy(NegentropyStorage.from_sorted([])).initiate()})
    counter = iter(range(10_000))

    async def one() -> int:
        headers = flooder.signed_headers("reconcile", body, now_s=clock() // 1000,
                                         nonce=f"p{next(counter):021d}")
        return (await post(url, body, headers))[0]

    at_once = await asyncio.gather(*(one() for _ in range(40)))
    back_to_back = [await one() for _ in range(60)]
    statuses = at_once + back_to_back
    assert set(statuses) <= {200, 429}
    # The burst (5 x 10 a second) and what refills while the flood lasts, no more.
    assert statuses.count(200) < 100 and statuses.count(429) > 20
    honest = await make_node("honest", config=production)
    await connect(honest, target)
    report = await honest.gossip.sync_peer(target.url)
    assert report.stats.complete and await ids(honest) >= await ids(target)


async def test_malformed_bodies_are_400_and_penalised(target: NodeService,
                                                      clock: FakeClock) -> None:
    forger = Forger(peer_key("clumsy"), NETWORK, target)
    for i, (endpoint, body) in enumerate([
        ("reconcile", encode({"neg": b"\x99garbage"})),
        ("fetch", encode({"ids": [b"short"]})),
        ("push", encode({"entries": "nope"})),
        ("push", b"\xc1"),
    ]):
        headers = forger.signed_headers(endpoint, body, now_s=clock() // 1000,
                                        nonce=f"m{i:021d}")
        status, text = await post(f"{target.url}/sync/v2/{endpoint}", body, headers)
        assert status == 400, text
    assert target.server.scores.points(peer_key("clumsy").node_id, target.server.monotonic()) > 0


async def test_blocked_node_gets_403_and_its_entries_are_refused(
        target: NodeService, clock: FakeClock) -> None:
    pest = peer_key("pest")
    await target.block(pest.public)
    body = encode_push_request([practice(pest, "spam", START_MS)])
    headers = Forger(pest, NETWORK, target).signed_headers("push", body, now_s=clock() // 1000)
    assert (await post(f"{target.url}/sync/v2/push", body, headers))[0] == 403
    # Relayed by someone else, the blocked author's entries are still refused.
    outcomes = await target.store.ingest([practice(pest, "spam", START_MS + 1)],
                                         refuse_authors=target.server.blocked)
    assert outcomes[0].status is IngestStatus.REJECTED


async def test_well_known(target: NodeService) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            f"{target.url}/.well-known/hedgerow") as resp:
        info = await resp.json()
    assert info["node_id"] == target.store.key.node_id
    assert info["protocol_versions"] == ["hedgerow-sync/2"]
    assert info["protocol_version"] == 2
    assert "network" not in info  # only the fingerprint is public
    assert len(info["network_fingerprint"]) == 16


async def test_refused_session_reports_status(make_node: MakeNode) -> None:
    a = await make_node("member")
    outsider = await make_node("outsider", network=OTHER_NETWORK)
    assert outsider.gossip is not None
    with pytest.raises(PeerRefused) as info:
        await outsider.gossip.sync_peer(a.url)
    assert info.value.status == 401



async def test_addresses_in_signed_profiles_become_peers(make_node: MakeNode) -> None:
    a, b = await make_node("announcer"), await make_node("listener")
    other_address = f"http://localhost:{a.port}"  # how a also can be reached
    await a.store.update_organisation({"name": "Alder St Tenants", "level": "local",
                                       "addresses": [other_address]})
    published = await a.store.publish_profile()
    # The profile carries what the group typed and where the node listens.
    assert decode(published.payload)["body"]["addresses"] == [other_address, a.url]
    assert b.gossip is not None
    await b.gossip.sync_peer(a.url)
    from node.sync import peerbook

    # Learned at the next refresh of the view, drawn from the profiles held.
    assert await b.store.db.read(peerbook.peer_by_address, other_address) is None
    await b.gossip.view.refresh()
    row = await b.store.db.read(peerbook.peer_by_address, other_address)
    assert row is not None and row.source == "profile" and row.node_id == a.store.node_id
    assert not row.verified


async def test_publishing_is_pushed_at_once(make_node: MakeNode) -> None:
    a, b = await make_node("publisher"), await make_node("neighbour")
    await connect(a, b)
    assert a.gossip is not None
    assert await a.gossip.watch_own_feed() is False  # the first look sets the baseline
    assert await a.gossip.watch_own_feed() is False  # nothing new
    entry = await publish(a, "Seed swap")
    assert await a.gossip.watch_own_feed() is True
    await a.gossip.relay.settled()
    assert entry in await ids(b)


async def test_long_dead_learned_peers_are_forgotten(make_node: MakeNode,
                                                     clock: FakeClock) -> None:
    from node.sync import peerbook

    a = await make_node("gardener")
    await a.store.db.write(peerbook.add_peer, "http://127.0.0.1:9", source="mdns",
                           now_ms=clock())
    await a.store.db.write(peerbook.add_peer, "http://127.0.0.1:7", source="manual",
                           now_ms=clock())
    assert a.gossip is not None
    for address in ("http://127.0.0.1:9", "http://127.0.0.1:7"):
        for _ in range(10):
            with pytest.raises(SyncFailed):
                await a.gossip.sync_peer(address)
    clock.advance(31 * 86_400_000)
    assert await a.gossip.maintenance() == ["http://127.0.0.1:9"]  # the pinned one stays
    addresses = [r.address for r in await a.store.db.read(peerbook.list_peers)]
    assert addresses == ["http://127.0.0.1:7"]


async def test_the_scheduler_runs_anti_entropy_rounds_by_itself(make_node: MakeNode) -> None:
    import asyncio

    from node.events import PeerSynced

    a = await make_node("quiet")
    entry = await publish(a, "Litter pick")
    b = await make_node("scheduled", gossip=True,
                        config=Config(mdns=False, sync_interval=1, push_fanout=0))
    synced = asyncio.Event()
    b.events.subscribe(lambda event: synced.set() if isinstance(event, PeerSynced) else None)
    await connect(b, a)
    await asyncio.wait_for(synced.wait(), timeout=15)
    assert entry in await ids(b)


async def test_a_restored_node_catches_up_before_it_publishes(
        make_node: MakeNode, tmp_path: Path, clock: FakeClock) -> None:
    from node.errors import NeedsCatchUp

    a, b = await make_node("restored"), await make_node("keeper")
    record = await a.store.create_practice({"title": "Lunch club"})
    await a.store.publish_practice(record.key)
    backup = tmp_path / "before.db"
    await a.store.backup(backup)
    clock.advance(1000)
    newer = await a.store.publish_practice(record.key)  # only b will remember this one
    assert a.gossip is not None
    await a.gossip.sync_peer(b.url)
    assert newer.id in await ids(b)

    await a.store.restore(backup)
    assert newer.id not in await ids(a)
    with pytest.raises(NeedsCatchUp):
        await a.store.publish_practice(record.key)
    await a.gossip.sync_peer(b.url)  # gets its own newer entry back
    assert newer.id in await ids(a)
    assert not await a.store.needs_catch_up()
    again = await a.store.publish_practice(record.key)
    assert again.id != newer.id
    assert b.gossip is not None
    await b.gossip.sync_peer(a.url)
    assert again.id in await ids(b) and newer.id not in await ids(b)  # superseded, no fork
    assert await b.store.forked_authors() == []


async def test_stopping_waits_for_the_round_under_way(make_node: MakeNode) -> None:
    """A round the node is in when it stops is cancelled and waited for: nothing it
    does (an ingest finishing) outlives the store."""
    node = await make_node("stopping", gossip=True)
    assert node.gossip is not None
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow_round() -> list[object]:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # winding down, as an ingest under way would
            finished.set()
        return []

    node.gossip.anti_entropy_round = slow_round  # type: ignore[assignment,method-assign]
    scheduler = node.gossip._scheduler
    assert scheduler is not None
    # The next round now, run by the scheduler as every round is.
    scheduler.add_job(node.gossip._rounds, "date", run_date=datetime.now(UTC),
                      id="anti-entropy", replace_existing=True)
    await asyncio.wait_for(started.wait(), 10)
    await node.gossip.stop()
    assert finished.is_set()
