"""The hybrid logical clock, slots, and the current-version rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol import MAX_AHEAD_MS, Verdict, judge, next_version, slot_of, too_far_ahead

A = b"a" * 32


@given(st.lists(st.integers(min_value=0, max_value=2**50), min_size=1, max_size=50))
def test_versions_only_increase_whatever_the_clock_does(clock_readings: list[int]) -> None:
    highest = 0
    for now in clock_readings:
        version = next_version(now, highest)
        assert version > highest
        assert version >= now
        highest = version


def test_a_retraction_takes_the_slot_it_withdraws() -> None:
    assert slot_of(A, "retract", "practice:x") == slot_of(A, "practice", "x")
    assert slot_of(A, "retract", "credit:x") == slot_of(A, "credit", "x")
    assert slot_of(A, "retract", "profile:profile") == slot_of(A, "profile", "profile")
    assert slot_of(A, "retract", "admit:ab") == slot_of(A, "admit", "ab")
    assert slot_of(A, "credit", "x") != slot_of(A, "practice", "x")


def test_versions_far_in_the_future_are_refused() -> None:
    now = 1_767_225_600_000
    assert not too_far_ahead(now + MAX_AHEAD_MS, now)
    assert too_far_ahead(now + MAX_AHEAD_MS + 1, now)
    assert too_far_ahead(2**63 - 1, now)


def test_judge() -> None:
    i, j = b"i" * 32, b"j" * 32
    assert judge(i, 5, same_version_id=None, current_version=None) is Verdict.ACCEPT
    assert judge(i, 5, same_version_id=None, current_version=4) is Verdict.ACCEPT
    assert judge(i, 5, same_version_id=None, current_version=6) is Verdict.STALE
    assert judge(i, 5, same_version_id=i, current_version=5) is Verdict.DUPLICATE
    assert judge(i, 5, same_version_id=j, current_version=5) is Verdict.FORK
