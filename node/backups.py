"""Backups by default: a checked backup every night, kept in rotation, copied to a second place.

A running node (:class:`NightlyBackups`, owned by :class:`node.service.NodeService`)
takes a backup when one is due: once per *backup day*, a day that starts at
``backup_hour`` local time. A node that was switched off at night takes its
backup soon after it starts instead, so a Pi that is only on in the daytime
still has backups.

Each backup is the node's own backup (:meth:`node.store.Store.backup`: the
database and the settings files, not the key), checked with
``integrity_check`` before it takes its final name
``hedgerow-YYYYMMDDTHHMMSSZ.db`` in the backup folder (``backup_dir``,
default ``backups/`` in the data directory). Then:

* **rotation** (:func:`backups_to_keep`): the newest backup of each of the
  last ``backup_keep_daily`` days that have one, and the newest of each of
  the last ``backup_keep_weekly`` ISO weeks that have one; the rest are
  deleted;
* **a second place** (``backup_copy_dir``): the file is copied there (a USB
  stick or a network share, because an SD card that dies takes its own
  backups with it) and the same rotation applies there. A copy that fails
  is reported, and the backup itself still counts.

:func:`backup_health` says when the last good backup was taken and whether
it is *stale* (older than :data:`STALE_AFTER_MS`, two days): ``hedgerow
status``, the pages, ``/healthz`` and ``hedgerow doctor`` all show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Final

from .errors import InvalidInput, LocalProblem
from .events import BackupFailed, BackupTaken, EventBus
from .settings import Config
from .store.store import Store

__all__ = [
    "BACKUP_FOLDER",
    "CHECK_EVERY_S",
    "STALE_AFTER_MS",
    "BackupFile",
    "BackupHealth",
    "NightlyBackups",
    "RestoreCheck",
    "backup_due",
    "backup_folder",
    "backup_health",
    "backup_name",
    "backups_to_keep",
    "check_restorable",
    "list_backups",
    "take_backup",
]

log = logging.getLogger(__name__)

BACKUP_FOLDER: Final = "backups"
#: A last good backup older than this is reported (status, pages, /healthz, doctor).
STALE_AFTER_MS: Final = 2 * 86_400_000
#: How often a running node looks whether a backup is due.
CHECK_EVERY_S: Final = 600.0
_NAME = re.compile(r"^hedgerow-(\d{8}T\d{6})Z\.db$")


@dataclass(frozen=True, slots=True)
class BackupFile:
    path: Path
    taken_ms: int
    size: int


def backup_name(taken_ms: int) -> str:
    """The file name of a backup taken at ``taken_ms``: ``hedgerow-20261206T033000Z.db``."""
    stamp = datetime.fromtimestamp(taken_ms / 1000, UTC).strftime("%Y%m%dT%H%M%S")
    return f"hedgerow-{stamp}Z.db"


def _taken_ms(name: str) -> int | None:
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        when = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(when.timestamp() * 1000)


def backup_folder(data_dir: Path, config: Config) -> Path:
    """Where the nightly backups go: ``backup_dir``, else ``backups/`` in the data directory."""
    return Path(config.backup_dir).expanduser() if config.backup_dir else (
        Path(data_dir) / BACKUP_FOLDER)


def list_backups(folder: Path) -> list[BackupFile]:
    """The nightly backups in ``folder``, newest first (other files are ignored)."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        taken = _taken_ms(entry.name)
        if taken is None or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            out.append(BackupFile(Path(entry.path), taken, entry.stat().st_size))
    return sorted(out, key=lambda b: b.taken_ms, reverse=True)


def backups_to_keep(taken: Iterable[int], *, daily: int, weekly: int,
                    tz: tzinfo | None = None) -> set[int]:
    """Which backups (by time taken, ms) rotation keeps.

    As restic's ``--keep-daily``/``--keep-weekly``: the newest backup of each
    of the ``daily`` most recent local days that have one, and the newest of
    each of the ``weekly`` most recent ISO weeks that have one. A backup may
    be both (the newest of all always is), so at most ``daily + weekly``
    files are kept, reaching back about ``weekly`` weeks.
    """
    def local(ms: int) -> datetime:
        return (datetime.fromtimestamp(ms / 1000, tz) if tz is not None
                else datetime.fromtimestamp(ms / 1000).astimezone())

    def day(when: datetime) -> object:
        return when.date()

    def week(when: datetime) -> object:
        return tuple(when.isocalendar())[:2]

    newest_first = sorted(set(taken), reverse=True)
    keep: set[int] = set()
    for count, bucket in ((daily, day), (weekly, week)):
        seen: set[object] = set()
        for ms in newest_first:
            key = bucket(local(ms))
            if key not in seen and len(seen) < count:
                seen.add(key)
                keep.add(ms)
    return keep


