"""Upgrades: from the oldest schema still supported, and rolled back when they fail.

The database is built with the real migration list up to
:data:`node.store.upgrade.OLDEST_SUPPORTED`, so these tests keep upgrading
through every migration added later.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from sqlite_utils import Migrations

from cli.main import hedgerow
from node import Store, UpgradeFailed
from node.store import schema
from node.store.connection import connect, open_database
from node.store.datadir import database_path, key_path
from node.store.keyfile import create_key_file
from node.store.upgrade import (
    BEFORE_UPGRADE_SUFFIX,
    OLDEST_SUPPORTED,
    PREVIOUS_VERSION_SUFFIX,
    applied_migrations,
    known_migrations,
    last_software_version,
    software_version,
)
from protocol import NodeKey

from ..conftest import NODE_SEED, START_MS
from ..peer_entries import NETWORK, peer_key, practice

KEY = NodeKey.from_seed(NODE_SEED)


def _oldest_schema_node(data_dir: Path) -> Path:
    """A node as the oldest supported version left it: key, settings, and an old database."""
    data_dir.mkdir(mode=0o700)
    create_key_file(key_path(data_dir), NODE_SEED)
    (data_dir / "hedgerow.toml").write_text("port = 9471\n", encoding="utf-8")
    db = connect(database_path(data_dir))
    try:
        known = known_migrations()
        later = known[known.index(OLDEST_SUPPORTED) + 1:]
        schema.MIGRATIONS.apply(db, stop_before=later[0] if later else None)
        assert applied_migrations(db) == known[:known.index(OLDEST_SUPPORTED) + 1]
        with db.conn:
            db.conn.execute("INSERT INTO node_state (only_row, node_id, network, created_ms, "
                            "highest_own_version) VALUES (1, ?, ?, ?, 0)",
                            (KEY.public, NETWORK, START_MS))
            db.conn.execute("INSERT INTO organisation (only_row, name) VALUES (1, ?)",
                            ("Chapeltown Play Out",))
            for n in range(3):
                signed = practice(peer_key(n), "play-street", START_MS + n,
                                  title=f"Play street {n}")
                db.conn.execute(
                    "INSERT INTO entries (id, version, author, kind, family, key, payload, sig, "
                    "received_ms) VALUES (?, ?, ?, 'practice', 'practice', 'play-street', ?, ?, "
                    "?)", (signed.id, START_MS + n, peer_key(n).public, signed.payload,
                           signed.sig, START_MS))
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return data_dir


def _snapshot(data_dir: Path) -> tuple[list[str], list[str], dict[str, bytes]]:
    """Everything the node keeps: the database's full dump and migrations, and its files."""
    conn = sqlite3.connect(database_path(data_dir))
    try:
        dump = list(conn.iterdump())
    finally:
        conn.close()
    db = sqlite_utils.Database(sqlite3.connect(database_path(data_dir)))
    try:
        applied = applied_migrations(db)
    finally:
        db.close()
    files = {p.name: p.read_bytes() for p in data_dir.iterdir()
             if p.is_file() and not p.name.endswith(("-wal", "-shm", ".lock"))
             and p.name != "hedgerow.db"}
    return dump, applied, files


