"""Outsiders at the door (DESIGN.md "Membership"): knowing the network id is not enough.

A fresh key signing correctly for the right network, a former member whose
admission was withdrawn, and a blocked member try every sync request. Each
is refused on its headers alone (401, or 403 for the blocked), nothing is
stored, and the node still answers. Entries by non-members pushed through a
member wait, unstored, in the bounded table.
"""

from __future__ import annotations

import pytest

from protocol import Entry, Negentropy, NegentropyStorage, admit_key, retract_key, sign_entry
from protocol.messages import (
    encode_fetch_request,
    encode_join_request,
    encode_push_request,
    encode_reconcile,
)

from ..members import TEST_NETWORK
from ..node.conftest import FakeClock
from ..node.peer_entries import practice
from .harness import NETWORK, HostileNode, Signer, key_of

START_MS = 1_700_000_000_000


def requests(signer: Signer) -> list[tuple[str, bytes]]:
    """One of every sync request, well formed, as a member would send it."""
    first = Negentropy(NegentropyStorage.from_sorted([])).initiate()
    return [
        ("reconcile", encode_reconcile({"members": first, "all": first})),
        ("fetch", encode_fetch_request([TEST_NETWORK.genesis.id])),
        ("push", encode_push_request([practice(signer.key, "not-welcome", START_MS)])),
    ]


@pytest.mark.parametrize("endpoint", ["reconcile", "fetch", "push"])
async def test_a_fresh_key_with_the_right_network_is_401(
        node: HostileNode, clock: FakeClock, endpoint: str) -> None:
    stranger = Signer(key_of("stranger"), NETWORK, node, clock)
    body = dict(requests(stranger))[endpoint]
    reply = await node.refused(401, lambda: stranger.post(endpoint, body))
    assert "not a member of this network" in reply.text


async def test_a_stranger_cannot_join_without_an_invitation(node: HostileNode,
                                                           clock: FakeClock) -> None:
    stranger = Signer(key_of("stranger"), NETWORK, node, clock)
    body = encode_join_request(b"\1" * 8, b"\2" * 32)
    reply = await node.refused(403, lambda: stranger.post("join", body))
    assert "proof does not match" in reply.text


async def test_a_former_member_is_401_once_its_admission_is_withdrawn(
        node: HostileNode, member: Signer) -> None:
    store = node.service.store
    founder = TEST_NETWORK.founder
    withdrawal = sign_entry(founder, Entry(
        NETWORK, founder.public, "retract", retract_key("admit", admit_key(member.key.public)),
        START_MS, {}))
    await store.ingest([withdrawal])
    assert not await store.is_member(member.key.public)
    for endpoint, body in requests(member):
        await node.refused(401, lambda e=endpoint, b=body: member.post(e, b))


async def test_a_blocked_member_is_403(node: HostileNode, member: Signer) -> None:
    await node.service.block(member.key.public)
    for endpoint, body in requests(member):
        reply = await node.refused(403, lambda e=endpoint, b=body: member.post(e, b))
        assert "blocked" in reply.text


async def test_a_members_push_of_strangers_entries_stores_nothing(
        node: HostileNode, member: Signer, clock: FakeClock) -> None:
    """Entries by 200 fresh keys, pushed by a member: they wait (bounded), never stored."""
    store = node.service.store
    before = await store.current_set()
    for batch in range(4):
        entries = [practice(key_of(f"fresh {batch}/{i}"), "spam", START_MS + i)
                   for i in range(50)]
        reply = await member.post("push", encode_push_request(entries))
        assert reply.status == 200
    assert await store.current_set() == before
    assert len(await store.pending_ids()) == 200
    await node.still_answers()
