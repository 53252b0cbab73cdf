"""The network finding itself: announced addresses, inbound peers, the partial view, the
dial policy, the relay and catch-up — real nodes on loopback in one process, rounds
driven by hand."""

from __future__ import annotations

import itertools
import logging
import socket

import aiohttp
import pytest

from node.errors import AddressRefused
from node.settings import Config
from node.store.node_state import mark_needs_catch_up
from node.sync import peerbook
from node.sync.client import SyncClient
from node.sync.dialling import CheckedResolver, DialPolicy, DialRefusedError
from node.sync.relay import MAX_NEWS
from protocol import decode, id_to_text
from protocol.peers import VIEW_SIZE
from protocol.rumours import ALREADY_HELD_LIMIT

from ..conftest import FakeClock
from ..peer_entries import admitted, peer_key
from ..peer_entries import profile as profile_entry
from .test_sync import MakeNode, connect, ids, make_node, publish

__all__ = ["make_node"]  # the fixture, shared with test_sync


async def profile(service: object, name: str, **extra: object) -> bytes:
    store = service.store  # type: ignore[attr-defined]
    await store.update_organisation({"name": name, "level": "local", **extra})
    return (await store.publish_profile()).id  # type: ignore[no-any-return]


# --- announced addresses ---------------------------------------------------------------

async def test_a_node_announces_where_it_listens_and_republishes_when_that_changes(
        make_node: MakeNode, tmp_path: object) -> None:
    a = await make_node("announcer")
    announced = await a.store.announced()
    assert announced.addresses == (a.url,) and "loopback" in announced.why
    assert announced.listening == (a.url,)
    first = decode((await a.store.get_entries([await profile(a, "Alder St")]))[0].payload)
    assert first["body"]["addresses"] == [a.url]
    # Restarted on another port: the profile follows at once.
    port = a.port
    await a.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert free != port
    await a.start(host="127.0.0.1", port=free, gossip=False, mdns=False)
    held = await a.store.current_entry(a.store.node_id, "profile", "profile")
    assert held is not None and held.entry.body["addresses"] == [f"http://127.0.0.1:{free}"]
    # Nothing changed: no new version at the next start.
    await a.stop()
    await a.start(host="127.0.0.1", port=free, gossip=False, mdns=False)
    again = await a.store.current_entry(a.store.node_id, "profile", "profile")
    assert again is not None and again.id == held.id


async def test_a_node_that_says_nobody_can_reach_it_announces_nothing(
        make_node: MakeNode) -> None:
    hidden = await make_node("hidden", config=Config(mdns=False, reachable=False))
    await profile(hidden, "Behind a router")
    announced = await hidden.store.announced()
    assert announced.addresses == () and "reachable" in announced.why
    held = await hidden.store.current_entry(hidden.store.node_id, "profile", "profile")
    assert held is not None and "addresses" not in held.entry.body


async def test_public_url_is_announced_instead(make_node: MakeNode) -> None:
    node = await make_node("public", config=Config(mdns=False,
                                                   public_url="https://fridge.example.org/"))
    await profile(node, "Fridge", addresses=["https://typed.example.org"])
    held = await node.store.current_entry(node.store.node_id, "profile", "profile")
    assert held is not None
    assert held.entry.body["addresses"] == ["https://typed.example.org",
                                            "https://fridge.example.org"]


# --- inbound peers and the partial view ------------------------------------------------

async def test_a_member_that_syncs_with_a_node_is_recorded_by_its_announced_address(
        make_node: MakeNode) -> None:
    first, second = await make_node("first"), await make_node("second")
    await profile(second, "Second group")
    assert second.gossip is not None
    await second.gossip.sync_peer(first.url)
    rows = await first.store.db.read(peerbook.list_peers)
    assert [(r.address, r.source, r.node_id) for r in rows] == \
        [(second.url, "inbound", second.store.node_id)]
    # And the first node now reaches it: its publications go there.
    assert first.gossip is not None
    entry = await publish(first, "Tool library")
    await first.gossip.anti_entropy_round()
    assert entry in await ids(second)
    row = await first.store.db.read(peerbook.peer_by_address, second.url)
    assert row is not None and row.verified


