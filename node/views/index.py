"""The views' derived index: decoded, indexed columns of the signed entries.

Views must answer in well under 100 ms over 100,000 entries, and decoding
every msgpack payload per request cannot. So migration ``m005_views``
(node/store/schema.py) creates derived tables, filled here from the signed
entries and from nothing else (DESIGN.md privacy rule 1: views read the
signed summaries, never the private records):

* ``view_nodes`` — a small integer for every 32-byte node id seen (as an
  author, a credit's target or an ``adapted_from`` reference);
* ``view_entries`` — one row per current entry: kind, key, version,
  arrival, and for practices and profiles the columns views filter on,
  including the *effective* level and area of a practice (its own if it
  states one, else its node's current profile's);
* ``view_tags`` — a practice's themes and a profile's principles, with the
  practice filter columns copied in so counts are index-only scans;
* ``view_edges`` — lineage links: ``adapted_from`` references and credits.

**Keeping in step.** Every derived row references its entry with ``ON
DELETE CASCADE``: when ingest supersedes or removes an entry, its view rows
go in the same statement, at the cost of one index probe per table (no
trigger on ``entries``: node/store/ingest.py explains why triggers there are
costly). New entries are indexed lazily by :func:`catch_up`, which the
async views call (through the single writer) when :func:`is_stale` says
so. The rule that makes this cheap: SQLite gives a new row the highest
``seq`` plus one, and indexed rows only disappear together with their
entry, so *every entry not yet indexed has a seq above the highest indexed
one*; staleness is two ``max(seq)`` look-ups.

**Areas at the grain people share them** (the issue: postcode district,
local authority, never finer): :func:`area_grain` turns a full UK postcode
or postcode sector into its district (``E8 3PB`` → ``E8``) wherever it
appears in an area text; areas are grouped case-insensitively.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from protocol import decode

from ..store.connection import write_transaction
from ..timestamps import utc_datetime
from . import precomputed

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "INDEX_FORMAT",
    "area_grain",
    "area_key",
    "authors_of",
    "catch_up",
    "cut_postcodes",
    "is_stale",
    "month_of_ms",
    "node_numbers",
    "principle_key",
    "rebuild",
]

#: Version of what the derived rows mean. Bump it when the derivation
#: changes (say, the area grain rules): :func:`catch_up` then rebuilds.
#: 2: retractions index the slot they withdraw (any kind).
#: 3: two-digit districts (M14, LS11) are no longer read as a district and
#: a sector (M1 4).
INDEX_FORMAT: Final = 3
_CHUNK = 5000

# A UK postcode: outward code (the district: A9, A99, A9A, AA9, AA99, AA9A)
# and inward code (a sector digit and two unit letters), the space between
# them optional. A sector is the outward code, a space and the digit: the
# space is required there, since "M14" is the district M14, never the
# sector "M1 4".
_POSTCODE = re.compile(
    r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)(?:\s*[0-9][A-Z]{2}|\s+[0-9])\b", re.IGNORECASE)
_OUTWARD_ALONE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?\Z", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def area_grain(text: str | None) -> str:
    """``text`` at the grain people share areas at: postcodes cut to their district.

    ``"E8 3PB"`` → ``"E8"``, ``"Hackney, e8 3"`` → ``"Hackney, E8"``,
    ``"Leeds"`` → ``"Leeds"``. Whitespace is collapsed; ``None`` → ``""``.
    """
    if not text:
        return ""
    cut = _POSTCODE.sub(lambda m: m.group(1).upper(), text)
    cut = _SPACES.sub(" ", cut).strip()
    if _OUTWARD_ALONE.match(cut):
        cut = cut.upper()
    return cut


def cut_postcodes(text: str) -> str:
    """``text`` with every full postcode or sector cut to its district (for snippets)."""
    return _POSTCODE.sub(lambda m: m.group(1).upper(), text)


def area_key(text: str | None) -> str:
    """The grouping key of an area (its grain, case-folded)."""
    return area_grain(text).casefold()


def principle_key(text: str) -> str:
    """The grouping key of a principle (whitespace collapsed, case-folded)."""
    return _SPACES.sub(" ", text).strip().casefold()


def month_of_ms(ms: int) -> str:
    """``YYYY-MM`` (UTC) of a version or arrival time in milliseconds."""
    return utc_datetime(ms).strftime("%Y-%m")


def _since_month(since: str | None) -> str | None:
    """A ``since`` date to the month (``YYYY-MM``), or None if only the year is known."""
    return since[:7] if since and len(since) >= 7 else None


def is_stale(db: sqlite_utils.Database) -> bool:
    """Whether some entry is not indexed yet (or the index format changed).

    Also when the precomputed views (:mod:`.precomputed`) do not follow the
    derived tables: an entry was removed, or a fork flagged, since.
    """
    row = db.conn.execute(
        "SELECT (SELECT max(seq) FROM entries), (SELECT max(seq) FROM view_entries), "
        "(SELECT format FROM view_state)").fetchone()
    held, indexed, fmt = row
    if fmt != INDEX_FORMAT or (held or 0) > (indexed or 0):
        return True
    return precomputed.stored_stamp(db.conn) != precomputed.stamp(db.conn, INDEX_FORMAT)


def rebuild(db: sqlite_utils.Database) -> int:
    """Empty the derived tables and index every entry again."""
    with write_transaction(db) as conn:
        for table in ("view_edges", "view_tags", "view_entries", "view_nodes", "view_state",
                      "view_cache"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("INSERT INTO view_state VALUES (1, ?)", (INDEX_FORMAT,))
    return catch_up(db)


def catch_up(db: sqlite_utils.Database) -> int:
    """Index every entry not yet indexed; return how many were indexed.

    Runs on a writable connection (the store's writer). Chunks of
    :data:`_CHUNK` entries, each in its own transaction: a chunk that
    commits leaves the rule above intact for the next.
    """
    fmt = db.conn.execute("SELECT format FROM view_state").fetchone()
    if fmt is None or fmt[0] != INDEX_FORMAT:
        return rebuild(db)
    total = 0
    while True:
        with write_transaction(db) as conn:
            high = conn.execute("SELECT coalesce(max(seq), 0) FROM view_entries").fetchone()[0]
            rows = conn.execute(
                "SELECT seq, author, kind, family, key, version, received_ms, payload "
                "FROM entries WHERE seq > ? ORDER BY seq LIMIT ?", (high, _CHUNK)).fetchall()
            if not rows:
                # Then the views that take no parameters, once for this state.
                current = precomputed.stamp(conn, INDEX_FORMAT)
                if precomputed.stored_stamp(conn) != current:
                    precomputed.store_all(db, current)
                return total
            _index(conn, rows)
            total += len(rows)


class _Nodes:
    """Node numbers for 32-byte ids, allocated on first sight."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.known: dict[bytes, int] = {}

    def __call__(self, author: bytes) -> int:
        node = self.known.get(author)
        if node is None:
            row = self.conn.execute("SELECT node FROM view_nodes WHERE author = ?",
                                    (author,)).fetchone()
            if row is None:
                node = self.conn.execute("INSERT INTO view_nodes (author) VALUES (?)",
                                         (author,)).lastrowid
                assert node is not None
            else:
                node = row[0]
            self.known[author] = node
        return node


_ENTRY_COLUMNS = ("seq, node, kind, key, version, received_ms, title, status, level, area, "
                  "since, month, eff_level, area_key, area_label")
_INSERT_ENTRY = f"INSERT INTO view_entries ({_ENTRY_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_INSERT_TAG = ("INSERT OR IGNORE INTO view_tags (seq, facet, value, label, node, status, "
               "eff_level, area_key, since, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_EDGE = ("INSERT OR IGNORE INTO view_edges (seq, via, from_node, from_key, to_node, "
                "to_key) VALUES (?, ?, ?, ?, ?, ?)")
_PROFILE_OF = ("SELECT level, area FROM view_entries WHERE node = ? AND kind = 'profile' "
               "ORDER BY seq DESC LIMIT 1")


def _index(conn: sqlite3.Connection,
           rows: Sequence[tuple[int, bytes, str, str, str, int, int, bytes]]) -> None:
    nodes = _Nodes(conn)
    # A retraction's key is the slot it withdraws (node/store/ingest.py): the
    # views' "retract" rows are withdrawn practices; other withdrawals (of a
    # credit, a profile, an admission) take their slot's place as a
    # "withdrawal", which no view shows.
    decoded = [(seq, nodes(author),
                kind if kind != "retract" or family == "practice" else "withdrawal",
                key, version, received, decode(payload)["body"])
               for seq, author, kind, family, key, version, received, payload in rows]
    entries: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    edges: list[tuple[Any, ...]] = []
    # Profiles first: a practice's effective level and area come from its
    # node's current profile, which may arrive in the same chunk.
    changed_profiles: dict[int, tuple[str | None, str]] = {}
    for seq, node, kind, key, version, received, body in decoded:
        if kind != "profile":
            continue
        area = area_grain(body.get("area"))
        entries.append((seq, node, kind, key, version, received, body["name"], None,
                        body["level"], area, None, None, body["level"], area.casefold(), area))
        for principle in body.get("principles", ()):
            label = _SPACES.sub(" ", principle).strip()
            tags.append((seq, "principle", label.casefold(), label, node, None, None, None,
                         None, version))
        changed_profiles[node] = (body["level"], area)
    conn.executemany(_INSERT_ENTRY, entries)
    entries.clear()
    profiles: dict[int, tuple[str | None, str]] = {}

    def profile_of(node: int) -> tuple[str | None, str]:
        found = profiles.get(node)
        if found is None:
            row = conn.execute(_PROFILE_OF, (node,)).fetchone()
            found = profiles[node] = (row[0], row[1]) if row else (None, "")
        return found

    for seq, node, kind, key, version, received, body in decoded:
        if kind == "practice":
            own_area = area_grain(body.get("area"))
            node_level, node_area = profile_of(node)
            level = body.get("level") or node_level
            area = own_area or node_area
            since = body.get("since")
            status = body["status"]
            entries.append((seq, node, kind, key, version, received, body["title"], status,
                            body.get("level"), own_area, since, _since_month(since), level,
                            area.casefold(), area))
            for theme in body.get("themes", ()):
                tags.append((seq, "theme", theme, theme, node, status, level, area.casefold(),
                             since, version))
            for ref in body.get("adapted_from", ()):
                edges.append((seq, "adapted_from", node, key, nodes(ref["author"]), ref["key"]))
        elif kind == "retract":
            entries.append((seq, node, kind, key, version, received, "", None, None, "", None,
                            month_of_ms(version), None, "", ""))
        elif kind in ("withdrawal", "admit", "genesis"):
            # Indexed so that every entry is (see catch_up); no view lists them.
            entries.append((seq, node, kind, key, version, received, "", None, None, "", None,
                            None, None, "", ""))
        elif kind == "credit":
            entries.append((seq, node, kind, key, version, received, body["practice"], None,
                            None, "", None, None, None, "", ""))
            edges.append((seq, "credit", node, "", nodes(body["to"]), body["practice"]))
    conn.executemany(_INSERT_ENTRY, entries)
    conn.executemany(_INSERT_TAG, tags)
    conn.executemany(_INSERT_EDGE, edges)
    for node in changed_profiles:
        _refresh_practices_of(conn, node)


def _refresh_practices_of(conn: sqlite3.Connection, node: int) -> None:
    """Recompute the effective level and area of ``node``'s practices from its profile."""
    row = conn.execute(_PROFILE_OF, (node,)).fetchone()
    node_level, node_area = (row[0], row[1]) if row else (None, "")
    updates = []
    for seq, level, area in conn.execute(
            "SELECT seq, level, area FROM view_entries WHERE node = ? AND kind = 'practice'",
            (node,)).fetchall():
        label = area or node_area
        updates.append((level or node_level, label.casefold(), label, seq))
    conn.executemany("UPDATE view_entries SET eff_level = ?, area_key = ?, area_label = ? "
                     "WHERE seq = ?", updates)
    conn.executemany("UPDATE view_tags SET eff_level = ?, area_key = ? "
                     "WHERE seq = ? AND facet = 'theme'",
                     [(level, key, seq) for level, key, _, seq in updates])


def node_numbers(db: sqlite_utils.Database, authors: Iterable[bytes]) -> dict[bytes, int]:
    """The node numbers of ``authors`` that the index knows (others are left out)."""
    found: dict[bytes, int] = {}
    for author in authors:
        row = db.conn.execute("SELECT node FROM view_nodes WHERE author = ?",
                              (author,)).fetchone()
        if row is not None:
            found[author] = row[0]
    return found


def authors_of(db: sqlite_utils.Database, nodes: Iterable[int]) -> Mapping[int, bytes]:
    """The 32-byte ids of node numbers."""
    wanted = sorted(set(nodes))
    out: dict[int, bytes] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        out.update(db.conn.execute(
            f"SELECT node, author FROM view_nodes WHERE node IN ({marks})", chunk).fetchall())
    return out
