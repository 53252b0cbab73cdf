"""Canonical msgpack: the one byte form of every value Hedgerow signs or sends.

A value has exactly one encoding, so a signature over bytes is a signature over
the value and any node can check that what it received is what was signed:

* maps have string keys only, sorted by code point (= UTF-8 byte order),
  with no duplicates;
* integers use the smallest msgpack form (what ``msgpack.packb`` writes);
* strings are ``str`` (UTF-8), byte strings are ``bin``;
* no floats (a NaN has many encodings and none compares equal), no ext types;
* lists and maps nest at most :data:`MAX_DEPTH` deep; lengths are bounded;
* nothing follows the value.

Decoding is a fast path in msgpack's C extension (unpack, a type walk, then
re-encode and compare bytes — DESIGN.md "Wire protocol": *re-encoding the
decoded payload gives the same bytes*). Only when that fails does a slower
pure-Python scanner (:func:`_diagnose`) walk the bytes to name exactly what
is wrong and where, so a peer's bad input gets a precise message without
slowing down good input.

Signed entries have a faster path still (:mod:`protocol.entries`), and come
here only when it does not accept them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

from .errors import DecodeError, EncodeError

__all__ = [
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "Value",
    "as_list",
    "as_map",
    "decode",
    "encode",
]

#: Deepest nesting of lists/maps accepted (the outermost container is depth 1).
MAX_DEPTH = 8
#: Default bound on the bytes a single decode accepts (a sync request body).
MAX_MESSAGE_BYTES = 256 * 1024

Value = Any  # None | bool | int | str | bytes | list[Value] | dict[str, Value]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically. Raises :class:`EncodeError` for values the
    wire cannot carry (floats, non-string keys, too deep, other types)."""
    return msgpack.packb(_canonical(value, 1, "value"), use_bin_type=True)  # type: ignore[no-any-return]


def _canonical(value: Value, depth: int, path: str) -> Value:
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise EncodeError(f"{path}: integer out of the 64-bit range")
        return value
    if isinstance(value, float):
        raise EncodeError(f"{path}: floats are not allowed on the wire; use an integer or text")
    if depth > MAX_DEPTH:
        raise EncodeError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        out: dict[str, Value] = {}
        for k in sorted(value, key=_key_order(path)):
            out[k] = _canonical(value[k], depth + 1, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value)]
    raise EncodeError(f"{path}: a {type(value).__name__} cannot be encoded")


def _key_order(path: str) -> Any:
    def check(k: object) -> str:
        if not isinstance(k, str):
            raise EncodeError(f"{path}: map keys must be text, not {type(k).__name__}")
        return k

    return check


def decode(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Value:
    """Decode canonical msgpack bytes into a value.

    Raises only :class:`DecodeError`, whose message names what is wrong and,
    where it can, the byte offset.
    """
    return _decode(data, max_bytes, walk=True)


def decode_for_schema(data: bytes, *, max_bytes: int) -> Value:
    """Decode bytes whose value the caller then checks against a strict schema.

    The re-encode comparison still proves minimal forms and unique keys, but
    the type walk (no floats, text keys in order, depth) is left to the
    caller's schema, which looks at every value anyway: for signed entries
    that walk would double the cost of everything but the signature check.
    """
    return _decode(data, max_bytes, walk=False)


def _decode(data: bytes, max_bytes: int, walk: bool) -> Value:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("expected bytes", code="decode_type")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DecodeError(
            f"message is {len(data)} bytes; the limit is {max_bytes}", code="too_large"
        )
    if not data:
        raise DecodeError("empty input", code="truncated")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=len(data),
            max_bin_len=len(data),
            max_array_len=len(data),
            max_map_len=len(data) // 2,
            max_ext_len=0,
        )
    # msgpack raises ValueError subclasses (ExtraData, FormatError, StackError,
    # OutOfData, UnicodeDecodeError) and TypeError (unhashable keys): translate.
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise _diagnose_error(data) from exc
    if (walk and not _well_typed(value, 1)) or msgpack.packb(value, use_bin_type=True) != data:
        raise _diagnose_error(data)
    return value


def _well_typed(value: Value, depth: int) -> bool:
    # The fast path's check: no floats, string keys in order, depth bounded.
    # Duplicate keys and non-minimal forms are caught by the re-encode compare.
    t = type(value)
    if t is dict:
        if depth > MAX_DEPTH:
            return False
        prev = None
        for k, v in value.items():
            if type(k) is not str or (prev is not None and k <= prev):
                return False
            prev = k
            if type(v) in (dict, list, float) and not _well_typed(v, depth + 1):
                return False
        return True
    if t is list:
        if depth > MAX_DEPTH:
            return False
        for v in value:
            if type(v) in (dict, list, float) and not _well_typed(v, depth + 1):
                return False
        return True
    return t is not float


def _diagnose_error(data: bytes) -> DecodeError:
    try:
        _Scanner(data).run()
    except DecodeError as err:
        return err
    # The scanner accepts everything the fast path should have: reaching here
    # is a bug, but the caller still only ever sees a DecodeError.
    return DecodeError("not canonical msgpack", code="not_canonical")


