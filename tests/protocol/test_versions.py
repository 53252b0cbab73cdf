"""The hybrid logical clock, slots, and the current-version rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol import Verdict, judge, next_version, slot_of

A = b"a" * 32


@given(st.lists(st.integers(min_value=0, max_value=2**50), min_size=1, max_size=50))
def test_versions_only_increase_whatever_the_clock_does(clock_readings: list[int]) -> None:
    highest = 0
    for now in clock_readings:
        version = next_version(now, highest)
        assert version > highest
        assert version >= now
        highest = version


def test_retract_shares_the_practice_slot() -> None:
    assert slot_of(A, "retract", "x") == slot_of(A, "practice", "x")
    assert slot_of(A, "credit", "x") != slot_of(A, "practice", "x")


def test_judge() -> None:
    i, j = b"i" * 32, b"j" * 32
    assert judge(i, 5, same_version_id=None, current_version=None) is Verdict.ACCEPT
    assert judge(i, 5, same_version_id=None, current_version=4) is Verdict.ACCEPT
    assert judge(i, 5, same_version_id=None, current_version=6) is Verdict.STALE
    assert judge(i, 5, same_version_id=i, current_version=5) is Verdict.DUPLICATE
    assert judge(i, 5, same_version_id=j, current_version=5) is Verdict.FORK
