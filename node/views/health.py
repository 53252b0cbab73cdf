"""Health: how complete and how fresh this node's picture of the network is.

Figures (all over the entries this node holds, forked authors left out):

* ``nodes_known`` — nodes with at least one summary held (profile,
  practice, credit or retraction: the genesis and admissions are the
  network's membership, counted in ``entries_held`` only);
* ``heard_from_last_day`` / ``heard_from_last_week`` — nodes that signed an
  entry held here within a day / a week before ``at`` (by the entry's
  version, the author's hybrid-logical-clock time, which its signature
  covers);
* ``coverage`` — ``profiles_held`` against ``nodes_referenced`` (authors,
  credited nodes and nodes named in ``adapted_from``): how many of the nodes
  this node has heard *of* it can also describe;
* ``forks_flagged`` — nodes flagged for a fork not yet resolved, and its
  proofs;
* ``entries_held`` — by kind;
* ``freshness`` — for entries received from others (this node's own are
  not arrivals), the delay between an entry's version time and its arrival
  here: median and 90th percentile (nearest rank), in milliseconds. Arrival
  times are this node's own records, which no signature covers: a
  verifiable export carries them, and says so.
"""

from __future__ import annotations

import bisect
import copy
import math
from typing import TYPE_CHECKING, Any, Final

from protocol import KINDS

from .common import excluded, forked_nodes, memo, not_forked
from .index import node_numbers
from .precomputed import cached

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["DAY_MS", "health"]

DAY_MS: Final = 86_400_000
#: Summaries, as against the membership entries (genesis, admissions, withdrawals).
_SUMMARIES: Final = " AND kind IN ('profile', 'practice', 'credit', 'retract')"


def _percentile(db: sqlite_utils.Database, where: str, args: tuple[Any, ...], count: int,
                p: int) -> int | None:
    if count == 0:
        return None
    rank = max(1, math.ceil(p * count / 100))
    row = db.conn.execute(
        f"SELECT received_ms - version FROM view_entries INDEXED BY view_entries_by_delay "
        f"WHERE {where} ORDER BY received_ms - version LIMIT 1 OFFSET ?",
        (*args, rank - 1)).fetchone()
    return int(row[0])


def base(db: sqlite_utils.Database) -> tuple[tuple[int, ...], dict[str, Any]]:
    """Everything but the moment: each node's newest version (sorted), and the figures."""
    forked = forked_nodes(db)
    nf = not_forked(forked)
    conn = db.conn
    me = conn.execute("SELECT node_id FROM node_state").fetchone()[0]
    me_node = node_numbers(db, [me]).get(me, -1)
    # Grouped by (kind, node): a stream over the covering index view_entries_by_kind.
    latest: dict[int, int] = {}
    for node, version in conn.execute(
            f"SELECT node, max(version) FROM view_entries WHERE 1{nf}{_SUMMARIES} "
            "GROUP BY kind, node"):
        if version > latest.get(node, 0):
            latest[node] = version
    newest = tuple(sorted(latest.values()))
    # Nodes named by links, read off the covering index view_edges_out.
    named = {row[0] for row in conn.execute(
        f"SELECT DISTINCT to_node FROM view_edges WHERE 1{not_forked(forked, 'from_node')}")}
    referenced = len((latest.keys() | named) - set(forked))
    profiles = conn.execute(
        f"SELECT count(DISTINCT node) FROM view_entries WHERE kind = 'profile'{nf}"
    ).fetchone()[0]
    by_kind = dict(conn.execute(
        f"SELECT kind, count(*) FROM view_entries WHERE 1{nf} GROUP BY kind").fetchall())
    fork_rows = conn.execute("SELECT count(*) FROM forks WHERE resolved_ms IS NULL").fetchone()[0]
    where = f"node != ?{nf}{_SUMMARIES}"
    arrivals = conn.execute(f"SELECT count(*) FROM view_entries WHERE {where}",
                            (me_node,)).fetchone()[0]
    ahead = conn.execute(f"SELECT count(*) FROM view_entries WHERE {where} "
                         "AND received_ms < version", (me_node,)).fetchone()[0]
    figures = {
        "nodes_known": len(newest),
        "heard_from_last_day": 0,
        "heard_from_last_week": 0,
        "profiles_held": profiles,
        "nodes_referenced": referenced,
        "coverage": round(profiles / referenced, 4) if referenced else None,
        "forked_nodes": len(forked),
        "fork_proofs": fork_rows,
        "entries_held": {"total": sum(by_kind.values()),
                         **{kind: by_kind.get(kind, 0) for kind in (*KINDS, "withdrawal")}},
        "freshness": {
            "entries_received": arrivals,
            "median_delay_ms": _percentile(db, where, (me_node,), arrivals, 50),
            "p90_delay_ms": _percentile(db, where, (me_node,), arrivals, 90),
            "signed_after_arrival": ahead,
        },
    }
    return newest, {"figures": figures, "excluded": excluded(db, forked)}


def health(db: sqlite_utils.Database, *, at_ms: int) -> dict[str, Any]:
    """The health figures at ``at_ms``."""
    newest, figures_ = memo(db, "health", lambda: cached(db, "health") or base(db),
                            copied=False)
    result = copy.deepcopy(figures_)
    figures = result["figures"]
    figures["heard_from_last_day"] = len(newest) - bisect.bisect_left(newest, at_ms - DAY_MS)
    figures["heard_from_last_week"] = len(newest) - bisect.bisect_left(newest,
                                                                       at_ms - 7 * DAY_MS)
    result["notes"] = ["heard_from counts nodes by the newest version they signed; freshness "
                       "rests on this node's arrival times, which no signature covers"]
    return result
