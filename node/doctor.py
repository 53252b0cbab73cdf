"""``hedgerow doctor``: is this node well, and if not, what to do — one line per finding.

Each check gives a :class:`Finding`: ``ok``, ``warn`` (worth knowing) or
``action`` (needs someone to do something; ``doctor`` then exits 1). The
same checks are on the pages (``/doctor``).

* **disk** — free space where the data directory is;
* **clock** — this machine's clock against its peers' (their signature
  times at the last sessions: node/sync/client.py records the offsets);
* **storage wear** — on an SD card, how much the card is written a day
  (the kernel's counters since boot), with hints to write less;
* **database** — ``PRAGMA integrity_check``;
* **peers** — whether any answered lately;
* **backups** — the last good one, the second place;
* **reachable** — when the node announces addresses (``public_url`` or its
  profile), whether they answer as this node;
* **claim** — listening on every interface while the pages have no admin
  password yet (anyone on the network could claim the node).

:func:`write_bundle` writes a diagnostic bundle (a zip) for whoever helps:
the findings, versions, settings, counts, peers' addresses and outcomes,
backup files' names and sizes. Nothing private: no record, no organisation
detail, no admin state, no key (tests/node/test_doctor.py plants canaries).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import sqlite3
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

from .backups import BACKUP_FOLDER, backup_folder, backup_health, list_backups
from .settings import SETTINGS, Config
from .store import backup as store_backup
from .store.datadir import DATABASE_FILE
from .store.store import Store
from .store.upgrade import applied_migrations, software_version
from .sync import peerbook
from .web.admin import AdminFile

__all__ = ["Finding", "needs_action", "run_checks", "write_bundle"]

OK: Final = "ok"
WARN: Final = "warn"
ACTION: Final = "action"
_MB: Final = 1024 * 1024
DAY_MS: Final = 86_400_000
#: Free space below which the node may soon fail to write (a nightly backup needs room too).
_DISK_ACTION_BYTES: Final = 200 * _MB
_DISK_WARN_BYTES: Final = 1024 * _MB
_CLOCK_WARN_S: Final = 10
_CLOCK_ACTION_S: Final = 60
#: An SD card written more than this a day is worth looking at.
_SD_WRITES_WARN_PER_DAY: Final = 2 * 1024 * _MB
_PROBE_TIMEOUT_S: Final = 5.0
_WILDCARDS: Final = ("0.0.0.0", "::", "")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: str  # ok, warn, action
    message: str

    def line(self) -> str:
        return f"{self.status:6}  {self.check:13} {self.message}"


def needs_action(findings: Sequence[Finding]) -> bool:
    return any(f.status == ACTION for f in findings)


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def check_disk(data_dir: Path) -> Finding:
    usage = shutil.disk_usage(data_dir)
    free = usage.free
    text = f"{_size(free)} free of {_size(usage.total)} where the data is"
    if free < _DISK_ACTION_BYTES:
        return Finding("disk", ACTION, f"only {text}: free some space, or move the data "
                       "directory to a larger disk, before the node cannot write")
    if free < _DISK_WARN_BYTES or free < usage.total * 0.05:
        return Finding("disk", WARN, f"{text}: running low; free some space soon")
    return Finding("disk", OK, text)


def check_clock(offsets: Sequence[int], recent_errors: Sequence[str]) -> Finding:
    skew_errors = [e for e in recent_errors if "in the future" in e or "too old" in e
                   or "expired" in e]
    if not offsets:
        if skew_errors:
            return Finding("clock", ACTION, "peers refuse this node's signatures as badly "
                           "timed: check this machine's clock and time zone, and turn on "
                           "time sync (sudo timedatectl set-ntp true)")
        return Finding("clock", OK, "no peer to compare with yet")
    ordered = sorted(offsets)
    middle = ordered[len(ordered) // 2]  # peers' clocks minus ours
    if abs(middle) >= _CLOCK_WARN_S:
        way = "behind" if middle > 0 else "ahead of"
        status = ACTION if abs(middle) >= _CLOCK_ACTION_S else WARN
        return Finding("clock", status, f"this machine's clock is about {abs(middle)} s {way} "
                       f"its peers' ({len(offsets)} compared): turn on time sync (sudo "
                       "timedatectl set-ntp true); signatures more than 5 minutes off are "
                       "refused")
    return Finding("clock", OK, f"within {max(abs(middle), 1)} s of its peers' "
                   f"({len(offsets)} compared)")


def _block_device(path: Path) -> tuple[str, Path] | None:
    """The whole disk holding ``path`` and its /sys folder, if the kernel says."""
    try:
        st = os.stat(path)
        device = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}").resolve()
    except OSError:
        return None
    if not (device / "stat").exists():
        return None
    disk = device.parent if (device / "partition").exists() else device
    return disk.name, disk


def _uptime_s() -> float:
    """Seconds since boot (the block device's counters start then)."""
    return float(Path("/proc/uptime").read_text().split()[0])


def check_wear(data_dir: Path) -> Finding:
    found = _block_device(data_dir)
    if found is None:
        return Finding("storage wear", OK, "not measured here (no block device counters)")
    name, sys_path = found
    try:
        sectors = int((sys_path / "stat").read_text().split()[6])
        uptime = _uptime_s()
    except (OSError, ValueError, IndexError):
        return Finding("storage wear", OK, "not measured here")
    per_day = sectors * 512 / max(uptime, 1) * 86_400
    sd_card = name.startswith("mmcblk")
    kind = "SD card" if sd_card else "disk"
    text = f"the {kind} {name} is written about {_size(per_day)} a day (since boot)"
    if sd_card and per_day > _SD_WRITES_WARN_PER_DAY:
        return Finding("storage wear", WARN, f"{text}: that wears an SD card out; keep the "
                       "nightly backups on a USB stick (backup_dir), lower log_level, or move "
                       "the data to a USB SSD")
    return Finding("storage wear", OK, text)


def _integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=10)
    try:
        return store_backup.integrity_problems(conn)
    finally:
        conn.close()


