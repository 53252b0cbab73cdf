"""Membership between real nodes: joining with an invitation, admission spreading, forks.

Real aiohttp servers on loopback in one process; rounds are driven
explicitly (no scheduler), so nothing waits on time.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from node import Store, init_node
from node.errors import PeerRefused
from node.service import NodeService
from node.settings import Config
from node.sync import peerbook
from protocol import (
    Entry,
    HttpMessage,
    Invitation,
    NodeKey,
    SignedEntry,
    join_proof,
    sign_entry,
    sign_hedgerow,
)
from protocol.messages import encode_join_request

from ..conftest import START_MS, FakeClock

CONFIG = Config(mdns=False, sync_fanout=4, push_fanout=4, rate_limit_per_peer=1000,
                rate_limit_per_ip=1000)
CT = "application/vnd.hedgerow.sync+msgpack"
MakeNode = Callable[..., Awaitable[NodeService]]


def seed_of(name: str) -> bytes:
    return hashlib.sha256(f"membership sync {name}".encode()).digest()


@pytest.fixture
async def make_node(tmp_path: Path, clock: FakeClock) -> AsyncIterator[MakeNode]:
    """``make_node(name)`` founds a network; ``make_node(name, network=…)`` makes a node
    that holds nothing of that network yet, as `hedgerow init --join` does."""
    services: list[NodeService] = []

    async def make(name: str, *, network: bytes | None = None) -> NodeService:
        data_dir = tmp_path / name
        init_node(data_dir, seed=seed_of(name), now_ms=clock(), network=network,
                  nonce=None if network else hashlib.sha256(name.encode()).digest()[:16])
        store = await Store.open(data_dir, clock=clock)
        service = NodeService(store, CONFIG, rng=random.Random(name))
        await service.start(host="127.0.0.1", port=0, gossip=False, mdns=False)
        services.append(service)
        return service

    yield make
    for service in services:
        await service.stop()
        await service.store.close()


async def invite(inviter: NodeService, **options: object) -> Invitation:
    return await inviter.store.create_invitation(inviter.url, **options)  # type: ignore[arg-type]


async def joined(founder: NodeService, node: NodeService) -> None:
    """``node`` joins with an invitation from ``founder`` and syncs with it once."""
    assert node.client is not None and node.gossip is not None
    await node.client.join(await invite(founder))
    await node.gossip.sync_peer(founder.url)


async def ids(service: NodeService) -> set[bytes]:
    return {i for _, i in await service.store.current_set()}


async def publish(service: NodeService, title: str) -> bytes:
    record = await service.store.create_practice({"title": title})
    return (await service.store.publish_practice(record.key)).id


async def test_a_node_joins_with_an_invitation_and_then_syncs(make_node: MakeNode) -> None:
    founder = await make_node("founder")
    newcomer = await make_node("newcomer", network=founder.store.network)
    on_founder = await publish(founder, "Repair café")
    assert not await newcomer.store.is_member()
    assert newcomer.client is not None and newcomer.gossip is not None
    invitation = await invite(founder)
    assert await newcomer.client.join(invitation) == 2  # the genesis and its admission
    assert await newcomer.store.is_member()
    on_newcomer = await publish(newcomer, "Soup run")  # a member now: it may publish
    await newcomer.gossip.sync_peer(founder.url)
    assert {on_founder, on_newcomer} <= await ids(founder) & await ids(newcomer)
    [row] = await founder.store.invitations()
    assert row.joined == (newcomer.store.node_id,) and row.status(founder.store.now_ms()) \
        == "used"


async def test_refused_invitations_say_which_way_they_failed(make_node: MakeNode,
                                                             clock: FakeClock) -> None:
    founder = await make_node("founder")
    network = founder.store.network
    first, second, third = [await make_node(n, network=network) for n in ("a", "b", "c")]
    once = await invite(founder)
    assert first.client and second.client and third.client
    await first.client.join(once)
    await first.client.join(once)  # the same node again: fine, nothing more is spent
    with pytest.raises(PeerRefused, match="used already") as info:
        await second.client.join(once)
    assert info.value.status == 403
    withdrawn = await invite(founder)
    await founder.store.withdraw_invitation(withdrawn.id.hex())
    with pytest.raises(PeerRefused, match="withdrawn"):
        await second.client.join(withdrawn)
    short = await invite(founder, days=1)
    clock.advance(86_400_001)
    with pytest.raises(PeerRefused, match="expired"):
        await second.client.join(short)
    # A code made up by someone without the secret, for the same invitation id.
    forged = Invitation(network, founder.store.node_id, founder.url, once.id, b"\0" * 16,
                        once.expires_s)
    with pytest.raises(PeerRefused, match="proof does not match"):
        await third.client.join(forged)
    assert not await second.store.is_member() and not await third.store.is_member()
    assert {m.node for m in await founder.store.members()} == {
        founder.store.node_id, first.store.node_id}


async def test_an_eavesdropped_join_gains_nothing(make_node: MakeNode,
                                                  clock: FakeClock) -> None:
    founder = await make_node("founder")
    invitation = await invite(founder, uses=2)
    network = founder.store.network
    joiner = NodeKey.from_seed(seed_of("joiner"))
    eve = NodeKey.from_seed(seed_of("eve"))
    body = encode_join_request(invitation.id, join_proof(invitation.secret, network,
                                                         invitation.id, joiner.public))

    def signed(key: NodeKey, nonce: str) -> dict[str, str]:
        url = f"{founder.url}/sync/v2/join"
        msg = HttpMessage.for_request("POST", url, {"content-type": CT}, body)
        return {"Content-Type": CT, **sign_hedgerow(
            msg, key=key.private_key, keyid=key.node_id, network_id=network,
            now=clock() // 1000, nonce=nonce)}

    async def post(headers: dict[str, str]) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.post(
                f"{founder.url}/sync/v2/join", data=body, headers=headers) as resp:
            return resp.status, (await resp.read()).decode("utf-8", "replace")

    headers = signed(joiner, "j" * 22)
    assert (await post(headers))[0] == 200
    # The exact request, replayed: refused as a replay.
    status, text = await post(headers)
    assert status == 401 and "seen before" in text
    # The proof (seen on the wire) under the eavesdropper's own key: bound to the joiner.
    status, text = await post(signed(eve, "e" * 22))
    assert status == 403 and "proof does not match" in text
    assert eve.public not in {m.node for m in await founder.store.members()}
    assert joiner.public in {m.node for m in await founder.store.members()}


async def test_an_unreachable_inviter_is_replaced_by_an_admission_by_id(
        make_node: MakeNode) -> None:
    founder = await make_node("founder")
    hidden = await make_node("behind-a-router", network=founder.store.network)
    assert hidden.gossip is not None
    with pytest.raises(PeerRefused) as info:
        await hidden.gossip.sync_peer(founder.url)
    assert info.value.status == 401 and "not a member" in info.value.message
    # `hedgerow admit NODE_ID` on any member; then the node syncs with it.
    await founder.store.admit(hidden.store.node_id)
    await hidden.gossip.sync_peer(founder.url)
    assert await hidden.store.is_member()


async def test_an_admission_spreads_before_the_new_members_entries_are_taken(
        make_node: MakeNode) -> None:
    """Five members in a ring; a sixth node joins at one of them and publishes. Its
    practice reaches nodes that have not heard of its admission yet: they keep it
    waiting, and store it once the admission arrives."""
    founder = await make_node("n0")
    nodes = [founder]
    for i in range(1, 5):
        node = await make_node(f"n{i}", network=founder.store.network)
        await joined(founder, node)
        nodes.append(node)
    for i, node in enumerate(nodes):
        await node.store.db.write(peerbook.add_peer, nodes[(i + 1) % 5].url, source="manual",
                                  now_ms=node.store.now_ms())
    for _ in range(3):  # everyone learns everyone's admission
        for node in nodes:
            assert node.gossip is not None
            await node.gossip.push_round()
    newcomer = await make_node("late", network=founder.store.network)
    assert newcomer.client is not None
    await newcomer.client.join(await invite(nodes[2]))
    practice = await publish(newcomer, "Seed swap")
    signed = (await newcomer.store.get_entries([practice]))[0]
    # The practice reaches n4 first, by a push from a node that holds it: it waits.
    [outcome] = await nodes[4].store.ingest([signed])
    assert outcome.status.value == "pending"
    assert practice in await nodes[4].store.pending_ids()
    assert newcomer.gossip is not None
    await newcomer.gossip.sync_peer(nodes[2].url)
    for _ in range(4):
        for node in nodes:
            assert node.gossip is not None
            await node.gossip.push_round()
    for node in nodes:
        assert await node.store.is_member(newcomer.store.node_id)
        assert practice in await ids(node)
    assert await nodes[4].store.pending_ids() == frozenset()


async def test_a_fork_spreads_and_is_resolved_across_three_nodes(make_node: MakeNode) -> None:
    founder = await make_node("f0")
    a = await make_node("f1", network=founder.store.network)
    b = await make_node("f2", network=founder.store.network)
    for node in (a, b):
        await joined(founder, node)
    # The founder admits a key whose owner (restored from an old backup on two
    # machines, say) signs two different entries with one version.
    rogue = NodeKey.from_seed(seed_of("rogue"))
    await founder.store.admit(rogue.public)

    def rogue_practice(title: str, version: int) -> SignedEntry:
        return sign_entry(rogue, Entry(founder.store.network, rogue.public, "practice",
                                       "bake-sale", version,
                                       {"title": title, "status": "active"}))

    admissions = [s.signed for s in await founder.store.current_entries(kind="admit")]
    # Each half of the network hears a different entry with the same version.
    await a.store.ingest([*admissions, rogue_practice("Bake sale", START_MS)])
    await b.store.ingest([*admissions, rogue_practice("Cake sale", START_MS)])
    for node in (a, b):
        await node.store.db.write(peerbook.add_peer, founder.url, source="manual",
                                  now_ms=node.store.now_ms())
    for _ in range(2):
        for node in (a, b, founder):
            assert node.gossip is not None
            await node.gossip.push_round()
        assert a.gossip is not None
        await a.gossip.sync_peer(founder.url)
        assert b.gossip is not None
        await b.gossip.sync_peer(founder.url)
    for node in (founder, a, b):
        assert await node.store.forked_authors() == [rogue.public]
    # It publishes the slot again: the fork is resolved everywhere, proof kept in history.
    newer = rogue_practice("Bake sale, weekly", START_MS + 10)
    await a.store.ingest([newer])
    for _ in range(2):
        for node in (a, b):
            assert node.gossip is not None
            await node.gossip.sync_peer(founder.url)
    for node in (founder, a, b):
        assert await node.store.forked_authors() == []
        [fork] = await node.store.forks()
        assert fork.resolved_ms is not None
        rogue_held = await node.store.current_entries(author=rogue.public, kind="practice")
        assert [e.signed.id for e in rogue_held] == [newer.id]


async def test_a_reply_from_another_node_than_expected_ends_the_session(
        make_node: MakeNode) -> None:
    one = await make_node("one")
    other = await make_node("other", network=one.store.network)
    await joined(one, other)
    assert one.client is not None
    from node.errors import SyncFailed

    with pytest.raises(SyncFailed, match="answered as node"):
        await one.client.sync_with(other.url, expect=one.store.node_id)

