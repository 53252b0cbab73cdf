"""What every view shares: the exclusion rule, node and practice details, dates.

**The exclusion rule** (issue 6; DESIGN.md "Entry identity and versions"):
every view leaves out the entries of authors flagged for a fork, until the
fork is resolved, and retracted practices (their slot's current entry is
the ``retract`` tombstone, so their summaries are gone), and says so in an
``excluded`` object. :func:`excluded` computes it over everything the node
holds, so it reads the same in every view.

Node ids appear in output only in their text form
(:func:`protocol.id_to_text`); a node's name, level and area come from its
current ``profile`` entry.
"""

from __future__ import annotations

import copy
import functools
import marshal
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final, TypeVar

from protocol import id_to_text

from ..timestamps import utc_datetime
from .index import authors_of

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "EXCLUSION_NOTE",
    "NodeInfo",
    "clear_memo",
    "day_of_ms",
    "excluded",
    "forked_nodes",
    "memo",
    "node_info",
    "not_forked",
    "practice_rows",
]

EXCLUSION_NOTE: Final = ("Left out of every figure: all entries of nodes flagged for a fork "
                         "(two different entries signed with one version) until it is "
                         "resolved, and practices their authors have retracted.")


T = TypeVar("T")
# Per connection: (data version, rows this connection changed) → results.
_MEMO: weakref.WeakKeyDictionary[sqlite_utils.Database, tuple[tuple[int, int],
                                                               dict[Hashable, Any]]] = \
    weakref.WeakKeyDictionary()
_MEMO_SIZE: Final = 64


def memo(db: sqlite_utils.Database, key: Hashable, compute: Callable[[], T], *,
         copied: bool = True) -> T:
    """``compute()``, remembered until anything in the database changes.

    The stamp is SQLite's ``PRAGMA data_version`` (changes whenever another
    connection commits: the store's writer, another process) together with
    this connection's own ``total_changes``: any write anywhere invalidates,
    so a remembered figure is always the figure the entries give now.
    Callers get a copy, never the remembered object (``copied=False``: the
    object itself, for values nobody changes).
    """
    stamp = (db.conn.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes)
    held = _MEMO.get(db)
    if held is None or held[0] != stamp or len(held[1]) >= _MEMO_SIZE:
        held = (stamp, {})
        _MEMO[db] = held
    found = held[1].get(key, _MISSING)
    if found is _MISSING:
        value = compute()
        if not copied:
            held[1][key] = value
            return value
        # Plain data is kept as marshal bytes (C: several times faster than a
        # deep copy), and the caller of the first computation gets the value.
        try:
            held[1][key] = _Marshalled(marshal.dumps(value))  # type: ignore[arg-type]
        except ValueError:  # not plain data (dicts, lists, tuples, str, int, float, None)
            held[1][key] = value
            return copy.deepcopy(value)
        return value
    if isinstance(found, _Marshalled):
        loaded: T = marshal.loads(found.data)
        return loaded
    kept: T = found
    return copy.deepcopy(kept) if copied else kept


@dataclass(frozen=True, slots=True)
class _Marshalled:
    data: bytes


_MISSING: Final = object()


def clear_memo() -> None:
    """Forget every remembered result (the benchmark uses it to time cold views)."""
    _MEMO.clear()


@functools.lru_cache(maxsize=65_536)
def _id_text(author: bytes) -> str:
    # The checksummed text form costs ~0.1 ms each; big lineages name thousands.
    return id_to_text(author)


_DAY_MS: Final = 86_400_000
_EPOCH: Final = date(1970, 1, 1).toordinal()
# Days from the epoch that ``date.isoformat`` writes as strftime's %Y-%m-%d.
_FAST_DAYS: Final = range(date(1000, 1, 1).toordinal() - _EPOCH,
                          date(9999, 12, 31).toordinal() - _EPOCH + 1)


def day_of_ms(ms: int) -> str:
    """``YYYY-MM-DD`` (UTC) of a version in milliseconds."""
    days = ms // _DAY_MS
    if days in _FAST_DAYS:  # ten times faster than strftime; big lineages show thousands
        return date.fromordinal(_EPOCH + days).isoformat()
    return utc_datetime(ms).strftime("%Y-%m-%d")


