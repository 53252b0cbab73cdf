"""Canonical msgpack: round trips, canonical form, and hostile bytes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import MAX_DEPTH, DecodeError, EncodeError, PeerError, decode, encode

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=30,
)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(values)
def test_round_trip(value: object) -> None:
    if depth(value) > MAX_DEPTH:
        with pytest.raises(EncodeError):
            encode(value)
        return
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        value = decode(data)
    except PeerError:
        return
    # Every accepted input re-encodes to itself.
    assert encode(value) == data


@given(values)
def test_accepted_input_re_encodes_to_itself(value: object) -> None:
    # Non-canonical encodings of the same value (msgpack's insertion order,
    # wider ints) are either refused or identical to the canonical bytes.
    try:
        raw = msgpack.packb(value, use_bin_type=True)
    except (ValueError, OverflowError):
        return
    try:
        decoded = decode(raw)
    except DecodeError:
        return
    assert encode(decoded) == raw


@pytest.mark.parametrize(
    ("hex_input", "code"),
    [
        ("82a16101a16102", "duplicate_key"),
        ("82a16201a16102", "unsorted_keys"),
        ("cc05", "non_minimal"),
        ("cd0005", "non_minimal"),
        ("d1ff80", "non_minimal"),
        ("d90161", "non_minimal"),
        ("cb3ff0000000000000", "float"),
        ("cb7ff8000000000000", "float"),  # NaN
        ("ca7fc00000", "float"),
        ("d40100", "ext_type"),
        ("c70100", "ext_type"),
        ("0102", "trailing_bytes"),
        ("ddffffffff", "truncated"),
        ("dfffffffff", "truncated"),
        ("dbffffffff", "truncated"),
        ("91" * 9 + "01", "too_deep"),
        ("91" * 2000 + "01", "too_deep"),
        ("810101", "non_string_key"),
        ("81c40161" + "01", "non_string_key"),
        ("a1ff", "bad_utf8"),
        ("c1", "reserved_byte"),
        ("", "truncated"),
    ],
)
def test_bad_inputs_name_the_problem(hex_input: str, code: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(bytes.fromhex(hex_input))
    assert info.value.code == code
    assert str(info.value)


def test_depth_eight_is_accepted() -> None:
    assert decode(bytes.fromhex("91" * 8 + "01")) == [[[[[[[[1]]]]]]]]


def test_size_limit() -> None:
    with pytest.raises(DecodeError) as info:
        decode(encode(b"x" * 100), max_bytes=50)
    assert info.value.code == "too_large"


@pytest.mark.parametrize("bad", [1.5, float("nan"), {1: 2}, {"a": {2, 3}}, object()])
def test_encode_refuses_what_the_wire_cannot_carry(bad: object) -> None:
    with pytest.raises(EncodeError):
        encode(bad)


def test_encode_sorts_keys_and_uses_smallest_ints() -> None:
    assert encode({"b": 1, "a": 300}) == bytes.fromhex("82a161cd012ca16201")


# Entries are decoded and re-encoded by msgspec (protocol.entries) and
# everything else by msgpack-python; both must write the same canonical bytes
# for every value the wire carries, or a payload one accepts the other refuses.
_EDGE_INTS = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
              -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
_EDGE_LENGTHS = [0, 31, 32, 255, 256, 65535, 65536]


@given(values)
@settings(max_examples=400)
def test_msgspec_writes_the_canonical_bytes(value: object) -> None:
    import msgspec

    try:
        data = encode(value)
    except EncodeError:
        return
    canonical = decode(data, max_bytes=len(data))  # keys now in canonical order
    assert msgspec.msgpack.encode(canonical) == data
    assert msgspec.msgpack.decode(data) == canonical


@pytest.mark.parametrize("value", [
    *_EDGE_INTS,
    *("é" * n for n in (0, 15, 16, 127, 128)),
    *("a" * n for n in _EDGE_LENGTHS),
    *(b"\x00" * n for n in _EDGE_LENGTHS),
    *([0] * n for n in (0, 15, 16, 65535, 65536)),
    *({f"k{i:05}": 0 for i in range(n)} for n in (0, 15, 16, 65535, 65536)),
])
def test_msgspec_agrees_at_every_length_boundary(value: object) -> None:
    import msgspec

    assert msgspec.msgpack.encode(value) == encode(value)