async def check_database(store: Store) -> Finding:
    try:
        problems = await asyncio.to_thread(_integrity, store.data_dir / DATABASE_FILE)
    except sqlite3.Error as exc:
        return Finding("database", ACTION, f"the database cannot be checked ({exc}); restore "
                       "the last good backup (`hedgerow restore FILE`)")
    if problems:
        return Finding("database", ACTION, f"the database is damaged ({problems[0][:120]}); "
                       "stop the node and restore the last good backup (`hedgerow restore "
                       "FILE`; `hedgerow backup list` shows them)")
    return Finding("database", OK, "integrity check passed")


def check_peers(peers: Sequence[peerbook.PeerRow], now_ms: int) -> Finding:
    if not peers:
        return Finding("peers", WARN, "no peers yet: join with an invitation, or add one "
                       "(`hedgerow peer add URL`)")
    recent = [p for p in peers if p.health.last_success_ms is not None
              and now_ms - p.health.last_success_ms < DAY_MS]
    if not recent:
        last = max((p.health.last_success_ms or 0) for p in peers)
        when = "ever" if not last else f"for {(now_ms - last) // 3_600_000} hours"
        return Finding("peers", ACTION, f"none of the {len(peers)} peers has answered {when}: "
                       "check this machine's network connection, and the peers' addresses "
                       "(`hedgerow peer list`)")
    failing = [p for p in peers if p.health.failures]
    if failing:
        return Finding("peers", WARN, f"{len(recent)} of {len(peers)} peers answered in the "
                       f"last day; {len(failing)} are failing (`hedgerow peer list` says why)")
    return Finding("peers", OK, f"{len(recent)} of {len(peers)} peers answered in the last day")


