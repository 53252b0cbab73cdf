"""Membership in the store: who may write, entries that wait, withdrawals, limits, forks.

Each test builds a network with tests/members.py and feeds the store entries
as peers would send them, in the orders peers may send them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node import Store
from node.errors import NotMember
from node.store import ingest as ingest_module
from node.store import membership as membership_module
from node.store.ingest import IngestStatus
from node.views import run_view
from protocol import Entry, NodeKey, SignedEntry, admit_key, decode, retract_key, sign_entry

from ...members import TEST_NETWORK, MemberNetwork
from ..conftest import START_MS, FakeClock, held
from ..peer_entries import NETWORK, peer_key, practice, profile

NEWCOMER = peer_key("newcomer")
SECOND = peer_key("second newcomer")


def admission(by: NodeKey, node: NodeKey, version: int) -> SignedEntry:
    return sign_entry(by, Entry(NETWORK, by.public, "admit", admit_key(node.public), version,
                                {"node": node.public}))


def withdrawal(by: NodeKey, node: NodeKey) -> SignedEntry:
    """``by`` withdraws its admission of ``node`` (at a version after the admission's)."""
    version = decode(TEST_NETWORK.admission(node.public, by=by).payload)["version"] + 1
    return sign_entry(by, Entry(NETWORK, by.public, "retract",
                                retract_key("admit", admit_key(node.public)), version, {}))


def statuses(outcomes: list) -> list[str]:  # type: ignore[type-arg]
    return [o.status.value for o in outcomes]


async def test_entries_of_a_non_member_wait_and_are_stored_when_it_is_admitted(
        store: Store) -> None:
    entries = [practice(NEWCOMER, "soup-run", START_MS), profile(NEWCOMER, START_MS + 1)]
    assert statuses(await store.ingest(entries)) == ["pending", "pending"]
    assert await held(store) == []
    assert await store.pending_ids() == {e.id for e in entries}
    # The admission arrives: the waiting entries are stored, not fetched again.
    outcomes = await store.ingest([TEST_NETWORK.admission(NEWCOMER.public)])
    assert statuses(outcomes) == ["accepted"]
    assert {i for _, i in await held(store)} == {e.id for e in entries}
    assert await store.pending_ids() == frozenset()
    assert await store.is_member(NEWCOMER.public)


async def test_an_admission_arriving_first_in_the_same_batch_admits_at_once(
        store: Store) -> None:
    outcomes = await store.ingest([TEST_NETWORK.admission(NEWCOMER.public),
                                   practice(NEWCOMER, "soup-run", START_MS)])
    assert statuses(outcomes) == ["accepted", "accepted"]


async def test_a_chain_of_waiting_admissions_is_followed(store: Store) -> None:
    """A newcomer admitted by another newcomer, all arriving before the first admission."""
    by_newcomer = admission(NEWCOMER, SECOND, START_MS)
    theirs = practice(SECOND, "tool-share", START_MS + 5)
    assert statuses(await store.ingest([theirs, by_newcomer])) == ["pending", "pending"]
    await store.ingest([TEST_NETWORK.admission(NEWCOMER.public)])
    assert {i for _, i in await store.current_set()} >= {by_newcomer.id, theirs.id}
    members = {m.node for m in await store.members()}
    assert {NEWCOMER.public, SECOND.public} <= members
    tree = {m.node: m for m in await store.members()}
    assert tree[SECOND.public].admitted_by == NEWCOMER.public and tree[SECOND.public].depth == 2


async def test_a_withdrawal_cascades_and_drops_the_entries_of_former_members(
        store: Store) -> None:
    await store.ingest([TEST_NETWORK.admission(NEWCOMER.public),
                        admission(NEWCOMER, SECOND, START_MS),
                        practice(NEWCOMER, "soup-run", START_MS + 1),
                        practice(SECOND, "tool-share", START_MS + 2)])
    assert len(await held(store)) == 2
    # The founder withdraws its admission of NEWCOMER: NEWCOMER and SECOND (admitted
    # only by NEWCOMER) stop being members, and what they wrote goes.
    await store.ingest([withdrawal(TEST_NETWORK.founder, NEWCOMER)])
    assert not await store.is_member(NEWCOMER.public)
    assert not await store.is_member(SECOND.public)
    assert await held(store) == []
    authors = {e.entry.author for e in await store.current_entries(limit=10_000)}
    assert not authors & {NEWCOMER.public, SECOND.public}
    # Their entries sent again are entries of non-members: they wait, unstored.
    assert statuses(await store.ingest([practice(SECOND, "tool-share", START_MS + 2)])) == \
        ["pending"]


async def test_a_node_admitted_twice_stays_a_member_when_one_admission_goes(
        store: Store) -> None:
    alice = peer_key("alice")
    await store.ingest([TEST_NETWORK.admission(NEWCOMER.public),
                        admission(alice, NEWCOMER, START_MS)])
    assert await store.withdrawal_preview(NEWCOMER.public) == set()  # not ours to withdraw
    await store.ingest([withdrawal(TEST_NETWORK.founder, NEWCOMER)])
    assert await store.is_member(NEWCOMER.public)


async def test_the_pending_table_is_bounded(store: Store,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(membership_module, "MAX_PENDING_PER_AUTHOR", 2)
    monkeypatch.setattr(membership_module, "MAX_PENDING_ENTRIES", 3)
    outcomes = await store.ingest([practice(NEWCOMER, f"p{i}", START_MS + i) for i in range(3)])
    assert statuses(outcomes) == ["pending", "pending", "rejected"]
    assert "at most 2 entries from one node" in outcomes[2].reason
    outcomes = await store.ingest([practice(SECOND, f"p{i}", START_MS + i) for i in range(2)])
    assert statuses(outcomes) == ["pending", "rejected"]
    assert outcomes[1].code == "pending_full"


async def test_old_waiting_entries_are_dropped(store: Store, clock: FakeClock) -> None:
    await store.ingest([practice(NEWCOMER, "soup-run", START_MS)])
    clock.advance(membership_module.PENDING_MAX_AGE_MS + 1)
    assert await store.prune_pending() == 1
    assert await store.pending_ids() == frozenset()


async def test_a_version_far_in_the_future_is_refused_and_taken_later(
        store: Store, clock: FakeClock) -> None:
    alice = peer_key("alice")
    ahead = practice(alice, "time-travel", START_MS + 3_600_001)
    [outcome] = await store.ingest([ahead])
    assert (outcome.status, outcome.code) == (IngestStatus.REJECTED, "future_version")
    assert await held(store) == []
    clock.advance(2)  # no longer more than an hour ahead: a later sync brings it
    assert statuses(await store.ingest([ahead])) == ["accepted"]


async def test_each_author_is_held_to_a_limit(store: Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_module, "MAX_AUTHOR_ENTRIES", 3)
    alice = peer_key("alice")
    outcomes = await store.ingest([practice(alice, f"p{i}", 10 + i) for i in range(4)])
    assert statuses(outcomes) == ["accepted"] * 3 + ["rejected"]
    assert outcomes[3].code == "author_quota" and "3 entries" in outcomes[3].reason
    # A newer version of a slot it holds replaces the older: not one more entry.
    assert statuses(await store.ingest([practice(alice, "p0", 50)])) == ["accepted"]
    monkeypatch.setattr(ingest_module, "MAX_AUTHOR_BYTES", 600)
    big = practice(alice, "p1", 60, description="x" * 800)
    [outcome] = await store.ingest([big])
    assert outcome.code == "author_quota" and "MiB" in outcome.reason


async def test_a_fork_is_resolved_by_newer_versions_of_what_it_forked(store: Store) -> None:
    alice = peer_key("alice")
    one = practice(alice, "bake-sale", 10, title="Bake sale")
    two = practice(alice, "bake-sale", 10, title="Cake sale")
    assert statuses(await store.ingest([one, two])) == ["accepted", "fork"]
    assert await store.forked_authors() == [alice.public]
    [fork] = await store.forks()
    assert fork.resolved_ms is None and fork.slots == (("practice", "bake-sale"),)
    newer = practice(alice, "bake-sale", 20, title="Bake sale, weekly")
    assert statuses(await store.ingest([newer])) == ["accepted"]
    assert await store.forked_authors() == []
    [fork] = await store.forks()
    assert fork.resolved_ms is not None
    assert {i for _, i in await held(store)} == {newer.id}
    # The proof stays in the history; sent again, the old entries are stale.
    assert statuses(await store.ingest([one, two])) == ["stale", "stale"]
    directory = await run_view(store, "directory", {})
    assert [r["title"] for r in directory["results"]] == ["Bake sale, weekly"]


async def test_a_fork_over_two_slots_needs_both_published_again(store: Store) -> None:
    alice = peer_key("alice")
    one = practice(alice, "bake-sale", 10)
    two = practice(alice, "seed-swap", 10)
    await store.ingest([one, two])
    await store.ingest([practice(alice, "bake-sale", 20)])
    assert await store.forked_authors() == [alice.public]
    await store.ingest([practice(alice, "seed-swap", 21)])
    assert await store.forked_authors() == []


async def test_this_node_publishes_only_as_a_member(tmp_path: Path, clock: FakeClock) -> None:
    from node import init_node

    init_node(tmp_path / "outsider", network=NETWORK, seed=b"\1" * 32, now_ms=START_MS)
    async with await Store.open(tmp_path / "outsider", clock=clock) as outsider:
        await outsider.update_organisation({"name": "Outsiders", "level": "local"})
        with pytest.raises(NotMember, match="hedgerow admit"):
            await outsider.publish_profile()
        with pytest.raises(NotMember):
            await outsider.create_invitation("http://192.0.2.1:8470")


async def test_admitting_and_withdrawing_by_this_node(store: Store) -> None:
    signed = await store.admit(NEWCOMER.public, note="Met at the hub")
    assert await store.is_member(NEWCOMER.public)
    await store.ingest([admission(NEWCOMER, SECOND, START_MS)])
    assert await store.withdrawal_preview(NEWCOMER.public) == {NEWCOMER.public,
                                                               SECOND.public}
    await store.withdraw_admission(NEWCOMER.public, reason="left the area")
    assert not await store.is_member(NEWCOMER.public)
    assert signed.id not in {i for _, i in await held(store)}
    with pytest.raises(Exception, match="cannot admit itself"):
        await store.admit(store.node_id)


async def test_leaving_withdraws_what_this_node_published_but_not_its_admissions(
        store: Store) -> None:
    await store.update_organisation({"name": "Alder St", "level": "local"})
    await store.publish_profile()
    await store.create_practice({"title": "Play street"})
    await store.publish_practice("play-street")
    await store.ingest([practice(peer_key("alice"), "repair-cafe", START_MS)])
    await store.publish_credit(peer_key("alice").public, "repair-cafe")
    await store.admit(NEWCOMER.public)
    assert sorted(kind for kind, _ in await store.leave_preview()) == [
        "credit", "practice", "profile"]
    done = await store.leave(reason="closing down")
    assert len(done) == 3 and await store.leave_preview() == []
    assert await store.is_member(NEWCOMER.public)  # its admissions stay valid
    mine = await store.current_entries(author=store.node_id)
    assert {e.entry.kind for e in mine} == {"retract", "admit"}


async def test_blocking_is_local_unless_the_admitted_nodes_go_too(store: Store) -> None:
    alice = peer_key("alice")
    await store.ingest([admission(alice, NEWCOMER, START_MS),
                        practice(NEWCOMER, "soup-run", START_MS + 1),
                        practice(alice, "repair-cafe", START_MS + 2)])
    await store.block_author(alice.public)
    # Alice's practice is gone, her admission stays: blocking changes nobody's membership.
    assert await store.is_member(NEWCOMER.public)
    kinds = {e.entry.kind for e in await store.current_entries(author=alice.public)}
    assert kinds == {"admit"}
    blocked = await store.block_author(alice.public, with_admitted=True)
    assert blocked == [alice.public, NEWCOMER.public]
    assert not await store.is_member(NEWCOMER.public)
    assert await store.current_entries(author=NEWCOMER.public) == []


async def test_an_entry_of_another_networks_member_is_not_admitted_here(store: Store) -> None:
    other = MemberNetwork("elsewhere")
    [outcome] = await store.ingest([other.genesis])
    assert outcome.status is IngestStatus.REJECTED and outcome.code == "wrong_network"


async def test_a_stored_far_future_version_renders_everywhere(store: Store) -> None:
    """No stored value may make a view, page or export fail (DESIGN.md "Limits")."""
    from node.exports import FORMATS, export_view
    from node.store.ingest import store_checked
    from node.views import VIEWS
    from protocol import verify_entry

    alice = peer_key("alice")
    extreme = practice(alice, "forever", 2**63 - 1, themes=["time"], since="2024")
    verified = verify_entry(extreme, NETWORK)
    # Stored as an older release might have: straight in, no clock to refuse it.
    await store.db.write(lambda db: store_checked(db, [verified], now_ms=2**63 - 1))
    for name in VIEWS:
        params = {"node": alice.node_id, "key": "forever"} if name in ("spread", "similar") \
            else {"node": alice.node_id} if name in ("lineage", "travelled") else {}
        await run_view(store, name, params)
    for fmt in FORMATS:
        for view in (None, "members", "introductions") if fmt in ("graphml", "kumu") \
                else (None,):
            assert await export_view(store, fmt, view, {})
