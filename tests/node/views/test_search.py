"""The directory's full-text search: the same page and total as one plain SQL statement.

:func:`node.views.directory` ranks the best matches by BM25 alone and joins
only those, and counts by merging sorted lists (node/views/directory.py).
These tests hold it to the plain definition: every match joined to
``view_entries``, filtered, ordered by rank and then title, kind, key,
version and seq, counted with ``count(*)`` — over the fixture network
(forks, retractions, credits), over runs of tied ranks longer than any
page, and over entries the derived index has not caught up with yet.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import sqlite_utils

from node.store.ingest import ingest_batch
from node.views import Filters, catch_up, compute_view, prepare
from node.views import directory as directory_module
from node.views.common import forked_nodes, not_forked
from protocol import id_from_text

from ..peer_entries import admitted, credit, peer_key, practice, profile


def reference(db: sqlite_utils.Database, q: str, *, kind: str | None = None,
              limit: int = 50, offset: int = 0, **filters: str) -> tuple[int, list[int]]:
    """(total, seqs of the page) by the plain definition, in one statement each."""
    kinds = ("practice", "profile") if kind is None else (kind,)
    where, args = Filters.of(filters).sql(
        seq="v.seq", node="v.node", status="v.status", level="v.eff_level",
        area="v.area_key", since="v.since", version="v.version")
    where = (f"v.kind IN ({','.join(repr(k) for k in kinds)})"
             + not_forked(forked_nodes(db), "v.node") + where)
    source = ("FROM summaries_fts AS f JOIN view_entries AS v ON v.seq = f.rowid "
              f"WHERE summaries_fts MATCH ? AND {where}")
    match = db.quote_fts(q)
    total = db.conn.execute(f"SELECT count(*) {source}", (match, *args)).fetchone()[0]
    page = [row[0] for row in db.conn.execute(
        f"SELECT v.seq {source} ORDER BY f.rank, v.title, v.kind, v.key, v.version, v.seq "
        "LIMIT ? OFFSET ?", (match, *args, limit, offset))]
    return total, page


def searched(db: sqlite_utils.Database, q: str, **params: Any) -> tuple[int, list[int]]:
    """(total, seqs of the page) as the directory view gives them."""
    result = compute_view(db, "directory", prepare("directory", {"q": q, **params},
                                                   me=b"\0" * 32, now_ms=0))
    return result["total"], [_seq_of(db, row) for row in result["results"]]


def _seq_of(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    found = db.conn.execute(
        "SELECT v.seq FROM view_entries AS v JOIN view_nodes AS n ON n.node = v.node "
        "WHERE n.author = ? AND v.kind = ? AND v.key = ?",
        (id_from_text(row["node"]), row["kind"], row["key"])).fetchall()
    assert len(found) == 1, row
    return int(found[0][0])


def test_search_matches_the_plain_definition_over_the_fixture(vdb: sqlite_utils.Database) -> None:
    words = sorted({w for title, text in vdb.conn.execute("SELECT title, text FROM summaries")
                    for w in re.findall(r"\w{3,}", f"{title} {text}".lower())})
    assert len(words) > 40
    queries = words + [f"{a} {b}" for a, b in itertools.combinations(words[:8], 2)]
    cases: list[dict[str, Any]] = [{}, {"kind": "practice"}, {"kind": "profile"},
                                   {"status": "active"}, {"theme": "repair"},
                                   {"area": "hackney", "kind": "practice"}]
    pages = [(50, 0), (2, 1), (500, 0)]
    compared = 0
    for q in queries:
        for params in cases:
            for limit, offset in pages:
                expected = reference(vdb, q, limit=limit, offset=offset, **params)
                assert searched(vdb, q, limit=limit, offset=offset, **params) == expected, \
                    (q, params, limit, offset)
                compared += expected[0] > 0
    assert compared > 300  # most cases find something


@pytest.fixture
def tied(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """300 practices whose texts rank the same for "repair café", titles shuffled."""
    entries = admitted(*(peer_key(f"ties {i}") for i in range(6)))
    for i in range(6):
        key = peer_key(f"ties {i}")
        entries.append(profile(key, 1, name=f"Group {i}"))
        for j in range(50):
            number = (j * 37 + i * 11) % 50
            # Titles of one length, no word of the query: every text ties.
            entries.append(practice(key, f"p-{j}", 10 + j, title=f"Thing {number:02d}{i}",
                                    description="Repair café on Saturdays"))
        entries.append(credit(key, peer_key("ties 0").public, "p-1", 100,
                              note="Thank you for the repair café"))
    ingest_batch(db, entries, now_ms=1000)
    catch_up(db)
    return db


@pytest.mark.parametrize(("slack", "most"), [(50, 2000), (1, 2000), (1, 40), (0, 0)])
def test_long_runs_of_tied_ranks_are_ordered_by_title(
        tied: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch,
        slack: int, most: int) -> None:
    # Small values make the search fetch more (or fall back to SQL) often.
    monkeypatch.setattr(directory_module, "_SLACK", slack)
    monkeypatch.setattr(directory_module, "_MOST_FETCHED", most)
    ranks = {r for r, in tied.conn.execute(
        "SELECT rank FROM summaries_fts WHERE summaries_fts MATCH ? AND rowid IN "
        "(SELECT seq FROM view_entries WHERE kind = 'practice')", ('"repair" "café"',))}
    assert len(ranks) == 1
    for params in ({}, {"kind": "practice"}, {"status": "active"}):
        for limit, offset in ((10, 0), (10, 95), (50, 250), (7, 293), (5, 300), (500, 0)):
            expected = reference(tied, "repair café", limit=limit, offset=offset, **params)
            assert searched(tied, "repair café", limit=limit, offset=offset, **params) \
                == expected, (params, limit, offset)


def test_entries_not_yet_indexed_are_neither_listed_nor_counted(
        tied: sqlite_utils.Database) -> None:
    key = peer_key("late")
    ingest_batch(tied, [practice(key, "late", 5, title="Late repair café",
                                 description="Repair café")], now_ms=2000)
    # No catch_up: the view computes over the index as it stands.
    expected = reference(tied, "repair café", limit=20)
    assert searched(tied, "repair café", limit=20) == expected
    assert expected[0] == 300  # the late entry is not counted yet
    catch_up(tied)
    assert searched(tied, "repair café", limit=20)[0] == 301


@pytest.mark.parametrize("params", [
    {"theme": "repair"}, {"theme": "food", "status": "active"},
    {"theme": "food", "kind": "profile"}, {"theme": "repair", "area": "e8", "kind": "practice"},
    {"theme": "food", "principle": "open to all"}, {"theme": "food", "updated_since": "2023-07-22"},
    {"theme": "nothing"},
])
def test_the_directory_filtered_by_theme_counts_what_it_lists(
        vdb: sqlite_utils.Database, params: dict[str, str]) -> None:
    # Without q the count comes from the theme tags' index (node/views/directory.py).
    kind = params.get("kind")
    filters = {k: v for k, v in params.items() if k != "kind"}
    kinds = ("practice", "profile") if kind is None else (kind,)
    where, args = Filters.of(filters).sql()
    expected = vdb.conn.execute(
        f"SELECT count(*) FROM view_entries WHERE kind IN ({','.join(repr(k) for k in kinds)})"
        + not_forked(forked_nodes(vdb)) + where, args).fetchone()[0]
    result = compute_view(vdb, "directory", prepare("directory", {**params, "limit": 500},
                                                    me=b"\0" * 32, now_ms=0))
    assert result["total"] == expected == len(result["results"])
