"""Online backup and restore of the node database (SQLite's backup API).

* :func:`backup_to` copies a consistent snapshot to a file while the node
  keeps running: the copy is one backup step inside one read transaction,
  and in WAL mode the writer carries on meanwhile. The file is written
  beside its final name, synced, then renamed, so a crash never leaves a
  half backup under that name. It holds private records, so it is created
  with mode 0600.

What a backup holds: everything needed to bring the node back as it was,
except the key. It is one SQLite file: the database, plus a table
``backup_files`` holding the data directory's settings files
(:data:`~node.store.datadir.SETTINGS_FILES`: ``hedgerow.toml`` and the
pages' ``admin.json`` — the password hash, public pages and API token
hashes). It does **not** hold ``node.key``: back that up separately
(``hedgerow keys export`` or ``hedgerow keys sheet``). The table exists only
in backup copies: a restore writes the files back and drops it.
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
import secrets
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInput, NotFound, WrongNode
from .connection import (
    connect,
    corrupt_database_error,
    open_database,
    quick_check,
    write_transaction,
)
from .datadir import SETTINGS_FILES, database_path, key_path
from .ingest import entries_generation
from .keyfile import load_key_file
from .membership import membership_generation
from .node_state import NodeState, mark_needs_catch_up, read_node_state
from .schema import MIGRATIONS

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "BACKUP_FILES_TABLE",
    "MAX_SETTINGS_FILE_BYTES",
    "BackupContents",
    "backup_to",
    "check_backup",
    "integrity_problems",
    "read_settings_files",
    "restore_from",
    "restore_offline",
    "restore_settings_files",
]

#: The table of a backup copy that holds the data directory's settings files.
BACKUP_FILES_TABLE = "backup_files"
#: A settings file larger than this is not a settings file (and is not backed up).
MAX_SETTINGS_FILE_BYTES = 1024 * 1024


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """``PRAGMA integrity_check`` (the thorough one): ``[]`` if sound, else the findings."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    return [] if rows == ["ok"] else rows


def _copy(source: sqlite3.Connection, target: Path, *, files: Mapping[str, bytes] | None = None,
          check: bool = False) -> None:
    """Copy ``source`` into a new file ``target`` (mode 0600), durably and atomically.

    ``files`` go into the copy's :data:`BACKUP_FILES_TABLE`; with ``check``
    the copy must pass ``integrity_check`` before it takes the final name.
    """
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest)  # pages=-1: the whole database in one step, one snapshot
            # A self-contained file: no -wal beside it to lose when it is copied.
            dest.execute("PRAGMA journal_mode = DELETE")
            if files is not None:
                with dest:
                    dest.execute(f"CREATE TABLE {BACKUP_FILES_TABLE} "
                                 "(name TEXT PRIMARY KEY, content BLOB NOT NULL)")
                    dest.executemany(f"INSERT INTO {BACKUP_FILES_TABLE} VALUES (?, ?)",
                                     sorted(files.items()))
            if check:
                problems = integrity_problems(dest)
                if problems:
                    raise corrupt_database_error(target, problems[0][:200])
        finally:
            dest.close()
        _fsync(partial)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync(target.parent)


def read_settings_files(data_dir: Path) -> dict[str, bytes]:
    """The data directory's settings files that exist, by name (for a backup)."""
    out: dict[str, bytes] = {}
    for name in SETTINGS_FILES:
        path = Path(data_dir) / name
        try:
            with open(path, "rb") as handle:
                content = handle.read(MAX_SETTINGS_FILE_BYTES + 1)
        except FileNotFoundError:
            continue
        if len(content) <= MAX_SETTINGS_FILE_BYTES:
            out[name] = content
    return out


def backup_to(db: sqlite_utils.Database, target: Path, *,
              files: Mapping[str, bytes] | None = None, check: bool = False) -> int:
    """Write a consistent copy of the database (and ``files``) to ``target``; its size."""
    target = Path(target)
    if target.exists() and target.is_dir():
        raise InvalidInput(f"{target} is a directory; name the backup file", field="target")
    if not target.parent.is_dir():
        raise InvalidInput(f"the folder {target.parent} does not exist", field="target")
    _copy(db.conn, target, files=files if files is not None else {}, check=check)
    return target.stat().st_size


class BackupContents:
    """What a checked backup holds: the node state and the settings files."""

    def __init__(self, state: NodeState, files: dict[str, bytes]) -> None:
        self.state = state
        self.files = files


