"""Fixtures for the hostile suite: a claimed node on loopback, a member of its network.

Every test here also checks the node's log: nothing a client sends may put a
traceback or an error in it (a traceback means a fault in the node).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from node.settings import Config

from ..node.conftest import FakeClock
from .harness import (
    CONFIG,
    NETWORK,
    HostileNode,
    Signer,
    close_node,
    key_of,
    make_node_dir,
    open_node,
)

MakeNode = Callable[..., Awaitable[HostileNode]]


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, "the node logged an error for what a client sent:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}" for r in bad)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_node(tmp_path: Path, clock: FakeClock) -> AsyncIterator[MakeNode]:
    """Start more nodes: ``await make_node("name", config=..., claimed=...)``."""
    started: list[HostileNode] = []

    async def make(name: str = "node", *, config: Config = CONFIG,
                   claimed: bool = True) -> HostileNode:
        running = await open_node(make_node_dir(tmp_path, name, claimed=claimed), clock,
                                  config=config)
        started.append(running)
        return running

    yield make
    for running in started:
        await close_node(running)


@pytest.fixture
async def node(make_node: MakeNode) -> HostileNode:
    """A claimed node (admin password set), listening on 127.0.0.1, gossip off."""
    return await make_node()


@pytest.fixture
def member(node: HostileNode, clock: FakeClock) -> Signer:
    """A node of the same network, signing its requests correctly."""
    return Signer(key_of("member"), NETWORK, node, clock)
