"""Fixtures for the node store tests: a fresh node, an injected clock."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlite_utils

from node import Store, init_node, open_node
from protocol import NodeKey

from .peer_entries import NETWORK

#: Where the injected clock starts: 2023-11-14, in milliseconds.
START_MS = 1_700_000_000_000
NODE_SEED = hashlib.sha256(b"the node under test").digest()


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
    init_node(path, network=NETWORK, seed=NODE_SEED, now_ms=START_MS)
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
