"""Signed entries: signing, verification, and everything a forger might try."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    MAX_ENTRY_BYTES,
    Entry,
    EntryError,
    InvalidArgument,
    NodeKey,
    PeerError,
    SignatureError,
    SignedEntry,
    WrongNetwork,
    credit_key,
    decode,
    decode_signed,
    encode_signed,
    sign_entry,
    suppress_count,
    verify_entry,
)

ALICE = NodeKey.from_seed(hashlib.sha256(b"alice").digest())
BOB = NodeKey.from_seed(hashlib.sha256(b"bob").digest())
NET = hashlib.sha256(b"net").digest()
V0 = 1_767_225_600_000


def practice(**body: object) -> Entry:
    return Entry(NET, ALICE.public, "practice", "repair-cafe", V0,
                 {"title": "Repair café", "status": "active", **body})


GOOD = sign_entry(ALICE, practice(themes=["repair", "waste"], description="Fix it together."))


def test_sign_and_verify() -> None:
    verified = verify_entry(GOOD, NET)
    assert verified.entry.body["title"] == "Repair café"
    assert verified.id == hashlib.sha256(GOOD.payload).digest()
    assert decode_signed(encode_signed(GOOD)) == GOOD


@given(st.integers(min_value=0))
@settings(max_examples=300)
def test_any_single_flipped_bit_is_rejected(n: int) -> None:
    wire = bytearray(GOOD.payload + GOOD.sig)
    bit = n % (len(wire) * 8)
    wire[bit // 8] ^= 1 << (bit % 8)
    cut = len(GOOD.payload)
    with pytest.raises(PeerError):
        verify_entry(SignedEntry(bytes(wire[:cut]), bytes(wire[cut:])), NET)


@given(st.binary(min_size=32, max_size=32))
def test_entry_for_one_network_fails_under_another(other: bytes) -> None:
    if other == NET:
        return
    with pytest.raises(WrongNetwork):
        verify_entry(GOOD, other)
    # Even if the payload is rewritten to name the other network, the
    # signature (which mixes in the network id) no longer verifies.
    moved = Entry(other, ALICE.public, "practice", "repair-cafe", V0, GOOD_BODY)
    forged = SignedEntry(moved.payload(), GOOD.sig)
    with pytest.raises(SignatureError):
        verify_entry(forged, other)


GOOD_BODY = verify_entry(GOOD, NET).entry.body


@given(st.binary(max_size=300), st.binary(max_size=80))
def test_random_entries_raise_only_peer_errors(payload: bytes, sig: bytes) -> None:
    with pytest.raises(PeerError):
        verify_entry(SignedEntry(payload, sig), NET)


def test_wrong_author() -> None:
    forged = SignedEntry(GOOD.payload, BOB.sign(b"hedgerow/entry/v1\x00" + NET + GOOD.payload))
    with pytest.raises(SignatureError):
        verify_entry(forged, NET)


def test_truncated_signature() -> None:
    with pytest.raises(EntryError) as info:
        verify_entry(SignedEntry(GOOD.payload, GOOD.sig[:-1]), NET)
    assert info.value.code == "bad_signature_length"


def test_oversized_entry_refused_on_both_sides() -> None:
    big = practice(lessons=["x" * 1000] * 17)
    with pytest.raises(EntryError) as info:
        sign_entry(ALICE, big)
    assert info.value.code == "entry_too_large"
    with pytest.raises(EntryError):
        verify_entry(SignedEntry(b"\x00" * MAX_ENTRY_BYTES, b"\x00" * 64), NET)


def test_only_the_author_signs() -> None:
    with pytest.raises(InvalidArgument):
        sign_entry(BOB, practice())


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"measures": [{"name": "people", "value": 4}]}, "unsuppressed_count"),
        ({"measures": [{"name": "people", "value": "4"}]}, "bad_format"),
        ({"measures": [{"name": "people", "value": True}]}, "wrong_type"),
        ({"themes": ["Play Streets!"]}, "bad_format"),
        ({"themes": ["play", "play"]}, "duplicate_item"),
        ({"since": "2019-13"}, "bad_format"),
        ({"title": ""}, "too_short"),
        ({"title": "a\nb"}, "control_characters"),
        ({"level": "galactic"}, "bad_choice"),
        ({"lessons": ["ok"] * 21}, "too_many"),
        ({"adapted_from": [{"author": b"short", "key": "x"}]}, "wrong_type"),
        ({"private_notes": "never"}, "unknown_field"),
    ],
)
def test_body_rules(body: dict[str, object], code: str) -> None:
    with pytest.raises(EntryError) as info:
        sign_entry(ALICE, practice(**body))
    assert info.value.code == code
    # The message names the field, never quotes the value.
    assert "never" not in str(info.value)


def test_small_counts_are_suppressed() -> None:
    assert [suppress_count(n) for n in (0, 4, 5, 90)] == ["<5", "<5", 5, 90]
    sign_entry(ALICE, practice(measures=[{"name": "people", "value": suppress_count(2)}]))


def test_credit_and_profile_and_retract() -> None:
    credit = Entry(NET, BOB.public, "credit", credit_key(ALICE.public, "repair-cafe"), V0,
                   {"to": ALICE.public, "practice": "repair-cafe", "note": "Thanks!"})
    verify_entry(sign_entry(BOB, credit), NET)
    profile = Entry(NET, ALICE.public, "profile", "profile", V0,
                    {"name": "Alder St", "level": "local", "org_id": "GB-COH-01234567",
                     "addresses": ["http://192.0.2.1:8470"]})
    verify_entry(sign_entry(ALICE, profile), NET)
    retract = Entry(NET, ALICE.public, "retract", "repair-cafe", V0 + 1, {})
    verify_entry(sign_entry(ALICE, retract), NET)


# The fast yes/no test and the explaining walk come from one declaration of
# each rule; they must agree on everything, valid or not.
_text = st.one_of(st.text(max_size=12), st.sampled_from(["", "x" * 300, "a\x1bb", "a\nb",
                                                          "play", "GB-CHC-1", "<5", "2019-05"]))
_leaf = st.one_of(_text, st.integers(-10, 10**13), st.booleans(), st.none(),
                  st.binary(min_size=31, max_size=33))
_field_names = st.sampled_from(["title", "status", "description", "themes", "level", "area",
                                "since", "measures", "lessons", "adapted_from", "name", "value",
                                "author", "key", "to", "practice", "note", "reason", "unit",
                                "org_id", "addresses", "principles", "defined_by", "period"])
_values = st.recursive(_leaf, lambda kids: st.lists(kids, max_size=4)
                       | st.dictionaries(_field_names, kids, max_size=5), max_leaves=12)


_AUTHOR = bytes(range(32))
_keys = st.sampled_from(["profile", "play", "x" * 70, "Bad Key",
                         f"{bytes(32).hex()}/play", f"{bytes(33).hex()}/play"])
# Valid bodies of every kind (and their entries' keys), so that agreement is
# also checked where the fast test says yes.
_VALID = [(e["kind"], e["key"], decode(bytes.fromhex(e["payload"]))["body"],
           bytes.fromhex(e["author"]), True)
          for e in json.loads((Path(__file__).parents[1] / "vectors" / "protocol.json")
                              .read_text())["entries"]]
_PLAY = {"adapted_from": [{"author": _AUTHOR, "key": "play"}], "status": "active",
         "themes": ["a", "b"], "title": "Play"}  # canonical (sorted) key order
_VALID += [
    ("practice", "play", _PLAY, bytes(32), True),
    ("practice", "play", _PLAY, _AUTHOR, False),  # adapted from itself
    ("credit", f"{bytes(32).hex()}/play", {"practice": "play", "to": bytes(32)}, _AUTHOR, True),
    ("credit", f"{bytes(32).hex()}/game", {"practice": "play", "to": bytes(32)}, _AUTHOR, False),
]


@given(st.sampled_from(["profile", "practice", "credit", "retract"]),
       st.dictionaries(_field_names, _values, max_size=8), _keys,
       st.sampled_from([_AUTHOR, bytes(32)]))
@settings(max_examples=400)
def test_fast_check_agrees_with_explaining_check(kind: str, body: dict[str, object], key: str,
                                                 author: bytes) -> None:
    from protocol.bodies import _FAST, _explain

    for candidate in (body, dict(sorted(body.items()))):
        try:
            _explain(kind, key, candidate, author)
            explained_ok = True
        except EntryError:
            explained_ok = False
        # Twice: the second run may answer from texts remembered by the first.
        assert _FAST[kind](candidate, key, author) is explained_ok
        assert _FAST[kind](candidate, key, author) is explained_ok


@pytest.mark.parametrize("kind, key, body, author, valid", _VALID)
def test_fast_check_agrees_on_valid_bodies(kind: str, key: str, body: dict[str, object],
                                           author: bytes, valid: bool) -> None:
    from protocol.bodies import _FAST, _explain

    if valid:
        _explain(kind, key, body, author)
    else:
        with pytest.raises(EntryError):
            _explain(kind, key, body, author)
    for _ in range(2):  # the second run may answer from remembered texts
        assert _FAST[kind](body, key, author) is valid


def test_verify_entries_gives_what_verify_entry_gives_for_each() -> None:
    from protocol import verify_entries

    good = sign_entry(ALICE, Entry(NET, ALICE.public, "practice", "play", 5,
                                   {"status": "active", "title": "Play"}))
    other_network = sign_entry(ALICE, Entry(bytes(32), ALICE.public, "practice", "play", 5,
                                            {"status": "active", "title": "Play"}))
    forged = SignedEntry(good.payload, bytes(64))
    short_sig = SignedEntry(good.payload, good.sig[:10])
    garbage = SignedEntry(b"\xc1", good.sig)
    batch = [good, forged, other_network, short_sig, garbage, good]
    results = verify_entries(batch, NET)
    assert len(results) == len(batch)
    for signed, result in zip(batch, results, strict=True):
        try:
            expected = verify_entry(signed, NET)
        except EntryError as exc:
            assert type(result) is type(exc)
            assert (result.code, result.message) == (exc.code, exc.message)
        else:
            assert result == expected
    assert verify_entries([], NET) == []
