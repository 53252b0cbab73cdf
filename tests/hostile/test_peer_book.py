"""Peer-book poisoning and blind SSRF, kept fixed (DESIGN.md "Discovery and topology").

The attack that found them: profiles announcing 127.0.0.1:19999,
169.254.169.254 and [::1]:22 went straight into every node's peer book and
were dialled, and 150 profiles filled the book so that a person's
``peer add`` was refused. Here a member pushes such profiles over the real
sync API; the node's own peer view (node/sync/view.py) and its sync client
(node/sync/client.py) then decide what becomes a candidate and what is
dialled. No test here sends a byte beyond loopback: a refused address is
refused before any connection is made.
"""

from __future__ import annotations

import random

import aiohttp
import pytest

from node.errors import AddressRefused
from node.sync import peerbook
from node.sync.client import SyncClient
from node.sync.dialling import CheckedResolver, DialPolicy
from node.sync.view import PeerView
from protocol import NodeKey, SignedEntry
from protocol.messages import MAX_PUSH_ENTRIES, encode_push_request
from protocol.peers import VIEW_SIZE

from ..members import TEST_NETWORK
from ..node.conftest import FakeClock
from ..node.peer_entries import profile
from .harness import HostileNode, Signer, key_of

NEVER = ["http://169.254.169.254", "http://[fe80::1]:22", "http://[ff02::1]:8470",
         "http://0.0.0.0:8470"]
LOOPBACK = ["http://127.0.0.1:19999", "http://[::1]:22"]
#: As if the node listened on a LAN address (as on a Raspberry Pi at home).
ON_A_LAN = DialPolicy(frozenset({"192.168.1.20"}), loopback_only=False)


async def push(member: Signer, entries: list[SignedEntry]) -> None:
    for start in range(0, len(entries), MAX_PUSH_ENTRIES):
        reply = await member.post("push", encode_push_request(
            entries[start:start + MAX_PUSH_ENTRIES]))
        assert reply.status == 200, reply.text


async def members_announcing(node: HostileNode, member: Signer, clock: FakeClock,
                             addresses: dict[str, list[str]]) -> list[NodeKey]:
    """Admit a key per name (by the founder, held by the node), then push each one's
    profile announcing its addresses, through ``member``."""
    keys = [key_of(name) for name in addresses]
    await node.service.store.ingest(TEST_NETWORK.admissions(*keys))
    await push(member, [profile(key, clock(), name=name, addresses=announced)
                        for key, (name, announced) in zip(keys, addresses.items(),
                                                          strict=True)])
    return keys


def learned(rows: list[peerbook.PeerRow]) -> set[str]:
    return {r.address for r in rows if r.learned}


@pytest.mark.parametrize(("policy", "allowed"), [
    (ON_A_LAN, set()),
    # Listening on loopback only (tests, the demo): loopback is where its peers are.
    (DialPolicy(frozenset({"127.0.0.1"}), loopback_only=True), set(LOOPBACK)),
])
async def test_announced_addresses_that_must_not_be_dialled_never_become_candidates(
        node: HostileNode, member: Signer, clock: FakeClock, policy: DialPolicy,
        allowed: set[str]) -> None:
    await members_announcing(node, member, clock, {"rogue": NEVER[:2] + LOOPBACK,
                                                   "rogue2": NEVER[2:]})
    store = node.service.store
    view = PeerView(store, random.Random(1), policy)
    for _ in range(3):
        await view.refresh()
    rows = await store.db.read(peerbook.list_peers)
    assert learned(rows) == allowed
    # A candidate is not a verified peer until a session proves who answers there.
    assert not any(r.verified for r in rows)
    await node.still_answers()


@pytest.mark.parametrize("address", [*NEVER, *LOOPBACK,
                                     "http://localhost:19999"])  # a name, checked resolved
async def test_a_learned_address_off_limits_is_refused_before_any_connection(
        node: HostileNode, address: str) -> None:
    store = node.service.store
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            resolver=CheckedResolver(ON_A_LAN, learned=True))) as learned_http:
        client = SyncClient(store, node.service.events, learned_http,
                            recset=node.service.recset, learned_http=learned_http,
                            policy=ON_A_LAN)
        with pytest.raises(AddressRefused):
            await client.sync_with(address, expect=key_of("rogue").public, learned=True)


async def test_a_flood_of_profiles_cannot_fill_the_book_or_refuse_a_person(
        node: HostileNode, member: Signer, clock: FakeClock) -> None:
    await members_announcing(node, member, clock, {
        f"flood-{i}": [f"http://192.168.1.{1 + i % 250}:{10_000 + i}",
                       f"http://192.168.2.{1 + i % 250}:{10_000 + i}"]
        for i in range(150)})
    store = node.service.store
    view = PeerView(store, random.Random(1), ON_A_LAN)
    for _ in range(10):
        await view.refresh()
        assert len(learned(await store.db.read(peerbook.list_peers))) <= VIEW_SIZE
    # A person's peer is always taken, however many profiles arrived.
    row, new = await store.db.write(peerbook.add_peer, "http://192.168.1.77:8470",
                                    source="manual", now_ms=clock())
    assert new and not row.learned
    await view.refresh()
    rows = await store.db.read(peerbook.list_peers)
    assert "http://192.168.1.77:8470" in {r.address for r in rows}
    assert len(learned(rows)) <= VIEW_SIZE
