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
    admit_key,
    credit_key,
    decode,
    decode_signed,
    encode_signed,
    network_id_of,
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
    for target in ("practice:repair-cafe", "profile:profile", f"admit:{BOB.public.hex()}",
                   f"credit:{credit_key(BOB.public, 'play')}"):
        retract = Entry(NET, ALICE.public, "retract", target, V0 + 1, {})
        verify_entry(sign_entry(ALICE, retract), NET)
    for target in ("repair-cafe", "genesis:genesis", "practice:Repair Cafe", "profile:me",
                   "admit:xyz", f"credit:{BOB.public.hex()}"):
        with pytest.raises(EntryError) as info:
            sign_entry(ALICE, Entry(NET, ALICE.public, "retract", target, V0 + 1, {}))
        assert info.value.code == "bad_key"


def test_admissions_and_genesis() -> None:
    admit = Entry(NET, ALICE.public, "admit", admit_key(BOB.public), V0, {"node": BOB.public})
    verify_entry(sign_entry(ALICE, admit), NET)
    nonce = bytes(range(16))
    network = network_id_of(ALICE.public, nonce)
    genesis = Entry(network, ALICE.public, "genesis", "genesis", V0, {"nonce": nonce})
    assert verify_entry(sign_entry(ALICE, genesis), network).entry == genesis
    # The same nonce under another founder founds another network.
    forged = Entry(network, BOB.public, "genesis", "genesis", V0, {"nonce": nonce})
    with pytest.raises(EntryError) as info:
        sign_entry(BOB, forged)
    assert info.value.code == "bad_genesis"
    with pytest.raises(EntryError) as info:
        sign_entry(ALICE, Entry(NET, ALICE.public, "admit", admit_key(ALICE.public), V0,
                                {"node": ALICE.public}))
    assert info.value.code == "self_admission"


@pytest.mark.parametrize("contact", [
    "hello@alder.example.org", "a.b+c_d-e@x.co.uk", "https://alder.example.org/contact",
    "http://192.0.2.1:8470", "https://[2001:db8::1]/x", "https://alder.example.org?a=b#c",
])
def test_a_profile_may_publish_a_contact(contact: str) -> None:
    profile = Entry(NET, ALICE.public, "profile", "profile", V0,
                    {"name": "Alder St", "level": "local", "contact": contact})
    verify_entry(sign_entry(ALICE, profile), NET)


@pytest.mark.parametrize("contact", [
    "", "hello", "hello@alder", "@alder.example.org", "hello@alder.example.org.",
    "mailto:hello@alder.example.org", "javascript:alert(1)", "ftp://alder.example.org",
    "https://someone@alder.example.org", "https://alder.example.org/a b",
    'https://alder.example.org/"><script>', "a?cc=b@alder.example.org", "hi\n@x.org",
    "x" * 250 + "@x.org",
])
def test_a_contact_must_be_an_email_or_web_address(contact: str) -> None:
    body = {"contact": contact, "level": "local", "name": "Alder St"}
    with pytest.raises(EntryError) as caught:
        sign_entry(ALICE, Entry(NET, ALICE.public, "profile", "profile", V0, body))
    assert caught.value.message.startswith("body.contact: ")
    assert contact[:12] not in caught.value.message or not contact  # never the value


# The fast yes/no test and the explaining walk come from one declaration of
# each rule; they must agree on everything, valid or not.
_text = st.one_of(st.text(max_size=12), st.sampled_from(["", "x" * 300, "a\x1bb", "a\nb",
                                                          "play", "GB-CHC-1", "<5", "2019-05"]))
_leaf = st.one_of(_text, st.integers(-10, 10**13), st.booleans(), st.none(),
                  st.binary(min_size=31, max_size=33))
_field_names = st.sampled_from(["title", "status", "description", "themes", "level", "area",
                                "since", "measures", "lessons", "adapted_from", "name", "value",
                                "author", "key", "to", "practice", "note", "reason", "unit",
                                "org_id", "addresses", "principles", "defined_by", "period",
                                "node", "nonce", "contact"])
_values = st.recursive(_leaf, lambda kids: st.lists(kids, max_size=4)
                       | st.dictionaries(_field_names, kids, max_size=5), max_leaves=12)


