"""Upgrades that roll back: a backup before migrating, and the database put back on failure.

When a newer Hedgerow opens a database with migrations still to apply
(node/store/schema.py), :func:`upgrade_database`:

1. refuses a database that a *newer* Hedgerow has migrated (it holds
   migrations this version does not know), naming that version;
2. copies the database to ``hedgerow.db.before-upgrade`` (SQLite's backup
   API, checked) — a node upgraded from the oldest schema still supported
   (:data:`OLDEST_SUPPORTED`) on works the same way;
3. applies the pending migrations, then a first health check: the file is
   sound (``quick_check``), the node's state reads, every table answers;
4. on success, keeps the copy as ``hedgerow.db.previous-version`` (the way
   back to the older version) and records this version in ``software``;
5. on any failure, or if the process dies in the middle, puts the copy back
   (the next start finds ``before-upgrade`` still there and restores it
   before trying again) and raises :class:`UpgradeFailed`, which names the
   version that last ran the node: the database is exactly as it was.

A brand-new database needs none of this: it is simply created.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import CorruptDatabase, UpgradeFailed
from . import schema
from .migrations import Migrations

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "BEFORE_UPGRADE_SUFFIX",
    "OLDEST_SUPPORTED",
    "PREVIOUS_VERSION_SUFFIX",
    "applied_migrations",
    "known_migrations",
    "last_software_version",
    "software_version",
    "upgrade_database",
]

#: The oldest schema an upgrade starts from: every database Hedgerow has made.
OLDEST_SUPPORTED: Final = "m001_node_and_entries"
BEFORE_UPGRADE_SUFFIX: Final = ".before-upgrade"
PREVIOUS_VERSION_SUFFIX: Final = ".previous-version"


def software_version() -> str:
    try:
        return version("hedgerow")
    except PackageNotFoundError:
        return "0+unknown"


def known_migrations(migrations: Migrations | None = None) -> list[str]:
    """The names of every migration this version knows, in order."""
    # The registered migrations are kept in a private list (as sqlite-utils'
    # Migrations keeps them, which the tests' sets are); reading it here is the
    # only place that relies on it.
    return [m.name for m in (migrations or schema.MIGRATIONS)._migrations]


def applied_migrations(db: sqlite_utils.Database,
                       migrations: Migrations | None = None) -> list[str]:
    return [m.name for m in (migrations or schema.MIGRATIONS).applied(db)]


def last_software_version(db: sqlite_utils.Database) -> str | None:
    """The version of Hedgerow that last opened this database, if it recorded one."""
    try:
        row = db.conn.execute("SELECT version FROM software").fetchone()
    except sqlite3.OperationalError:
        return None  # before m040: not recorded
    return str(row[0]) if row else None


def _record_version(db: sqlite_utils.Database) -> None:
    if "software" not in db.table_names():
        return
    current = software_version()
    if last_software_version(db) == current:
        return
    with db.conn:
        db.conn.execute("INSERT INTO software (only_row, version, updated_ms) VALUES (1, ?, ?) "
                        "ON CONFLICT (only_row) DO UPDATE SET version = excluded.version, "
                        "updated_ms = excluded.updated_ms",
                        (current, time.time_ns() // 1_000_000))


def _copy_database(source: Path, target: Path) -> None:
    """A durable, checked copy of the database file ``source`` at ``target``."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(partial)
        try:
            src.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")
            if dest.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise CorruptDatabase(f"the copy of {source} made before upgrading is damaged; "
                                      "nothing has been changed")
        finally:
            dest.close()
    finally:
        src.close()
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, target)


def _put_back(copy: Path, path: Path) -> None:
    """Replace the database at ``path`` with ``copy`` (the node is not using it)."""
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    _copy_database(copy, path)
    copy.unlink()


def _health_check(db: sqlite_utils.Database) -> None:
    from .connection import quick_check
    from .node_state import read_node_state

    problems = quick_check(db)
    if problems:
        raise CorruptDatabase(problems[0][:200])
    read_node_state(db)
    for table in db.table_names():
        db.conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()


def _went_back_message(db_version: str | None, failed: str, why: str) -> str:
    back = (f"Hedgerow {db_version} (pip install 'hedgerow=={db_version}')" if db_version
            else "the version of Hedgerow that ran this node before")
    return (f"upgrading the database to Hedgerow {software_version()} failed at {failed} "
            f"({why[:200]}); the database has been put back exactly as it was. Go back to "
            f"{back} and report the problem")


def upgrade_database(db: sqlite_utils.Database, path: Path, *,
                     migrations: Migrations | None = None) -> sqlite_utils.Database:
    """Apply pending migrations to the open database at ``path``, rolling back on failure.

    Returns the (possibly reopened) database connection; on failure the
    connection is closed and :class:`UpgradeFailed` raised.
    """
    from .connection import connect

    migrations = migrations or schema.MIGRATIONS
    path = Path(path)
    copy = path.with_name(path.name + BEFORE_UPGRADE_SUFFIX)
    if copy.exists():
        # An upgrade was interrupted (the machine lost power mid-way): go back first.
        db.close()
        _put_back(copy, path)
        db = connect(path)
    known = known_migrations(migrations)
    applied = applied_migrations(db, migrations)
    unknown = [name for name in applied if name not in known]
    if unknown:
        last = last_software_version(db)
        db.close()
        raise UpgradeFailed(
            f"this database was upgraded by a newer version of Hedgerow"
            f"{f' ({last})' if last else ''}: it has schema changes this version "
            f"({software_version()}) does not know ({', '.join(unknown[:3])}). Install "
            f"that version again{f' (pip install hedgerow=={last})' if last else ''}")
    pending = [m.name for m in migrations.pending(db)]
    if not pending:
        _record_version(db)
        return db
    if not applied:  # a new database: nothing to keep
        migrations.apply(db)
        _record_version(db)
        return db
    db_version = last_software_version(db)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _copy_database(path, copy)
    failed_at = "the first health check"
    try:
        try:
            migrations.apply(db)
        except Exception:
            still = [m.name for m in migrations.pending(db)]
            failed_at = f"migration {still[0]}" if still else "a migration"
            raise
        _health_check(db)
        _record_version(db)
    except Exception as exc:
        with contextlib.suppress(Exception):
            db.close()
        _put_back(copy, path)
        raise UpgradeFailed(_went_back_message(db_version, failed_at, str(exc) or
                                               type(exc).__name__)) from exc
    os.replace(copy, path.with_name(path.name + PREVIOUS_VERSION_SUFFIX))
    return db
