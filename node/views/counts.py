"""Counts of practices and nodes: themes, levels, principles, areas, and the timeline.

Each count view answers "how many practices, run by how many nodes" for
each value of one facet, under the shared practice filters
(:class:`.params.Filters`). ``nodes`` is always the number of distinct
nodes with at least one counted practice. Rows are ordered by the facet's
own value (name, or the order of levels): the network holds to principles,
not targets, so no view ranks organisations against each other (issue 6).

* a practice's **level** and **area** are its own if it states them, else
  its node's (from the node's current profile);
* **areas** are at the grain people share them (postcode district, local
  authority), never finer (:func:`.index.area_grain`), grouped ignoring case;
* **principles** belong to organisations: a principle's practices are those
  of the nodes whose profile lists it; ``profiles`` counts those nodes
  whether or not they have practices;
* the **timeline** counts, per month, practices that started then (their
  ``since``, when given to the month: a node keeps only the current version
  of an entry, so the month a practice was first published is not known)
  and practices retracted then (the month of the retraction's version).

All SQL here is index-only scans over the derived tables (:mod:`.index`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol import LEVELS

from .common import excluded, forked_nodes, not_forked
from .params import Filters
from .precomputed import cached

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["areas", "levels", "principles", "themes", "timeline", "totals"]


def totals(db: sqlite_utils.Database, filters: Filters, forked: list[int]) -> dict[str, int]:
    """Practices matching ``filters``, and the nodes that run them."""
    where, args = filters.sql()
    # Grouped by node first: a stream over view_entries_by_kind, no distinct-set.
    practices, nodes = db.conn.execute(
        "SELECT coalesce(sum(n), 0), count(*) FROM (SELECT count(*) AS n FROM view_entries "
        "WHERE kind = 'practice'" + not_forked(forked) + where + " GROUP BY node)",
        args).fetchone()
    return {"practices": practices, "nodes": nodes}


def _precomputed(db: sqlite_utils.Database, name: str,
                 filters: Filters) -> dict[str, Any] | None:
    if filters.any:
        return None
    found: dict[str, Any] | None = cached(db, name)
    return found


def _result(db: sqlite_utils.Database, rows: list[dict[str, Any]], filters: Filters,
            forked: list[int]) -> dict[str, Any]:
    return {"rows": rows, "totals": totals(db, filters, forked),
            "excluded": excluded(db, forked)}


def themes(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Themes (:func:`themes_live`); without filters, as precomputed if current."""
    return _precomputed(db, "themes", filters) or themes_live(db, filters)


def themes_live(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Per theme: practices with it and nodes running them (a practice may have several)."""
    forked = forked_nodes(db)
    where, args = filters.sql()
    rows = [{"theme": theme, "practices": n, "nodes": nodes} for theme, n, nodes in
            db.conn.execute(
                "SELECT value, count(*), count(DISTINCT node) FROM view_tags "
                "WHERE facet = 'theme'" + not_forked(forked) + where +
                " GROUP BY value ORDER BY value", args)]
    return _result(db, rows, filters, forked)


def levels(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Levels (:func:`levels_live`); without filters, as precomputed if current."""
    return _precomputed(db, "levels", filters) or levels_live(db, filters)


def levels_live(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Per level (neighbourhood … national, then unstated): practices and nodes."""
    forked = forked_nodes(db)
    where, args = filters.sql()
    found = {level: (n, nodes) for level, n, nodes in db.conn.execute(
        "SELECT eff_level, count(*), count(DISTINCT node) FROM view_entries "
        "WHERE kind = 'practice'" + not_forked(forked) + where + " GROUP BY eff_level", args)}
    order = [*LEVELS, None]
    rows = [{"level": level, "practices": found[level][0], "nodes": found[level][1]}
            for level in order if level in found]
    return _result(db, rows, filters, forked)


def areas(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Areas (:func:`areas_live`); without filters, as precomputed if current."""
    return _precomputed(db, "areas", filters) or areas_live(db, filters)


def areas_live(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Per area (at the shared grain; unstated last): practices and nodes."""
    forked = forked_nodes(db)
    where, args = filters.sql()
    rows = []
    unstated = None
    for key, label, n, nodes in db.conn.execute(
            "SELECT area_key, min(area_label), count(*), count(DISTINCT node) "
            "FROM view_entries WHERE kind = 'practice'" + not_forked(forked) + where +
            " GROUP BY area_key ORDER BY area_key", args):
        row = {"area": label or None, "practices": n, "nodes": nodes}
        if key:
            rows.append(row)
        else:
            unstated = row
    if unstated is not None:
        rows.append(unstated)
    return _result(db, rows, filters, forked)


def principles(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Principles (:func:`principles_live`); without filters, as precomputed if current."""
    return _precomputed(db, "principles", filters) or principles_live(db, filters)


def principles_live(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Per principle: nodes whose profile holds it, and their practices and nodes."""
    forked = forked_nodes(db)
    where, args = filters.sql()
    rows = [{"principle": label, "profiles": profiles, "practices": n, "nodes": nodes}
            for _, label, profiles, nodes, n in db.conn.execute(
                "WITH per_node AS (SELECT node, count(*) AS n FROM view_entries "
                "WHERE kind = 'practice'" + not_forked(forked) + where + " GROUP BY node) "
                "SELECT t.value, min(t.label), count(DISTINCT t.node), "
                "count(DISTINCT pn.node), coalesce(sum(pn.n), 0) "
                "FROM view_tags AS t LEFT JOIN per_node AS pn ON pn.node = t.node "
                "WHERE t.facet = 'principle'" + not_forked(forked, "t.node") +
                " GROUP BY t.value ORDER BY t.value", args)]
    return _result(db, rows, filters, forked)


def _months_between(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def timeline(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Timeline (:func:`timeline_live`); without filters, as precomputed if current."""
    return _precomputed(db, "timeline", filters) or timeline_live(db, filters)


def timeline_live(db: sqlite_utils.Database, filters: Filters) -> dict[str, Any]:
    """Per month: practices started (by ``since``) and practices retracted, gaps filled."""
    forked = forked_nodes(db)
    where, args = filters.sql()
    started = dict(db.conn.execute(
        "SELECT month, count(*) FROM view_entries WHERE kind = 'practice' AND month IS NOT NULL"
        + not_forked(forked) + where + " GROUP BY month", args).fetchall())
    undated = db.conn.execute(
        "SELECT count(*) FROM view_entries WHERE kind = 'practice' AND month IS NULL"
        + not_forked(forked) + where, args).fetchone()[0]
    retracted = dict(db.conn.execute(
        "SELECT month, count(*) FROM view_entries WHERE kind = 'retract'"
        + not_forked(forked) + " GROUP BY month").fetchall())
    months = sorted(started.keys() | retracted.keys())
    rows = [{"month": month, "new": started.get(month, 0),
             "retracted": retracted.get(month, 0)}
            for month in (_months_between(months[0], months[-1]) if months else [])]
    result = _result(db, rows, filters, forked)
    result["new_without_month"] = undated
    result["notes"] = [
        "new: practices counted in the month their `since` names; those giving only a year, "
        "or no date, are counted in new_without_month",
        "retracted: counted in the month of the retraction; a retracted practice's summary "
        "is withdrawn, so the practice filters do not apply to it",
    ]
    return result
