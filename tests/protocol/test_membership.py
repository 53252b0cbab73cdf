"""Membership from genesis and admissions: rules, and incremental = from scratch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Admission, Member, Membership, members_of, withdrawal_preview

NODES = [bytes([i]) * 32 for i in range(8)]
F, A, B, C, D = NODES[:5]


def edges(*pairs: tuple[bytes, bytes, int]) -> list[Admission]:
    return [Admission(admitter, node, version) for admitter, node, version in pairs]


def test_no_genesis_no_members() -> None:
    assert members_of(None, edges((F, A, 1))) == {}


def test_membership_is_reachability_from_the_founder() -> None:
    found = members_of(F, edges((F, A, 1), (A, B, 2), (C, D, 3)))
    assert set(found) == {F, A, B}
    assert found[F] == Member(F, None, 0, 0)
    assert found[B] == Member(B, A, 2, 2)


def test_a_cycle_without_a_chain_from_the_founder_admits_no_one() -> None:
    assert set(members_of(F, edges((A, B, 1), (B, A, 2)))) == {F}


def test_the_shortest_then_earliest_admission_places_a_member() -> None:
    found = members_of(F, edges((F, A, 5), (F, B, 3), (A, C, 1), (B, C, 2), (C, B, 0)))
    assert found[C] == Member(C, A, 1, 2)  # two chains of length 2: the earliest wins
    assert found[B] == Member(B, F, 3, 1)  # C's admission of B is a longer chain


def test_withdrawal_preview_lists_who_would_go() -> None:
    admissions = edges((F, A, 1), (A, B, 2), (B, C, 3), (F, C, 4))
    assert withdrawal_preview(F, admissions, F, A) == {A, B}
    assert withdrawal_preview(F, admissions, B, C) == set()  # F admitted C too


_ops = st.lists(st.one_of(
    st.tuples(st.just("admit"), st.sampled_from(NODES), st.sampled_from(NODES),
              st.integers(0, 5)),
    st.tuples(st.just("withdraw"), st.sampled_from(NODES), st.sampled_from(NODES),
              st.just(0)),
    st.tuples(st.just("forget"), st.sampled_from(NODES), st.just(F), st.just(0)),
    st.tuples(st.just("found"), st.sampled_from(NODES[:2]), st.just(F), st.just(0)),
), max_size=40)


@given(_ops)
@settings(max_examples=400)
def test_incremental_membership_equals_membership_from_scratch(
        ops: list[tuple[str, bytes, bytes, int]]) -> None:
    live = Membership()
    current: dict[tuple[bytes, bytes], int] = {}
    founder: bytes | None = None
    for op, first, second, version in ops:
        before = set(live.members)
        if op == "admit":
            if first == second:
                continue
            current[(first, second)] = version
            gained = live.admit(Admission(first, second, version))
            assert gained == set(live.members) - before
        elif op == "withdraw":
            current.pop((first, second), None)
            lost = live.withdraw(first, second)
            assert lost == before - set(live.members)
        elif op == "forget":
            for pair in [p for p in current if p[0] == first]:
                del current[pair]
            live.forget(first)
        else:
            if founder is not None:
                continue  # a network has one founder
            founder = first
            live.found(first)
        scratch = members_of(founder, [Admission(a, n, v) for (a, n), v in current.items()])
        assert live.nodes == set(scratch)
        assert dict(live.members) == scratch
