"""Precomputed views: results that take no parameters, computed once per change.

The views whose cold cost is a scan of everything held (counts per theme,
level, principle, area and month without filters, the ranked roots of
lineages, the health figures, the introductions of every theme without
filters), and the spread of the root of every big
lineage (:data:`.spread.BIG_TREE` vertices or more, thousands at 100,000
entries: what the list of roots leads to), are computed by
:func:`.index.catch_up`, on the store's
writer, right after it brings the derived tables up to date, and kept in
``view_cache`` (migration ``m006_views_speed``) as JSON with a **stamp**:
the ``entries_generation`` counter (m004: every change to ``entries`` —
an entry stored, superseded or deleted, a restore — bumps it, in the same
transaction; node/store/reconciliation.py relies on it too), the fork-flagged nodes and
the index format. A view reads its stored value only when the stamp is the
current one, else it computes as before, so a stored value is always the
value the entries give now:

* new entries bump the counter; ``catch_up`` indexes them, then stores
  fresh values under the new stamp;
* an entry removed without a successor (its author's entries deleted)
  takes its derived rows with it (``ON DELETE CASCADE``) and bumps the
  counter: the stamp no longer matches, and :func:`.index.is_stale` says
  so, so that the async views run ``catch_up`` again;
* a new fork flag changes the forked set, with the same effect.

Checking the stamp is three look-ups of one row each.

The stored value is the very output of the same function, through JSON
(whose types — dicts, lists, strings, integers, floats, None — are all a
view's output holds), so it cannot differ from a live computation.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["NAMES", "cached", "stamp", "store_all"]


def stamp(conn: sqlite3.Connection, index_format: int) -> str:
    """The state of the derived tables and fork flags the stored values follow."""
    generation, fmt, forked = conn.execute(
        "SELECT (SELECT value FROM entries_generation), (SELECT format FROM view_state), "
        "(SELECT group_concat(node) FROM (SELECT DISTINCT n.node FROM forks AS f "
        "JOIN view_nodes AS n ON n.author = f.author WHERE f.resolved_ms IS NULL "
        "ORDER BY n.node))").fetchone()
    return f"{index_format}:{fmt}:{generation}:{forked or ''}"


def _computations() -> dict[str, Callable[[sqlite_utils.Database], Any]]:
    # Imported here: the view modules import .index, which calls store_all.
    from . import counts, health, introductions
    from .params import Filters

    return {
        "themes": lambda db: counts.themes_live(db, Filters()),
        "levels": lambda db: counts.levels_live(db, Filters()),
        "principles": lambda db: counts.principles_live(db, Filters()),
        "areas": lambda db: counts.areas_live(db, Filters()),
        "timeline": lambda db: counts.timeline_live(db, Filters()),
        "health": health.base,
        "introductions": introductions.all_themes,
        # How many summaries the full-text index holds: what makes a word
        # common for the similar view (counting them costs ~10 ms at 100k).
        "summaries": lambda db: db.conn.execute("SELECT count(*) FROM summaries").fetchone()[0],
    }


#: The names of the stored values.
NAMES: Final = ("themes", "levels", "principles", "areas", "timeline", "roots", "health",
                "introductions", "summaries")


def store_all(db: sqlite_utils.Database, current: str) -> None:
    """Compute every stored value and keep it under the stamp ``current``.

    Called inside the writer's transaction, after the derived tables are
    up to date.
    """
    from .spread import roots_and_big, spread

    values = {name: compute(db) for name, compute in _computations().items()}
    ranked, extra, big = roots_and_big(db)
    values["roots"] = (ranked, extra)
    for seq, author, key in big:  # the spread of each big lineage's root
        values[f"spread {seq}"] = spread(db, author, key)
    rows = [(name, current, json.dumps(value, separators=(",", ":")))
            for name, value in values.items()]
    db.conn.execute("DELETE FROM view_cache")
    db.conn.executemany("INSERT INTO view_cache (name, stamp, value) VALUES (?, ?, ?)", rows)


def stored_stamp(conn: sqlite3.Connection) -> str | None:
    """The stamp the stored values were computed at (None: none stored)."""
    row = conn.execute(
        f"SELECT min(stamp), max(stamp), count(*) FROM view_cache "
        f"WHERE name IN ({','.join('?' * len(NAMES))})", NAMES).fetchone()
    # All of them, from one state (a newer release may store more).
    return row[0] if row[0] == row[1] and row[2] == len(NAMES) else None


def cached(db: sqlite_utils.Database, name: str) -> Any | None:
    """The stored value of ``name`` if it follows the current state, else None."""
    from .common import memo
    from .index import INDEX_FORMAT

    current = memo(db, "precomputed stamp", lambda: stamp(db.conn, INDEX_FORMAT),
                   copied=False)
    row = db.conn.execute("SELECT stamp, value FROM view_cache WHERE name = ?",
                          (name,)).fetchone()
    if row is None or row[0] != current:
        return None
    return json.loads(row[1])
