"""Fixtures for whole-network tests: a :class:`tests.netns.Network`, and reading nodes' databases.

The tests here run real ``hedgerow up`` processes in network namespaces they
create (tests/netns.py). Where namespaces cannot be made (not root, no
iproute2), they fail with one line saying why: they never skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..netns import NetnsUnavailable, Network


@pytest.fixture
def make_network(tmp_path: Path) -> Iterator[Callable[..., Network]]:
    """Networks made by the test, all removed at its end (pass the same kwargs as Network)."""
    made: list[Network] = []

    def make(**kw: object) -> Network:
        try:
            net = Network(tmp_path / f"net{len(made)}", **kw)  # type: ignore[arg-type]
        except NetnsUnavailable as exc:
            pytest.fail(f"network namespaces are not available: {exc}", pytrace=False)
        made.append(net)
        return net

    yield make
    for net in made:
        net.close()
        assert not net.leftovers(), f"left behind: {net.leftovers()}"
