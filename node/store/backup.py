"""Online backup and restore of the node database (SQLite's backup API).

* :func:`backup_to` copies a consistent snapshot to a file while the node
  keeps running: the copy is one backup step inside one read transaction,
  and in WAL mode the writer carries on meanwhile. The file is written
  beside its final name, synced, then renamed, so a crash never leaves a
  half backup under that name. It holds private records, so it is created
  with mode 0600. It does **not** hold the key file: back that up too.
* :func:`restore_from` replaces a running node's database with a backup,
  through the writer connection (other connections see the restored data
  at their next read).
* :func:`restore_offline` does the same for a node that is not running
  (the way out of :class:`CorruptDatabase`).

A backup is checked before anything is replaced (``quick_check``, and that
it belongs to this node and network). After a restore the node may be
missing entries it published after the backup was made, so the restore
sets ``needs_catch_up`` and keeps the clock's memory of the highest
version it had used (DESIGN.md "Entry identity and versions").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import sqlite_utils

from ..errors import InvalidInput, NotFound, WrongNode
from .connection import (
    connect,
    corrupt_database_error,
    open_database,
    quick_check,
    write_transaction,
)
from .datadir import database_path, key_path
from .ingest import entries_generation
from .keyfile import load_key_file
from .membership import membership_generation
from .node_state import NodeState, mark_needs_catch_up, read_node_state
from .schema import MIGRATIONS

__all__ = ["backup_to", "check_backup", "restore_from", "restore_offline"]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """Copy ``source`` into a new file ``target`` (mode 0600), durably and atomically."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    dest = sqlite3.connect(partial)
    try:
        source.backup(dest)  # pages=-1: the whole database in one step, one snapshot
        # A self-contained file: no -wal beside it to lose when it is copied.
        dest.execute("PRAGMA journal_mode = DELETE")
    finally:
        dest.close()
    _fsync(partial)
    os.replace(partial, target)
    _fsync(target.parent)


def backup_to(db: sqlite_utils.Database, target: Path) -> int:
    """Write a consistent copy of the database to ``target``; return its size in bytes."""
    target = Path(target)
    if target.exists() and target.is_dir():
        raise InvalidInput(f"{target} is a directory; name the backup file", field="target")
    if not target.parent.is_dir():
        raise InvalidInput(f"the folder {target.parent} does not exist", field="target")
    _copy(db.conn, target)
    return target.stat().st_size


def check_backup(source: Path, *, node_id: bytes, network: bytes | None) -> NodeState:
    """Check that ``source`` is a sound backup of this node (and network, if known)."""
    source = Path(source)
    if not source.is_file():
        raise NotFound(f"there is no backup file {source}")
    backup = connect(source, read_only=True)
    try:
        problems = quick_check(backup)
        if problems:
            raise corrupt_database_error(source, problems[0][:200])
        try:
            state = read_node_state(backup)
        except sqlite3.DatabaseError as exc:
            raise WrongNode(f"{source} is not a Hedgerow node backup") from exc
    except sqlite3.DatabaseError as exc:
        raise corrupt_database_error(source, str(exc)) from exc
    finally:
        backup.close()
    if state.node_id != node_id:
        raise WrongNode(f"{source} is a backup of another node; refusing to restore it here")
    if network is not None and state.network != network:
        raise WrongNode(f"{source} is a backup from another network; refusing to restore it")
    return state


def restore_from(db: sqlite_utils.Database, source: Path, *, now_ms: int) -> None:
    """Replace the (running) node's database with the backup at ``source``."""
    current = read_node_state(db)
    check_backup(source, node_id=current.node_id, network=current.network)
    generation = entries_generation(db)
    member_generation = membership_generation(db)
    backup = sqlite3.connect(Path(source).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        backup.backup(db.conn)
    finally:
        backup.close()
    MIGRATIONS.apply(db)  # the backup may come from an older version of the node
    mark_needs_catch_up(db, highest_known=current.highest_own_version, now_ms=now_ms)
    # The restored set differs from what a running node has cached: move the
    # change counter past both databases' values (node/store/reconciliation.py).
    with write_transaction(db) as conn:
        conn.execute("UPDATE entries_generation SET value = max(value, ?) + 1", (generation,))
        # Likewise the members every process has cached (node/store/membership.py).
        conn.execute("UPDATE membership_state SET generation = max(generation, ?) + 1",
                     (member_generation,))


def restore_offline(data_dir: Path, source: Path, *, now_ms: int) -> None:
    """Restore the database of a node that is *not running* (e.g. after corruption)."""
    key = load_key_file(key_path(data_dir))
    path = database_path(data_dir)
    highest_known = 0
    network = None
    # What the damaged or old database still tells us, if anything: a
    # damaged file may fail in any way here, and the backup stands alone.
    with contextlib.suppress(Exception):
        old = connect(path) if path.exists() else None
        if old is not None:
            try:
                state = read_node_state(old)
                highest_known, network = state.highest_own_version, state.network
            finally:
                old.close()
    check_backup(source, node_id=key.public, network=network)
    staged = path.with_name(path.name + ".restoring")
    backup = sqlite3.connect(Path(source).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        _copy(backup, staged)
    finally:
        backup.close()
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(staged, path)
    _fsync(path.parent)
    db = open_database(path)
    try:
        mark_needs_catch_up(db, highest_known=highest_known, now_ms=now_ms)
    finally:
        db.close()
