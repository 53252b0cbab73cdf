"""Opening the database: pragmas, the start-up check, migrations, the async facade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from node import CorruptDatabase, Database, NodeError, Store, open_database, open_node
from node.store.connection import connect
from node.store.datadir import database_path
from node.store.schema import MIGRATIONS
from node.store.search import search_summaries

from ..conftest import START_MS
from ..peer_entries import NETWORK, peer_key, practice


def test_pragmas(db: sqlite_utils.Database) -> None:
    conn = db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_every_migration_is_applied_in_order(db: sqlite_utils.Database) -> None:
    applied = [m.name for m in MIGRATIONS.applied(db)]
    assert applied[:3] == [
        "m001_node_and_entries", "m002_practice_records", "m003_full_text_search"]
    assert applied == sorted(applied)
    assert MIGRATIONS.pending(db) == []


def test_an_old_schema_database_is_migrated_forward(tmp_path: Path) -> None:
    """A database made by a node from before full-text search opens, migrates, and is searchable."""
    path = tmp_path / "old.db"
    old = connect(path)
    MIGRATIONS.apply(old, stop_before="m003_full_text_search")
    assert "summaries" not in old.table_names()
    peer = peer_key("old")
    signed = practice(peer, "tool-library", 5, title="Tool library",
                      description="Lend drills, not buy them")
    # Rows as the old schema stored them.
    old.conn.execute("INSERT INTO node_state (only_row, node_id, network, created_ms) "
                     "VALUES (1, ?, ?, ?)", (bytes(32), NETWORK, START_MS))
    old.conn.execute(
        "INSERT INTO entries (id, version, author, kind, family, key, payload, sig, "
        "received_ms) VALUES (?, 5, ?, 'practice', 'practice', 'tool-library', ?, ?, ?)",
        (signed.id, peer.public, signed.payload, signed.sig, START_MS))
    old.conn.commit()
    old.close()

    db = open_database(path)
    try:
        assert MIGRATIONS.pending(db) == []
        hits = search_summaries(db, "drills")
        assert [(h.entry_id, h.title) for h in hits] == [(signed.id, "Tool library")]
    finally:
        db.close()


def test_garbage_file_is_a_clear_corruption_error(data_dir: Path) -> None:
    path = database_path(data_dir)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database at all " * 200)
    with pytest.raises(CorruptDatabase) as caught:
        open_node(data_dir)
    assert "hedgerow restore" in caught.value.message
    assert isinstance(caught.value, NodeError)


async def test_damaged_pages_are_found_at_start(data_dir: Path) -> None:
    _, db = open_node(data_dir)
    for i in range(300):
        db.conn.execute("INSERT INTO forks (author, version, first_id, second_id, detected_ms) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (bytes([i % 256]) * 32, i, bytes(32), bytes(32), i))
    db.conn.commit()
    db.close()  # the last connection checkpoints the WAL into the file
    path = database_path(data_dir)
    raw = bytearray(path.read_bytes())
    page = 4096
    assert len(raw) > 6 * page
    for offset in range(3 * page + 100, 6 * page, 7):
        raw[offset] = 0xA5
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDatabase, match="restore"):
        await Store.open(data_dir)


async def test_reads_cannot_write(data_dir: Path) -> None:
    database = await Database.open(database_path(data_dir))
    try:
        def sneak_a_write(db: sqlite_utils.Database) -> None:
            db.conn.execute("UPDATE node_state SET needs_catch_up = 1")

        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            await database.read(sneak_a_write)
    finally:
        await database.close()
    with pytest.raises(NodeError, match="closed"):
        await database.read(lambda db: None)


def test_too_old_sqlite_is_refused_with_a_clear_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from node.errors import LocalProblem
    from node.store import connection

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(LocalProblem, match=r"needs SQLite 3\.38\.0 or newer.*uses 3\.31\.1"):
        connection.connect(tmp_path / "node.db")
    assert not (tmp_path / "node.db").exists()
