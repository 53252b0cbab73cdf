"""Online backup and restore; a restored node catches up before it publishes again."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from node import (
    CorruptDatabase,
    NeedsCatchUp,
    Store,
    WrongNode,
    init_node,
    open_node,
    restore_offline,
)
from node.store.datadir import database_path
from protocol import decode

from ..conftest import START_MS, FakeClock, held
from ..peer_entries import NETWORK, admitted, peer_key, practice


async def test_backup_while_writing_is_consistent(store: Store, tmp_path: Path) -> None:
    batches = [[practice(peer_key(b * 10 + i), "p", 10) for i in range(10)] for b in range(20)]
    await store.ingest(admitted(*(peer_key(n) for n in range(200))))

    async def keep_writing() -> None:
        for batch in batches:
            await store.ingest(batch)

    target = tmp_path / "backup.db"
    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0)  # let the writer start; the backup then runs alongside it
    size = await store.backup(target)
    await writer
    assert size == target.stat().st_size > 0
    assert os.stat(target).st_mode & 0o777 == 0o600
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = copy.execute("SELECT count(*) FROM entries WHERE kind = 'practice'"
                             ).fetchone()[0]
    finally:
        copy.close()
    assert count % 10 == 0  # whole batches only: one transaction each
    assert not Path(f"{target}.partial").exists()


async def test_a_copy_that_fails_its_integrity_check_is_never_kept(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nightly backup checks its copy (``check=True``): a damaged copy raises, and
    neither it nor its partial file is left to be mistaken for a good backup."""
    from node.store import backup as store_backup

    monkeypatch.setattr(store_backup, "integrity_problems",
                        lambda conn: ["*** in database main ***", "Page 7: btreeInitPage"])
    folder = tmp_path / "backups"
    folder.mkdir()
    target = folder / "nightly.db"
    with pytest.raises(CorruptDatabase, match=r"Page 7|in database main"):
        await store.backup(target, check=True)
    assert list(folder.iterdir()) == []
    # Without the check (a backup a person asked for into a file), the copy is made.
    assert await store.backup(target) > 0


async def test_restore_keeps_the_clock_and_waits_for_catch_up(
        store: Store, clock: FakeClock, tmp_path: Path) -> None:
    await store.create_practice({"title": "Play street"})
    first = await store.publish_practice("play-street")
    await store.backup(tmp_path / "backup.db")
    await store.update_practice("play-street", {"status": "ended"})
    clock.advance(60_000)
    second = await store.publish_practice("play-street")
    second_version = decode(second.payload)["version"]

    clock.advance(-3_600_000)  # and the clock is behind, too
    await store.restore(tmp_path / "backup.db")
    assert [eid for _, eid in await held(store)] == [first.id]
    assert (await store.get_practice("play-street")).practice.status == "active"
    assert await store.needs_catch_up()
    assert await store.own_highest_version() == second_version
    with pytest.raises(NeedsCatchUp):
        await store.publish_practice("play-street")

    # A peer gives our newer entry back: the sync layer then marks us caught up.
    [outcome] = await store.ingest([second])
    assert outcome.own and outcome.stored
    await store.mark_caught_up()
    third = await store.publish_practice("play-street")
    assert decode(third.payload)["version"] > second_version


async def test_restore_survives_a_restart(data_dir: Path, clock: FakeClock,
                                          tmp_path: Path) -> None:
    async with await Store.open(data_dir, clock=clock) as store:
        await store.create_practice({"title": "Play street"})
        await store.backup(tmp_path / "b.db")
        await store.publish_practice("play-street")
        await store.restore(tmp_path / "b.db")
    async with await Store.open(data_dir, clock=clock) as store:
        assert await store.needs_catch_up()
        assert await store.own_highest_version() == START_MS
    _, db = open_node(data_dir)
    try:
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


async def test_backup_of_another_node_is_refused(store: Store, tmp_path: Path) -> None:
    other_dir = tmp_path / "other"
    init_node(other_dir, network=NETWORK, seed=b"o" * 32, now_ms=START_MS)
    async with await Store.open(other_dir) as other:
        await other.backup(tmp_path / "other.db")
    await store.create_practice({"title": "Mine"})
    with pytest.raises(WrongNode, match="another node"):
        await store.restore(tmp_path / "other.db")
    assert [p.key for p in await store.list_practices()] == ["mine"]
    assert not await store.needs_catch_up()


async def test_offline_restore_after_corruption(data_dir: Path, clock: FakeClock,
                                                tmp_path: Path) -> None:
    async with await Store.open(data_dir, clock=clock) as store:
        await store.create_practice({"title": "Play street"})
        await store.ingest([practice(peer_key("a"), "x", 5)])
        await store.backup(tmp_path / "b.db")
        await store.publish_practice("play-street")
    path = database_path(data_dir)
    path.write_bytes(b"\0" * 100 + path.read_bytes()[100:])  # a wrecked header
    with pytest.raises(CorruptDatabase, match="hedgerow restore"):
        await Store.open(data_dir, clock=clock)
    restore_offline(data_dir, tmp_path / "b.db", now_ms=clock())
    async with await Store.open(data_dir, clock=clock) as store:
        assert [p.key for p in await store.list_practices()] == ["play-street"]
        assert len(await held(store)) == 1
        assert await store.needs_catch_up()
        with pytest.raises(NeedsCatchUp):
            await store.publish_practice("play-street")