class _Scanner:
    """A strict msgpack reader used only to explain why input was refused."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def run(self) -> None:
        self.value(1)
        if self.pos != len(self.data):
            raise DecodeError(
                f"{len(self.data) - self.pos} trailing bytes after the value at offset {self.pos}",
                code="trailing_bytes",
            )

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise DecodeError(
                f"{what} at offset {self.pos} needs {n} bytes but only "
                f"{len(self.data) - self.pos} remain",
                code="truncated",
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int, what: str) -> int:
        return int.from_bytes(self.take(n, what), "big")

    def length(self, n: int, what: str, start: int, minimum_for_width: int, per_item: int) -> int:
        size = self.uint(n, what)
        if size < minimum_for_width:
            raise DecodeError(
                f"{what} at offset {start} uses a wider length than needed", code="non_minimal"
            )
        if size * per_item > len(self.data) - self.pos:
            raise DecodeError(
                f"{what} at offset {start} claims {size} items/bytes but only "
                f"{len(self.data) - self.pos} bytes remain",
                code="truncated",
            )
        return size

    def value(self, depth: int) -> Value:
        start = self.pos
        b = self.take(1, "type byte")[0]
        if b <= 0x7F or b >= 0xE0:
            return b if b <= 0x7F else b - 0x100
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, depth, start)
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, depth, start)
        if 0xA0 <= b <= 0xBF:
            return self.text(b & 0x1F, start)
        if b == 0xC0:
            return None
        if b in (0xC2, 0xC3):
            return b == 0xC3
        if b == 0xC1:
            raise DecodeError(f"reserved byte 0xc1 at offset {start}", code="reserved_byte")
        if b in (0xCA, 0xCB):
            raise DecodeError(f"float at offset {start}: floats are not allowed", code="float")
        if b in (0xC7, 0xC8, 0xC9) or 0xD4 <= b <= 0xD8:
            raise DecodeError(f"ext type at offset {start}: not allowed", code="ext_type")
        if b in (0xC4, 0xC5, 0xC6):
            w = {0xC4: 1, 0xC5: 2, 0xC6: 4}[b]
            n = self.length(w, "bin", start, {1: 0, 2: 256, 4: 65536}[w], 1)
            return self.take(n, "bin")
        if b in (0xD9, 0xDA, 0xDB):
            w = {0xD9: 1, 0xDA: 2, 0xDB: 4}[b]
            n = self.length(w, "str", start, {1: 32, 2: 256, 4: 65536}[w], 1)
            return self.text(n, start)
        if b in (0xDC, 0xDD):
            w = 2 if b == 0xDC else 4
            n = self.length(w, "array", start, 16 if w == 2 else 65536, 1)
            return self.array(n, depth, start)
        if b in (0xDE, 0xDF):
            w = 2 if b == 0xDE else 4
            n = self.length(w, "map", start, 16 if w == 2 else 65536, 2)
            return self.map(n, depth, start)
        if 0xCC <= b <= 0xCF:
            w = 1 << (b - 0xCC)
            v = self.uint(w, "integer")
            if v < {1: 128, 2: 256, 4: 65536, 8: 2**32}[w]:
                raise DecodeError(f"integer at offset {start} is not minimally encoded",
                                  code="non_minimal")
            return v
        # 0xD0..0xD3: signed ints
        w = 1 << (b - 0xD0)
        v = int.from_bytes(self.take(w, "integer"), "big", signed=True)
        smallest = {1: -32, 2: -128, 4: -32768, 8: -(2**31)}[w]
        if v >= smallest:
            raise DecodeError(f"integer at offset {start} is not minimally encoded",
                              code="non_minimal")
        return v

    def text(self, n: int, start: int) -> str:
        raw = self.take(n, "str")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"text at offset {start} is not valid UTF-8",
                              code="bad_utf8") from exc

    def _enter(self, depth: int, start: int) -> None:
        if depth > MAX_DEPTH:
            raise DecodeError(
                f"container at offset {start} is nested deeper than {MAX_DEPTH} levels",
                code="too_deep",
            )

    def array(self, n: int, depth: int, start: int) -> list[Value]:
        self._enter(depth, start)
        return [self.value(depth + 1) for _ in range(n)]

    def map(self, n: int, depth: int, start: int) -> dict[str, Value]:
        self._enter(depth, start)
        out: dict[str, Value] = {}
        prev: str | None = None
        for _ in range(n):
            kstart = self.pos
            k = self.value(depth + 1)
            if not isinstance(k, str):
                raise DecodeError(f"map key at offset {kstart} is not text", code="non_string_key")
            if k in out:
                raise DecodeError(f"duplicate map key {k[:40]!r} at offset {kstart}",
                                  code="duplicate_key")
            if prev is not None and k < prev:
                raise DecodeError(f"map keys out of order at offset {kstart}",
                                  code="unsorted_keys")
            prev = k
            out[k] = self.value(depth + 1)
        return out


def as_map(value: Value, what: str) -> dict[str, Value]:
    """Narrow a decoded value to a map, or raise :class:`DecodeError` naming ``what``."""
    if not isinstance(value, dict):
        raise DecodeError(f"{what} must be a map", code="wrong_type")
    return value


def as_list(value: Value, what: str) -> list[Value]:
    """Narrow a decoded value to a list, or raise :class:`DecodeError` naming ``what``."""
    if not isinstance(value, list):
        raise DecodeError(f"{what} must be a list", code="wrong_type")
    return value