def _backup_files(conn: sqlite3.Connection) -> dict[str, bytes]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                          (BACKUP_FILES_TABLE,)).fetchone()
    if exists is None:
        return {}  # a backup made before backups held the settings
    return {str(name): bytes(content) for name, content in conn.execute(
        f"SELECT name, content FROM {BACKUP_FILES_TABLE}")
        if name in SETTINGS_FILES and len(content) <= MAX_SETTINGS_FILE_BYTES}


def restore_settings_files(data_dir: Path, files: Mapping[str, bytes], *,
                           names: tuple[str, ...] = SETTINGS_FILES) -> list[str]:
    """Write the backed-up settings files ``names`` into ``data_dir``; the names written.

    Each is written atomically with mode 0600. A file that differs from the
    one it replaces is kept beside it as ``<name>.before-restore``.
    """
    written = []
    for name in names:
        content = files.get(name)
        if content is None:
            continue
        path = Path(data_dir) / name
        with contextlib.suppress(FileNotFoundError):
            if path.read_bytes() == content:
                written.append(name)
                continue
            os.replace(path, path.with_name(name + ".before-restore"))
        temporary = path.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        written.append(name)
    _fsync(Path(data_dir))
    return written


def _drop_backup_files(db: sqlite_utils.Database) -> None:
    with write_transaction(db) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {BACKUP_FILES_TABLE}")


def read_backup(source: Path, *, thorough: bool = False) -> BackupContents:
    """Open the backup at ``source`` read-only, check it, and say what it holds.

    ``quick_check`` by default; ``thorough`` runs ``integrity_check``.
    """
    source = Path(source)
    if not source.is_file():
        raise NotFound(f"there is no backup file {source}")
    backup = connect(source, read_only=True)
    try:
        problems = integrity_problems(backup.conn) if thorough else quick_check(backup)
        if problems:
            raise corrupt_database_error(source, problems[0][:200])
        try:
            state = read_node_state(backup)
        except sqlite3.DatabaseError as exc:
            raise WrongNode(f"{source} is not a Hedgerow node backup") from exc
        files = _backup_files(backup.conn)
    except sqlite3.DatabaseError as exc:
        raise corrupt_database_error(source, str(exc)) from exc
    finally:
        backup.close()
    return BackupContents(state, files)


def check_backup(source: Path, *, node_id: bytes, network: bytes | None) -> NodeState:
    """Check that ``source`` is a sound backup of this node (and network, if known)."""
    return _check_backup(source, node_id=node_id, network=network).state


def _check_backup(source: Path, *, node_id: bytes, network: bytes | None) -> BackupContents:
    contents = read_backup(source)
    state = contents.state
    if state.node_id != node_id:
        raise WrongNode(f"{source} is a backup of another node; refusing to restore it here")
    if network is not None and state.network != network:
        raise WrongNode(f"{source} is a backup from another network; refusing to restore it")
    return contents


def restore_from(db: sqlite_utils.Database, source: Path, *, now_ms: int) -> dict[str, bytes]:
    """Replace the (running) node's database with the backup at ``source``.

    Returns the settings files the backup holds; the caller decides which to
    write back (a running node keeps the admin login it is being used with).
    """
    current = read_node_state(db)
    contents = _check_backup(source, node_id=current.node_id, network=current.network)
    generation = entries_generation(db)
    member_generation = membership_generation(db)
    backup = sqlite3.connect(Path(source).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        backup.backup(db.conn)
    finally:
        backup.close()
    _drop_backup_files(db)
    MIGRATIONS.apply(db)  # the backup may come from an older version of the node
    mark_needs_catch_up(db, highest_known=current.highest_own_version, now_ms=now_ms)
    # The restored set differs from what a running node has cached: move the
    # change counter past both databases' values (node/store/reconciliation.py).
    with write_transaction(db) as conn:
        conn.execute("UPDATE entries_generation SET value = max(value, ?) + 1", (generation,))
        # Likewise the members every process has cached (node/store/membership.py).
        conn.execute("UPDATE membership_state SET generation = max(generation, ?) + 1",
                     (member_generation,))
    return contents.files


def restore_offline(data_dir: Path, source: Path, *, now_ms: int) -> list[str]:
    """Restore a node that is *not running* (e.g. after corruption, or into a new directory).

    The database and the settings files the backup holds come back; returns
    the names of the settings files written.
    """
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
    contents = _check_backup(source, node_id=key.public, network=network)
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
        _drop_backup_files(db)
        mark_needs_catch_up(db, highest_known=highest_known, now_ms=now_ms)
    finally:
        db.close()
    return restore_settings_files(data_dir, contents.files)