async def test_a_newcomer_learns_its_peers_from_its_first_round(make_node: MakeNode) -> None:
    """The profiles the first sync brings are in the view when the round ends, not
    one refresh interval later."""
    hub, other, newcomer = (await make_node("hub"), await make_node("other"),
                            await make_node("newcomer"))
    await profile(other, "Other group")
    assert other.gossip is not None and newcomer.gossip is not None
    await other.gossip.sync_peer(hub.url)  # the hub holds the other group's profile
    await connect(newcomer, hub)
    await newcomer.gossip.anti_entropy_round()
    rows = await newcomer.store.db.read(peerbook.list_peers)
    assert {(r.address, r.node_id) for r in rows if r.learned} == \
        {(other.url, other.store.node_id)}


async def test_the_view_is_a_bounded_random_sample_that_keeps_changing(
        make_node: MakeNode, clock: FakeClock) -> None:
    node = await make_node("sampler")
    # 150 members' profiles, each announcing two addresses.
    entries = []
    for i in range(150):
        key = peer_key(f"member-{i}")
        entries += [*admitted(key), profile_entry(
            key, clock() + i, name=f"Group {i}",
            addresses=[f"http://127.0.0.{1 + i % 200}:{10000 + i}",
                       f"http://localhost:{10000 + i}"])]
    await node.store.ingest(entries)
    await connect(node, node)  # a person's peer: never part of the sample's bound
    assert node.gossip is not None
    views = []
    for _ in range(6):
        await node.gossip.view.refresh()
        rows = await node.store.db.read(peerbook.list_peers)
        learned = [r for r in rows if r.learned]
        assert len(learned) <= VIEW_SIZE
        assert all(r.source == "profile" and r.node_id is not None for r in learned)
        assert any(not r.learned for r in rows)  # the person's peer stays
        views.append({r.address for r in learned})
    assert len(views[0]) == VIEW_SIZE
    assert len(set.union(*views)) > VIEW_SIZE  # refreshed at random, not fixed


