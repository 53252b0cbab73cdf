"""Views computed once per change (node/views/precomputed.py) never go stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from node import open_node
from node.store.ingest import delete_author_entries, ingest_batch
from node.views import catch_up, compute_view, is_stale, precomputed, prepare, spread
from node.views.common import clear_memo
from node.views.counts import themes_live
from node.views.params import Filters

from ..peer_entries import credit, peer_key, practice, profile
from .conftest import make_node
from .network import Network

ALICE, BOB, CAROL = peer_key("pre alice"), peer_key("pre bob"), peer_key("pre carol")


def view(db: sqlite_utils.Database, name: str, **params: Any) -> dict[str, Any]:
    clear_memo()
    return compute_view(db, name, prepare(name, params, me=b"\0" * 32, now_ms=10**13))


def stored(db: sqlite_utils.Database, name: str) -> Any:
    clear_memo()
    return precomputed.cached(db, name)


def test_catch_up_stores_what_a_live_computation_gives(db: sqlite_utils.Database) -> None:
    ingest_batch(db, [profile(ALICE, 1, level="local"), profile(BOB, 1, level="regional"),
                      practice(ALICE, "walks", 10, themes=["walking"]),
                      practice(BOB, "walks2", 11, themes=["walking", "food"],
                               adapted_from=[{"author": ALICE.public, "key": "walks"}]),
                      credit(BOB, ALICE.public, "walks", 12)], now_ms=100)
    assert stored(db, "themes") is None  # nothing stored yet
    catch_up(db)
    assert not is_stale(db)
    live = themes_live(db, Filters())
    assert stored(db, "themes") == live
    assert view(db, "themes") == {"view": "themes", "params": {}, **live}
    roots = view(db, "spread")
    assert [r["key"] for r in roots["roots"]] == ["walks"]
    assert roots["roots"][0]["adopting_nodes"] == 1


def test_a_change_makes_the_stored_values_unused_until_caught_up(
        db: sqlite_utils.Database) -> None:
    ingest_batch(db, [practice(ALICE, "walks", 10, themes=["walking"]),
                      practice(CAROL, "food", 10, themes=["food"])], now_ms=100)
    catch_up(db)
    assert view(db, "themes")["totals"] == {"practices": 2, "nodes": 2}
    # A new entry: the stored values are not used until catch_up stores new ones.
    ingest_batch(db, [practice(ALICE, "walks", 20, themes=["food"])], now_ms=200)
    assert stored(db, "themes") is None
    assert [r["theme"] for r in view(db, "themes")["rows"]] == ["food"]
    catch_up(db)
    assert stored(db, "themes")["rows"] == [{"theme": "food", "practices": 2, "nodes": 2}]
    # Entries removed with no successor (a blocked node): the index is stale
    # (its rows went by cascade) and the stored values are not used.
    assert delete_author_entries(db, CAROL.public) == 1
    assert is_stale(db)
    assert stored(db, "themes") is None
    assert view(db, "themes")["rows"] == [{"theme": "food", "practices": 1, "nodes": 1}]
    catch_up(db)
    assert not is_stale(db)
    assert view(db, "themes")["totals"] == {"practices": 1, "nodes": 1}
    assert view(db, "health")["figures"]["nodes_known"] == 1


def test_a_fork_flag_makes_the_stored_values_unused(db: sqlite_utils.Database) -> None:
    ingest_batch(db, [practice(ALICE, "walks", 10, themes=["walking"]),
                      practice(BOB, "food", 10, themes=["food"])], now_ms=100)
    catch_up(db)
    assert stored(db, "themes") is not None
    with db.conn:  # as ingest records a fork (node/store/ingest.py)
        db.conn.execute("INSERT INTO forks (author, version, first_id, second_id, detected_ms) "
                        "VALUES (?, 10, ?, ?, 1)", (BOB.public, b"\1" * 32, b"\2" * 32))
    assert is_stale(db)
    assert stored(db, "themes") is None
    assert [r["theme"] for r in view(db, "themes")["rows"]] == ["walking"]
    catch_up(db)
    assert [r["theme"] for r in view(db, "themes")["rows"]] == ["walking"]
    assert view(db, "themes")["excluded"]["forked_authors"] == 1


def test_kept_spreads_are_what_drawing_them_live_gives(tmp_path: Path, net: Network,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The spread of a root, kept when the index caught up, is the spread drawn live."""
    monkeypatch.setattr(spread, "BIG_TREE", 2)  # keep every lineage of the fixture network
    _, db = open_node(make_node(tmp_path / "node", net))
    try:
        catch_up(db)
        kept = [name for name, in db.conn.execute(
            "SELECT name FROM view_cache WHERE name LIKE 'spread %'")]
        roots = view(db, "spread", limit=500)["roots"]
        assert len(kept) == len(roots) > 2
        drawn = [view(db, "spread", node=r["node"], key=r["key"]) for r in roots]
        with db.conn:
            db.conn.execute("DELETE FROM view_cache WHERE name LIKE 'spread %'")
        assert drawn == [view(db, "spread", node=r["node"], key=r["key"]) for r in roots]
    finally:
        db.close()


def test_the_summaries_count_kept_for_similar_is_the_count(db: sqlite_utils.Database) -> None:
    ingest_batch(db, [profile(ALICE, 1, level="local"),
                      practice(ALICE, "walks", 10, themes=["walking"]),
                      credit(BOB, ALICE.public, "walks", 12)], now_ms=100)
    catch_up(db)
    assert stored(db, "summaries") == 3 == db.conn.execute(
        "SELECT count(*) FROM summaries").fetchone()[0]