def check_backups(data_dir: Path, config: Config, *, now_ms: int, created_ms: int,
                  last_error: str | None = None) -> list[Finding]:
    health = backup_health(data_dir, config, now_ms=now_ms, created_ms=created_ms)
    out = []
    if not config.backups:
        out.append(Finding("backups", ACTION, "nightly backups are off: set backups = true in "
                           "hedgerow.toml (or take them yourself: `hedgerow backup now`)"))
    elif health.stale:
        age = "none yet" if health.last_ms is None else (
            f"the last is {(now_ms - health.last_ms) // DAY_MS} days old")
        out.append(Finding("backups", ACTION, f"no good backup in 2 days ({age}): run "
                           f"`hedgerow backup now` and read what it says; is `hedgerow up` "
                           f"running, and can it write to {health.folder}?"))
    elif last_error:
        out.append(Finding("backups", ACTION, f"the last backup failed: {last_error}"))
    elif health.last_ms is None:
        out.append(Finding("backups", OK, "none yet: the running node takes the first tonight "
                           "(or now: `hedgerow backup now`)"))
    else:
        hours = (now_ms - health.last_ms) // 3_600_000
        out.append(Finding("backups", OK, f"last good backup {hours} hours ago, "
                           f"{health.count} kept in {health.folder}"))
    if health.copy_folder is None:
        out.append(Finding("second place", WARN, "backups are only on this machine: set "
                           "backup_copy_dir to a USB stick or network share (an SD card that "
                           "dies takes its own backups with it)"))
    elif not Path(health.copy_folder).is_dir():
        out.append(Finding("second place", ACTION, f"the second backup place "
                           f"{health.copy_folder} is not there: plug in or mount it"))
    elif health.last_ms is not None and (health.copy_last_ms or 0) < health.last_ms:
        out.append(Finding("second place", WARN, f"the last backup was not copied to "
                           f"{health.copy_folder}: can the node write there?"))
    else:
        out.append(Finding("second place", OK, f"backups are copied to {health.copy_folder}"))
    return out


async def _answers_as(http: aiohttp.ClientSession, address: str, node_id: str) -> str | None:
    """None if ``address`` answers as this node; else what went wrong."""
    url = f"{address.rstrip('/')}/.well-known/hedgerow"
    try:
        async with http.get(url, allow_redirects=False) as response:
            if response.status != 200:
                return f"it answered {response.status}"
            body = await response.content.read(64 * 1024)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return f"no answer ({type(exc).__name__})"
    try:
        answered = json.loads(body).get("node_id")
    except (ValueError, AttributeError):
        return "it did not answer as a Hedgerow node"
    return None if answered == node_id else "another node answered there"


