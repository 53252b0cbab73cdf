"""Negentropy V1: reconciliation results, message sizes, hostile bytes, roles,
and byte-for-byte agreement with reference implementations (golden vectors)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import InvalidArgument, ReconcileError
from protocol.negentropy import (
    INFINITY,
    PROTOCOL_VERSION,
    Negentropy,
    NegentropyStorage,
    decode_varint,
    encode_varint,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "negentropy.json"

Item = tuple[int, bytes]


def storage_of(items: Iterable[Item]) -> NegentropyStorage:
    storage = NegentropyStorage()
    for timestamp, id_ in items:
        storage.insert(timestamp, id_)
    storage.seal()
    return storage


def sync(
    client_items: list[Item],
    server_items: list[Item],
    frame_size_limit: int = 0,
    max_rounds: int = 20_000,
) -> tuple[set[bytes], set[bytes], list[tuple[bytes, bytes]]]:
    """Run a whole session; return (have, need, [(client msg, server reply)])."""
    client = Negentropy(storage_of(client_items), frame_size_limit)
    server = Negentropy(storage_of(server_items), frame_size_limit)
    have: set[bytes] = set()
    need: set[bytes] = set()
    exchanges: list[tuple[bytes, bytes]] = []
    msg: bytes | None = client.initiate()
    while msg is not None:
        assert len(exchanges) < max_rounds, "no convergence"
        reply = server.reconcile_server(msg)
        exchanges.append((msg, reply))
        msg, new_have, new_need = client.reconcile_client(reply)
        assert not have & set(new_have) and not need & set(new_need), "id reported twice"
        have.update(new_have)
        need.update(new_need)
    assert client.done
    if frame_size_limit:
        for sent, got in exchanges:
            assert len(sent) <= frame_size_limit and len(got) <= frame_size_limit
    return have, need, exchanges


def check_sync(
    client_items: list[Item], server_items: list[Item], frame_size_limit: int = 0
) -> int:
    have, need, exchanges = sync(client_items, server_items, frame_size_limit)
    client_ids = {id_ for _, id_ in client_items}
    server_ids = {id_ for _, id_ in server_items}
    assert have == client_ids - server_ids
    assert need == server_ids - client_ids
    return len(exchanges)


def random_sets(
    seed: int, n: int, p_client: float, p_server: float, spread: int
) -> tuple[list[Item], list[Item]]:
    """n random items, each on the client, the server, both or (skipped) none."""
    rng = random.Random(seed)
    client: list[Item] = []
    server: list[Item] = []
    for _ in range(n):
        item = (rng.randrange(spread), rng.randbytes(32))
        if rng.random() < p_client:
            client.append(item)
        if rng.random() < p_server:
            server.append(item)
    return client, server


# --------------------------------------------------------------------------
# Varints and fingerprints
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8100"),
        (300, "822c"),
        (16383, "ff7f"),
        (16384, "818000"),
        (INFINITY, "81ffffffffffffffff7f"),
    ],
)
def test_varint_known(value: int, encoded: str) -> None:
    assert encode_varint(value).hex() == encoded
    assert decode_varint(bytes.fromhex(encoded)) == (value, len(encoded) // 2)


@given(st.integers(min_value=0, max_value=INFINITY))
def test_varint_round_trip(value: int) -> None:
    raw = encode_varint(value)
    assert decode_varint(raw + b"\x07") == (value, len(raw))


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "truncated"),
        ("8180", "truncated"),
        ("8001", "leading zero"),
        ("82808080808080808000", "exceeds 64 bits"),
        ("ffffffffffffffffff7f", "exceeds 64 bits"),
    ],
)
def test_varint_malformed(raw: str, why: str) -> None:
    with pytest.raises(ReconcileError, match=why):
        decode_varint(bytes.fromhex(raw))


def test_varint_refuses_out_of_range_values() -> None:
    with pytest.raises(InvalidArgument):
        encode_varint(-1)
    with pytest.raises(InvalidArgument):
        encode_varint(2**64)


def naive_fingerprint(ids: list[bytes]) -> bytes:
    total = sum(int.from_bytes(i, "little") for i in ids) % 2**256
    return hashlib.sha256(total.to_bytes(32, "little") + encode_varint(len(ids))).digest()[:16]


def test_fingerprint_matches_spec_algorithm() -> None:
    rng = random.Random(7)
    # Ids near 2**256 make the sum wrap: the mod-2**256 rule matters.
    items = sorted((rng.randrange(5), b"\xff" * 24 + rng.randbytes(8)) for _ in range(300))
    storage = NegentropyStorage.from_sorted(items)
    ids = [id_ for _, id_ in items]
    for begin, end in [(0, 0), (0, 300), (5, 6), (17, 211), (299, 300)]:
        assert storage.fingerprint(begin, end) == naive_fingerprint(ids[begin:end])
    empty = hashlib.sha256(bytes(32) + b"\x00").digest()[:16]
    assert NegentropyStorage.from_sorted([]).fingerprint(0, 0) == empty


# --------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------


def test_storage_sorts_and_from_sorted_agrees() -> None:
    rng = random.Random(1)
    items = [(rng.randrange(10), rng.randbytes(32)) for _ in range(500)]
    a = storage_of(items)
    b = NegentropyStorage.from_sorted(sorted(items))
    assert len(a) == len(b) == a.size() == 500
    assert [a.item(i) for i in range(500)] == sorted(items)
    assert a.fingerprint(0, 500) == b.fingerprint(0, 500)
    assert Negentropy(a).initiate() == Negentropy(b).initiate()


def test_storage_lifecycle_errors() -> None:
    storage = NegentropyStorage()
    storage.insert(1, bytes(32))
    assert not storage.sealed
    with pytest.raises(InvalidArgument, match="not sealed"):
        len(storage)
    with pytest.raises(InvalidArgument, match="not sealed"):
        storage.fingerprint(0, 1)
    with pytest.raises(InvalidArgument, match="not sealed"):
        Negentropy(storage)
    storage.seal()
    with pytest.raises(InvalidArgument, match="sealed"):
        storage.insert(2, bytes(32))
    with pytest.raises(InvalidArgument, match="already sealed"):
        storage.seal()
    with pytest.raises(InvalidArgument):
        storage.item(1)
    with pytest.raises(InvalidArgument):
        storage.fingerprint(1, 0)


@pytest.mark.parametrize(
    ("timestamp", "id_"),
    [(-1, bytes(32)), (INFINITY, bytes(32)), (True, bytes(32)), (1, bytes(31)), (1, "x" * 32)],
)
def test_storage_rejects_bad_items(timestamp: Any, id_: Any) -> None:
    with pytest.raises(InvalidArgument):
        NegentropyStorage().insert(timestamp, id_)
    with pytest.raises(InvalidArgument):
        NegentropyStorage.from_sorted([(timestamp, id_)])


def test_storage_rejects_duplicates_and_disorder() -> None:
    storage = NegentropyStorage()
    storage.insert(5, b"\x01" * 32)
    storage.insert(5, b"\x01" * 32)
    with pytest.raises(InvalidArgument, match="duplicate"):
        storage.seal()
    with pytest.raises(InvalidArgument, match="not sorted"):
        NegentropyStorage.from_sorted([(5, b"\x02" * 32), (5, b"\x01" * 32)])
    with pytest.raises(InvalidArgument, match="not sorted"):
        NegentropyStorage.from_sorted([(5, b"\x01" * 32), (5, b"\x01" * 32)])


# --------------------------------------------------------------------------
# Reconciliation results
# --------------------------------------------------------------------------


def test_empty_sets() -> None:
    assert Negentropy(storage_of([])).initiate() == bytes.fromhex("6100000200")
    assert check_sync([], []) == 1


@pytest.mark.parametrize("frame_size_limit", [0, 4096])
@pytest.mark.parametrize("n", [1, 31, 32, 33, 500, 3000])
def test_edge_shapes(n: int, frame_size_limit: int) -> None:
    rng = random.Random(n)
    items = [(rng.randrange(n), rng.randbytes(32)) for _ in range(n)]
    check_sync(items, [], frame_size_limit)  # server empty
    check_sync([], items, frame_size_limit)  # client empty
    assert check_sync(items, items, frame_size_limit) == 1  # identical
    check_sync(items[::2], items[1::2], frame_size_limit)  # disjoint
    same_time = [(1_700_000_000, id_) for _, id_ in items]  # one timestamp for all
    check_sync(same_time[: n // 2 + 1], same_time[n // 3 :], frame_size_limit)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(0, 2500),
    p_client=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
    p_server=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
    spread=st.sampled_from([1, 3, 50, 10**9, INFINITY]),
    frame_size_limit=st.sampled_from([0, 0, 4096, 5000, 65536]),
)
def test_sync_finds_symmetric_difference(
    seed: int, n: int, p_client: float, p_server: float, spread: int, frame_size_limit: int
) -> None:
    client, server = random_sets(seed, n, p_client, p_server, spread)
    check_sync(client, server, frame_size_limit)


@pytest.mark.parametrize("frame_size_limit", [0, 4096])
def test_large_deterministic_sync(frame_size_limit: int) -> None:
    client, server = random_sets(20_000, 20_000, 0.8, 0.8, 5_000)
    check_sync(client, server, frame_size_limit)


def hundred_thousand() -> list[Item]:
    return [(1_600_000_000 + i // 7, hashlib.sha256(b"h%d" % i).digest()) for i in range(100_000)]


def test_identical_100k_settle_in_one_round_trip() -> None:
    items = hundred_thousand()
    client = Negentropy(NegentropyStorage.from_sorted(sorted(items)))
    server = Negentropy(storage_of(items))
    first = client.initiate()
    assert len(first) <= 400  # 16 fingerprints and their bounds
    reply = server.reconcile_server(first)
    assert reply == bytes((PROTOCOL_VERSION,))  # every range settled: nothing to say
    assert client.reconcile_client(reply) == (None, [], [])


def test_100k_with_few_differences_is_cheap() -> None:
    items = sorted(hundred_thousand())
    client = items[:50_000] + items[50_001:]
    server = items[:99_999]
    have, need, exchanges = sync(client, server)
    assert have == {items[99_999][1]} and need == {items[50_000][1]}
    assert len(exchanges) <= 4
    assert all(len(a) < 2000 and len(b) < 2000 for a, b in exchanges)


# --------------------------------------------------------------------------
# Protocol version
# --------------------------------------------------------------------------


def test_server_answers_unsupported_version_with_its_own() -> None:
    server = Negentropy(storage_of([(1, bytes(32))]))
    assert server.reconcile_server(b"\x62") == b"\x61"
    assert server.reconcile_server(bytes.fromhex("6200000200")) == b"\x61"
    assert server.reconcile_server(b"\x60\xff\xff") == b"\x61"


def test_client_fails_on_unsupported_version() -> None:
    client = Negentropy(storage_of([]))
    client.initiate()
    with pytest.raises(ReconcileError, match="version"):
        client.reconcile_client(b"\x62")


@pytest.mark.parametrize("first", [0x00, 0x5F, 0x70, 0xFF])
def test_non_version_first_byte_is_an_error(first: int) -> None:
    with pytest.raises(ReconcileError, match="version"):
        Negentropy(storage_of([])).reconcile_server(bytes((first, 0, 0, 2, 0)))


# --------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------


def test_role_rules() -> None:
    with pytest.raises(InvalidArgument, match="frame_size_limit"):
        Negentropy(storage_of([]), frame_size_limit=4095)
    with pytest.raises(InvalidArgument):
        Negentropy(storage_of([]), frame_size_limit=-1)
    fresh = Negentropy(storage_of([]))
    assert fresh.role is None
    with pytest.raises(InvalidArgument, match="initiate"):
        fresh.reconcile_client(b"\x61")

    client = Negentropy(storage_of([]), frame_size_limit=4096)
    msg = client.initiate()
    assert client.role == "client"
    with pytest.raises(InvalidArgument):
        client.initiate()
    with pytest.raises(InvalidArgument, match="client"):
        client.reconcile_server(msg)
    with pytest.raises(InvalidArgument, match="bytes"):
        client.reconcile_client("61")  # type: ignore[arg-type]

    server = Negentropy(storage_of([(1, bytes(32))]))
    reply = server.reconcile(msg)  # dispatch: a server gets bytes back
    assert isinstance(reply, bytes)
    assert server.role == "server"
    with pytest.raises(InvalidArgument, match="server"):
        server.initiate()

    result = client.reconcile(reply)  # dispatch: a client gets a tuple
    assert result == (None, [], [bytes(32)])
    assert client.done
    with pytest.raises(InvalidArgument, match="complete"):
        client.reconcile_client(reply)


# --------------------------------------------------------------------------
# Hostile input
# --------------------------------------------------------------------------

FP = bytes(16)
ID = b"\x11" * 32

MALFORMED = [
    ("", "empty message"),
    ("61 81", "bound timestamp.*truncated"),
    ("61 80 01 00 00", "bound timestamp.*leading zero"),
    ("61 82 80 80 80 80 80 80 80 80 00 00 00", "exceeds 64 bits"),
    ("61 ff ff ff ff ff ff ff ff ff ff", "exceeds 64 bits"),
    ("61 00", "id prefix length.*truncated"),
    ("61 00 00", "range mode.*truncated"),
    ("61 00 00 03", "unknown mode 3"),
    ("61 00 00 07", "unknown mode 7"),
    ("61 01 21" + "00" * 33 + "00", "id prefix of 33 bytes"),
    ("61 01 05 aa bb", "bound id prefix.*needs 5 bytes"),
    ("61 00 00 01" + "00" * 10, "fingerprint.*needs 16 bytes"),
    ("61 00 00 02 05" + "11" * 64, "declares 5 ids"),
    ("61 00 00 02 ff ff ff ff 0f" + "11" * 40, "declares"),
    ("61 00 00 02 02" + "11" * 63, "declares 2 ids"),
    ("61 0b 01 05 00  01 01 01 00", "bound below the previous bound"),
    ("61 0b 02 05 05 00  01 01 05 00", "bound below the previous bound"),
    # After the infinity bound: any later timestamp overflows, and a longer bound
    # at infinity lies beyond it.
    ("61 00 00 00  01 00 00", "overflows 64 bits"),
    ("61 00 00 00  00 01 aa 00", "follows the infinity bound"),
    ("61 81 ff ff ff ff ff ff ff ff 7f 00 00  02 00 00", "overflows 64 bits"),
]


@pytest.mark.parametrize(("raw", "why"), MALFORMED)
@pytest.mark.parametrize("role", ["server", "client"])
def test_malformed_messages(raw: str, why: str, role: str) -> None:
    neg = Negentropy(storage_of([(i, bytes([i]) * 32) for i in range(1, 40)]))
    if role == "client":
        neg.initiate()
    with pytest.raises(ReconcileError, match=why):
        neg.reconcile(bytes.fromhex(raw.replace(" ", "")))


def test_well_formed_edge_messages_are_accepted() -> None:
    server = Negentropy(storage_of([(5, ID)]))
    # Only the version byte: an implicit Skip over everything.
    assert server.reconcile_server(b"\x61") == b"\x61"
    # An equal bound is an empty range; a bound at exactly the previous one is fine.
    equal = bytes.fromhex("61 06 00 00 01 00 00".replace(" ", ""))
    assert server.reconcile_server(equal) == b"\x61"
    # Finite bounds with a full 32-byte id prefix: upper bounds are exclusive.
    at_item = b"\x61\x06\x20" + ID + b"\x02\x00"
    assert server.reconcile_server(at_item) == at_item
    above = b"\x61\x06\x20" + ID[:31] + b"\x12\x02\x00"
    assert server.reconcile_server(above) == above[:-1] + b"\x01" + ID


def test_tail_after_a_frame_cut_is_still_checked() -> None:
    client_items, server_items = random_sets(5, 6000, 0.9, 0.9, 100)
    msg = Negentropy(storage_of(client_items)).initiate()
    server = Negentropy(storage_of(server_items), frame_size_limit=4096)
    reply = server.reconcile_server(msg)
    assert 3800 < len(reply) <= 4096  # the reply was cut at the frame limit
    assert reply[-19:-16] == b"\x00\x00\x01"  # ... with a fingerprint to infinity
    # The cut comes before the last range; a bad mode there is still refused.
    assert msg[-19:-16] == b"\x00\x00\x01"
    bad = msg[:-17] + b"\x07" + msg[-16:]
    with pytest.raises(ReconcileError, match="unknown mode 7"):
        server.reconcile_server(bad)


def storages_for_fuzz() -> tuple[NegentropyStorage, list[bytes]]:
    rng = random.Random(99)
    items = [(rng.randrange(40), rng.randbytes(32)) for _ in range(300)]
    storage = storage_of(items)
    other = storage_of(items[::3])
    client = Negentropy(other)
    first = client.initiate()
    reply = Negentropy(storage).reconcile_server(first)
    second, _, _ = client.reconcile_client(reply)
    assert second is not None
    # Seeds with every mode in them: fingerprints, id lists and skips.
    return storage, [first, reply, second]


FUZZ_STORAGE, FUZZ_SEEDS = storages_for_fuzz()


def feed_both_roles(data: bytes, frame_size_limit: int) -> None:
    for role in ("server", "client"):
        neg = Negentropy(FUZZ_STORAGE, frame_size_limit)
        if role == "client":
            neg.initiate()
        try:
            result = neg.reconcile(data)
        except ReconcileError:
            continue
        reply = result if isinstance(result, bytes) else result[0]
        if reply is not None and frame_size_limit:
            assert len(reply) <= frame_size_limit


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=200).map(lambda b: b"\x61" + b),
    ),
    st.sampled_from([0, 4096]),
)
def test_random_bytes_raise_only_reconcile_error(data: bytes, frame_size_limit: int) -> None:
    feed_both_roles(data, frame_size_limit)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(range(len(FUZZ_SEEDS))),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, 10_000),
)
def test_mutated_messages_raise_only_reconcile_error(
    which: int, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(FUZZ_SEEDS[which])
    for pos, value in flips:
        data[pos % len(data)] = value
    feed_both_roles(bytes(data[: max(1, cut % (len(data) + 1))]), 4096)


# --------------------------------------------------------------------------
# Golden vectors from reference implementations
# --------------------------------------------------------------------------


def load_vectors() -> dict[str, Any]:
    with VECTORS.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


GOLDEN = load_vectors()


def vector_items(ds: dict[str, Any], side: str) -> list[Item]:
    rule = ds[side]
    prefix = ds["id_prefix"].encode()
    return [
        (
            ds["timestamp_base"] + i // ds["timestamp_divisor"],
            hashlib.sha256(prefix + str(i).encode()).digest(),
        )
        for i in range(ds["n"])
        if i % rule["mod"] in rule["keep"]
    ]


def assert_same(ours: bytes, recorded: dict[str, Any], what: str) -> None:
    if "hex" in recorded:
        assert ours.hex() == recorded["hex"], what
    else:
        assert len(ours) == recorded["len"], what
        assert hashlib.sha256(ours).hexdigest() == recorded["sha256"], what


def test_vectors_are_documented() -> None:
    assert "npm" in GOLDEN["source"] and "nostr-tools" in GOLDEN["source"]
    assert len(GOLDEN["datasets"]) >= 8


@pytest.mark.parametrize("ds", GOLDEN["datasets"], ids=lambda ds: ds["name"])
def test_golden_vectors(ds: dict[str, Any]) -> None:
    client_items = vector_items(ds, "client")
    server_items = vector_items(ds, "server")
    prefix = ds["id_prefix"].encode()
    index = {hashlib.sha256(prefix + str(i).encode()).digest(): i for i in range(ds["n"])}
    client = Negentropy(storage_of(client_items), ds["frame_size_limit"])
    server = Negentropy(storage_of(server_items), ds["frame_size_limit"])
    have: list[int] = []
    need: list[int] = []
    msg: bytes | None = client.initiate()
    rounds = ds["rounds"]
    for number, recorded in enumerate(rounds):
        assert msg is not None, f"we finished early, before round {number}"
        assert_same(msg, recorded["client"], f"client message, round {number}")
        if "hex" in recorded["client"]:
            msg = bytes.fromhex(recorded["client"]["hex"])
        reply = server.reconcile_server(msg)
        assert_same(reply, recorded["server"], f"server reply, round {number}")
        msg, new_have, new_need = client.reconcile_client(reply)
        have += (index[i] for i in new_have)
        need += (index[i] for i in new_need)
    assert msg is None, "the reference finished, we did not"
    assert sorted(have) == ds["have"]
    assert sorted(need) == ds["need"]


def test_golden_version_vectors() -> None:
    version = GOLDEN["version"]
    server = Negentropy(storage_of([]))
    assert server.reconcile_server(b"\x62").hex() == version["server_reply_to_bare_0x62"]
    exchange = version["server_reply_to_0x62_message"]
    assert server.reconcile_server(bytes.fromhex(exchange["request"])).hex() == exchange["reply"]
    assert "version" in version["client_error_on_0x62_reply"].lower()


@pytest.mark.parametrize("role", ["server", "client"])
def test_an_empty_range_at_the_infinity_bound_is_accepted(role: str) -> None:
    """The reference writes one more range at the infinity bound when an IdList that
    reached infinity fills the frame: an empty range, not a range beyond infinity."""
    neg = Negentropy(storage_of([(i, bytes([i]) * 32) for i in range(1, 40)]))
    if role == "client":
        neg.initiate()
    neg.reconcile(bytes.fromhex("61 00 00 00  00 00 00".replace(" ", "")))


def test_a_frame_filled_by_an_idlist_to_infinity_still_reconciles() -> None:
    """An empty client against 5,000 items in 8 KiB frames: a round whose IdList ends
    at infinity and fills the frame (then the remainder's fingerprint) is taken."""
    rng = random.Random(7)
    items = sorted((rng.randrange(1, 10**6), rng.randbytes(32)) for _ in range(5000))
    server = Negentropy(storage_of(items), 8192)
    client = Negentropy(storage_of([]), 100 * 1024)
    msg: bytes | None = client.initiate()
    need: list[bytes] = []
    rounds = 0
    while msg is not None:
        rounds += 1
        msg, _, found = client.reconcile_client(server.reconcile_server(msg))
        need += found
    assert sorted(need) == sorted(i for _, i in items) and rounds > 1
