"""Passing new entries on (Demers' counter rule), and which addresses a node may dial."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from protocol.addresses import MAX_ANNOUNCED, announcement, dial_refusal, reachable_from_others
from protocol.rumours import (
    ALREADY_HELD_LIMIT,
    MAX_PUSHES,
    PushOutcome,
    Rumour,
    after_push,
    alive,
    next_targets,
    outcome_of,
    sent,
)

PEERS = [f"p{i}" for i in range(6)]


def test_a_rumour_goes_to_a_new_peer_each_time_never_back_to_its_source() -> None:
    rumour = Rumour(frozenset({b"x"}), source="p0")
    tried = []
    rng = random.Random(1)
    while rumour is not None and alive(rumour, PEERS):
        [(peer, [index])] = next_targets([rumour], PEERS, set(), rng).items()
        assert index == 0 and peer != "p0" and peer not in tried
        tried.append(peer)
        rumour = after_push(rumour, peer, PushOutcome.TOOK)
    assert sorted(tried) == PEERS[1:]


def test_it_dies_when_enough_peers_already_held_it() -> None:
    rumour: Rumour | None = Rumour(frozenset({b"x"}))
    for i in range(ALREADY_HELD_LIMIT - 1):
        rumour = after_push(rumour, f"p{i}", PushOutcome.HELD)  # type: ignore[arg-type]
        assert rumour is not None
    assert rumour is not None
    rumour = after_push(rumour, "p9", PushOutcome.FAILED)  # a failure does not count
    assert rumour is not None and rumour.already_held == ALREADY_HELD_LIMIT - 1
    assert after_push(rumour, "p8", PushOutcome.HELD) is None


def test_it_is_bounded_whatever_happens() -> None:
    rumour: Rumour | None = Rumour(frozenset({b"x"}))
    for i in range(MAX_PUSHES):
        assert rumour is not None
        rumour = after_push(rumour, f"p{i}", PushOutcome.TOOK)
    assert rumour is None


def test_pushes_to_one_peer_are_coalesced_and_busy_peers_skipped() -> None:
    rumours = [Rumour(frozenset({bytes([i])}), tried=frozenset(PEERS[:4])) for i in range(5)]
    targets = next_targets(rumours, PEERS, {"p5"}, random.Random(2))
    assert targets == {"p4": [0, 1, 2, 3, 4]}
    assert next_targets(rumours, PEERS, {"p4", "p5"}, random.Random(2)) == {}


def test_the_outcome_of_a_push_comes_from_the_receivers_verdicts() -> None:
    assert outcome_of(["duplicate", "stale"]) is PushOutcome.HELD
    assert outcome_of(["duplicate", "accepted"]) is PushOutcome.TOOK
    assert outcome_of(["pending"]) is PushOutcome.TOOK


def test_addresses_never_dialled() -> None:
    for ip in ("169.254.169.254", "169.254.1.1", "fe80::1", "0.0.0.0", "224.0.0.251",
               "::ffff:169.254.169.254", "100.100.100.200", "not an ip"):
        assert dial_refusal(ip, learned=False, loopback_only=True) is not None, ip


def test_learned_loopback_and_private_addresses_depend_on_this_nodes_own() -> None:
    assert dial_refusal("127.0.0.1", learned=True, loopback_only=False)
    assert dial_refusal("127.0.0.1", learned=True, loopback_only=True) is None
    assert dial_refusal("::1", learned=True, loopback_only=False)
    assert dial_refusal("127.0.0.1", learned=False) is None  # a person typed it
    assert dial_refusal("192.168.1.20", learned=True, own=["10.0.0.5"])
    assert dial_refusal("192.168.1.20", learned=True, own=["192.168.7.9"]) is None
    assert dial_refusal("10.1.2.3", learned=True, own=["10.200.0.1"]) is None
    assert dial_refusal("fd12::1", learned=True, own=["192.168.1.2"])
    assert dial_refusal("198.51.100.7", learned=True) is None  # public: fine


def test_what_a_node_announces_of_its_own() -> None:
    assert reachable_from_others("192.168.1.20") and reachable_from_others("127.0.0.1")
    assert not reachable_from_others("0.0.0.0") and not reachable_from_others("fe80::2")


def test_a_first_push_goes_to_width_peers_then_one_at_a_time() -> None:
    rng = random.Random(3)
    rumour = Rumour(frozenset({b"x"}), width=3)
    first = next_targets([rumour], PEERS, set(), rng)
    assert len(first) == 3
    rumour = sent(rumour, first)
    # While pushes are on their way, nothing more is sent (each outcome counts first).
    assert next_targets([rumour], PEERS, set(), rng) == {}
    assert alive(rumour, first)  # a push in flight keeps it alive even with no peer left
    for peer in first:
        after = after_push(rumour, peer, PushOutcome.TOOK)
        assert after is not None
        rumour = after
    assert not rumour.in_flight and rumour.tried == set(first)
    assert len(next_targets([rumour], PEERS, set(), rng)) == 1


@given(st.lists(st.sampled_from(list(PushOutcome)), max_size=60), st.integers(0, 2**32))
def test_a_rumour_never_goes_to_a_peer_twice_and_dies_by_the_counter(
        outcomes: list[PushOutcome], seed: int) -> None:
    rng = random.Random(seed)
    rumour: Rumour | None = Rumour(frozenset({b"x"}), source="p0", width=2)
    seen: list[str] = []
    held = pushes = 0
    results = iter(outcomes)
    while rumour is not None and alive(rumour, PEERS):
        targets = next_targets([rumour], PEERS, set(), rng)
        if not targets:
            break
        rumour = sent(rumour, targets)
        for peer in targets:
            assert peer not in seen and peer != "p0"
            seen.append(peer)
            outcome = next(results, PushOutcome.TOOK)
            if rumour is None:
                continue  # it died while this push was on its way
            held += outcome is PushOutcome.HELD
            pushes += 1
            rumour = after_push(rumour, peer, outcome)
            # Dead exactly when the counter says so (or at the bound).
            assert (rumour is None) == (held >= ALREADY_HELD_LIMIT or pushes >= MAX_PUSHES)
    assert len(seen) <= len(PEERS) - 1


def test_the_addresses_a_node_announces() -> None:
    off = announcement(public_url="https://x.example", reachable=False, host="0.0.0.0",
                       port=8470, interface_ips=["192.168.1.5"])
    assert off.addresses == () and "reachable" in off.why
    public = announcement(public_url="https://fridge.example.org/", reachable=True,
                          host="0.0.0.0", port=8470, interface_ips=["192.168.1.5"])
    assert public.addresses == ("https://fridge.example.org",)
    everywhere = announcement(
        public_url="", reachable=True, host="0.0.0.0", port=8470,
        interface_ips=["192.168.1.5", "127.0.0.1", "::1", "fe80::1", "10.0.0.2", "fd00::7",
                       "172.17.0.1", "192.168.1.5"])
    assert everywhere.addresses == ("http://192.168.1.5:8470", "http://10.0.0.2:8470",
                                    "http://[fd00::7]:8470")
    assert len(everywhere.addresses) == MAX_ANNOUNCED
    assert announcement(public_url="", reachable=True, host="0.0.0.0", port=1,
                        interface_ips=["127.0.0.1"]).addresses == ()
    loopback = announcement(public_url="", reachable=True, host="127.0.0.1", port=19101)
    assert loopback.addresses == ("http://127.0.0.1:19101",) and "loopback" in loopback.why
    assert announcement(public_url="", reachable=True, host="::1", port=5).addresses == \
        ("http://[::1]:5",)
    assert announcement(public_url="", reachable=True, host="fe80::1", port=5).addresses == ()
    assert announcement(public_url="", reachable=True, host="fridge.lan",
                        port=5).addresses == ("http://fridge.lan:5",)
