"""The recovery sheet: round trip, and typing mistakes caught where they happen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node import InvalidInput
from node.store.recovery import check_line, decode_sheet, encode_sheet, sheet_text
from protocol import NodeKey

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
seeds = st.binary(min_size=32, max_size=32)


@given(seeds)
def test_the_sheet_gives_the_key_back(seed: bytes) -> None:
    lines = encode_sheet(seed)
    assert [len(line) for line in lines] == [14, 14, 14, 14, 4]
    assert set("".join(lines)) <= set(ALPHABET)
    assert decode_sheet(lines).seed == seed
    # As a person types it: spaces, lower case, O for 0 and l for 1.
    sloppy = [" ".join(line[i:i + 3] for i in range(0, len(line), 3)).lower()
              .replace("0", "o").replace("1", "l") for line in lines]
    assert decode_sheet(sloppy).seed == seed


@given(seeds, st.integers(0, 3), st.integers(0, 13), st.sampled_from(ALPHABET))
def test_a_mistyped_character_is_caught_on_its_line(seed: bytes, line: int, at: int,
                                                    typed: str) -> None:
    lines = encode_sheet(seed)
    original = lines[line]
    if original[at] == typed:
        return
    wrong = original[:at] + typed + original[at + 1:]
    with pytest.raises(InvalidInput, match=f"line {line + 1} does not check out"):
        check_line(line + 1, wrong)


@given(seeds, st.integers(0, 3), st.integers(0, 12))
def test_swapped_neighbours_are_caught(seed: bytes, line: int, at: int) -> None:
    lines = encode_sheet(seed)
    original = lines[line]
    if original[at] == original[at + 1]:
        return
    swapped = original[:at] + original[at + 1] + original[at] + original[at + 2:]
    lines[line] = swapped
    with pytest.raises(InvalidInput):
        decode_sheet(lines)  # by the line's check, or (0 and Z) the whole-key check


@given(seeds)
def test_lines_typed_in_the_wrong_order_are_caught(seed: bytes) -> None:
    lines = encode_sheet(seed)
    lines[0], lines[1] = lines[1], lines[0]
    with pytest.raises(InvalidInput):
        decode_sheet(lines)


def test_what_a_person_is_told() -> None:
    lines = encode_sheet(bytes(range(32)))
    with pytest.raises(InvalidInput, match="line 2 has 14 characters, and this has 13"):
        check_line(2, lines[1][:-1])
    with pytest.raises(InvalidInput, match="U is not on the sheet"):
        check_line(1, "U" + lines[0][1:])
    with pytest.raises(InvalidInput, match="has 5 lines, not 4"):
        decode_sheet(lines[:4])
    key = NodeKey.from_seed(bytes(range(32)))
    text = sheet_text(key, network=bytes(32), printed_on="2026-12-06")
    assert key.node_id in text and "hedgerow keys import" in text
    assert key.seed.hex() not in text
