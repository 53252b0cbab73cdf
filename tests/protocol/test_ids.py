"""Node and network id text forms: readable, case-insensitive, checksummed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import InvalidIdText, id_from_text, id_to_text, short_id

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@given(st.binary(min_size=32, max_size=32))
def test_round_trip_any_case(raw: bytes) -> None:
    text = id_to_text(raw)
    assert len(text) == 63 and text.count("-") == 7
    assert id_from_text(text) == raw
    assert id_from_text(text.lower()) == raw
    assert id_from_text(text.replace("-", " ")) == raw
    assert short_id(raw) == text[:7]


@given(st.binary(min_size=32, max_size=32), st.integers(0, 62), st.sampled_from(ALPHABET))
def test_every_single_typo_is_caught_and_located(raw: bytes, index: int, new: str) -> None:
    text = id_to_text(raw)
    if text[index] == "-" or text[index] == new:
        return
    typo = text[:index] + new + text[index + 1 :]
    with pytest.raises(InvalidIdText) as info:
        id_from_text(typo)
    assert info.value.position == index + 1
    assert f"did you mean {text[index]!r}" in str(info.value)


@given(st.binary(min_size=32, max_size=32), st.integers(0, 61))
def test_neighbour_swaps_are_caught(raw: bytes, index: int) -> None:
    text = id_to_text(raw)
    a, b = text[index], text[index + 1]
    if "-" in (a, b) or a == b:
        return
    with pytest.raises(InvalidIdText):
        id_from_text(text[:index] + b + a + text[index + 2 :])


def test_kinds_are_not_interchangeable() -> None:
    raw = bytes(range(32))
    with pytest.raises(InvalidIdText, match="network id, not a node id"):
        id_from_text(id_to_text(raw, "network"), "node")
    with pytest.raises(InvalidIdText, match="node id, not a network id"):
        id_from_text(id_to_text(raw, "node"), "network")


@pytest.mark.parametrize(
    ("text", "code", "position"),
    [("ABC!", "id_bad_character", 4), ("", "id_length", None), ("0" * 300, "id_length", None),
     ("u" + "0" * 55, "id_bad_character", 1)],
)
def test_malformed(text: str, code: str, position: int | None) -> None:
    with pytest.raises(InvalidIdText) as info:
        id_from_text(text)
    assert info.value.code == code
    assert info.value.position == position