def forked_nodes(db: sqlite_utils.Database) -> list[int]:
    """Node numbers of the authors flagged for a fork not yet resolved (node/store/ingest.py)."""
    return [row[0] for row in db.conn.execute(
        "SELECT DISTINCT n.node FROM forks AS f JOIN view_nodes AS n ON n.author = f.author "
        "WHERE f.resolved_ms IS NULL "
        "ORDER BY n.node")]


def not_forked(forked: Sequence[int], column: str = "node") -> str:
    """An ``AND`` condition leaving out the forked nodes (inlined: they are integers)."""
    if not forked:
        return ""
    return f" AND {column} NOT IN ({','.join(str(int(n)) for n in forked)})"


def excluded(db: sqlite_utils.Database, forked: Sequence[int]) -> dict[str, Any]:
    """What every view leaves out, counted over everything this node holds."""
    authors = db.conn.execute("SELECT count(DISTINCT author) FROM forks "
                              "WHERE resolved_ms IS NULL").fetchone()[0]
    entries = 0
    if forked:
        entries = db.conn.execute(
            "SELECT count(*) FROM view_entries WHERE 1" +
            not_forked(forked).replace("NOT IN", "IN")).fetchone()[0]
    retracted = db.conn.execute(
        "SELECT count(*) FROM view_entries WHERE kind = 'retract'" + not_forked(forked)
    ).fetchone()[0]
    return {"forked_authors": authors, "entries_of_forked_authors": entries,
            "retracted_practices": retracted, "note": EXCLUSION_NOTE}


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node as its current profile describes it (``name`` is None without a profile)."""

    number: int
    id: str
    name: str | None
    level: str | None
    area: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.id, "name": self.name, "level": self.level, "area": self.area}


def node_info(db: sqlite_utils.Database, nodes: Iterable[int]) -> dict[int, NodeInfo]:
    """Id text and profile details of node numbers."""
    wanted = sorted(set(nodes))
    authors = authors_of(db, wanted)
    profiles: dict[int, tuple[str, str | None, str]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        # Ordered by seq: with two profiles (a fork proof) the later one wins;
        # forked nodes are left out of views anyway.
        for node, name, level, area in db.conn.execute(
                f"SELECT node, title, level, area FROM view_entries WHERE kind = 'profile' "
                f"AND node IN ({marks}) ORDER BY seq", chunk):
            profiles[node] = (name, level, area)
    out = {}
    for node in wanted:
        name, level, area = profiles.get(node, (None, None, ""))
        out[node] = NodeInfo(node, _id_text(authors[node]), name, level, area or None)
    return out


_PRACTICE_COLUMNS = "seq, node, key, title, status, eff_level, area_label, since, version"


def practice_rows(db: sqlite_utils.Database, seqs: Sequence[int],
                  nodes: dict[int, NodeInfo] | None = None) -> dict[int, dict[str, Any]]:
    """Output rows for practice entries, by seq: the fields every view shows."""
    found: dict[int, tuple[Any, ...]] = {}
    themes: dict[int, list[str]] = {}
    for start in range(0, len(seqs), 500):
        chunk = list(seqs[start:start + 500])
        marks = ",".join("?" * len(chunk))
        for row in db.conn.execute(
                f"SELECT {_PRACTICE_COLUMNS} FROM view_entries WHERE seq IN ({marks})", chunk):
            found[row[0]] = row
        for seq, theme in db.conn.execute(
                f"SELECT seq, value FROM view_tags WHERE facet = 'theme' AND seq IN ({marks}) "
                "ORDER BY seq, value", chunk):
            themes.setdefault(seq, []).append(theme)
    info = nodes if nodes is not None else {}
    missing = {row[1] for row in found.values()} - info.keys()
    if missing:
        info = {**info, **node_info(db, missing)}
    out = {}
    for seq, row in found.items():
        _, node, key, title, status, level, area, since, version = row
        out[seq] = {
            "node": info[node].id, "node_name": info[node].name, "key": key, "title": title,
            "themes": themes.get(seq, []), "level": level, "area": area or None,
            "status": status, "since": since, "updated": day_of_ms(version),
            "version": version,
        }
    return out
