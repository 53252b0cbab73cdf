"""The views' derived index: kept in step with the entries, areas at the shared grain."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from node import Store
from node.store.ingest import ingest_batch
from node.views import area_grain, catch_up, compute_view, is_stale, prepare, run_view
from node.views.index import INDEX_FORMAT
from protocol import id_to_text

from ..peer_entries import peer_key, practice, profile, retract

ALICE, BOB = peer_key("views alice"), peer_key("views bob")


@pytest.mark.parametrize(("typed", "shown"), [
    ("E8 3PB", "E8"), ("e8 3pb", "E8"), ("E8 3", "E8"), ("e8", "E8"), ("SW1A 1AA", "SW1A"),
    ("Hackney, E8 3PB", "Hackney, E8"), ("  Leeds  ", "Leeds"), ("Bristol BS1 4DJ", "Bristol BS1"),
    ("Tower Hamlets", "Tower Hamlets"), ("", ""), (None, ""),
])
def test_areas_are_cut_to_the_grain_people_share(typed: str | None, shown: str) -> None:
    assert area_grain(typed) == shown


def view(db: sqlite_utils.Database, name: str, **params: str) -> dict:
    catch_up(db)
    return compute_view(db, name, prepare(name, params, me=b"\0" * 32, now_ms=0))


def test_the_index_follows_supersession_retraction_and_profiles(
        db: sqlite_utils.Database) -> None:
    ingest_batch(db, [profile(ALICE, 1, level="local"),
                      practice(ALICE, "walks", 10, themes=["walking"], area="LS6 2AB")],
                 now_ms=100)
    assert is_stale(db)
    assert view(db, "themes")["rows"] == [{"theme": "walking", "practices": 1, "nodes": 1}]
    assert not is_stale(db)
    assert view(db, "levels")["rows"] == [{"level": "local", "practices": 1, "nodes": 1}]
    # A newer version replaces the older one's rows (ON DELETE CASCADE) ...
    ingest_batch(db, [practice(ALICE, "walks", 20, themes=["food"])], now_ms=200)
    assert view(db, "themes")["rows"] == [{"theme": "food", "practices": 1, "nodes": 1}]
    assert view(db, "areas")["rows"] == [{"area": None, "practices": 1, "nodes": 1}]
    # ... a new profile changes the effective level of the node's practices ...
    ingest_batch(db, [profile(ALICE, 30, level="regional")], now_ms=300)
    assert view(db, "levels")["rows"] == [{"level": "regional", "practices": 1, "nodes": 1}]
    # ... and a retraction removes the practice from every view.
    ingest_batch(db, [retract(ALICE, "walks", 40)], now_ms=400)
    assert view(db, "themes")["rows"] == []
    assert view(db, "themes")["excluded"]["retracted_practices"] == 1
    count = db.conn.execute("SELECT count(*) FROM view_entries").fetchone()[0]
    held = db.conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    membership = db.conn.execute("SELECT count(*) FROM entries WHERE family IN "
                                 "('genesis', 'admit')").fetchone()[0]
    assert count == held and held - membership == 2


def test_superseding_the_newest_entry_reuses_its_seq_and_is_still_seen(
        db: sqlite_utils.Database) -> None:
    """SQLite gives the new row the old max seq: the cascade makes room for it."""
    ingest_batch(db, [practice(BOB, "a", 10, title="First")], now_ms=1)
    assert [r["title"] for r in view(db, "directory")["results"]] == ["First"]
    before = db.conn.execute("SELECT max(seq) FROM entries").fetchone()[0]
    ingest_batch(db, [practice(BOB, "a", 11, title="Second")], now_ms=2)
    assert db.conn.execute("SELECT max(seq) FROM entries").fetchone()[0] == before
    assert [r["title"] for r in view(db, "directory")["results"]] == ["Second"]


def test_a_new_index_format_rebuilds(db: sqlite_utils.Database) -> None:
    ingest_batch(db, [practice(BOB, "a", 10, themes=["food"])], now_ms=1)
    catch_up(db)
    with db.conn:
        db.conn.execute("UPDATE view_state SET format = ?", (INDEX_FORMAT - 1,))
        db.conn.execute("UPDATE view_tags SET value = 'wrong'")
    assert is_stale(db)
    assert view(db, "themes")["rows"] == [{"theme": "food", "practices": 1, "nodes": 1}]


async def test_the_async_views_catch_up_through_the_writer(store: Store) -> None:
    await store.ingest([profile(ALICE, 1, name="Alice's group"),
                        practice(ALICE, "walks", 10, themes=["walking"])])
    result = await run_view(store, "directory", {"q": "walks"})
    assert [r["node"] for r in result["results"]] == [id_to_text(ALICE.public)]
    await store.ingest([practice(ALICE, "walks", 11, themes=["walking"], title="Walks")])
    result = await run_view(store, "directory", {"kind": "practice"})
    assert [r["title"] for r in result["results"]] == ["Walks"]


def test_the_migration_indexes_entries_held_before_it(tmp_path: Path) -> None:
    """An existing node gains the views lazily: nothing is indexed until asked."""
    from node import open_node

    from ..conftest import make_member_node
    make_member_node(tmp_path / "n", seed=b"\7" * 32)
    _, db = open_node(tmp_path / "n")
    try:
        ingest_batch(db, [practice(BOB, "x", 5, themes=["food"])], now_ms=1)
        assert db.conn.execute("SELECT count(*) FROM view_entries").fetchone()[0] == 0
        assert view(db, "themes")["totals"] == {"practices": 1, "nodes": 1}
    finally:
        db.close()
