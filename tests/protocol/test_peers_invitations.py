"""Peer backoff and selection; invitation codes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import InvalidInvitation
from protocol.invitations import Invitation, format_invitation, parse_invitation
from protocol.peers import (
    BACKOFF_BASE_MS,
    BACKOFF_CAP_MS,
    FORGET_AFTER_MS,
    PeerHealth,
    choose_peers,
    is_due,
    record_failure,
    record_success,
    should_forget,
)


def test_backoff_grows_exponentially_to_a_cap() -> None:
    rng = random.Random(1)
    peer = PeerHealth("http://a")
    delays = []
    for _ in range(20):
        peer = record_failure(peer, 0, rng)
        delays.append(peer.next_attempt_ms)
    assert BACKOFF_BASE_MS <= delays[0] < BACKOFF_BASE_MS * 1.25
    assert 2 * BACKOFF_BASE_MS <= delays[1] < 2.5 * BACKOFF_BASE_MS
    assert max(delays) < BACKOFF_CAP_MS * 1.25
    assert not is_due(peer, 0)
    peer = record_success(peer, 5)
    assert peer.failures == 0 and is_due(peer, 5)


def test_long_dead_peers_are_forgotten_unless_pinned() -> None:
    rng = random.Random(2)
    peer = PeerHealth("http://a", last_success_ms=0)
    for i in range(10):
        peer = record_failure(peer, i, rng)
    assert not should_forget(peer, FORGET_AFTER_MS - 1)
    assert should_forget(peer, FORGET_AFTER_MS)
    pinned = PeerHealth("http://b", failures=50, last_success_ms=0, pinned=True)
    assert not should_forget(pinned, 10 * FORGET_AFTER_MS)


def test_choose_prefers_live_due_peers() -> None:
    peers = [PeerHealth(f"http://{i}") for i in range(5)] + [
        PeerHealth("http://retry", failures=2, next_attempt_ms=0),
        PeerHealth("http://later", failures=1, next_attempt_ms=10**9),
    ]
    chosen = choose_peers(peers, 100, 3, random.Random(3))
    assert len(chosen) == 3 and all(p.failures == 0 for p in chosen)
    everyone = choose_peers(peers, 100, 10, random.Random(3))
    assert {p.address for p in everyone} == {p.address for p in peers} - {"http://later"}
    assert everyone[-1].address == "http://retry"


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32),
       st.integers(1, 65535))
def test_invitation_round_trip(network: bytes, inviter: bytes, port: int) -> None:
    inv = Invitation(network, inviter, f"http://node-{port}.example:{port}")
    text = format_invitation(inv)
    assert parse_invitation(text) == inv
    assert parse_invitation(" " + text.lower() + "\n") == inv


@given(st.integers(4, 150), st.sampled_from("0123456789ABCDEFGHJKMNPQRSTVWXYZ"))
def test_a_mistyped_invitation_is_caught(index: int, ch: str) -> None:
    text = format_invitation(Invitation(b"n" * 32, b"i" * 32, "http://198.51.100.7:8470"))
    if index >= len(text) or text[index] in ("-", ch):
        return
    with pytest.raises(InvalidInvitation):
        parse_invitation(text[:index] + ch + text[index + 1 :])


@pytest.mark.parametrize("text", ["", "hello", "HR1-", "HR1-!!!", "HR1-" + "0" * 700])
def test_garbage_invitations(text: str) -> None:
    with pytest.raises(InvalidInvitation):
        parse_invitation(text)
