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

A search returns exactly what one statement would (every match joined to
``view_entries``, filtered, ``ORDER BY rank, title, kind, key, version,
seq``, and ``count(*)``), but ranks first and joins only the best matches
(:func:`_search`), and counts by merging sorted lists (:func:`_count`):
about half the time at 100,000 entries. tests/node/views/test_search.py
holds it to that statement.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from ..store.search import fts_match
from .common import day_of_ms, excluded, forked_nodes, node_info, not_forked, practice_rows
from .index import cut_postcodes
from .params import Filters

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["directory"]

_SNIPPET = "snippet(summaries_fts, 1, '[', ']', '…', 12)"
# Ties are broken by key and version (signed values), never first by local
# row numbers, so that every node holding the same entries lists them in the
# same order (and a verifiable export checks out anywhere); the title index
# serves this order directly.
_TIES = "v.key, v.version, v.seq"
_ORDER = f"v.title, v.kind, {_TIES}"
# A search first fetches the best matches by rank alone, this many more than
# the page needs, so that the rows tied with the last one on the page are
# usually fetched in the same pass; it fetches more (4x) while ties cross
# the boundary, and past _MOST_FETCHED rows sorts every match in SQL instead
# (:func:`_search`).
_SLACK = 50
_MOST_FETCHED = 2000
# The kinds of entry that have a summary (node.store.search.summary_of).
_SUMMARY_KINDS = ("practice", "profile", "credit")


@dataclasses.dataclass(frozen=True, slots=True)
class _Wanted:
    """Which rows of ``view_entries`` the directory lists, as SQL."""

    kinds: tuple[str, ...]
    forked: list[int]
    filters: Filters
    where: str  # over ``view_entries AS v``
    args: list[Any]

    @classmethod
    def of(cls, kinds: tuple[str, ...], forked: list[int], filters: Filters) -> _Wanted:
        where, args = filters.sql(seq="v.seq", node="v.node", status="v.status",
                                  level="v.eff_level", area="v.area_key", since="v.since",
                                  version="v.version")
        where = (f"v.kind IN ({','.join(repr(k) for k in kinds)})"
                 + not_forked(forked, "v.node") + where)
        return cls(kinds, forked, filters, where, args)

    def seqs(self) -> tuple[str, list[Any]]:
        """A SELECT of the seqs of the wanted rows (in no particular order)."""
        if self.filters.theme is None or "practice" not in self.kinds:
            return f"SELECT v.seq FROM view_entries AS v WHERE {self.where}", self.args
        # Only practices have themes. view_tags carries the practice filter
        # columns, so its value index holds exactly the rows wanted, in a
        # run (node/views/index.py); scanning every practice of
        # view_entries_by_kind against the theme's list costs ~40 ms at 100k.
        rest, args = dataclasses.replace(self.filters, theme=None).sql(
            seq="t.seq", node="t.node", status="t.status", level="t.eff_level",
            area="t.area_key", since="t.since", version="t.version")
        return (f"SELECT t.seq FROM view_tags AS t WHERE t.facet = 'theme' AND t.value = ?"
                f"{not_forked(self.forked, 't.node')}{rest}", [self.filters.theme, *args])


def directory(db: sqlite_utils.Database, *, q: str | None, kind: str | None,
              filters: Filters, limit: int, offset: int) -> dict[str, Any]:
    """One page of the directory, with the total number of matches."""
    forked = forked_nodes(db)
    wanted = _Wanted.of(("practice", "profile") if kind is None else (kind,), forked, filters)
    if q is None:
        seqs, args = wanted.seqs()
        total = db.conn.execute(f"SELECT count(*) FROM ({seqs})", args).fetchone()[0]
        page = db.conn.execute(
            # The title index gives this order directly; SQLite's planner would
            # otherwise filter by kind first and sort every row (300 ms at 100k).
            "SELECT v.seq, v.kind FROM view_entries AS v INDEXED BY view_entries_by_title "
            f"WHERE {wanted.where} ORDER BY {_ORDER} LIMIT ? OFFSET ?",
            (*wanted.args, limit, offset)).fetchall()
        snippets: dict[int, str] = {}
    else:
        match = fts_match(q)
        total, matching = _count(db, match, wanted)
        page = _search(db, match, wanted, total=total, matching=matching, limit=limit,
                       offset=offset) if offset < total else []
        found = [seq for seq, _ in page]
        marks = ",".join("?" * len(found))
        snippets = dict(db.conn.execute(
            f"SELECT rowid, {_SNIPPET} FROM summaries_fts WHERE summaries_fts MATCH ? "
            f"AND rowid IN ({marks})", (match, *found)).fetchall()) if found else {}
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


