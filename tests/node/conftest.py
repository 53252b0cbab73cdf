"""Fixtures for the node store tests: a fresh node, an injected clock."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlite_utils

from node import Store, init_node, open_node
from node.store.ingest import ingest_batch
from protocol import NodeKey, SignedEntry

from ..members import TEST_NETWORK
from .peer_entries import NETWORK, ROSTER

#: Where the injected clock starts: 2023-11-14, in milliseconds.
START_MS = 1_700_000_000_000
NODE_SEED = hashlib.sha256(b"the node under test").digest()
_MEMBERSHIP: list[SignedEntry] = []


def membership() -> list[SignedEntry]:
    """The genesis and the admissions of the node under test and of the roster (signed once)."""
    if not _MEMBERSHIP:
        _MEMBERSHIP.extend(TEST_NETWORK.membership([NodeKey.from_seed(NODE_SEED), *ROSTER]))
    return _MEMBERSHIP


def make_member_node(path: Path, *, seed: bytes = NODE_SEED, now_ms: int = 0) -> None:
    """A node of the test network that holds its genesis and the roster's admissions."""
    init_node(path, network=NETWORK, seed=seed, now_ms=now_ms or START_MS)
    _, db = open_node(path)
    try:
        entries = membership() if seed == NODE_SEED else [
            *membership(), *TEST_NETWORK.admissions(NodeKey.from_seed(seed))]
        ingest_batch(db, entries, now_ms=now_ms or START_MS)
    finally:
        db.close()


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> int:
        self.now_ms += ms
        return self.now_ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "node"
    make_member_node(path)
    return path


@pytest.fixture
def node_key(data_dir: Path) -> NodeKey:
    return NodeKey.from_seed(NODE_SEED)


@pytest.fixture
def db(data_dir: Path) -> Iterator[sqlite_utils.Database]:
    """The node's database opened synchronously (for the SQL functions themselves)."""
    _, database = open_node(data_dir)
    yield database
    database.close()


@pytest.fixture
async def store(data_dir: Path, clock: FakeClock) -> AsyncIterator[Store]:
    node_store = await Store.open(data_dir, clock=clock)
    yield node_store
    await node_store.close()


def _summaries_held(db: sqlite_utils.Database) -> list[tuple[int, bytes]]:
    return db.conn.execute("SELECT version, id FROM entries WHERE family NOT IN "
                           "('genesis', 'admit') ORDER BY version, id").fetchall()


async def held(store: Store) -> list[tuple[int, bytes]]:
    """The current set without the membership entries every test store starts with."""
    return await store.db.read(_summaries_held)
