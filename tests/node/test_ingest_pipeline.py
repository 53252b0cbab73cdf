"""Ingest verifies a large batch in chunks while the writer stores it: still one
transaction, outcomes in the batch's order, rules applied across chunk edges."""

from __future__ import annotations

import dataclasses

import pytest
import sqlite_utils

from node import InvalidInput, Store
from node import store as store_module
from node.ingest import MAX_BATCH_ENTRIES, current_set, store_checked, verify_batch
from protocol import SignedEntry

from .peer_entries import NETWORK, peer_key, practice

ALICE = peer_key("alice")


async def test_a_chunked_batch_keeps_order_and_rules_across_chunks(store: Store) -> None:
    size = store_module._VERIFY_CHUNK
    batch = [practice(peer_key(i), "play-street", 10 + i) for i in range(3 * size)]
    older = practice(ALICE, "repair-cafe", 5)
    newer = practice(ALICE, "repair-cafe", 7)
    fork = practice(ALICE, "tool-library", 7)
    forged = dataclasses.replace(practice(peer_key("mallory"), "x", 1), sig=bytes(64))
    # Related entries land in different chunks of the same batch.
    batch[3] = older
    batch[size + 1] = newer
    batch[size + 2] = forged
    batch[2 * size + 5] = fork
    batch[2 * size + 6] = newer
    batch[-1] = older
    outcomes = await store.ingest(batch)
    assert [o.entry_id for o in outcomes] == [e.id for e in batch]
    status = {i: o.status.value for i, o in enumerate(outcomes)}
    assert status[3] == "accepted" and status[size + 1] == "accepted"
    assert status[size + 2] == "rejected" and outcomes[size + 2].code == "bad_signature"
    assert status[2 * size + 5] == "fork" and status[2 * size + 6] == "duplicate"
    assert status[len(batch) - 1] == "stale"
    held = {eid for _, eid in await store.current_set()}
    assert older.id not in held and {newer.id, fork.id} <= held
    # Every stored entry is held, except ``older``: superseded later in the batch.
    assert sum(o.stored for o in outcomes) == len(held) + 1


async def test_a_failure_while_verifying_rolls_the_whole_batch_back(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    size = store_module._VERIFY_CHUNK
    batch = [practice(peer_key(i), "play-street", 10 + i) for i in range(3 * size)]
    real = store_module.ingest.verify_batch
    calls = 0

    def fail_on_the_third_chunk(part: list[SignedEntry], network: bytes) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise MemoryError("out of memory")
        return real(part, network)

    monkeypatch.setattr(store_module.ingest, "verify_batch", fail_on_the_third_chunk)
    with pytest.raises(MemoryError):
        await store.ingest(batch)
    assert await store.current_set() == []
    monkeypatch.setattr(store_module.ingest, "verify_batch", real)
    assert all(o.status.value == "accepted" for o in await store.ingest(batch))


def test_an_iterator_longer_than_a_batch_is_refused_and_rolled_back(
        db: sqlite_utils.Database) -> None:
    entries = [practice(peer_key(i % 50), f"p{i}", 10 + i) for i in range(MAX_BATCH_ENTRIES + 1)]
    checked = verify_batch(entries, NETWORK)
    with pytest.raises(InvalidInput, match=str(MAX_BATCH_ENTRIES + 1)):
        store_checked(db, iter(checked), now_ms=1)
    assert current_set(db) == []
    assert len(store_checked(db, iter(checked[:MAX_BATCH_ENTRIES]), now_ms=1)) == \
        MAX_BATCH_ENTRIES
