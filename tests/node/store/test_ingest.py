"""Received entries: the current-version rules, forks, rejections, the current set."""

from __future__ import annotations

import pytest
import sqlite_utils

from node import IngestStatus, InvalidInput, Outcome, Store
from node.store import ingest as ingest_module
from node.store.ingest import MAX_BATCH_ENTRIES, current_set, ingest_batch
from protocol import SignedEntry

from ..conftest import held
from ..peer_entries import OTHER_NETWORK, credit, peer_key, practice, profile, retract

ALICE = peer_key("alice")
BOB = peer_key("bob")


def statuses(outcomes: list[Outcome]) -> list[str]:
    return [o.status.value for o in outcomes]


async def test_newer_version_replaces_older(store: Store) -> None:
    v1 = practice(ALICE, "play-street", 10, title="Play street")
    v2 = practice(ALICE, "play-street", 20, title="Play street, weekly")
    assert statuses(await store.ingest([v1])) == ["accepted"]
    assert statuses(await store.ingest([v2])) == ["accepted"]
    assert await held(store) == [(20, v2.id)]
    assert await store.get_entries([v1.id, v2.id]) == [v2]
    current = await store.current_entry(ALICE.public, "practice", "play-street")
    assert current is not None and current.entry.body["title"] == "Play street, weekly"


async def test_stale_version_is_ignored(store: Store) -> None:
    v1 = practice(ALICE, "play-street", 10)
    v2 = practice(ALICE, "play-street", 20)
    await store.ingest([v2])
    assert statuses(await store.ingest([v1])) == ["stale"]
    assert await held(store) == [(20, v2.id)]


async def test_duplicates_are_idempotent(store: Store) -> None:
    entry = practice(ALICE, "play-street", 10)
    assert statuses(await store.ingest([entry, entry])) == ["accepted", "duplicate"]
    assert statuses(await store.ingest([entry])) == ["duplicate"]
    assert await held(store) == [(10, entry.id)]


async def test_fork_keeps_both_entries_and_flags_the_author(store: Store) -> None:
    first = practice(ALICE, "play-street", 10, title="Play street")
    second = practice(ALICE, "repair-cafe", 10, title="Repair cafe")  # same version
    assert statuses(await store.ingest([first, second])) == ["accepted", "fork"]
    assert sorted(await held(store)) == sorted([(10, first.id), (10, second.id)])
    [fork] = await store.forks()
    assert (fork.author, fork.version, fork.first_id, fork.second_id) == \
        (ALICE.public, 10, first.id, second.id)
    assert await store.forked_authors() == [ALICE.public]
    # Both are proof: a newer entry in the slot does not supersede them away.
    newer = practice(ALICE, "play-street", 30)
    assert statuses(await store.ingest([newer, second])) == ["accepted", "duplicate"]
    assert {eid for _, eid in await held(store)} == {first.id, second.id, newer.id}
    assert (await store.current_entry(ALICE.public, "practice", "play-street")) is not None


async def test_fork_in_the_same_slot(store: Store) -> None:
    first = practice(ALICE, "play-street", 10, title="One")
    second = practice(ALICE, "play-street", 10, title="Two")
    assert statuses(await store.ingest([first])) == ["accepted"]
    assert statuses(await store.ingest([second])) == ["fork"]
    assert len(await held(store)) == 2


async def test_retract_hides_the_practice_and_a_republish_brings_it_back(store: Store) -> None:
    await store.ingest([practice(ALICE, "play-street", 10, title="Play street",
                                 description="Closing the road for children")])
    assert [h.key for h in await store.search_summaries("children")] == ["play-street"]
    tombstone = retract(ALICE, "play-street", 20, reason="ended")
    assert statuses(await store.ingest([tombstone])) == ["accepted"]
    assert await held(store) == [(20, tombstone.id)]
    assert await store.search_summaries("children") == []
    assert await store.current_entries(kind="practice") == []
    current = await store.current_entry(ALICE.public, "practice", "play-street")
    assert current is not None and current.entry.kind == "retract"
    # An older practice arriving late does not resurrect it.
    assert statuses(await store.ingest([practice(ALICE, "play-street", 15)])) == ["stale"]
    back = practice(ALICE, "play-street", 30, description="Back, with children")
    assert statuses(await store.ingest([back])) == ["accepted"]
    assert [h.entry_id for h in await store.search_summaries("children")] == [back.id]


async def test_wrong_network_is_rejected(store: Store) -> None:
    foreign = practice(ALICE, "play-street", 10, network=OTHER_NETWORK)
    [outcome] = await store.ingest([foreign])
    assert outcome.status is IngestStatus.REJECTED
    assert outcome.code == "wrong_network"
    assert "network" in outcome.reason
    assert await held(store) == []


async def test_bad_signature_and_garbage_are_rejected_the_rest_accepted(store: Store) -> None:
    good = practice(ALICE, "play-street", 10)
    forged = SignedEntry(practice(BOB, "repair-cafe", 10).payload, bytes(64))
    garbage = SignedEntry(b"\xc1 not msgpack", bytes(64))
    outcomes = await store.ingest([forged, good, garbage])
    assert statuses(outcomes) == ["rejected", "accepted", "rejected"]
    assert outcomes[0].code == "bad_signature"
    assert outcomes[2].reason
    assert [o.entry_id for o in outcomes] == [forged.id, good.id, garbage.id]
    assert await held(store) == [(10, good.id)]


async def test_current_set_is_sorted_by_version_then_id(store: Store) -> None:
    entries = [practice(peer_key(i), f"p{i % 7}", 100 + i % 5) for i in range(60)]
    entries += [profile(peer_key(i), 50 + i) for i in range(10)]
    entries.append(credit(ALICE, BOB.public, "repair-cafe", 1000, note="thank you"))
    await store.ingest(entries)
    items = await store.current_set()
    assert items == sorted((e.entry.version, e.id) for e in
                           await store.current_entries(limit=10_000))
    assert items == sorted(items)
    assert len(await held(store)) == len(entries)
    assert all(isinstance(v, int) and len(i) == 32 for v, i in items)
    assert [h.kind for h in await store.search_summaries("thank")] == ["credit"]


async def test_own_entries_received_back_advance_the_clock(store: Store) -> None:
    mine = practice(store.key, "from-the-future", 2_000_000_000_000)
    [outcome] = await store.ingest([mine])
    assert outcome.own and outcome.status is IngestStatus.ACCEPTED
    assert await store.own_highest_version() == 2_000_000_000_000


async def test_batches_are_bounded(store: Store) -> None:
    entry = practice(ALICE, "play-street", 10)
    with pytest.raises(InvalidInput, match=str(MAX_BATCH_ENTRIES)):
        await store.ingest([entry] * (MAX_BATCH_ENTRIES + 1))


def test_a_batch_is_one_transaction(db: sqlite_utils.Database,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [practice(peer_key(i), "play-street", 10) for i in range(5)]
    calls = 0
    real = ingest_module.summary_of

    def fail_on_the_fourth(kind: str, body: dict[str, object]) -> tuple[str, str] | None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise OSError("disk unplugged")
        return real(kind, body)

    monkeypatch.setattr(ingest_module, "summary_of", fail_on_the_fourth)
    before = current_set(db)
    with pytest.raises(OSError):
        ingest_batch(db, batch, now_ms=1)
    assert current_set(db) == before
    monkeypatch.setattr(ingest_module, "summary_of", real)
    assert statuses(ingest_batch(db, batch, now_ms=1)) == ["accepted"] * 5
