"""Peer backoff and selection; invitation codes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import InvalidInvitation
from protocol.invitations import (
    Invitation,
    check_join_proof,
    format_invitation,
    join_proof,
    parse_invitation,
)
from protocol.peers import (
    BACKOFF_BASE_MS,
    BACKOFF_CAP_MS,
    FORGET_AFTER_MS,
    PeerHealth,
    choose_peers,
    is_due,
    record_failure,
    record_success,
    refresh_view,
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


def test_peers_a_person_added_are_never_forgotten() -> None:
    pinned = PeerHealth("http://b", failures=50, last_success_ms=0, pinned=True)
    assert not should_forget(pinned, 10 * FORGET_AFTER_MS)


def test_choose_takes_due_peers_at_random_failed_ones_too() -> None:
    peers = [PeerHealth(f"http://{i}") for i in range(5)] + [
        PeerHealth("http://retry", failures=2, next_attempt_ms=0),
        PeerHealth("http://later", failures=1, next_attempt_ms=10**9),
    ]
    everyone = choose_peers(peers, 100, 10, random.Random(3))
    assert {p.address for p in everyone} == {p.address for p in peers} - {"http://later"}
    # A failed peer whose retry is due is not starved by healthy ones.
    picked = {p.address for seed in range(200)
              for p in choose_peers(peers, 100, 3, random.Random(seed))}
    assert "http://retry" in picked and "http://later" not in picked


def test_failing_peers_are_forgotten_by_time_since_their_last_success() -> None:
    rng = random.Random(4)
    peer = record_failure(PeerHealth("http://a", last_success_ms=0), 1, rng)
    assert not should_forget(peer, FORGET_AFTER_MS - 1)
    assert should_forget(peer, FORGET_AFTER_MS)
    never = record_failure(PeerHealth("http://b"), 5_000, rng)
    assert not should_forget(never, 100 + FORGET_AFTER_MS - 1, added_ms=100)
    assert should_forget(never, 100 + FORGET_AFTER_MS, added_ms=100)
    healthy = PeerHealth("http://c", last_success_ms=0)
    assert not should_forget(healthy, 10 * FORGET_AFTER_MS)


@given(st.lists(st.integers(0, 60), max_size=40), st.lists(st.integers(0, 60), max_size=80),
       st.integers(0, 2**32), st.integers(0, 30), st.integers(0, 8))
def test_a_refreshed_view_is_bounded_keeps_what_it_must_and_changes(
        view: list[int], candidates: list[int], seed: int, size: int, shuffle: int) -> None:
    keep = frozenset(view[:3])
    fresh = refresh_view(view, candidates, random.Random(seed), keep=keep, size=size,
                         shuffle=shuffle)
    assert len(fresh) == len(set(fresh)) <= size
    assert set(fresh) <= set(view) | set(candidates)
    kept = [p for p in dict.fromkeys(view) if p in keep][:size]
    assert set(kept) <= set(fresh)
    # A view no larger than its size takes in a newcomer whenever it can: it has room,
    # or a peer not kept to swap.
    newcomers = set(candidates) - set(view)
    can_swap = shuffle > 0 and bool(set(view) - keep)
    if newcomers and len(set(view)) <= size and (len(set(view)) < size or can_swap):
        assert set(fresh) & newcomers
    # A view with room for every candidate loses nobody.
    if len(set(view) | set(candidates)) <= size:
        assert set(fresh) == set(view) | set(candidates)


def invitation(network: bytes = b"n" * 32, inviter: bytes = b"i" * 32,
               address: str = "http://198.51.100.7:8470", *, expires_s: int = 1_800_000_000
               ) -> Invitation:
    return Invitation(network, inviter, address, b"\x07" * 8, b"\x09" * 16, expires_s)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32),
       st.integers(1, 65535), st.binary(min_size=8, max_size=8),
       st.binary(min_size=16, max_size=16), st.integers(1, 2**40 - 1))
def test_invitation_round_trip(network: bytes, inviter: bytes, port: int, id_: bytes,
                               secret: bytes, expires: int) -> None:
    inv = Invitation(network, inviter, f"http://node-{port}.example:{port}", id_, secret,
                     expires)
    text = format_invitation(inv)
    assert parse_invitation(text) == inv
    assert parse_invitation(" " + text.lower() + "\n") == inv


@given(st.integers(4, 200), st.sampled_from("0123456789ABCDEFGHJKMNPQRSTVWXYZ"))
def test_a_mistyped_invitation_is_caught(index: int, ch: str) -> None:
    text = format_invitation(invitation())
    if index >= len(text) or text[index] in ("-", ch):
        return
    with pytest.raises(InvalidInvitation):
        parse_invitation(text[:index] + ch + text[index + 1 :])


def test_old_codes_and_bad_fields_are_refused_with_reasons() -> None:
    with pytest.raises(InvalidInvitation, match="older version"):
        parse_invitation("HR1-AAAAAAAA")
    with pytest.raises(InvalidInvitation, match="starts with HR2-"):
        parse_invitation("HX2-AAAA")
    with pytest.raises(InvalidInvitation, match="expiry"):
        invitation(expires_s=0)
    assert invitation(expires_s=100).expired(100) and not invitation(expires_s=100).expired(99)


def test_the_join_proof_binds_the_joining_node_and_network() -> None:
    inv = invitation()
    me, eve = b"m" * 32, b"e" * 32
    proof = join_proof(inv.secret, inv.network, inv.id, me)
    assert check_join_proof(inv.secret, inv.network, inv.id, me, proof)
    # Useless to anyone else, in another network, or for another invitation.
    assert not check_join_proof(inv.secret, inv.network, inv.id, eve, proof)
    assert not check_join_proof(inv.secret, b"o" * 32, inv.id, me, proof)
    assert not check_join_proof(inv.secret, inv.network, b"\x08" * 8, me, proof)
    assert not check_join_proof(b"\x00" * 16, inv.network, inv.id, me, proof)
    # Nothing of the secret travels: the proof is a digest, not the secret.
    assert inv.secret not in proof