def backup_due(now_ms: int, last_ms: int | None, *, hour: int,
               tz: tzinfo | None = None) -> bool:
    """True when no backup has been taken since the current backup day began.

    A backup day begins at ``hour`` local time (so the backup runs at night);
    a node that was off then takes its backup as soon as it is running.
    """
    if last_ms is None:
        return True
    now = (datetime.fromtimestamp(now_ms / 1000, tz) if tz is not None
           else datetime.fromtimestamp(now_ms / 1000).astimezone())
    start = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if now < start:
        start -= timedelta(days=1)
    return last_ms < int(start.timestamp() * 1000)


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy_file(source: Path, folder: Path) -> Path:
    """Copy ``source`` into ``folder`` durably, under the same name (written, synced, renamed)."""
    if not folder.is_dir():
        raise LocalProblem(f"the second backup place {folder} is not there (is the USB stick "
                           "or network share mounted?)")
    target = folder / source.name
    partial = folder / f".{source.name}.{secrets.token_hex(4)}.partial"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise LocalProblem(f"could not copy the backup to {folder}: "
                           f"{exc.strerror or exc}") from exc
    _fsync_path(folder)
    return target


def _prune(folder: Path, config: Config) -> list[Path]:
    backups = list_backups(folder)
    keep = backups_to_keep((b.taken_ms for b in backups), daily=config.backup_keep_daily,
                           weekly=config.backup_keep_weekly)
    removed = []
    for backup in backups:
        if backup.taken_ms not in keep:
            with contextlib.suppress(FileNotFoundError):
                backup.path.unlink()
                removed.append(backup.path)
    return removed


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    size: int
    copied_to: Path | None
    copy_error: str | None
    removed: tuple[Path, ...]


async def take_backup(store: Store, config: Config, *, now_ms: int | None = None) -> BackupReport:
    """Take a checked backup into the backup folder now, rotate, and copy it to the second place."""
    taken = store.now_ms() if now_ms is None else now_ms
    folder = backup_folder(store.data_dir, config)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalProblem(f"cannot create the backup folder {folder}: "
                           f"{exc.strerror or exc}") from exc
    path = folder / backup_name(taken)
    size = await store.backup(path, check=True)
    removed = await asyncio.to_thread(_prune, folder, config)
    copied_to, copy_error = None, None
    if config.backup_copy_dir:
        second = Path(config.backup_copy_dir).expanduser()
        try:
            copied_to = await asyncio.to_thread(_copy_file, path, second)
            removed += await asyncio.to_thread(_prune, second, config)
        except LocalProblem as exc:
            copy_error = exc.message
    return BackupReport(path, size, copied_to, copy_error, tuple(removed))


@dataclass(frozen=True, slots=True)
class BackupHealth:
    """How the node's backups are doing, for status, the pages, /healthz and doctor."""

    enabled: bool
    folder: str
    count: int
    last_ms: int | None
    last_file: str | None
    stale: bool
    copy_folder: str | None
    copy_last_ms: int | None

    def to_json(self) -> dict[str, object]:
        return {"enabled": self.enabled, "folder": self.folder, "count": self.count,
                "last_ms": self.last_ms, "last_file": self.last_file, "stale": self.stale,
                "copy_folder": self.copy_folder, "copy_last_ms": self.copy_last_ms}


def backup_health(data_dir: Path, config: Config, *, now_ms: int,
                  created_ms: int) -> BackupHealth:
    """The last good backup and whether it is stale (older than two days).

    A node younger than two days with no backup yet is not stale.
    """
    folder = backup_folder(data_dir, config)
    backups = list_backups(folder)
    last = backups[0] if backups else None
    since = last.taken_ms if last is not None else created_ms
    copy_folder = Path(config.backup_copy_dir).expanduser() if config.backup_copy_dir else None
    copies = list_backups(copy_folder) if copy_folder is not None else []
    return BackupHealth(
        enabled=config.backups, folder=str(folder), count=len(backups),
        last_ms=last.taken_ms if last else None, last_file=str(last.path) if last else None,
        stale=now_ms - since > STALE_AFTER_MS,
        copy_folder=str(copy_folder) if copy_folder is not None else None,
        copy_last_ms=copies[0].taken_ms if copies else None)


