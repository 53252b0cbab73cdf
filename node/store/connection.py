"""Opening the node's SQLite database, and its transactions.

Every SQL function in node/ is synchronous and takes a sqlite-utils
:class:`sqlite_utils.Database` (datasette's pattern); :mod:`node.store.database`
runs them on one writer thread. This module is what they share:

* :class:`LazyDatabase` — what :func:`connect` returns: a
  :class:`sqlite_utils.Database` whose library is loaded when first needed.
* :func:`open_database` — connect, set the pragmas, check the file, migrate.
* :func:`write_transaction` — ``BEGIN IMMEDIATE`` … ``COMMIT``. Taking the
  write lock up front means a transaction never has to *upgrade* a read lock,
  the one case where SQLite gives up with "database is locked" instead of
  waiting out ``busy_timeout`` (DESIGN.md "node/ keeps SQL in one place").
* :func:`read_snapshot` — a deferred transaction, so several SELECTs see one
  consistent state while the writer carries on (WAL).

Pragmas: WAL (readers never block the writer), ``synchronous=FULL`` (a
commit is on disk before we tell a user it is saved or a peer that we hold
an entry), foreign keys on, ``busy_timeout`` so a second process (the CLI
next to a running node) waits instead of failing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import CorruptDatabase, LocalProblem

if TYPE_CHECKING:
    import sqlite_utils
    from sqlite_utils import Database as _SqliteUtilsDatabase
else:
    _SqliteUtilsDatabase = object

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIN_SQLITE",
    "LazyDatabase",
    "connect",
    "corrupt_database_error",
    "database_problem",
    "open_database",
    "quick_check",
    "read_snapshot",
    "write_transaction",
]

BUSY_TIMEOUT_MS = 10_000
# Page cache per connection (negative = KiB). Small: a node runs on a Pi.
_CACHE_KIB = 8192
# Checkpoint the WAL every ~40 MB rather than SQLite's default ~4 MB: during a
# large ingest the same index pages are dirtied again and again, and fewer,
# larger checkpoints write each of them once (measured: about a third less
# time per entry at 100,000 entries). The WAL file may grow to that size.
_WAL_AUTOCHECKPOINT_PAGES = 10_000
_savepoints = itertools.count()
# The SQL in node/ uses MATERIALIZED common table expressions (3.35) and the
# JSON functions, built in from 3.38 (Debian 12 and Raspberry Pi OS Bookworm
# ship 3.40).
MIN_SQLITE = (3, 38, 0)
#: Free space below which an I/O error on the database is put down to a full disk.
_NEARLY_FULL_BYTES = 64 * 1024


#: Statements that begin or end a transaction themselves (never committed for them).
_TRANSACTION_CONTROL: Final = re.compile(
    r"(?:\s|;|\ufeff|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
    r"(?:BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE | re.DOTALL)


class LazyDatabase(_SqliteUtilsDatabase):
    """A :class:`sqlite_utils.Database` over ``conn`` that loads sqlite-utils on first need.

    sqlite-utils is a large library, and a running node uses almost none of
    it: its SQL goes through ``conn``, :meth:`execute` and :meth:`table_names`,
    which are here, behaving as sqlite-utils' own. Any other part of the
    sqlite-utils API (the migrations' ``executescript`` and ``table``, the
    tests' helpers) is that of a real :class:`sqlite_utils.Database` made over
    the same connection the first time one is needed (:attr:`full`); so the
    library is imported by the first process that uses it, not by every node.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._full: sqlite_utils.Database | None = None
        self.execute("PRAGMA recursive_triggers=on;")  # as sqlite-utils sets it

    @property
    def full(self) -> sqlite_utils.Database:
        """The sqlite-utils Database over this same connection (imports sqlite-utils)."""
        if self._full is None:
            import sqlite_utils

            self._full = sqlite_utils.Database(self.conn, recursive_triggers=False,
                                               execute_plugins=False)
        return self._full

    def __getattr__(self, name: str) -> Any:
        # Only called for what is not found on this object: the rest of sqlite-utils' API.
        if name.startswith("__") or name in ("conn", "full", "_full"):
            raise AttributeError(name)
        return getattr(self.full, name)

    def __getitem__(self, table_name: str) -> sqlite_utils.db.Table | sqlite_utils.db.View:
        return self.full[table_name]

    def __enter__(self) -> LazyDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LazyDatabase {self.conn}>"

    def execute(self, sql: str,
                parameters: Sequence[Any] | dict[str, Any] | None = None) -> sqlite3.Cursor:
        """Run one statement; outside a transaction a change is committed at once.

        As sqlite-utils does: a statement that opened a transaction of its
        own (Python's sqlite3 opens one before INSERT, UPDATE and DELETE) is
        committed when it succeeds and rolled back when it fails.
        """
        began = self.conn.in_transaction
        try:
            cursor = (self.conn.execute(sql) if parameters is None
                      else self.conn.execute(sql, parameters))
        except Exception:
            if not began and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        if (not began and self.conn.in_transaction and cursor.description is None
                and not _TRANSACTION_CONTROL.match(sql)):
            self.conn.execute("COMMIT")
        return cursor

    def table_names(self, fts4: bool = False, fts5: bool = False) -> list[str]:
        """The names of the tables (only those of FTS4 or FTS5 indexes, if asked)."""
        where = "type = 'table'"
        if fts4:
            where += " AND sql LIKE '%USING FTS4%'"
        if fts5:
            where += " AND sql LIKE '%USING FTS5%'"
        return [row[0] for row in self.conn.execute(f"SELECT name FROM sqlite_master "
                                                    f"WHERE {where}").fetchall()]

    def close(self) -> None:
        self.conn.close()


def corrupt_database_error(path: Path, problem: str) -> CorruptDatabase:
    return CorruptDatabase(
        f"the database {path} is damaged ({problem}). Nothing has been changed. Restore it "
        "from a backup with `hedgerow restore <backup file>`; then let the node catch up "
        "with its peers"
    )


def _disk_is_full(path: Path) -> bool:
    try:
        found = os.statvfs(path.parent)
    except OSError:
        return False
    # Less than a few pages free: SQLite reports a failed write to the WAL's
    # index or journal as an I/O error, not always as SQLITE_FULL.
    return found.f_bavail * found.f_frsize < _NEARLY_FULL_BYTES


def database_problem(path: Path, exc: sqlite3.Error) -> LocalProblem | None:
    """What a person should hear about an error SQLite gave for the database at ``path``.

    None for errors that are not about the file, its disk or its permissions
    (those are faults in Hedgerow and keep their traceback). A full disk or
    a permission is never reported as damage: restoring would not help.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    what = str(exc) or "no reason given"
    if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR
                                          and _disk_is_full(path)):
        return LocalProblem(f"the disk that holds {path.parent} is full: free some space on "
                            "it, then try again (nothing was changed)", code="disk_full")
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN,
                   sqlite3.SQLITE_AUTH):
        return LocalProblem(f"cannot use the database {path} ({what}): run Hedgerow as the "
                            "user that owns the node's data directory, and check that the "
                            "directory and its files may be read and written (permission)",
                            code="database_access")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return LocalProblem(f"the database {path} is busy: another process holds it ({what}); "
                            "try again in a moment", code="database_busy")
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return corrupt_database_error(path, what)
    if primary == sqlite3.SQLITE_IOERR:
        return LocalProblem(f"the database {path} could not be read or written ({what}); "
                            "check the disk it is on", code="database_io")
    return None


def connect(path: Path, *, read_only: bool = False) -> sqlite_utils.Database:
    """Open a connection to ``path`` with the node's pragmas (no check, no migration).

    A new database file is created with mode 0600: it holds private records
    (DESIGN.md "Privacy rules"), so it is as private as the key file.
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise LocalProblem(
            f"Hedgerow needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer, and this Python "
            f"uses {sqlite3.sqlite_version}; install a newer Python (3.11 or later from "
            "python.org, or your system's current one)")
    if not read_only and not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "")
    # check_same_thread=False: the facade creates a connection on one thread
    # and then only ever uses it from its own single worker thread.
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False, cached_statements=256)
    except sqlite3.DatabaseError as exc:
        raise (database_problem(path, exc) or corrupt_database_error(path, str(exc))) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not read_only:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise corrupt_database_error(path, f"cannot use WAL mode ({mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
        db = LazyDatabase(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise (database_problem(path, exc) or corrupt_database_error(path, str(exc))) from exc
    except BaseException:
        conn.close()
        raise
    return db


def quick_check(db: sqlite_utils.Database) -> list[str]:
    """``PRAGMA quick_check``: ``[]`` if the file is sound, else SQLite's findings."""
    rows = [str(r[0]) for r in db.conn.execute("PRAGMA quick_check").fetchall()]
    return [] if rows == ["ok"] else rows


def open_database(path: Path, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open the node database: pragmas, ``quick_check``, then pending migrations.

    A damaged file raises :class:`CorruptDatabase` with a pointer to restore,
    never a raw ``sqlite3`` traceback.
    """
    db = connect(path)
    try:
        problems = quick_check(db)
        if problems:
            raise corrupt_database_error(path, problems[0][:200])
        if migrate:
            # Pending migrations run with a backup first and roll back on failure
            # (node/store/upgrade.py); that may reopen the connection.
            from .upgrade import upgrade_database

            db = upgrade_database(db, path)
        # The check read every page into this connection's cache (up to
        # _CACHE_KIB): give that memory back, so a node idles with only the
        # pages it goes on to use.
        db.conn.execute("PRAGMA shrink_memory")
    except sqlite3.DatabaseError as exc:
        with contextlib.suppress(sqlite3.Error):
            db.close()
        raise (database_problem(path, exc) or corrupt_database_error(path, str(exc))) from exc
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.close()
        raise
    return db


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """One atomic write: ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error.

    Nested use becomes a savepoint, so a function that writes can call
    another that writes and the whole stays one transaction.
    """
    conn = db.conn
    if conn.in_transaction:
        name = f"hedgerow_{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def read_snapshot(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """Run several reads against one consistent state of the database."""
    conn = db.conn
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
