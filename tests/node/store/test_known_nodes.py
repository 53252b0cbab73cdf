"""Node ids as people type them: the short form of a known node, or a whole id."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node import InvalidInput, NotFound, Store
from node.sync import peerbook
from protocol import InvalidIdText, NodeKey, id_to_text, short_id
from protocol.ids import id_prefix, prefix_range

from ..peer_entries import admitted_by_a_member, peer_key, practice


def _two_keys_sharing_a_start(length: int) -> tuple[NodeKey, NodeKey]:
    """Two deterministic keys whose ids start with the same ``length`` characters."""
    seen: dict[str, NodeKey] = {}
    for i in itertools.count():
        key = peer_key(f"twin {i}")
        start = id_to_text(key.public)[:length]
        if start in seen:
            return seen[start], key
        seen[start] = key
    raise AssertionError  # pragma: no cover


@given(st.binary(min_size=32, max_size=32), st.integers(4, 55))
def test_the_range_of_a_start_holds_the_id(raw: bytes, length: int) -> None:
    text = id_to_text(raw).replace("-", "")[:length]
    low, high = prefix_range(id_prefix(text))
    assert low <= raw <= high


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_an_id_outside_the_range_does_not_start_so(raw: bytes, other: bytes) -> None:
    prefix = id_to_text(raw)[:7]
    low, high = prefix_range(id_prefix(prefix))
    assert (low <= other <= high) == id_to_text(other).startswith(prefix)


def test_a_start_is_read_like_an_id() -> None:
    assert id_prefix("6st3-49b") == "6ST349B"
    assert id_prefix("o1LI") == "0111"  # O is read as 0, I and L as 1
    with pytest.raises(InvalidIdText, match="at least 4"):
        id_prefix("6S")
    with pytest.raises(InvalidIdText, match="cannot appear"):
        id_prefix("6SU3")


async def test_the_short_form_of_a_known_node_names_it(store: Store) -> None:
    alice, bob, carol, dave = (peer_key(n) for n in ("alice", "bob", "carol", "dave"))
    await store.ingest([practice(alice, "walks", 10)])
    await store.db.write(peerbook.add_peer, "http://127.0.0.1:9", source="manual",
                         now_ms=1, node_id=bob.public)
    await store.block_author(carol.public)
    for known in (alice, bob, carol):
        short = short_id(known.public)
        assert await store.resolve_node(short) == known.public
        assert await store.resolve_node(f"  {short.lower()}  ") == known.public
        whole = id_to_text(known.public)
        assert await store.resolve_node(whole[:20]) == known.public
        assert await store.resolve_node(whole[:40]) == known.public  # past the first half
    assert await store.resolve_node(short_id(store.node_id)) == store.node_id
    # A member that has published nothing yet is known too.
    erin = peer_key("erin")
    await store.ingest(admitted_by_a_member(erin))
    assert await store.resolve_node(short_id(erin.public)) == erin.public
    # A whole id is taken as it is, known or not (it may not have arrived yet) ...
    assert await store.resolve_node(id_to_text(dave.public)) == dave.public
    # ... but the start of an unknown one is not.
    with pytest.raises(NotFound, match=f"no node known here has an id starting "
                                       f"{short_id(dave.public)}"):
        await store.resolve_node(short_id(dave.public))


async def test_an_ambiguous_start_says_so_and_a_longer_one_decides(store: Store) -> None:
    first, second = _two_keys_sharing_a_start(4)
    await store.ingest([*admitted_by_a_member(first, second), practice(first, "a", 10),
                        practice(second, "b", 11)])
    shared = id_to_text(first.public)[:4]
    with pytest.raises(InvalidInput, match=f"{shared} is the start of 2 nodes' ids") as info:
        await store.resolve_node(shared)
    assert info.value.code == "ambiguous_id" and "type more" in info.value.message
    for text in (id_to_text(first.public)[:15], id_to_text(second.public)[:15]):
        assert text[:9] in info.value.message
    assert await store.resolve_node(short_id(first.public)) == first.public
    assert await store.resolve_node(short_id(second.public)) == second.public


async def test_a_whole_id_with_a_character_missing_says_so(store: Store) -> None:
    alice = peer_key("alice")
    await store.ingest([practice(alice, "walks", 10)])
    whole = id_to_text(alice.public).replace("-", "")
    with pytest.raises(NotFound, match="an id has 56 letters and digits, this one has 55"):
        await store.resolve_node(whole[:30] + whole[31:])
    with pytest.raises(InvalidInput, match=r"node: character .* looks mistyped"):
        await store.resolve_node(whole[:-1] + ("0" if whole[-1] != "0" else "1"))