class NightlyBackups:
    """The running node's backup job: looks every :data:`CHECK_EVERY_S` whether one is due."""

    def __init__(self, store: Store, config: Config, events: EventBus, *,
                 check_every_s: float = CHECK_EVERY_S,
                 tz: tzinfo | None = None) -> None:
        self.store, self.config, self.events = store, config, events
        self.check_every_s = check_every_s
        self.tz = tz
        self.last_error: str | None = None
        self.last_copy_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()

    def _last_ms(self) -> int | None:
        backups = list_backups(backup_folder(self.store.data_dir, self.config))
        return backups[0].taken_ms if backups else None

    async def run_if_due(self) -> BackupReport | None:
        """Take a backup if one is due; None if not. Failures are reported, not raised."""
        now = self.store.now_ms()
        if not backup_due(now, await asyncio.to_thread(self._last_ms),
                          hour=self.config.backup_hour, tz=self.tz):
            return None
        return await self.run_now()

    async def run_now(self) -> BackupReport | None:
        async with self._lock:
            try:
                report = await take_backup(self.store, self.config)
            except (LocalProblem, InvalidInput) as exc:
                self.last_error = exc.message
                self.events.publish(BackupFailed(exc.message))
                return None
            except OSError as exc:
                self.last_error = f"the backup failed: {exc.strerror or exc}"
                self.events.publish(BackupFailed(self.last_error))
                return None
        self.last_error = None
        self.last_copy_error = report.copy_error
        self.events.publish(BackupTaken(str(report.path), report.size,
                                        str(report.copied_to) if report.copied_to else None,
                                        report.copy_error))
        return report

    def start(self) -> None:
        if self._task is None and self.config.backups:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="hedgerow-backups")

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_if_due()
            except Exception:  # never let the job die: the next check tries again
                log.exception("the nightly backup check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.check_every_s)

    async def stop(self) -> None:
        """Stop looking; a backup being written is finished first (a few seconds at most)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), 30)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


# --- checking a backup by restoring it -------------------------------------------------

@dataclass(frozen=True, slots=True)
class RestoreCheck:
    """What ``hedgerow backup test FILE`` found by restoring a backup into a scratch folder."""

    file: str
    size: int
    node_id: bytes
    network: bytes
    created_ms: int
    taken_ms: int | None
    practices: int
    entries: int
    settings_files: tuple[str, ...]
    this_node: bool | None  # None: no key here to compare with

    def to_json(self) -> dict[str, object]:
        from protocol import id_to_text

        return {"file": self.file, "size": self.size, "node_id": id_to_text(self.node_id),
                "network": id_to_text(self.network, "network"), "created_ms": self.created_ms,
                "taken_ms": self.taken_ms, "practices": self.practices,
                "entries": self.entries, "settings_files": list(self.settings_files),
                "this_node": self.this_node}


def check_restorable(source: Path, *, node_id: bytes | None = None) -> RestoreCheck:
    """Restore ``source`` into a temporary folder and check what comes back.

    The copy must pass ``integrity_check``, open and migrate with this version
    of Hedgerow, and its settings files must read as settings. ``node_id``:
    also say whether it is a backup of that node. Nothing outside the
    temporary folder is touched.
    """
    import sqlite3
    import tempfile

    from .settings import load_config
    from .store.backup import read_backup, restore_settings_files
    from .store.connection import open_database
    from .store.datadir import ADMIN_FILE, DATABASE_FILE

    source = Path(source)
    contents = read_backup(source, thorough=True)
    with tempfile.TemporaryDirectory(prefix="hedgerow-backup-test-") as scratch:
        folder = Path(scratch)
        copy = folder / DATABASE_FILE
        with contextlib.closing(sqlite3.connect(source.resolve().as_uri() + "?mode=ro",
                                                uri=True)) as src, \
                contextlib.closing(sqlite3.connect(copy)) as dest:
            src.backup(dest)
        db = open_database(copy)  # checks it, and migrates it as an upgrade would
        try:
            practices = db.conn.execute("SELECT count(*) FROM practices").fetchone()[0]
            entries = db.conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        finally:
            db.close()
        restore_settings_files(folder, contents.files)
        load_config(folder, environ={})  # the settings file must still be valid
        if ADMIN_FILE in contents.files:
            import json

            try:
                json.loads(contents.files[ADMIN_FILE].decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"{source}: its admin.json is damaged") from exc
    state = contents.state
    return RestoreCheck(
        file=str(source), size=source.stat().st_size, node_id=state.node_id,
        network=state.network, created_ms=state.created_ms, taken_ms=_taken_ms(source.name),
        practices=int(practices), entries=int(entries),
        settings_files=tuple(sorted(contents.files)),
        this_node=None if node_id is None else node_id == state.node_id)
