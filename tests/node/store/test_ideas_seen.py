"""Which links of "where our ideas travelled" each place has shown (node/store/ideas_seen.py)."""

from __future__ import annotations

import pytest

from node import InvalidInput, Store
from node.store.ideas_seen import mark_seen, seen_links


async def test_each_viewer_remembers_what_it_showed(store: Store) -> None:
    assert await store.db.read(seen_links, "home") == set()
    new = await store.db.write(mark_seen, "home", ["a", "b"], now_ms=1)
    assert new == 2
    assert await store.db.read(seen_links, "home") == {"a", "b"}
    assert await store.db.read(seen_links, "status") == set()  # its own memory
    # Shown again with one more and one gone: the new one is new, the gone one forgotten.
    assert await store.db.write(mark_seen, "home", ["b", "c"], now_ms=2) == 1
    assert await store.db.read(seen_links, "home") == {"b", "c"}
    assert await store.db.write(mark_seen, "home", [], now_ms=3) == 0
    assert await store.db.read(seen_links, "home") == set()


async def test_an_unknown_viewer_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="viewer"):
        await store.db.read(seen_links, "robot")
    with pytest.raises(InvalidInput, match="viewer"):
        await store.db.write(mark_seen, "robot", ["a"], now_ms=1)