async def check_reachable(addresses: Sequence[str], node_id: str) -> Finding:
    if not addresses:
        return Finding("reachable", OK, "this node announces no address (it syncs by calling "
                       "its peers, which is fine behind a home router)")
    timeout = aiohttp.ClientTimeout(total=_PROBE_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        problems = [(a, await _answers_as(http, a, node_id)) for a in addresses[:5]]
    failing = [(a, why) for a, why in problems if why]
    if failing:
        address, why = failing[0]
        return Finding("reachable", ACTION, f"this node announces {address}, but {why}: check "
                       "the router's port forwarding or the proxy, or stop announcing it "
                       "(public_url, the profile's addresses, or reachable = false)")
    return Finding("reachable", OK, f"answers at {', '.join(a for a, _ in problems)}")


def check_claim(config: Config, data_dir: Path) -> Finding:
    claimed = AdminFile(data_dir).read().claimed
    if config.host in _WILDCARDS and not claimed:
        return Finding("claim", ACTION, "the node listens on every network interface and its "
                       "pages have no admin password yet: anyone on this network could claim "
                       "it. Open the pages now and set it (`hedgerow setup-code` shows the "
                       "code), or set host = \"127.0.0.1\" until you do")
    if not claimed:
        return Finding("claim", WARN, "the pages have no admin password yet: open them and "
                       "set one (`hedgerow setup-code` shows the code)")
    return Finding("claim", OK, "the pages have an admin password")


async def run_checks(store: Store, config: Config, *, network: bool = True,
                     last_backup_error: str | None = None) -> list[Finding]:
    """Every check, in order. ``network=False`` skips probing the announced addresses."""
    now = store.now_ms()
    state = await store.state()
    peers = await store.db.read(peerbook.list_peers)
    offsets = await store.db.read(peerbook.clock_offsets, since_ms=now - 7 * DAY_MS)
    findings = [check_disk(store.data_dir),
                check_clock(offsets, [p.last_error for p in peers if p.last_error]),
                await asyncio.to_thread(check_wear, store.data_dir),
                await check_database(store),
                check_peers(peers, now),
                *check_backups(store.data_dir, config, now_ms=now, created_ms=state.created_ms,
                               last_error=last_backup_error)]
    # What the profile announces: the addresses the group typed and those the
    # running node adds (public_url, or where it listens: node/sync/announce.py).
    addresses = [config.public_url] if config.public_url else []
    typed = (await store.get_organisation()).addresses
    addresses += [a for a in (*typed, *(await store.announced()).addresses)
                  if a not in addresses]
    if network:
        findings.append(await check_reachable(addresses, store.key.node_id))
    findings.append(check_claim(config, store.data_dir))
    return findings


# --- the diagnostic bundle -------------------------------------------------------------

async def _facts(store: Store, config: Config) -> dict[str, Any]:
    """What helps someone help: versions, settings, counts, peers, files. Nothing private."""
    def counts(db: Any) -> dict[str, Any]:
        kinds = dict(db.execute("SELECT kind, count(*) FROM entries GROUP BY kind").fetchall())
        return {"entries_by_kind": kinds,
                "authors": db.execute("SELECT count(DISTINCT author) FROM entries").fetchone()[0],
                "practice_records": db.execute("SELECT count(*) FROM practices").fetchone()[0],
                "forks": db.execute("SELECT count(*) FROM forks").fetchone()[0],
                "migrations": applied_migrations(db)}

    peers = await store.db.read(peerbook.list_peers)
    database = store.data_dir / DATABASE_FILE
    wal = Path(f"{database}-wal")
    folder = backup_folder(store.data_dir, config)
    return {
        "software": {"hedgerow": software_version(), "python": sys.version.split()[0],
                     "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
                     "machine": platform.machine()},
        "node": {"node_id": store.key.node_id,
                 "needs_catch_up": (await store.state()).needs_catch_up},
        "settings": {s.name: getattr(config, s.name) for s in SETTINGS},
        "store": {**await store.db.read(counts), "database_bytes": database.stat().st_size,
                  "wal_bytes": wal.stat().st_size if wal.exists() else 0},
        "peers": [{"address": p.address, "source": p.source,
                   "last_sync_ms": p.last_sync_ms, "last_outcome": p.last_outcome,
                   "last_error": p.last_error, "failures": p.health.failures}
                  for p in peers],
        "backups": {"folder": str(folder), "files": [
            {"name": b.path.name, "taken_ms": b.taken_ms, "size": b.size}
            for b in list_backups(folder)]},
        "data_dir_files": sorted(p.name for p in store.data_dir.iterdir()
                                 if p.name != BACKUP_FOLDER),
    }


async def write_bundle(store: Store, config: Config, findings: Sequence[Finding],
                       target: Path) -> int:
    """Write the diagnostic bundle (a zip) to ``target``; its size in bytes."""
    facts = await _facts(store, config)
    made = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(store.now_ms() / 1000))
    readme = ("Hedgerow diagnostic bundle, made by `hedgerow doctor --bundle`.\n"
              "It holds the health findings, versions, settings, counts, peers' addresses\n"
              "and outcomes, and backup file names. It holds no practice record, no\n"
              "organisation detail, no admin password or token, and not the node key.\n")
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("README.txt", readme)
        bundle.writestr("findings.json", json.dumps(
            {"made": made, "findings": [asdict(f) for f in findings]}, indent=2))
        bundle.writestr("facts.json", json.dumps(facts, indent=2, default=str))
    os.replace(partial, target)
    return target.stat().st_size