def _count(db: sqlite_utils.Database, match: str, wanted: _Wanted) -> tuple[int, int | None]:
    """How many matches of ``match`` are wanted rows, and how many match at all.

    The second figure is None when nearly every match is wanted (no filters
    beyond kind, and practices wanted): then the wanted matches are counted
    as a merge of two lists in ``seq`` order (SQLite merges the arms of a
    compound SELECT that has an ORDER BY: "The SELECT statement", compound
    select statements) — the matches, which FTS5 yields in rowid order
    without ranking them, less the few rows not wanted. Otherwise every
    match is looked up in ``view_entries`` (about twice as slow), the
    matches driving (LEFT JOIN: never one FTS5 query per row of
    ``view_entries``, which the planner picks for a small kind otherwise).
    """
    if not wanted.filters.any and "practice" in wanted.kinds and _all_indexed(db):
        # Every entry has its row in view_entries (none waits for catch_up),
        # so the unwanted matches are exactly those of the other kinds with a
        # summary and those of forked nodes.
        sql = "SELECT rowid FROM summaries_fts WHERE summaries_fts MATCH ?"
        others = [k for k in _SUMMARY_KINDS if k not in wanted.kinds]
        if others:
            sql += (" EXCEPT SELECT seq FROM view_entries WHERE kind IN "
                    f"({','.join(repr(k) for k in others)})")
        if wanted.forked:
            sql += (" EXCEPT SELECT seq FROM view_entries WHERE node IN "
                    f"({','.join(str(int(n)) for n in wanted.forked)})")
        found: int = db.conn.execute(f"SELECT count(*) FROM ({sql} ORDER BY 1)",
                                     (match,)).fetchone()[0]
        return found, None
    total, matching = db.conn.execute(
        f"SELECT coalesce(sum(CASE WHEN {wanted.where} THEN 1 ELSE 0 END), 0), count(*) "
        "FROM summaries_fts AS f LEFT JOIN view_entries AS v ON v.seq = f.rowid "
        "WHERE summaries_fts MATCH ?", (*wanted.args, match)).fetchone()
    return int(total), int(matching)


def _all_indexed(db: sqlite_utils.Database) -> bool:
    """Whether every entry has its derived rows (the rule in :mod:`.index`)."""
    row = db.conn.execute("SELECT (SELECT max(seq) FROM entries) <= "
                          "(SELECT max(seq) FROM view_entries)").fetchone()
    return bool(row[0])


def _search(db: sqlite_utils.Database, match: str, wanted: _Wanted, *, total: int,
            matching: int | None, limit: int, offset: int) -> list[tuple[int, str]]:
    """One page of the wanted matches: by BM25 rank, then title, kind, key, version, seq.

    FTS5 computes the rank of every match whichever way it is asked (SQLite
    FTS5 docs, "Sorting by Auxiliary Function Results"); the cost on top
    was joining every match to ``view_entries`` for the filters and the
    tie-breakers, and sorting them all. Here the best matches by rank alone
    come from SQLite's sorter with a LIMIT (``ORDER BY +rank``: the ``+``
    keeps FTS5 from sorting every match itself), and only those are joined
    and sorted in full (:func:`_first`). ``total`` of the ``matching``
    matches are wanted (``matching`` None: nearly all).
    """
    needed = offset + limit
    fetch = needed + _SLACK
    if matching is not None:
        if total * 5 < matching * 2:
            # Under 40% of the matches wanted: ranking only those (below)
            # costs less than ranking every match.
            fetch = _MOST_FETCHED + 1
        else:  # enough for ``needed`` wanted rows at the rate they are wanted
            fetch = -(-needed * matching * 5 // (total * 4)) + _SLACK
    while fetch <= _MOST_FETCHED:
        best = db.conn.execute(
            "SELECT f.rowid, f.rank FROM summaries_fts AS f WHERE summaries_fts MATCH ? "
            "ORDER BY +f.rank LIMIT ?", (match, fetch)).fetchall()
        first = _first(db, best, wanted, needed=needed, complete=len(best) < fetch)
        if first is not None:
            return first[offset:]
        fetch *= 4
    # Selective filters, deep pages, or long runs of tied ranks: every
    # wanted match ranked and sorted in SQL (the rank is computed only for
    # rows that pass the filters; CROSS JOIN: the matches drive, as in _count).
    return db.conn.execute(
        "SELECT v.seq, v.kind FROM summaries_fts AS f CROSS JOIN view_entries AS v "
        f"ON v.seq = f.rowid WHERE summaries_fts MATCH ? AND {wanted.where} "
        f"ORDER BY f.rank, {_ORDER} LIMIT ? OFFSET ?",
        (match, *wanted.args, limit, offset)).fetchall()


def _first(db: sqlite_utils.Database, best: list[tuple[int, float]], wanted: _Wanted, *,
           needed: int, complete: bool) -> list[tuple[int, str]] | None:
    """The first ``needed`` wanted rows in full order, or None if ``best`` may lack some.

    ``best`` holds the matches of lowest rank (a run of ties at its end cut
    anywhere), or every match (``complete``). Every match not in it ranks
    at least as high as its last row; so if the ``needed``-th wanted row
    ranks strictly lower than that, every row that precedes it in the full
    order is in ``best``, and sorting those alone gives the same rows.
    """
    ranks = dict(best)
    # One statement for all (a filter's subquery is then evaluated once), the
    # seqs driving (CROSS JOIN): by rowid, never a scan of an index on kind.
    rows = [(ranks[seq], title, kind, key, version, seq)
            for seq, title, kind, key, version in db.conn.execute(
                "SELECT v.seq, v.title, v.kind, v.key, v.version FROM json_each(?) AS j "
                f"CROSS JOIN view_entries AS v ON v.seq = j.value WHERE {wanted.where}",
                (json.dumps(list(ranks)), *wanted.args))]
    # The order of ORDER BY f.rank, v.title, v.kind, v.key, v.version, v.seq:
    # REAL and INTEGER values compare as Python floats and ints do, and TEXT
    # under SQLite's BINARY collation compares UTF-8 bytes, which order as
    # Python orders str (code point by code point).
    rows.sort()
    if not complete and (len(rows) < needed or rows[needed - 1][0] >= best[-1][1]):
        return None
    return [(row[5], row[2]) for row in rows[:needed]]


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
