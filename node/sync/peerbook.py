"""The peer book: whom this node syncs with, how that went, and whom it blocks.

SQL functions over one connection, run through :class:`node.store.database.Database`
like every other table's (DESIGN.md "node/ keeps SQL in one place"). Tables
(migration ``m004_peers``):

* ``peers`` — one row per address: where it came from (``config``,
  ``manual``, ``invitation``, ``profile``, ``mdns``, ``inbound``), the node
  id once known and whether a session there proved it (``verified``),
  liveness (:class:`protocol.PeerHealth`: failures, next attempt, last
  success) and what the last sync did (outcome, bytes and entries each way).

Rows a person put there (configuration, ``peer add``, an invitation) are
*pinned*: never evicted, never forgotten, never refused. The others are
*learned* — the node's partial view of the network (protocol/peers.py rule
5), refreshed from the profiles it holds (:func:`profile_candidates`,
:func:`apply_view`). Learned rows are bounded: at most
:data:`MAX_ADDRESSES_PER_NODE` per node and :data:`MAX_LEARNED_PEERS` in all,
beyond which the never-verified and longest-dead rows are evicted first.

The blocklist, which the store also needs, lives in :mod:`node.store.blocklist`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from protocol import PeerHealth, decode

from ..errors import InvalidInput, NotFound
from ..store.connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "LEARNED_SOURCES",
    "MAX_ADDRESSES_PER_NODE",
    "MAX_LEARNED_PEERS",
    "PEER_SOURCES",
    "PINNED_SOURCES",
    "PeerRow",
    "SyncRecord",
    "add_peer",
    "addresses_of",
    "apply_view",
    "clock_offsets",
    "forget_peer",
    "learn_peers",
    "list_peers",
    "normalise_address",
    "peer_by_address",
    "peers_known",
    "profile_addresses",
    "profile_candidates",
    "record_sync",
    "remove_peer",
    "update_health",
]

PINNED_SOURCES: Final = ("config", "manual", "invitation")
LEARNED_SOURCES: Final = ("profile", "mdns", "inbound")
PEER_SOURCES: Final = PINNED_SOURCES + LEARNED_SOURCES
#: Learned rows kept at the most (the partial view is smaller: this bounds
#: what inbound sessions and mDNS add between two refreshes).
MAX_LEARNED_PEERS: Final = 200
#: Addresses of one node the book takes from the network (DESIGN.md: "at most
#: a few addresses per node").
MAX_ADDRESSES_PER_NODE: Final = 4
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
    verified: bool = False

    @property
    def learned(self) -> bool:
        """Learned from the network, not put there by a person (protocol/addresses.py rule 2)."""
        return not self.health.pinned


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
            "bytes_down, entries_in, entries_out, verified")


def _row(r: Any) -> PeerRow:
    (address, node_id, source, pinned, failures, next_ms, success_ms, first_fail_ms, added,
     last_sync, outcome, error, up, down, e_in, e_out, verified) = r
    health = PeerHealth(address, failures, next_ms, success_ms, first_fail_ms, bool(pinned))
    return PeerRow(address, node_id, source, health, added, last_sync, outcome or "",
                   error or "", up, down, e_in, e_out, bool(verified))


def list_peers(db: sqlite_utils.Database) -> list[PeerRow]:
    rows = db.execute(f"SELECT {_COLUMNS} FROM peers ORDER BY added_ms, address").fetchall()
    return [_row(r) for r in rows]


def peer_by_address(db: sqlite_utils.Database, address: str) -> PeerRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM peers WHERE address = ?",
                     (normalise_address(address),)).fetchone()
    return _row(row) if row else None


def add_peer(db: sqlite_utils.Database, address: str, *, source: str, now_ms: int,
             node_id: bytes | None = None) -> tuple[PeerRow, bool]:
    """Add a peer (or learn its node id); returns the row and whether it is new.

    A person's address (configuration, ``peer add``, an invitation) is always
    taken. A learned one is refused with :class:`InvalidInput` if its node
    has :data:`MAX_ADDRESSES_PER_NODE` addresses here already.
    """
    if source not in PEER_SOURCES:
        raise InvalidInput(f"unknown peer source; one of {', '.join(PEER_SOURCES)}",
                           field="source")
    address = normalise_address(address)
    with write_transaction(db) as conn:
        existing = conn.execute("SELECT source, node_id FROM peers WHERE address = ?",
                                (address,)).fetchone()
        if existing:
            if node_id is not None and existing[1] != node_id:
                # Another node now claims the address: a candidate again until
                # a session there proves which node answers.
                conn.execute("UPDATE peers SET node_id = ?, verified = 0 WHERE address = ?",
                             (node_id, address))
            # A person adding a learned peer by hand makes it theirs: never forgotten.
            if source in PINNED_SOURCES:
                conn.execute("UPDATE peers SET pinned = 1, source = ? WHERE address = ? "
                             f"AND source NOT IN {PINNED_SOURCES}", (source, address))
            new = False
        else:
            pinned = source in PINNED_SOURCES
            if not pinned and node_id is not None and _addresses_held(conn, node_id) \
                    >= MAX_ADDRESSES_PER_NODE:
                raise InvalidInput(f"this node holds {MAX_ADDRESSES_PER_NODE} addresses of "
                                   "that peer already", field="address")
            conn.execute(
                "INSERT INTO peers (address, node_id, source, pinned, added_ms) "
                "VALUES (?, ?, ?, ?, ?)", (address, node_id, source, int(pinned), now_ms))
            new = True
            if not pinned:
                _evict(conn)
    row = peer_by_address(db, address)
    if row is None:  # evicted at once: the book is full of better candidates
        raise InvalidInput("the peer book holds better candidates than this address",
                           field="address")
    return row, new


def _addresses_held(conn: Any, node_id: bytes) -> int:
    return int(conn.execute("SELECT count(*) FROM peers WHERE node_id = ?",
                            (node_id,)).fetchone()[0])


def _evict(conn: Any, limit: int = MAX_LEARNED_PEERS) -> int:
    """Drop learned rows beyond ``limit``: never-verified, then longest without an answer."""
    return int(conn.execute(
        "DELETE FROM peers WHERE address IN (SELECT address FROM peers WHERE pinned = 0 "
        "ORDER BY verified, coalesce(last_success_ms, 0), added_ms LIMIT max(0, "
        "(SELECT count(*) FROM peers WHERE pinned = 0) - ?))", (limit,)).rowcount)


def learn_peers(db: sqlite_utils.Database, candidates: Sequence[tuple[str, bytes | None]], *,
                source: str, now_ms: int) -> list[str]:
    """Add learned addresses (each with the node id expected there); returns the new ones.

    Addresses the book cannot take (a path, a node with enough addresses
    here) are skipped; the book is then evicted down to its bound.
    """
    if source not in LEARNED_SOURCES:
        raise InvalidInput(f"learned peers come from {', '.join(LEARNED_SOURCES)}",
                           field="source")
    added = []
    with write_transaction(db) as conn:
        for address, node_id in candidates:
            try:
                address = normalise_address(address)
            except InvalidInput:
                continue
            if conn.execute("SELECT 1 FROM peers WHERE address = ?", (address,)).fetchone():
                continue
            if node_id is not None and _addresses_held(conn, node_id) >= MAX_ADDRESSES_PER_NODE:
                continue
            conn.execute("INSERT INTO peers (address, node_id, source, pinned, added_ms) "
                         "VALUES (?, ?, ?, 0, ?)", (address, node_id, source, now_ms))
            added.append(address)
        _evict(conn)
        kept = {r[0] for r in conn.execute("SELECT address FROM peers WHERE pinned = 0")}
    return [a for a in added if a in kept]


def apply_view(db: sqlite_utils.Database, view: Sequence[str],
               candidates: Mapping[str, bytes | None], *, now_ms: int) -> list[str]:
    """Make the learned rows the partial view ``view`` (protocol.refresh_view's result).

    Learned rows not in ``view`` are dropped; addresses of ``view`` not in
    the book are added from ``candidates`` (source ``profile``). Returns
    the addresses added.
    """
    keep = set(view)
    with write_transaction(db) as conn:
        for (address,) in conn.execute("SELECT address FROM peers WHERE pinned = 0").fetchall():
            if address not in keep:
                conn.execute("DELETE FROM peers WHERE address = ?", (address,))
    return learn_peers(db, [(a, candidates.get(a)) for a in view if a in candidates],
                       source="profile", now_ms=now_ms)


def profile_candidates(db: sqlite_utils.Database, *, own: bytes, sample: int,
                       per_node: int = MAX_ADDRESSES_PER_NODE) -> list[tuple[str, bytes]]:
    """Addresses announced in a random sample of the profiles this node holds.

    The sample, not every profile, so that the cost of a refresh does not
    grow with the network (DESIGN.md: "never the whole network"). At most
    ``per_node`` addresses of each, in the order its profile gives them.
    """
    rows = db.conn.execute(
        "SELECT author, payload FROM entries WHERE seq IN (SELECT seq FROM entries "
        "INDEXED BY entries_profiles WHERE kind = 'profile' AND author != ? "
        "ORDER BY random() LIMIT ?)", (own, sample)).fetchall()
    out: list[tuple[str, bytes]] = []
    for author, payload in rows:
        # Stored entries were verified and checked against the profile schema
        # when they came in: decoding is enough.
        addresses = decode(payload)["body"].get("addresses", ())
        for address in list(addresses)[:per_node]:
            try:
                out.append((normalise_address(address), author))
            except InvalidInput:
                continue  # a path, say: a shape the book does not take
    return out


def profile_addresses(db: sqlite_utils.Database, node_id: bytes,
                      per_node: int = MAX_ADDRESSES_PER_NODE) -> list[str]:
    """The addresses ``node_id``'s profile announces (at most ``per_node``), if held here."""
    row = db.conn.execute(
        "SELECT payload FROM entries INDEXED BY entries_profiles WHERE author = ? "
        "AND kind = 'profile' ORDER BY version DESC LIMIT 1", (node_id,)).fetchone()
    if row is None:
        return []
    out = []
    for address in list(decode(row[0])["body"].get("addresses", ()))[:per_node]:
        try:
            out.append(normalise_address(address))
        except InvalidInput:
            continue
    return out


def addresses_of(db: sqlite_utils.Database, node_id: bytes) -> list[str]:
    """The addresses this node holds for ``node_id``."""
    return [r[0] for r in db.conn.execute("SELECT address FROM peers WHERE node_id = ?",
                                          (node_id,))]


def peers_known(db: sqlite_utils.Database) -> int:
    """Distinct peers in the book (a node with two addresses counts once)."""
    return int(db.conn.execute(
        "SELECT count(DISTINCT coalesce(hex(node_id), address)) FROM peers").fetchone()[0])


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
    """Store a session's outcome and the peer's new health in one transaction.

    A completed session with ``node_id`` known verifies the address: the
    client checked that the node expected there signed every reply.
    """
    with write_transaction(db) as conn:
        if record.ok and node_id is not None:
            conn.execute("UPDATE peers SET verified = 1 WHERE address = ?", (address,))
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