_AUTHOR = bytes(range(32))
_keys = st.sampled_from(["profile", "play", "x" * 70, "Bad Key", "genesis",
                         f"{bytes(32).hex()}/play", f"{bytes(33).hex()}/play", bytes(32).hex(),
                         _AUTHOR.hex(), "practice:play", "profile:profile", "genesis:genesis",
                         f"admit:{bytes(32).hex()}", f"credit:{bytes(32).hex()}/play"])
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


@given(st.sampled_from(["profile", "practice", "credit", "retract", "admit", "genesis"]),
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


def _read_strictly(payload: bytes) -> Entry | EntryError:
    """What the strict decoder alone (msgpack-python and the byte scanner) makes of a payload."""
    from protocol.entries import _read_strictly as read

    try:
        return read(payload, NET)
    except EntryError as exc:
        return exc


def _read_quickly(payload: bytes) -> Entry | EntryError:
    from protocol.entries import _read_payload

    try:
        return _read_payload(payload, NET)
    except EntryError as exc:
        return exc


def _same_reading(payload: bytes) -> None:
    quick, strict = _read_quickly(payload), _read_strictly(payload)
    if isinstance(strict, EntryError):
        assert isinstance(quick, EntryError)
        assert (type(quick), quick.code, quick.message) == (type(strict), strict.code,
                                                             strict.message)
    else:
        assert quick == strict


_CREDIT = sign_entry(ALICE, Entry(NET, ALICE.public, "credit", credit_key(BOB.public, "play"),
                                  V0, {"note": "Thank you.", "practice": "play",
                                       "to": BOB.public}))
_PAYLOADS = [GOOD.payload, _CREDIT.payload]


@given(st.sampled_from(_PAYLOADS), st.integers(min_value=0), st.integers(0, 255),
       st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
@settings(max_examples=600)
def test_quick_decoding_reads_every_payload_as_the_strict_decoder_does(
        payload: bytes, n: int, byte: int, how: str) -> None:
    data = bytearray(payload)
    at = n % len(data)
    if how == "flip":
        data[at] ^= 1 << (byte % 8)
    elif how == "set":
        data[at] = byte
    elif how == "insert":
        data.insert(at, byte)
    elif how == "delete":
        del data[at]
    else:
        del data[at:]
    _same_reading(bytes(data))


_wire_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                       st.floats(allow_nan=True), st.text(max_size=8), st.binary(max_size=33),
                       st.sampled_from(["practice", "credit", "play", "active", "Play"]))


@given(st.dictionaries(st.sampled_from(["author", "body", "key", "kind", "network", "version",
                                        "title", "status", "x"]),
                       st.recursive(_wire_leaf, lambda kids: st.lists(kids, max_size=3)
                                    | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                                    max_leaves=8), max_size=7),
       st.booleans())
@settings(max_examples=300)
def test_quick_decoding_agrees_on_structured_values(fields: dict[str, object],
                                                     envelope: bool) -> None:
    import msgpack

    if envelope:  # a well-formed envelope around whatever body was drawn
        fields = {"author": ALICE.public, "body": fields.get("body", {}), "key": "play",
                  "kind": "practice", "network": NET, "version": V0}
    _same_reading(msgpack.packb(fields, use_bin_type=True))
    _same_reading(msgpack.packb(dict(sorted(fields.items())), use_bin_type=True))


@pytest.mark.parametrize("body", [
    b"\xd4\x01x",  # an ext type (fixext 1, type 1)
    b"\xd6\xff\x00\x00\x00\x01",  # a msgpack timestamp (fixext 4, type -1)
    b"\xcb" + bytes(8),  # a float
    b"\x81\x01\x02",  # an integer key
    b"\x81\x90\x01",  # a list as a key
    b"\x91" * 900 + b"\x00",  # nested past any schema
])
def test_quick_decoding_reports_what_the_strict_decoder_reports(body: bytes) -> None:
    import msgpack

    head = msgpack.packb({"author": ALICE.public}, use_bin_type=True)
    tail = msgpack.packb({"key": "play", "kind": "practice", "network": NET, "version": V0},
                         use_bin_type=True)
    # {"author": ..., "body": <body>, "key": ..., ...} spliced by hand
    payload = bytes([0x86]) + head[1:] + b"\xa4body" + body + tail[1:]
    strict = _read_strictly(payload)
    assert isinstance(strict, EntryError)
    _same_reading(payload)


def test_entries_are_immutable() -> None:
    verified = verify_entry(GOOD, NET)
    for thing, field in ((verified, "id"), (verified.entry, "version"), (GOOD, "sig")):
        with pytest.raises(AttributeError):
            setattr(thing, field, None)
