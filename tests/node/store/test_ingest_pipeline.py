"""Ingest verifies a large batch in chunks while the writer stores it: still one
transaction, outcomes in the batch's order, rules applied across chunk edges."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
import sqlite_utils

from node import InvalidInput, Store
from node.store import store as store_module
from node.store.ingest import MAX_BATCH_ENTRIES, Outcome, current_set, store_checked, verify_batch
from protocol import SignedEntry, Verdict, judge, slot_of

from ..conftest import FakeClock, held
from ..peer_entries import NETWORK, admitted, peer_key, practice, profile, retract

ALICE = peer_key("alice")


async def test_a_chunked_batch_keeps_order_and_rules_across_chunks(store: Store) -> None:
    size = store_module._VERIFY_CHUNK
    batch = [practice(peer_key(i), "play-street", 10 + i) for i in range(3 * size)]
    await store.ingest(admitted(*(peer_key(i) for i in range(3 * size))))
    older = practice(ALICE, "repair-cafe", 5)
    newer = practice(ALICE, "repair-cafe", 7)
    fork = practice(ALICE, "tool-library", 7)
    forged = SignedEntry(practice(peer_key("mallory"), "x", 1).payload, bytes(64))
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
    kept = {eid for _, eid in await held(store)}
    assert older.id not in kept and {newer.id, fork.id} <= kept
    # Every stored entry is held, except ``older``: superseded later in the batch.
    assert sum(o.stored for o in outcomes) == len(kept) + 1


async def test_a_failure_while_verifying_rolls_the_whole_batch_back(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    size = store_module._VERIFY_CHUNK
    batch = [practice(peer_key(i), "play-street", 10 + i) for i in range(3 * size)]
    await store.ingest(admitted(*(peer_key(i) for i in range(3 * size))))
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
    assert await held(store) == []
    monkeypatch.setattr(store_module.ingest, "verify_batch", real)
    assert all(o.status.value == "accepted" for o in await store.ingest(batch))


def test_an_iterator_longer_than_a_batch_is_refused_and_rolled_back(
        db: sqlite_utils.Database) -> None:
    entries = [practice(peer_key(i % 50), f"p{i}", 10 + i) for i in range(MAX_BATCH_ENTRIES + 1)]
    checked = verify_batch(entries, NETWORK)
    before = current_set(db)
    with pytest.raises(InvalidInput, match=str(MAX_BATCH_ENTRIES + 1)):
        store_checked(db, iter(checked), now_ms=1)
    assert current_set(db) == before
    assert len(store_checked(db, iter(checked[:MAX_BATCH_ENTRIES]), now_ms=1)) == \
        MAX_BATCH_ENTRIES


ForkRow = tuple[bytes, int, bytes, bytes]


def _model_outcomes(batches: list[list[SignedEntry]], *, first_seq: int = 1
                    ) -> tuple[list[list[str]], dict[bytes, tuple[int, bool]], set[ForkRow]]:
    """The current-version rules applied one entry at a time, in plain Python:
    what storing a chunk at a time must give, entry for entry, down to the
    seq SQLite would give each row (node.views relies on it). The store
    holds its membership entries already, up to seq ``first_seq - 1``."""
    held: dict[bytes, tuple[bytes, str, str, int, bool]] = {}
    seqs: dict[bytes, int] = {}
    fork_rows: set[ForkRow] = set()
    results = []
    for batch in batches:
        statuses = []
        for item in verify_batch(batch, NETWORK):
            if isinstance(item, Outcome):
                statuses.append(item.status.value)
                continue
            e, eid = item.entry, item.id
            slot = slot_of(e.author, e.kind, e.key)
            family, slot_key = slot.family, slot.key
            in_slot = [v for a, f, k, v, _ in held.values()
                       if (a, f, k) == (e.author, family, slot_key)]
            current = max(in_slot) if in_slot else None
            others = sorted(i for i, (a, _, _, v, _) in held.items()
                            if a == e.author and v == e.version and i != eid)
            verdict = judge(eid, e.version, same_version_id=eid if eid in held else
                            (others[0] if others else None), current_version=current)
            if verdict in (Verdict.DUPLICATE, Verdict.STALE):
                statuses.append("duplicate" if verdict is Verdict.DUPLICATE else "stale")
                continue
            if current is not None and current < e.version:
                for i, (a, f, k, v, proof) in list(held.items()):
                    if (a, f, k) == (e.author, family, slot_key) and v < e.version \
                            and not proof:
                        del held[i]
            fork = verdict is Verdict.FORK
            seqs[eid] = max((seqs[i] for i in held), default=first_seq - 1) + 1
            held[eid] = (e.author, family, slot_key, e.version, fork)
            if fork:
                for i, (a, f, k, v, _) in list(held.items()):
                    if a == e.author and v == e.version:
                        held[i] = (a, f, k, v, True)
                fork_rows.add((e.author, e.version, others[0], eid))
            statuses.append("fork" if fork else "accepted")
        # At the end of a batch, a fork whose every slot holds a newer version
        # is resolved: its proofs leave the current set (DESIGN.md).
        for author, version in sorted({(a, v) for a, v, _, _ in fork_rows}):
            proofs = {i: (f, k) for i, (a, f, k, v, proof) in held.items()
                      if a == author and v == version and proof}
            if proofs and all(max(v for a, f, k, v, _ in held.values()
                                  if (a, f, k) == (author, *slot)) > version
                              for slot in proofs.values()):
                for i in proofs:
                    del held[i]
        results.append(statuses)
    return results, {i: (seqs[i], proof) for i, (*_, proof) in held.items()}, fork_rows


def _random_batches(seed: int) -> list[list[SignedEntry]]:
    """Batches dense in duplicates, stale versions, supersessions and forks,
    many of them within one chunk."""
    rng = random.Random(seed)
    keys = [peer_key(f"equivalence {i}") for i in range(3)]
    pool: dict[tuple[int, str, int, int], SignedEntry] = {}

    def pick() -> SignedEntry:
        who, slot, version, title = (rng.randrange(3), rng.choice(["a", "b", "c", "retract",
                                     "profile"]), rng.randint(1, 8), rng.randrange(2))
        made = pool.get((who, slot, version, title))
        if made is None:
            key = keys[who]
            if slot == "profile":
                made = profile(key, version, name=f"Group {title}")
            elif slot == "retract":
                made = retract(key, rng.choice("ab"), version, reason=f"r{title}")
            else:
                made = practice(key, slot, version, title=f"Title {title}",
                                description=f"words {rng.randrange(3)}")
            pool[(who, slot, version, title)] = made
        return made

    forged = SignedEntry(practice(peer_key("mallory"), "x", 1).payload, bytes(64))
    return [[forged if rng.random() < 0.01 else pick() for _ in range(rng.randint(1, 260))]
            for _ in range(8)]


@pytest.mark.parametrize("seed", range(4))
def test_chunked_storing_applies_the_rules_entry_by_entry(db: sqlite_utils.Database,
                                                          seed: int) -> None:
    batches = _random_batches(seed)
    first = db.conn.execute("SELECT max(seq) + 1 FROM entries").fetchone()[0]
    expected, held, fork_rows = _model_outcomes(batches, first_seq=first)
    for batch, statuses in zip(batches, expected, strict=True):
        outcomes = store_checked(db, verify_batch(batch, NETWORK), now_ms=1)
        assert [o.status.value for o in outcomes] == statuses
    rows = db.conn.execute("SELECT id, seq, fork_proof FROM entries WHERE family NOT IN "
                           "('genesis', 'admit')").fetchall()
    assert {eid: (seq, bool(proof)) for eid, seq, proof in rows} == held
    assert set(db.conn.execute("SELECT author, version, first_id, second_id FROM forks")) \
        == fork_rows
    # Every held entry with text has its summary, indexed, and nothing else is.
    assert db.conn.execute(
        "SELECT count(*) FROM entries WHERE kind NOT IN ('retract', 'genesis', 'admit')"
    ).fetchone() == \
        db.conn.execute("SELECT count(*) FROM summaries").fetchone()
    db.conn.execute("INSERT INTO summaries_fts (summaries_fts) VALUES ('integrity-check')")


async def test_the_store_pipeline_gives_the_same_outcomes(store: Store) -> None:
    batches = _random_batches(7)
    expected, model, _ = _model_outcomes(batches)
    for batch, statuses in zip(batches, expected, strict=True):
        assert [o.status.value for o in await store.ingest(batch)] == statuses
    assert {eid for _, eid in await held(store)} == set(model)


async def test_the_writer_verifies_chunks_no_verifier_has_started(
        data_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    real = store_module.ingest.verify_batch
    writer_verified = threading.Event()

    def verify(part: list[SignedEntry], network: bytes) -> object:
        if threading.current_thread().name.startswith("hedgerow-db-writer"):
            writer_verified.set()
        elif not writer_verified.is_set():
            # The only verifier is held on its first chunk until the writer,
            # instead of waiting for that chunk, has verified a later one.
            writer_verified.wait(timeout=10)
        return real(part, network)

    monkeypatch.setattr(store_module.ingest, "verify_batch", verify)
    batches = [[practice(peer_key(i), "play-street", 10 + i) for i in range(300)],
               *_random_batches(7)]
    expected, model, _ = _model_outcomes(batches)
    async with await Store.open(data_dir, clock=clock, verify_workers=1) as store:
        await store.ingest(admitted(*(peer_key(i) for i in range(300))))
        for batch, statuses in zip(batches, expected, strict=True):
            assert [o.status.value for o in await store.ingest(batch)] == statuses
        assert {eid for _, eid in await held(store)} == set(model)
    assert writer_verified.is_set()