@pytest.fixture
def failing_migrations(monkeypatch: pytest.MonkeyPatch) -> Iterator[Migrations]:
    """The real migrations, then one that changes the schema and fails half-way."""
    clone = Migrations("hedgerow")
    clone._migrations = list(schema.MIGRATIONS._migrations)

    @clone(name="m999_fails_half_way")
    def _fails(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        db.execute("UPDATE organisation SET name = 'changed'")
        raise RuntimeError("disk said no")

    monkeypatch.setattr(schema, "MIGRATIONS", clone)
    yield clone


async def test_upgrade_from_the_oldest_supported_schema(tmp_path: Path) -> None:
    data_dir = _oldest_schema_node(tmp_path / "node")
    store = await Store.open(data_dir)
    try:
        # The later migrations built what the old schema lacked (search, views) from it.
        assert sorted(h.title for h in await store.search_summaries("street")) == [
            "Play street 0", "Play street 1", "Play street 2"]
        assert len(await store.current_set()) == 3
        assert (await store.get_organisation()).name == "Chapeltown Play Out"
        state = await store.state()
        assert state.node_id == KEY.public and state.network == NETWORK
        # Records work after the upgrade, and what would be published is as before.
        await store.create_practice({"title": "Repair café"})
        assert (await store.preview_practice("repair-cafe")).body["title"] == "Repair café"
        applied = await store.db.read(applied_migrations)
        assert applied == known_migrations()
        assert await store.db.read(last_software_version) == software_version()
    finally:
        await store.close()
    previous = database_path(data_dir).with_name("hedgerow.db" + PREVIOUS_VERSION_SUFFIX)
    old = sqlite_utils.Database(sqlite3.connect(previous))
    try:
        assert applied_migrations(old) == [OLDEST_SUPPORTED]
    finally:
        old.close()
    assert not database_path(data_dir).with_name("hedgerow.db" + BEFORE_UPGRADE_SUFFIX).exists()


def test_a_failure_mid_migration_leaves_the_node_exactly_as_before(
        tmp_path: Path, failing_migrations: Migrations) -> None:
    data_dir = _oldest_schema_node(tmp_path / "node")
    before = _snapshot(data_dir)
    result = CliRunner().invoke(hedgerow, ["status", "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.stderr.strip()
    assert line.startswith("error: upgrading the database")
    assert "failed at migration m999_fails_half_way (disk said no)" in line
    assert "put back exactly as it was" in line and "Go back to" in line
    assert _snapshot(data_dir) == before
    # Fixed (the failing migration is gone): the same node upgrades and runs.
    failing_migrations._migrations.pop()
    result = CliRunner().invoke(hedgerow, ["status", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "Chapeltown Play Out" in result.stdout


def test_a_migration_that_breaks_the_node_fails_its_health_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clone = Migrations("hedgerow")
    clone._migrations = list(schema.MIGRATIONS._migrations)

    @clone(name="m999_loses_the_node")
    def _breaks(db: sqlite_utils.Database) -> None:
        db.execute("DELETE FROM node_state")

    monkeypatch.setattr(schema, "MIGRATIONS", clone)
    data_dir = _oldest_schema_node(tmp_path / "node")
    before = _snapshot(data_dir)
    with pytest.raises(UpgradeFailed, match="failed at the first health check"):
        open_database(database_path(data_dir)).close()
    assert _snapshot(data_dir) == before


def test_an_interrupted_upgrade_is_put_back_before_trying_again(tmp_path: Path) -> None:
    data_dir = _oldest_schema_node(tmp_path / "node")
    path = database_path(data_dir)
    # The power went at the worst moment: the copy exists, the database is half migrated.
    copy = path.with_name(path.name + BEFORE_UPGRADE_SUFFIX)
    copy.write_bytes(path.read_bytes())
    db = connect(path)
    known = known_migrations()
    schema.MIGRATIONS.apply(db, stop_before=known[3])
    with db.conn:
        db.conn.execute("UPDATE organisation SET name = 'half way'")
    db.close()
    db = open_database(path)
    try:
        assert db.conn.execute("SELECT name FROM organisation").fetchone()[0] == \
            "Chapeltown Play Out"
        assert applied_migrations(db) == known
    finally:
        db.close()
    assert not copy.exists()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    data_dir = _oldest_schema_node(tmp_path / "node")
    path = database_path(data_dir)
    open_database(path).close()
    db = connect(path)
    with db.conn:
        db.conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                        "VALUES ('hedgerow', 'm999_from_the_future', 'later')")
        db.conn.execute("UPDATE software SET version = '9.9.9'")
    db.close()
    with pytest.raises(UpgradeFailed, match=r"newer version of Hedgerow \(9.9.9\).*"
                                            r"m999_from_the_future"):
        open_database(path)
