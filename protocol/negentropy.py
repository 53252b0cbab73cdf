"""Negentropy Protocol V1: range-based set reconciliation, sans-I/O.

Two nodes each hold a set of *items* — a 64-bit timestamp plus a 32-byte id —
and want to learn how their sets differ while sending data proportional to the
difference, not to the sets. This module implements version 1 of the
Negentropy protocol exactly as specified in the negentropy project's
``docs/negentropy-protocol-v1.md`` (the protocol Nostr's NIP-77 uses), and
produces the same bytes as the reference implementations for the same inputs
(same bucket count, same id-list threshold, same frame-size cut-off), so a
Hedgerow node can reconcile with any V1 implementation.

How it works, briefly: both sides sort their items by (timestamp, id). The
whole (timestamp, id) space is cut into adjacent *ranges*; each message lists
ranges, each with an upper bound and a mode: ``Skip`` (nothing to do here),
``Fingerprint`` (a 16-byte digest of the sender's ids in the range) or
``IdList`` (all of the sender's ids in the range). A receiver whose own
fingerprint for a range differs splits that range into 16 buckets of
fingerprints, or — when it holds fewer than 32 items there — sends its ids
outright. Ranges whose fingerprints agree are settled. Identical sets settle
in one round trip whatever their size.

Roles and rules (the state machine a :class:`Negentropy` object enforces):

1. One :class:`Negentropy` object serves one reconciliation session, over one
   sealed :class:`NegentropyStorage`; its role is fixed by its first call.
2. The *client* (initiator) calls :meth:`Negentropy.initiate` exactly once,
   first; it sends the result (version byte ``0x61`` then the ranges).
3. The *server* answers every message with :meth:`Negentropy.reconcile_server`;
   it keeps no state between messages except its role (each message is
   self-contained: timestamp deltas restart at 0 in every message).
4. A server that gets a message whose version byte is another Negentropy
   version (``0x60``–``0x6F``) answers with the single byte ``0x61``, the
   highest version it supports, so the client can downgrade.
5. The client feeds each reply to :meth:`Negentropy.reconcile_client`, which
   returns the next message, or ``None`` once nothing is left to ask, plus the
   ids it has learned: ``have`` (client has, server lacks) and ``need`` (server
   has, client lacks). After ``None`` the session is over.
6. A client that gets a reply with another version byte fails: a V1 client has
   nowhere to downgrade to.
7. Anything malformed from the peer raises :class:`~protocol.errors.ReconcileError`
   naming what is wrong; misuse by the local caller raises
   :class:`~protocol.errors.InvalidArgument`.
8. With a ``frame_size_limit`` (0 = none, else at least 4096 bytes), no reply
   we build exceeds it: when a reply would grow past it, the rest of the space
   is answered with one fingerprint to infinity and picked up next round. (A
   first message is at most 16 fingerprints, well under 4096 bytes.)
9. Received bounds must not go backwards (spec §Bound: ranges ascend and never
   overlap); nothing may follow the infinity bound. An equal bound is an empty
   range and is accepted: the reference can emit one at a frame cut. Varints
   must be in shortest form and fit in 64 bits.

Bounded work: a message is parsed once, front to back, and checked to its
end even when a frame cut stops us acting on its tail. Each range costs one
binary search plus at most 17 SHA-256 digests (ids are summed from prefix
sums, never re-added), and the ranges' item spans are disjoint and ascending,
so one message costs O(len(message) + items in storage), and so does the
reply. An IdList's declared length is checked against the bytes left before
anything is read or stored. A caller facing untrusted peers should also cap
the number of rounds in a session.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from typing import Final, Literal, NamedTuple

from .errors import InvalidArgument, ReconcileError

__all__ = [
    "BUCKETS",
    "FINGERPRINT_SIZE",
    "ID_SIZE",
    "INFINITY",
    "MIN_FRAME_SIZE_LIMIT",
    "PROTOCOL_VERSION",
    "ClientResult",
    "Negentropy",
    "NegentropyStorage",
    "decode_varint",
    "encode_varint",
]

#: spec §Message: protocol version 1 is the byte 0x61 (0x60 + version).
PROTOCOL_VERSION: Final = 0x61
#: spec §Message: the reserved range of version bytes (any Negentropy version).
_VERSION_MIN: Final = 0x60
_VERSION_MAX: Final = 0x6F
#: spec §Id: ids are exactly 32 bytes.
ID_SIZE: Final = 32
#: spec §Range: a Fingerprint payload is 16 bytes.
FINGERPRINT_SIZE: Final = 16
#: spec §Preparation: max uint64 is reserved as the "infinity" timestamp.
INFINITY: Final = 2**64 - 1
#: Smallest non-zero frame size limit (as the reference implementations).
MIN_FRAME_SIZE_LIMIT: Final = 4096
#: Ranges are split into this many buckets (reference splitting policy).
BUCKETS: Final = 16
#: Storage keeps the sum of the ids before every this-many-th item (see NegentropyStorage).
_SUM_EVERY: Final = 16
#: Fewer items than this in a range are sent as an IdList (reference: buckets * 2).
_ID_LIST_THRESHOLD: Final = BUCKETS * 2
#: Room kept free below the frame size limit (reference: 200 bytes).
_FRAME_MARGIN: Final = 200
#: A uint64 needs at most 10 base-128 digits.
_MAX_VARINT_BYTES: Final = 10

_MODE_SKIP: Final = 0
_MODE_FINGERPRINT: Final = 1
_MODE_ID_LIST: Final = 2

_MASK_256: Final = (1 << 256) - 1
_ZERO_ID: Final = bytes(ID_SIZE)

#: What :meth:`Negentropy.reconcile_client` returns: (next message or None, have, need).
ClientResult = tuple[bytes | None, list[bytes], list[bytes]]

Role = Literal["client", "server"]


# --------------------------------------------------------------------------
# Varints (spec §Varint)
# --------------------------------------------------------------------------

_SMALL_VARINTS: Final = tuple(bytes((i,)) for i in range(0x80))


def encode_varint(n: int) -> bytes:
    """Encode a non-negative integer < 2**64 as a spec varint.

    spec §Varint: base-128 digits, most significant first, as few digits as
    possible, high bit set on every byte except the last.
    """
    if n < 0x80:
        if n < 0:
            raise InvalidArgument("varint: value must not be negative")
        return _SMALL_VARINTS[n]
    if n > INFINITY:
        raise InvalidArgument("varint: value does not fit in 64 bits")
    out = bytearray((n & 0x7F,))
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.reverse()
    return bytes(out)


def decode_varint(data: bytes, pos: int = 0, what: str = "varint") -> tuple[int, int]:
    """Decode one varint from ``data`` at ``pos``; return ``(value, next_pos)``.

    Raises :class:`ReconcileError` if the varint is truncated, not in its
    shortest form, longer than 10 bytes or larger than a uint64.
    """
    start = pos
    end = len(data)
    value = 0
    while True:
        if pos >= end:
            raise ReconcileError(f"{what} at byte {start}: varint truncated by end of message")
        byte = data[pos]
        pos += 1
        # spec §Varint: "with as few digits as possible" — a leading zero digit
        # is a second encoding of the same number; refuse it.
        if byte == 0x80 and pos - 1 == start:
            raise ReconcileError(f"{what} at byte {start}: varint has a leading zero digit")
        value = (value << 7) | (byte & 0x7F)
        if value > INFINITY:
            raise ReconcileError(f"{what} at byte {start}: varint exceeds 64 bits")
        if not byte & 0x80:
            return value, pos
        if pos - start >= _MAX_VARINT_BYTES:
            raise ReconcileError(f"{what} at byte {start}: varint longer than 10 bytes")


# --------------------------------------------------------------------------
# Bounds (spec §Bound)
# --------------------------------------------------------------------------


class _Bound(NamedTuple):
    """An upper bound: a timestamp and an id prefix of 0..32 bytes."""

    timestamp: int
    prefix: bytes

    def key(self) -> tuple[int, bytes]:
        """Comparable against storage items (timestamp, id).

        spec §Bound: "If the idPrefix length is less than 32 then the omitted
        trailing bytes are implicitly 0 bytes."
        """
        return (self.timestamp, self.prefix + _ZERO_ID[len(self.prefix) :])


_ZERO_BOUND: Final = _Bound(0, b"")
_ZERO_KEY: Final = _ZERO_BOUND.key()
_INFINITY_BOUND: Final = _Bound(INFINITY, b"")


def _minimal_bound(prev: tuple[int, bytes], curr: tuple[int, bytes]) -> _Bound:
    """The shortest bound that separates item ``prev`` from the next item ``curr``.

    spec §Bound: if the timestamps differ the id prefix is empty, otherwise it
    is the common id prefix plus one byte.
    """
    if curr[0] != prev[0]:
        return _Bound(curr[0], b"")
    a, b = prev[1], curr[1]
    shared = 0
    while shared < ID_SIZE - 1 and a[shared] == b[shared]:
        shared += 1
    return _Bound(curr[0], b[: shared + 1])


class _Encoder:
    """Encodes bounds within one message (spec §Bound: timestamp deltas)."""

    __slots__ = ("last_timestamp",)

    def __init__(self) -> None:
        # spec §Bound: "The initial offset starts at 0 and resets at the
        # beginning of each message."
        self.last_timestamp = 0

    def bound(self, out: bytearray, bound: _Bound) -> None:
        ts = bound.timestamp
        if ts == INFINITY:
            # spec §Bound: "The infinity timestamp is encoded as 0."
            self.last_timestamp = INFINITY
            out += b"\x00"
        else:
            # spec §Bound: "All other values are encoded as 1 + offset".
            out += encode_varint(ts - self.last_timestamp + 1)
            self.last_timestamp = ts
        out += encode_varint(len(bound.prefix))
        out += bound.prefix


class _Reader:
    """A cursor over one received message that raises ReconcileError on any flaw."""

    __slots__ = ("data", "last_timestamp", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos
        self.last_timestamp = 0  # spec §Bound: resets with each message

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def varint(self, what: str) -> int:
        value, self.pos = decode_varint(self.data, self.pos, what)
        return value

    def take(self, n: int, what: str) -> bytes:
        if n > self.remaining:
            raise ReconcileError(
                f"{what} at byte {self.pos}: needs {n} bytes, only {self.remaining} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def bound(self) -> _Bound:
        start = self.pos
        encoded = self.varint("bound timestamp")
        if encoded == 0:
            timestamp = INFINITY  # spec §Bound: 0 encodes infinity
        else:
            timestamp = self.last_timestamp + encoded - 1
            if timestamp >= INFINITY:
                # Offsets only move forward, and a finite bound must stay
                # below the reserved infinity value (spec §Preparation).
                raise ReconcileError(f"bound at byte {start}: timestamp offset overflows 64 bits")
        self.last_timestamp = timestamp
        length = self.varint("bound id prefix length")
        if length > ID_SIZE:
            # spec §Bound: the prefix "can be between 0 and 32 bytes, inclusive".
            raise ReconcileError(
                f"bound at byte {start}: id prefix of {length} bytes (at most {ID_SIZE})"
            )
        return _Bound(timestamp, self.take(length, "bound id prefix"))


# --------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------


def _check_item(timestamp: object, id_: object, where: str) -> tuple[int, bytes]:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise InvalidArgument(f"{where}: timestamp must be an int")
    if not 0 <= timestamp < INFINITY:
        # spec §Preparation: 2**64 - 1 is reserved as "infinity".
        raise InvalidArgument(f"{where}: timestamp must be in [0, 2**64 - 1)")
    if not isinstance(id_, (bytes, bytearray, memoryview)):
        raise InvalidArgument(f"{where}: id must be bytes")
    raw = bytes(id_)
    if len(raw) != ID_SIZE:
        raise InvalidArgument(f"{where}: id must be {ID_SIZE} bytes, got {len(raw)}")
    return timestamp, raw


class NegentropyStorage:
    """The sorted set of (timestamp, id) items one side reconciles.

    Fill it with :meth:`insert` then :meth:`seal`, or build it sealed in one
    go from items already in order with :meth:`from_sorted` (which streams:
    it never holds the input as a list). Once sealed it is immutable and can
    back any number of :class:`Negentropy` sessions.

    Items are sorted by timestamp, then id bytes (spec §Preparation). The
    storage is packed, so that a node holding a million entries keeps its set
    in about 42 MB rather than several hundred: timestamps in an unsigned
    64-bit array, the ids end to end in one byte string (an IdList is one
    slice of it), and the sums of the ids read as 256-bit little-endian
    integers, reduced mod 2**256, at every :data:`_SUM_EVERY`-th item (spec
    §Fingerprint: the sum is taken mod 2**256, so a difference of two reduced
    prefix sums, reduced again, is the range's sum). A prefix sum is the
    checkpoint before it plus at most 15 ids, so a range fingerprint costs at
    most 32 integer conversions and one SHA-256, and the sums take 2 bytes an
    item instead of 32.
    """

    __slots__ = ("_count", "_ids", "_pending", "_sums", "_timestamps")

    def __init__(self) -> None:
        self._pending: list[tuple[int, bytes]] | None = []
        self._timestamps = array("Q")
        self._ids = bytearray()
        self._sums = bytearray(ID_SIZE)  # the checkpoint of the empty prefix
        self._count = 0

    @classmethod
    def from_sorted(cls, items: Iterable[tuple[int, bytes]]) -> NegentropyStorage:
        """A sealed storage from items already sorted by (timestamp, id).

        Raises :class:`InvalidArgument` if an item is invalid, out of order
        or repeated.
        """
        storage = cls()
        timestamps = array("Q")
        ids = bytearray()
        sums = bytearray()
        acc = 0
        every = _SUM_EVERY
        index = -1
        from_bytes = int.from_bytes
        prev: tuple[int, bytes] | None = None
        for index, (timestamp, id_) in enumerate(items):
            item = _check_item(timestamp, id_, f"item {index}")
            if prev is not None and item <= prev:
                raise InvalidArgument(
                    f"item {index}: not sorted after the previous item (or a duplicate)"
                )
            prev = item
            timestamps.append(item[0])
            ids += item[1]
            if index % every == 0:
                sums += acc.to_bytes(ID_SIZE, "little")  # the sum of the items before
            # spec §Fingerprint: ids are 32-byte little-endian integers, summed mod 2**256.
            acc = (acc + from_bytes(item[1], "little")) & _MASK_256
        if (index + 1) % every == 0:
            sums += acc.to_bytes(ID_SIZE, "little")  # so that every count has a checkpoint
        # Kept as built, not copied into bytes: a copy would double the set's
        # memory while it was made (the storage is immutable all the same: private).
        storage._install(timestamps, ids, sums)
        return storage

    def insert(self, timestamp: int, id: bytes) -> None:
        """Add one item; only before :meth:`seal`."""
        if self._pending is None:
            raise InvalidArgument("storage is sealed: no more inserts")
        self._pending.append(_check_item(timestamp, id, "insert"))

    def seal(self) -> None:
        """Sort the inserted items and make the storage usable (and immutable).

        Raises :class:`InvalidArgument` if sealed already or if the same
        (timestamp, id) was inserted twice.
        """
        if self._pending is None:
            raise InvalidArgument("storage is already sealed")
        items = sorted(self._pending)
        for index in range(1, len(items)):
            if items[index] == items[index - 1]:
                raise InvalidArgument("duplicate item inserted")
        sealed = NegentropyStorage.from_sorted(items)
        self._install(sealed._timestamps, sealed._ids, sealed._sums)

    def _install(self, timestamps: array[int], ids: bytearray, sums: bytearray) -> None:
        self._timestamps, self._ids, self._sums = timestamps, ids, sums
        self._count = len(timestamps)
        self._pending = None

    @property
    def sealed(self) -> bool:
        """Whether :meth:`seal` (or :meth:`from_sorted`) has run."""
        return self._pending is None

    def _require_sealed(self) -> None:
        if self._pending is not None:
            raise InvalidArgument("storage is not sealed yet: call seal() first")

    def __len__(self) -> int:
        self._require_sealed()
        return self._count

    def size(self) -> int:
        """Number of items (sealed storage only)."""
        return len(self)

    def item(self, index: int) -> tuple[int, bytes]:
        """The item at ``index`` in sorted order, as (timestamp, id)."""
        self._require_sealed()
        if not 0 <= index < self._count:
            raise InvalidArgument(f"item index {index} out of range")
        return self._timestamps[index], bytes(self._ids[index * ID_SIZE:(index + 1) * ID_SIZE])

    def _id(self, index: int) -> bytes:
        return bytes(self._ids[index * ID_SIZE:(index + 1) * ID_SIZE])

    def _id_run(self, begin: int, end: int) -> bytearray:
        """The ids of items ``[begin, end)``, end to end (an IdList's payload)."""
        return self._ids[begin * ID_SIZE:end * ID_SIZE]

    def fingerprint(self, begin: int, end: int) -> bytes:
        """The 16-byte fingerprint of items ``[begin, end)``.

        spec §Fingerprint Algorithm: sum of the ids mod 2**256 (little-endian),
        concatenated with varint(count), SHA-256, first 16 bytes.
        """
        self._require_sealed()
        if not 0 <= begin <= end <= self._count:
            raise InvalidArgument(f"bad range [{begin}, {end})")
        total = (self._prefix_sum(end) - self._prefix_sum(begin)) & _MASK_256
        digest = hashlib.sha256(total.to_bytes(ID_SIZE, "little") + encode_varint(end - begin))
        return digest.digest()[:FINGERPRINT_SIZE]

    def _prefix_sum(self, index: int) -> int:
        """The sum (mod 2**256, or above it: the caller reduces) of the ids before ``index``."""
        from_bytes, ids = int.from_bytes, self._ids
        checkpoint = index // _SUM_EVERY
        total = from_bytes(self._sums[checkpoint * ID_SIZE:(checkpoint + 1) * ID_SIZE], "little")
        for at in range(checkpoint * _SUM_EVERY * ID_SIZE, index * ID_SIZE, ID_SIZE):
            total += from_bytes(ids[at:at + ID_SIZE], "little")
        return total

    def _lower_bound(self, begin: int, end: int, key: tuple[int, bytes]) -> int:
        """Index of the first item in ``[begin, end)`` not below ``key``."""
        timestamps, ids = self._timestamps, self._ids
        key_ts, key_id = key
        lo, hi = begin, end
        while lo < hi:
            mid = (lo + hi) >> 1
            ts = timestamps[mid]
            if ts < key_ts or (ts == key_ts and ids[mid * ID_SIZE:(mid + 1) * ID_SIZE] < key_id):
                lo = mid + 1
            else:
                hi = mid
        return lo


# --------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------


class Negentropy:
    """One reconciliation session over a sealed :class:`NegentropyStorage`.

    Client::

        neg = Negentropy(storage, frame_size_limit=0)
        msg = neg.initiate()
        while msg is not None:
            reply = send_to_server(msg)
            msg, have, need = neg.reconcile_client(reply)

    Server::

        neg = Negentropy(storage, frame_size_limit=0)
        reply = neg.reconcile_server(msg)   # for every message received

    ``frame_size_limit`` is 0 (unlimited) or at least 4096: every message this
    side builds stays within it (a reply that would not fit is cut and the
    rest of the range space deferred to the next round, as the reference does).
    """

    __slots__ = (
        "_done",
        "_frame_size_limit",
        "_reported_have",
        "_reported_need",
        "_role",
        "_storage",
    )

    def __init__(self, storage: NegentropyStorage, frame_size_limit: int = 0) -> None:
        if not isinstance(storage, NegentropyStorage):
            raise InvalidArgument("storage must be a NegentropyStorage")
        if not storage.sealed:
            raise InvalidArgument("storage is not sealed yet: call seal() first")
        if not isinstance(frame_size_limit, int) or isinstance(frame_size_limit, bool):
            raise InvalidArgument("frame_size_limit must be an int")
        if frame_size_limit != 0 and frame_size_limit < MIN_FRAME_SIZE_LIMIT:
            raise InvalidArgument(
                f"frame_size_limit must be 0 (unlimited) or at least {MIN_FRAME_SIZE_LIMIT}"
            )
        self._storage = storage
        self._frame_size_limit = frame_size_limit
        self._role: Role | None = None
        self._done = False
        # Ids already returned as have / need: a cut frame makes a range come
        # round again, and the caller should hear about each id once.
        self._reported_have: set[bytes] = set()
        self._reported_need: set[bytes] = set()

    @property
    def role(self) -> Role | None:
        """``"client"`` after :meth:`initiate`, ``"server"`` after the first
        :meth:`reconcile_server`, else ``None``."""
        return self._role

    @property
    def done(self) -> bool:
        """True once the client has nothing more to ask (it returned ``None``)."""
        return self._done

    @property
    def frame_size_limit(self) -> int:
        """The frame size limit in bytes; 0 means unlimited."""
        return self._frame_size_limit

    def initiate(self) -> bytes:
        """Start the session as client; return the first message.

        The message is the version byte ``0x61`` followed by the whole range
        space as one split (16 fingerprints, or an IdList when the storage
        holds fewer than 32 items).
        """
        if self._role is not None:
            raise InvalidArgument(
                "initiate() may be called once, before any reconcile"
                if self._role == "client"
                else "a server session cannot initiate"
            )
        self._role = "client"
        out = bytearray((PROTOCOL_VERSION,))
        # spec §Message: the first range starts at timestamp 0 / empty id; the
        # initial split covers everything up to infinity.
        self._split_range(0, self._storage._count, _INFINITY_BOUND, _Encoder(), out)
        return bytes(out)

    def reconcile_server(self, msg: bytes) -> bytes:
        """Answer one client message as server; return the reply to send.

        The reply always starts with the version byte ``0x61``; it is that
        byte alone when every range is settled, and also when the client asked
        for a protocol version we do not speak (spec §Message: reply with the
        highest version supported, so the client can downgrade). Raises
        :class:`ReconcileError` if ``msg`` is malformed.
        """
        if self._role == "client":
            raise InvalidArgument("this session is a client: use reconcile_client()")
        self._role = "server"
        return self._reconcile(msg, [], [])

    def reconcile_client(self, msg: bytes) -> ClientResult:
        """Process one server reply as client.

        Returns ``(next_message, have_ids, need_ids)``:

        * ``next_message`` — bytes to send to the server, or ``None`` when
          reconciliation is complete (the session is then over);
        * ``have_ids`` — 32-byte ids the client has and the server lacks;
        * ``need_ids`` — 32-byte ids the server has and the client lacks.

        The id lists hold what this reply revealed; each id is reported once
        per session. Raises :class:`ReconcileError` if ``msg`` is malformed or
        its version byte is not ``0x61`` (spec §Message: the server named a
        version a V1 client cannot downgrade to).
        """
        if self._role != "client":
            raise InvalidArgument("call initiate() before reconcile_client()")
        if self._done:
            raise InvalidArgument("reconciliation is already complete")
        have: list[bytes] = []
        need: list[bytes] = []
        out = self._reconcile(msg, have, need)
        fresh_have = _first_reports(have, self._reported_have)
        fresh_need = _first_reports(need, self._reported_need)
        if len(out) == 1:
            # Only the version byte: nothing left to ask.
            self._done = True
            return None, fresh_have, fresh_need
        return out, fresh_have, fresh_need

    def reconcile(self, msg: bytes) -> bytes | ClientResult:
        """Dispatch by role: :meth:`reconcile_client` after :meth:`initiate`,
        else :meth:`reconcile_server`.

        Returns ``bytes`` (the reply) for a server and a :data:`ClientResult`
        ``(next_message | None, have_ids, need_ids)`` for a client. Prefer the
        explicit methods where the role is known: their return types are exact.
        """
        if self._role == "client":
            return self.reconcile_client(msg)
        return self.reconcile_server(msg)

    # -- internals ----------------------------------------------------------

    def _exceeds_frame(self, size: int) -> bool:
        limit = self._frame_size_limit
        return limit != 0 and size > limit - _FRAME_MARGIN

    def _reconcile(self, msg: bytes, have: list[bytes], need: list[bytes]) -> bytes:
        if not isinstance(msg, (bytes, bytearray, memoryview)):
            raise InvalidArgument("message must be bytes")
        data = bytes(msg)
        is_client = self._role == "client"
        if not data:
            raise ReconcileError("empty message: no protocol version byte")
        version = data[0]
        if not _VERSION_MIN <= version <= _VERSION_MAX:
            raise ReconcileError(f"byte 0 is not a Negentropy protocol version: 0x{version:02x}")
        if version != PROTOCOL_VERSION:
            if is_client:
                # Rule 6: the server cannot speak V1; nothing to downgrade to.
                raise ReconcileError(
                    f"peer does not support protocol version 1 (it offered 0x{version:02x})"
                )
            # spec §Message: reply with a single byte, the highest version we support.
            return bytes((PROTOCOL_VERSION,))

        storage = self._storage
        size = storage._count
        reader = _Reader(data, 1)
        enc = _Encoder()
        full = bytearray((PROTOCOL_VERSION,))
        prev_bound = _ZERO_BOUND  # the last bound read
        prev_key = _ZERO_KEY
        prev_index = 0  # our first item at or above the last bound acted on
        skip_bound = _ZERO_BOUND  # the last bound acted on
        skip = False  # a Skip up to skip_bound is owed to the output
        cut = False  # the frame is full: read (and check) the rest, act on none of it

        while reader.remaining:
            after_infinity = prev_bound.timestamp == INFINITY
            start = reader.pos
            curr_bound = reader.bound()
            curr_key = curr_bound.key()
            if after_infinity and curr_key != prev_key:
                # spec §Message: the ranges cover the space up to infinity; nothing
                # can lie beyond it. One more range *at* the infinity bound is empty,
                # and the reference writes one when an IdList that reached infinity
                # fills the frame (its remainder fingerprint, of nothing): accepted.
                raise ReconcileError(f"range at byte {start} follows the infinity bound")
            if curr_key < prev_key:
                # spec §Bound: ranges are encoded in ascending order, adjacent,
                # never overlapping. (An equal bound is an empty range, which
                # the reference itself can emit at a frame cut.)
                raise ReconcileError(f"range at byte {start}: bound below the previous bound")
            mode = reader.varint("range mode")
            # Read the whole payload first: a message is checked end to end
            # even when a frame cut (below) stops us acting on its tail.
            if mode == _MODE_SKIP:
                payload = b""
            elif mode == _MODE_FINGERPRINT:
                payload = reader.take(FINGERPRINT_SIZE, "fingerprint")
            elif mode == _MODE_ID_LIST:
                count_at = reader.pos
                count = reader.varint("IdList length")
                if count > reader.remaining // ID_SIZE:
                    # Checked before reading anything: a peer cannot make us
                    # allocate for ids it did not send.
                    raise ReconcileError(
                        f"IdList at byte {count_at} declares {count} ids but only "
                        f"{reader.remaining} bytes remain"
                    )
                payload = reader.take(count * ID_SIZE, "IdList ids")
            else:
                # spec §Range: modes are 0 Skip, 1 Fingerprint, 2 IdList.
                raise ReconcileError(f"range at byte {start}: unknown mode {mode}")
            prev_bound, prev_key = curr_bound, curr_key
            if cut:
                continue

            out = bytearray()
            lower = prev_index
            upper = storage._lower_bound(lower, size, curr_key)

            if mode == _MODE_SKIP:
                # spec §Range: the sender does not wish to process this range.
                skip = True
            elif mode == _MODE_FINGERPRINT:
                if payload == storage.fingerprint(lower, upper):
                    skip = True  # settled
                else:
                    if skip:
                        skip = False
                        enc.bound(out, skip_bound)
                        out.append(_MODE_SKIP)
                    self._split_range(lower, upper, curr_bound, enc, out)
            elif is_client:  # IdList
                their_ids = dict.fromkeys(
                    payload[i : i + ID_SIZE] for i in range(0, len(payload), ID_SIZE)
                )
                for index in range(lower, upper):
                    id_ = storage._id(index)
                    if id_ in their_ids:
                        del their_ids[id_]  # on both sides
                    else:
                        have.append(id_)  # ours only
                need.extend(their_ids)  # theirs only
                skip = True  # settled
            else:  # IdList, server
                if skip:
                    skip = False
                    enc.bound(out, skip_bound)
                    out.append(_MODE_SKIP)
                # Answer with all our ids in the range, cut short at the
                # frame limit: the cut ends the IdList at the first id not
                # sent, and the remainder gets a fingerprint below.
                end_bound = curr_bound
                sent = upper - lower
                limit = self._frame_size_limit
                if limit:
                    # Ids go in while the frame so far stays within the limit
                    # before each is added (the same cut as checking id by id).
                    room = limit - _FRAME_MARGIN - len(full)
                    fits = room // ID_SIZE + 1 if room >= 0 else 0
                    if fits < sent:
                        sent = fits
                        upper = lower + sent
                        end_bound = _Bound(*storage.item(upper))
                ids = storage._id_run(lower, lower + sent)
                enc.bound(out, end_bound)
                out.append(_MODE_ID_LIST)
                out += encode_varint(sent)
                out += ids
                full += out
                out = bytearray()

            if self._exceeds_frame(len(full) + len(out)):
                # Frame full: stop acting here and cover everything from the
                # last range written to infinity with one fingerprint (of our
                # items from `upper` on), so the peer asks again next round.
                full += _infinity_fingerprint(storage.fingerprint(upper, size))
                cut = True
                continue
            full += out
            prev_index = upper
            skip_bound = curr_bound

        return bytes(full)

    def _split_range(
        self, lower: int, upper: int, upper_bound: _Bound, enc: _Encoder, out: bytearray
    ) -> None:
        """Describe items ``[lower, upper)``, a range ending at ``upper_bound``.

        Fewer than 32 items: one IdList. Otherwise 16 Fingerprint ranges of
        near-equal item counts (the first ``count % 16`` buckets hold one
        more), separated by minimal bounds — the reference policy.
        """
        storage = self._storage
        count = upper - lower
        if count < _ID_LIST_THRESHOLD:
            enc.bound(out, upper_bound)
            out.append(_MODE_ID_LIST)
            out += encode_varint(count)
            out += storage._id_run(lower, upper)
            return
        per_bucket, with_extra = divmod(count, BUCKETS)
        fingerprint = self._storage.fingerprint
        curr = lower
        for bucket in range(BUCKETS):
            bucket_size = per_bucket + (1 if bucket < with_extra else 0)
            digest = fingerprint(curr, curr + bucket_size)
            curr += bucket_size
            last = curr == upper
            bound = (upper_bound if last else
                     _minimal_bound(storage.item(curr - 1), storage.item(curr)))
            enc.bound(out, bound)
            out.append(_MODE_FINGERPRINT)
            out += digest


def _first_reports(ids: list[bytes], reported: set[bytes]) -> list[bytes]:
    """The ids not reported before, in order, each once; remembers them."""
    fresh: list[bytes] = []
    for id_ in ids:
        if id_ not in reported:
            reported.add(id_)
            fresh.append(id_)
    return fresh


def _infinity_fingerprint(digest: bytes) -> bytes:
    """A final range to infinity carrying ``digest`` (infinity encodes as 0
    whatever the running timestamp; empty id prefix; mode Fingerprint)."""
    return b"\x00\x00\x01" + digest
