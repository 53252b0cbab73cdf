"""LazyDatabase and Migrations behave as sqlite-utils' own, loading it only when they must.

Each case runs the same calls on a :class:`LazyDatabase` and on a real
:class:`sqlite_utils.Database` (each over its own in-memory connection) and
compares what they return and leave behind. That sqlite-utils stays
unloaded in a running node is checked on a real ``hedgerow up``
(tests/cli/test_idle_imports.py).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from node.store.connection import LazyDatabase, open_database
from node.store.migrations import Migrations
from node.store.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[3]


def _pair() -> tuple[LazyDatabase, sqlite_utils.Database]:
    return (LazyDatabase(sqlite3.connect(":memory:")),
            sqlite_utils.Database(sqlite3.connect(":memory:")))


def _state(db: Any) -> tuple[bool, list[tuple[Any, ...]]]:
    rows = db.conn.execute("SELECT * FROM t ORDER BY a").fetchall() if "t" in \
        db.table_names() else []
    return db.conn.in_transaction, rows


STEPS: list[tuple[str, Callable[[Any], Any]]] = [
    ("create", lambda db: db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")),
    ("insert commits", lambda db: db.execute("INSERT INTO t VALUES (1, 'x')")),
    ("parameters", lambda db: db.execute("INSERT INTO t VALUES (?, ?)", (2, "y"))),
    ("named", lambda db: db.execute("UPDATE t SET b = :b WHERE a = :a", {"a": 2, "b": "z"})),
    ("select", lambda db: db.execute("SELECT b FROM t WHERE a > ?", [0])),
    ("begin stays open", lambda db: db.execute(" -- a comment\n begin")),
    ("inside a transaction", lambda db: db.execute("INSERT INTO t VALUES (3, 'w')")),
    ("rollback", lambda db: db.execute("/* undo */ ROLLBACK")),
    ("pragma", lambda db: db.execute("PRAGMA recursive_triggers")),
    ("savepoint", lambda db: db.execute("SAVEPOINT s")),
    ("in savepoint", lambda db: db.execute("DELETE FROM t WHERE a = 1")),
    ("release", lambda db: db.execute("RELEASE s")),
]


def test_execute_and_table_names_match_sqlite_utils() -> None:
    lazy, real = _pair()
    for what, step in STEPS:
        assert step(lazy).fetchall() == step(real).fetchall(), what
        assert _state(lazy) == _state(real), what
    assert sorted(lazy.table_names()) == sorted(real.table_names()) == ["t"]


def test_a_failed_change_outside_a_transaction_leaves_none_open() -> None:
    lazy, real = _pair()
    for db in (lazy, real):
        db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL)")
        db.execute("INSERT INTO t VALUES (1, 'x')")
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO t VALUES (2, NULL)")
    assert _state(lazy) == _state(real) == (False, [(1, "x")])


def test_fts_table_names_match_sqlite_utils() -> None:
    lazy, real = _pair()
    for db in (lazy, real):
        db.conn.executescript("CREATE TABLE docs (body TEXT);"
                              "CREATE VIRTUAL TABLE docs_fts USING fts5 (body);")
    for flags in ({}, {"fts5": True}, {"fts4": True}):
        assert sorted(lazy.table_names(**flags)) == sorted(real.table_names(**flags))


def test_the_rest_of_the_api_is_sqlite_utils_own_over_the_same_connection() -> None:
    lazy = LazyDatabase(sqlite3.connect(":memory:"))
    lazy.executescript("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);")
    lazy["t"].insert({"a": 1, "b": "x"})
    assert lazy.table("t").count == 1
    assert lazy.conn.execute("SELECT b FROM t").fetchall() == [("x",)]
    assert lazy.full.conn is lazy.conn
    with pytest.raises(AttributeError):
        lazy.no_such_method  # noqa: B018
    with lazy:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        lazy.conn.execute("SELECT 1")  # closed on leaving the block, as sqlite-utils does


def test_migrations_read_and_apply_as_sqlite_utils_does(tmp_path: Path) -> None:
    ours, theirs = Migrations("set"), sqlite_utils.Migrations("set")
    for migrations in (ours, theirs):
        migrations(name="one")(lambda db: db.executescript("CREATE TABLE one (x);"))
        migrations(name="two")(lambda db: db.table("one").insert({"x": 1}))
    lazy = LazyDatabase(sqlite3.connect(":memory:"))
    assert ours.applied(lazy) == [] and [m.name for m in ours.pending(lazy)] == ["one", "two"]
    ours.apply(lazy, stop_before="two")
    assert [m.name for m in ours.applied(lazy)] == [m.name for m in theirs.applied(lazy.full)]
    assert [m.name for m in ours.pending(lazy)] == ["two"]
    theirs.apply(lazy.full)  # sqlite-utils carries on from the record ours wrote
    assert [(m.name, m.applied_at) for m in ours.applied(lazy)] == [
        (m.name, m.applied_at) for m in theirs.applied(lazy.full)]
    assert lazy.conn.execute("SELECT x FROM one").fetchall() == [(1,)]
    with pytest.raises(ValueError, match="already registered"):
        ours(name="one")(lambda db: None)


def test_a_node_database_opens_without_loading_sqlite_utils(tmp_path: Path) -> None:
    db = open_database(tmp_path / "node.db")  # a new database: migrated with sqlite-utils
    db.close()
    script = ("import sys; from pathlib import Path; "
              "from node.store.connection import open_database; "
              f"db = open_database(Path({str(tmp_path / 'node.db')!r})); "
              "db.execute('SELECT count(*) FROM entries').fetchone(); db.close(); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('sqlite_utils', 'dateutil', 'pluggy')))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"
    db = open_database(tmp_path / "node.db")
    assert MIGRATIONS.pending(db) == []
    db.close()
