"""Fixtures for the views tests: the fixture network, ingested once per session."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from node import init_node, open_node
from node.store.ingest import ingest_batch
from node.views import catch_up, compute_view, prepare
from protocol import decode

from ...members import TEST_NETWORK
from ..conftest import NODE_SEED, START_MS
from ..peer_entries import NETWORK
from .network import AT, Network, build


@functools.cache
def network() -> Network:
    return build()


def make_node(path: Path, net: Network) -> Path:
    """A node data directory holding the fixture network, ingested batch by batch.

    Its members are admitted first (tests/members.py). The fixture's arrival
    times are made up, some before an entry's version: each batch is taken
    in at a "now" no earlier than its newest version (as a node would have
    to), and its arrival times are then set as the fixture says.
    """
    init_node(path, network=NETWORK, seed=NODE_SEED, now_ms=START_MS)
    _, db = open_node(path)
    try:
        ingest_batch(db, TEST_NETWORK.membership(net.keys.values()), now_ms=START_MS)
        for received, batch in net.batches:
            newest = max(decode(s.payload)["version"] for s in batch)
            outcomes = ingest_batch(db, batch, now_ms=max(received, newest))
            assert all(o.stored or o.status.value in ("stale", "duplicate")
                       for o in outcomes), outcomes
            with db.conn:
                db.conn.executemany("UPDATE entries SET received_ms = ? WHERE id = ?",
                                    [(received, s.id) for s in batch])
    finally:
        db.close()
    return path


@pytest.fixture(scope="session")
def net() -> Network:
    return network()


@pytest.fixture(scope="session")
def net_dir(tmp_path_factory: pytest.TempPathFactory, net: Network) -> Path:
    return make_node(tmp_path_factory.mktemp("views") / "node", net)


@pytest.fixture(scope="session")
def vdb(net_dir: Path) -> Iterator[sqlite_utils.Database]:
    """The fixture network's database, indexed for views (read it, do not change it)."""
    _, db = open_node(net_dir)
    catch_up(db)
    yield db
    db.close()


@pytest.fixture(scope="session")
def view(vdb: sqlite_utils.Database) -> Any:
    """``view(name, **params)``: compute a view over the fixture network."""
    me = vdb.conn.execute("SELECT node_id FROM node_state").fetchone()[0]

    def run(name: str, **params: Any) -> dict[str, Any]:
        return compute_view(vdb, name, prepare(name, params, me=me, now_ms=AT))

    return run
