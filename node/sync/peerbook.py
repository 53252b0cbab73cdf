"""The peer book: whom this node syncs with, how that went, and whom it blocks.

SQL functions over one connection, run through :class:`node.store.database.Database`
like every other table's (DESIGN.md "node/ keeps SQL in one place"). Tables
(migration ``m004_peers``):

* ``peers`` — one row per address: where it came from (``config``,
  ``manual``, ``invitation``, ``profile``, ``mdns``), the node id once known,
  liveness (:class:`protocol.PeerHealth`: failures, next attempt, last
  success) and what the last sync did (outcome, bytes and entries each way).

The blocklist, which the store also needs, lives in :mod:`node.store.blocklist`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from protocol import PeerHealth

from ..errors import InvalidInput, NotFound
from ..store.connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "PEER_SOURCES",
    "PeerRow",
    "SyncRecord",
    "add_peer",
    "clock_offsets",
    "forget_peer",
    "list_peers",
    "normalise_address",
    "peer_by_address",
    "record_sync",
    "remove_peer",
    "update_health",
]

PEER_SOURCES: Final = ("config", "manual", "invitation", "profile", "mdns", "inbound")
MAX_PEERS: Final = 500
_HOST = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,255}\Z")


def normalise_address(address: str) -> str:
    """``http(s)://host[:port]`` with no path; raise :class:`InvalidInput` otherwise."""
    text = address.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput("a peer address looks like http://host:port", field="address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname \
            or not _HOST.match(parts.netloc) or parts.query or parts.fragment \
            or parts.path not in ("", "/") or parts.username or parts.password:
        raise InvalidInput("a peer address looks like http://host:port (no path)",
                           field="address")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


@dataclass(frozen=True, slots=True)
class PeerRow:
    address: str
    node_id: bytes | None
    source: str
    health: PeerHealth
    added_ms: int
    last_sync_ms: int | None
    last_outcome: str
    last_error: str
    bytes_up: int
    bytes_down: int
    entries_in: int
    entries_out: int


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """What one sync session with a peer did, for the peer book."""

    ok: bool
    error: str = ""
    bytes_up: int = 0
    bytes_down: int = 0
    entries_in: int = 0
    entries_out: int = 0
    clock_offset_s: int | None = None  # the peer's clock minus ours, from its signature


_COLUMNS = ("address, node_id, source, pinned, failures, next_attempt_ms, last_success_ms, "
            "first_failure_ms, added_ms, last_sync_ms, last_outcome, last_error, bytes_up, "
            "bytes_down, entries_in, entries_out")


def _row(r: Any) -> PeerRow:
    (address, node_id, source, pinned, failures, next_ms, success_ms, first_fail_ms, added,
     last_sync, outcome, error, up, down, e_in, e_out) = r
    health = PeerHealth(address, failures, next_ms, success_ms, first_fail_ms, bool(pinned))
    return PeerRow(address, node_id, source, health, added, last_sync, outcome or "",
                   error or "", up, down, e_in, e_out)


def list_peers(db: sqlite_utils.Database) -> list[PeerRow]:
    rows = db.execute(f"SELECT {_COLUMNS} FROM peers ORDER BY added_ms, address").fetchall()
    return [_row(r) for r in rows]


def peer_by_address(db: sqlite_utils.Database, address: str) -> PeerRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM peers WHERE address = ?",
                     (normalise_address(address),)).fetchone()
    return _row(row) if row else None


def add_peer(db: sqlite_utils.Database, address: str, *, source: str, now_ms: int,
             node_id: bytes | None = None) -> tuple[PeerRow, bool]:
    """Add a peer (or learn its node id); returns the row and whether it is new."""
    if source not in PEER_SOURCES:
        raise InvalidInput(f"unknown peer source; one of {', '.join(PEER_SOURCES)}",
                           field="source")
    address = normalise_address(address)
    with write_transaction(db) as conn:
        existing = conn.execute("SELECT source FROM peers WHERE address = ?",
                                (address,)).fetchone()
        if existing:
            if node_id is not None:
                conn.execute("UPDATE peers SET node_id = ? WHERE address = ?", (node_id, address))
            # A person adding a learned peer by hand makes it theirs: never forgotten.
            if source in ("config", "manual", "invitation"):
                conn.execute("UPDATE peers SET pinned = 1, source = ? WHERE address = ? "
                             "AND source NOT IN ('config', 'manual', 'invitation')",
                             (source, address))
            new = False
        else:
            count = conn.execute("SELECT count(*) FROM peers").fetchone()[0]
            if count >= MAX_PEERS:
                raise InvalidInput(f"this node already knows {MAX_PEERS} peers; remove some "
                                   "first", field="address")
            conn.execute(
                "INSERT INTO peers (address, node_id, source, pinned, added_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (address, node_id, source, int(source in ("config", "manual", "invitation")),
                 now_ms))
            new = True
    row = peer_by_address(db, address)
    assert row is not None
    return row, new


def remove_peer(db: sqlite_utils.Database, address: str) -> None:
    address = normalise_address(address)
    with write_transaction(db) as conn:
        if conn.execute("DELETE FROM peers WHERE address = ?", (address,)).rowcount == 0:
            raise NotFound(f"no peer with the address {address}")


def forget_peer(db: sqlite_utils.Database, address: str) -> None:
    """Drop a long-dead learned peer (no error if it is already gone)."""
    with write_transaction(db) as conn:
        conn.execute("DELETE FROM peers WHERE address = ? AND pinned = 0", (address,))


def update_health(db: sqlite_utils.Database, health: PeerHealth) -> None:
    with write_transaction(db) as conn:
        conn.execute(
            "UPDATE peers SET failures = ?, next_attempt_ms = ?, last_success_ms = ?, "
            "first_failure_ms = ? WHERE address = ?",
            (health.failures, health.next_attempt_ms, health.last_success_ms,
             health.first_failure_ms, health.address))


def record_sync(db: sqlite_utils.Database, address: str, record: SyncRecord, *,
                health: PeerHealth, now_ms: int, node_id: bytes | None = None) -> None:
    """Store a session's outcome and the peer's new health in one transaction."""
    with write_transaction(db) as conn:
        conn.execute(
            "UPDATE peers SET last_sync_ms = ?, last_outcome = ?, last_error = ?, "
            "bytes_up = bytes_up + ?, bytes_down = bytes_down + ?, "
            "entries_in = entries_in + ?, entries_out = entries_out + ?, "
            "failures = ?, next_attempt_ms = ?, last_success_ms = ?, first_failure_ms = ?, "
            "node_id = coalesce(?, node_id), clock_offset_s = coalesce(?, clock_offset_s) "
            "WHERE address = ?",
            (now_ms, "ok" if record.ok else "failed", record.error[:300], record.bytes_up,
             record.bytes_down, record.entries_in, record.entries_out, health.failures,
             health.next_attempt_ms, health.last_success_ms, health.first_failure_ms, node_id,
             record.clock_offset_s, address))


def clock_offsets(db: sqlite_utils.Database, *, since_ms: int) -> list[int]:
    """Peers' clocks minus ours (seconds), from sessions since ``since_ms`` (node/doctor.py)."""
    return [int(r[0]) for r in db.execute(
        "SELECT clock_offset_s FROM peers WHERE clock_offset_s IS NOT NULL "
        "AND last_success_ms >= ?", (since_ms,))]
