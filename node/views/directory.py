"""The directory: practice summaries and organisation profiles, searched and filtered.

With ``q``, a full-text search (SQLite FTS5 over ``summaries_fts``, porter
stemming, ranked by BM25 — relevance of the *text* to the words asked, not
a ranking of organisations); without it, everything that passes the
filters, in order of title. Ties are broken by kind, node and entry, so the
order is the same on every node that holds the same entries.

Filters (:class:`.params.Filters`) apply to practices; a profile passes
``level``, ``area``, ``principle`` and ``updated_since`` by its own values
and never passes ``theme``, ``status`` or ``since`` (those describe
practices). ``kind`` keeps only practices or only profiles.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from .common import day_of_ms, excluded, forked_nodes, node_info, not_forked, practice_rows
from .index import cut_postcodes
from .params import Filters

__all__ = ["directory"]

_SNIPPET = "snippet(summaries_fts, 1, '[', ']', '…', 12)"
# Ties are broken by key and version (signed values), never first by local
# row numbers, so that every node holding the same entries lists them in the
# same order (and a verifiable export checks out anywhere); the title index
# serves this order directly.
_TIES = "v.key, v.version, v.seq"


def directory(db: sqlite_utils.Database, *, q: str | None, kind: str | None,
              filters: Filters, limit: int, offset: int) -> dict[str, Any]:
    """One page of the directory, with the total number of matches."""
    forked = forked_nodes(db)
    kinds = ("practice", "profile") if kind is None else (kind,)
    where, args = filters.sql(seq="v.seq", node="v.node", status="v.status",
                              level="v.eff_level", area="v.area_key", since="v.since",
                              version="v.version")
    where = (f"v.kind IN ({','.join(repr(k) for k in kinds)})" + not_forked(forked, "v.node")
             + where)
    if q is None:
        total = db.conn.execute(f"SELECT count(*) FROM view_entries AS v WHERE {where}",
                                args).fetchone()[0]
        page = db.conn.execute(
            # The title index gives this order directly; SQLite's planner would
            # otherwise filter by kind first and sort every row (300 ms at 100k).
            "SELECT v.seq, v.kind FROM view_entries AS v INDEXED BY view_entries_by_title "
            f"WHERE {where} "
            f"ORDER BY v.title, v.kind, {_TIES} LIMIT ? OFFSET ?",
            (*args, limit, offset)).fetchall()
        snippets: dict[int, str] = {}
    else:
        match = db.quote_fts(q)
        source = ("FROM summaries_fts AS f JOIN view_entries AS v ON v.seq = f.rowid "
                  f"WHERE summaries_fts MATCH ? AND {where}")
        total = db.conn.execute(f"SELECT count(*) {source}", (match, *args)).fetchone()[0]
        page = db.conn.execute(
            f"SELECT v.seq, v.kind {source} ORDER BY f.rank, v.title, v.kind, {_TIES} "
            "LIMIT ? OFFSET ?", (match, *args, limit, offset)).fetchall()
        seqs = [seq for seq, _ in page]
        marks = ",".join("?" * len(seqs))
        snippets = dict(db.conn.execute(
            f"SELECT rowid, {_SNIPPET} FROM summaries_fts WHERE summaries_fts MATCH ? "
            f"AND rowid IN ({marks})", (match, *seqs)).fetchall()) if seqs else {}
    practices = practice_rows(db, [seq for seq, k in page if k == "practice"])
    profiles = _profile_rows(db, [seq for seq, k in page if k == "profile"])
    results = []
    for seq, k in page:
        row = {"kind": k, **(practices[seq] if k == "practice" else profiles[seq])}
        if q is not None:
            # Areas are shown at the grain people share them, never finer (issue 6).
            row["snippet"] = cut_postcodes(snippets.get(seq, ""))
        results.append(row)
    return {"total": total, "results": results, "excluded": excluded(db, forked)}


def _profile_rows(db: sqlite_utils.Database, seqs: list[int]) -> dict[int, dict[str, Any]]:
    if not seqs:
        return {}
    marks = ",".join("?" * len(seqs))
    rows = db.conn.execute(
        f"SELECT seq, node, title, level, area, version FROM view_entries WHERE seq IN ({marks})",
        seqs).fetchall()
    principles: dict[int, list[str]] = {}
    for seq, label in db.conn.execute(
            f"SELECT seq, label FROM view_tags WHERE facet = 'principle' AND seq IN ({marks}) "
            "ORDER BY seq, value", seqs):
        principles.setdefault(seq, []).append(label)
    info = node_info(db, [row[1] for row in rows])
    return {seq: {"node": info[node].id, "node_name": title, "key": "profile", "title": title,
                  "themes": [], "level": level, "area": area or None, "status": None,
                  "since": None, "updated": day_of_ms(version), "version": version,
                  "principles": principles.get(seq, [])}
            for seq, node, title, level, area, version in rows}