async def test_the_book_is_bounded_by_eviction_never_by_refusing_a_person(
        make_node: MakeNode, clock: FakeClock) -> None:
    node = await make_node("bounded")
    db = node.store.db
    # A verified, live learned peer outlives any number of fresh candidates.
    await db.write(peerbook.learn_peers, [("http://127.0.0.9:1", b"\x09" * 32)],
                   source="inbound", now_ms=clock())
    await db.write(peerbook.record_sync, "http://127.0.0.9:1", peerbook.SyncRecord(True),
                   health=peerbook.PeerHealth("http://127.0.0.9:1", last_success_ms=clock()),
                   now_ms=clock(), node_id=b"\x09" * 32)
    many = [(f"http://127.0.1.{i % 250}:{2000 + i}", bytes([i % 256, i // 256]) * 16)
            for i in range(600)]
    for start in range(0, 600, 100):
        clock.advance(1)
        await db.write(peerbook.learn_peers, many[start:start + 100], source="profile",
                       now_ms=clock())
    rows = await db.read(peerbook.list_peers)
    assert len(rows) == peerbook.MAX_LEARNED_PEERS
    assert "http://127.0.0.9:1" in {r.address for r in rows}
    # The newest candidates stayed; the oldest never-verified ones went first.
    assert many[-1][0] in {r.address for r in rows} and many[0][0] not in {
        r.address for r in rows}
    # A person's peers are always taken, however full the book is.
    for i in range(30):
        row, new = await db.write(peerbook.add_peer, f"http://10.9.0.{i}:8470",
                                  source="manual", now_ms=clock())
        assert new and row.health.pinned
    await db.write(peerbook.learn_peers, many[:50], source="profile", now_ms=clock())
    rows = await db.read(peerbook.list_peers)
    assert sum(1 for r in rows if not r.learned) == 30
    assert sum(1 for r in rows if r.learned) == peerbook.MAX_LEARNED_PEERS


async def test_at_most_a_few_addresses_per_node(make_node: MakeNode, clock: FakeClock) -> None:
    node = await make_node("few")
    who = b"\x07" * 32
    added = await node.store.db.write(
        peerbook.learn_peers, [(f"http://127.0.0.7:{p}", who) for p in range(1, 10)],
        source="profile", now_ms=clock())
    assert len(added) == peerbook.MAX_ADDRESSES_PER_NODE
    with pytest.raises(Exception, match="addresses of that peer"):
        await node.store.db.write(peerbook.add_peer, "http://127.0.0.7:99", source="mdns",
                                  now_ms=clock(), node_id=who)


# --- which addresses are dialled -------------------------------------------------------

async def test_announced_addresses_that_must_never_be_dialled_are_never_candidates(
        make_node: MakeNode, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    node = await make_node("careful")
    rogue = peer_key("rogue")
    await node.store.ingest([*admitted(rogue), profile_entry(
        rogue, clock(), name="Rogue",
        addresses=["http://169.254.169.254", "http://[fe80::1]:22", "http://[::1]:22",
                   "http://127.0.0.1:19999"])])
    assert node.gossip is not None
    # This node listens on loopback only, so loopback is allowed; the others never.
    with caplog.at_level(logging.INFO, logger="node.sync.view"):
        await node.gossip.view.refresh()
        await node.gossip.view.refresh()
    learned = {r.address for r in await node.store.db.read(peerbook.list_peers)}
    assert learned == {"http://[::1]:22", "http://127.0.0.1:19999"}
    refusals = [r.getMessage() for r in caplog.records if "not dialling" in r.getMessage()]
    assert len(refusals) == 2  # one line each, not one per refresh
    assert all(id_to_text(rogue.public)[:7] in line for line in refusals)


async def test_a_node_listening_beyond_loopback_never_dials_learned_loopback(
        make_node: MakeNode, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    target = await make_node("target")
    node = await make_node("outward")
    # As if it listened on a LAN address: learned loopback is off limits, by IP
    # literal and by a name that resolves to it, at connect time.
    policy = DialPolicy(frozenset({"192.168.1.20"}), loopback_only=False)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            resolver=CheckedResolver(policy, learned=True))) as learned_http:
        client = SyncClient(node.store, node.events, learned_http, recset=node.recset,
                            learned_http=learned_http, policy=policy)
        with caplog.at_level(logging.INFO, logger="node.sync.client"):
            for address in (target.url, f"http://localhost:{target.port}"):
                with pytest.raises(AddressRefused, match="loopback"):
                    await client.sync_with(address, expect=target.store.node_id,
                                           learned=True)
        # Typed by a person, the same address is the person's choice.
        report = await client.sync_with(target.url, learned=False)
        assert report.peer_id == target.store.node_id
    lines = [r.getMessage() for r in caplog.records if "not dialling" in r.getMessage()]
    assert len(lines) == 2 and all(id_to_text(target.store.node_id)[:7] in x for x in lines)


async def test_a_name_that_resolves_to_the_metadata_service_is_never_dialled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Even a name a person typed: rule 1 holds for every address.
    resolver = CheckedResolver(DialPolicy(), learned=False)

    async def metadata(host: str, port: int = 0,
                       family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, object]]:
        return [{"hostname": host, "host": "169.254.169.254", "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": 0}]

    monkeypatch.setattr(resolver._resolver, "resolve", metadata)
    with pytest.raises(DialRefusedError, match="metadata"):
        await resolver.resolve("metadata.example", 80)
    await resolver.close()


# --- the relay ---------------------------------------------------------------------------

async def _relaying(*nodes: object) -> None:
    for node in nodes:
        gossip = node.gossip  # type: ignore[attr-defined]
        node.events.subscribe(gossip.relay.on_event)  # type: ignore[attr-defined]


async def _settle(*nodes: object) -> None:
    # Until no node has a rumour left to push (each push may start others).
    for _ in range(10):
        for node in nodes:
            await node.gossip.relay.settled()  # type: ignore[attr-defined]
        if not any(node.gossip.relay.rumours for node in nodes):  # type: ignore[attr-defined]
            return


async def test_new_entries_are_relayed_hop_by_hop_without_anti_entropy(
        make_node: MakeNode) -> None:
    chain = [await make_node(f"hop{i}") for i in range(5)]
    for left, right in itertools.pairwise(chain):
        await connect(left, right)  # each knows only the next one
    await _relaying(*chain)
    assert chain[0].gossip is not None
    await chain[0].gossip.watch_own_feed()
    entry = await publish(chain[0], "Bike workshop")
    assert await chain[0].gossip.watch_own_feed()
    await _settle(*chain)
    assert all([entry in await ids(node) for node in chain])
    assert chain[3].gossip is not None and chain[3].gossip.relay.outcomes["took"] >= 1


async def test_a_rumour_stops_once_enough_peers_already_held_it(make_node: MakeNode) -> None:
    source = await make_node("teller")
    others = [await make_node(f"holder{i}") for i in range(6)]
    entry = await publish(source, "Soup kitchen")
    for other in others:
        await connect(source, other)
        assert other.gossip is not None
        await other.gossip.sync_peer(source.url)  # they all hold it already
    assert source.gossip is not None
    source.gossip.relay.add([entry])
    await source.gossip.relay.settled()
    assert source.gossip.relay.outcomes["held"] == ALREADY_HELD_LIMIT
    assert source.gossip.relay.rumours == {}


async def test_a_failing_peer_is_replaced_and_the_source_never_pushed_back(
        make_node: MakeNode, clock: FakeClock) -> None:
    a, b, c = await make_node("ra"), await make_node("rb"), await make_node("rc")
    await connect(b, a)
    await connect(b, c)
    await b.store.db.write(peerbook.add_peer, "http://127.0.0.1:9", source="manual",
                           now_ms=clock())
    await _relaying(b)
    entry = await publish(a, "Tool share")
    from node.sync.client import SyncClient as Client

    assert a.client is not None and isinstance(a.client, Client)
    report = await a.client.push(b.url, await a.store.get_entries([entry]))
    assert report.statuses == {entry: "accepted"}
    assert b.gossip is not None
    await b.gossip.relay.settled()
    assert entry in await ids(c)
    dead = await b.store.db.read(peerbook.peer_by_address, "http://127.0.0.1:9")
    # Tried in turn or not, never twice; the source (a) was never pushed back to.
    assert dead is not None and dead.health.failures <= 1
    row_a = await b.store.db.read(peerbook.peer_by_address, a.url)
    assert row_a is not None and row_a.entries_out == 0


async def test_a_catch_up_is_not_news(make_node: MakeNode) -> None:
    node = await make_node("catching-up")
    assert node.gossip is not None
    relay = node.gossip.relay
    from node.events import EntriesReceived

    relay.on_event(EntriesReceived("http://127.0.0.1:1", MAX_NEWS + 1,
                                   tuple(bytes([i % 256]) * 32 for i in range(MAX_NEWS + 1))))
    relay.on_event(EntriesReceived("http://127.0.0.1:1", 1, (b"\x01" * 32,)))
    await relay.pump()
    assert [len(r.ids) for r in relay.rumours.values()] in ([1], [])


# --- catch-up after a restore ----------------------------------------------------------

async def test_a_restored_node_is_released_by_enough_peers_or_one_that_held_its_entries(
        make_node: MakeNode, clock: FakeClock) -> None:
    restored = await make_node("restored")
    own = await publish(restored, "Before the backup")
    peers = [await make_node(f"witness{i}") for i in range(4)]
    for peer in peers:
        await connect(restored, peer)
    await restored.store.db.write(mark_needs_catch_up, highest_known=0, now_ms=clock())
    assert restored.gossip is not None
    # Peers that never held its entries: three distinct ones are needed.
    for count, peer in enumerate(peers[:3], start=1):
        await restored.gossip.sync_peer(peer.url)
        state = await restored.store.state()
        assert state.needs_catch_up == (count < 3)
    assert "3 distinct peers" in (await restored.store.state()).caught_up_why
    # Once more, and a peer holds its own entries: one session is enough.
    await restored.store.db.write(mark_needs_catch_up, highest_known=0, now_ms=clock())
    assert own in await ids(peers[0])
    await restored.gossip.sync_peer(peers[0].url)
    state = await restored.store.state()
    assert not state.needs_catch_up
    assert "held this node's own entries" in state.caught_up_why
    assert id_to_text(peers[0].store.node_id) in state.caught_up_why


async def test_a_restored_node_that_knows_one_peer_needs_only_that_one(
        make_node: MakeNode, clock: FakeClock) -> None:
    restored = await make_node("alone")
    peer = await make_node("only-peer")
    await restored.store.db.write(mark_needs_catch_up, highest_known=0, now_ms=clock())
    assert restored.gossip is not None
    await restored.gossip.sync_peer(peer.url)
    state = await restored.store.state()
    assert not state.needs_catch_up and "1 distinct peer" in state.caught_up_why
