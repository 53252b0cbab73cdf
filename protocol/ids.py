"""Text forms of node ids and network ids.

A node id is the node's 32-byte Ed25519 public key; a network id is 32 bytes
chosen when a network is started. People read them aloud, paste them into
emails and type them from a printout, so the text form is built for that:

* Crockford base32 (digits and capitals without I, L, O, U), case-insensitive;
  on input ``O`` is read as ``0`` and ``I``/``L`` as ``1``, and dashes and
  spaces are ignored.
* 52 data symbols (256 bits + 4 zero pad bits) split into two halves of 26;
  each half is followed by two check symbols, making 56 symbols, printed in
  eight groups of seven: ``XXXXXXX-XXXXXXX-…``.
* The check symbols make each half a codeword of a shortened Reed–Solomon code
  over GF(32) with two syndromes (S0 = Σ xᵢ, S1 = Σ αⁱ xᵢ). Every single
  mistyped character and every swap of two neighbours is detected, and a
  single mistyped character is *located*, so the error names it and suggests
  the right one.
* Node ids and network ids use different check symbols (a virtual symbol
  outside the printed text enters the syndromes), so pasting a network id
  where a node id belongs is caught and said plainly.
* People mostly see the short form (the first group). :func:`id_prefix`
  reads any shorter text as the start of an id, and :func:`prefix_range`
  gives the range of 32-byte ids that start with it, so a node can look the
  id up among those it knows (as git does with commit prefixes).
"""

from __future__ import annotations

from typing import Literal

from .errors import InvalidIdText

__all__ = [
    "ALPHABET",
    "ID_LENGTH",
    "ID_SYMBOLS",
    "MIN_PREFIX",
    "IdKind",
    "base32_decode",
    "base32_encode",
    "id_from_text",
    "id_prefix",
    "id_to_text",
    "is_full_id",
    "prefix_range",
    "short_id",
]

ID_LENGTH = 32
IdKind = Literal["node", "network"]

ALPHABET = _ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
# Crockford base32: letters easily confused with digits are read as those digits.
_VALUE.update({"O": 0, "I": 1, "L": 1})
_IGNORED = frozenset("- \t")

_HALF_DATA = 26
_HALF = _HALF_DATA + 2
#: Letters and digits in the text form of a whole id.
ID_SYMBOLS = 2 * _HALF
_GROUP = 7
_KIND_TWEAK: dict[str, int] = {"node": 0, "network": 1}
# The virtual symbol sits just past a half's last printed position.
_TWEAK_POSITION = _HALF

# GF(32) with primitive polynomial x^5 + x^2 + 1; α = 2.
_EXP = [0] * 62
_LOG = [0] * 32
_x = 1
for _i in range(31):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x20:
        _x ^= 0x25
for _i in range(31, 62):
    _EXP[_i] = _EXP[_i - 31]


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 31]


def _syndromes(symbols: list[int], tweak: int) -> tuple[int, int]:
    s0 = tweak
    s1 = _mul(_EXP[_TWEAK_POSITION], tweak)
    for i, x in enumerate(symbols):
        s0 ^= x
        s1 ^= _mul(_EXP[i], x)
    return s0, s1


def _check_symbols(data: list[int], tweak: int) -> list[int]:
    # Choose c0 (position 26) and c1 (position 27) so both syndromes vanish:
    # c0 + c1 = A and α²⁶c0 + α²⁷c1 = B, with A, B the data's syndromes.
    a, b = _syndromes(data, tweak)
    p0, p1 = _EXP[_HALF_DATA], _EXP[_HALF_DATA + 1]
    c0 = _div(b ^ _mul(p1, a), p0 ^ p1)
    return [c0, a ^ c0]


def _to_symbols(raw: bytes) -> list[int]:
    n = int.from_bytes(raw, "big") << 4  # 256 bits + 4 zero pad bits = 52 symbols
    return [(n >> (5 * (51 - i))) & 31 for i in range(52)]


def _from_symbols(symbols: list[int]) -> tuple[bytes, int]:
    n = 0
    for s in symbols:
        n = (n << 5) | s
    return (n >> 4).to_bytes(ID_LENGTH, "big"), n & 0xF


def id_to_text(raw: bytes, kind: IdKind = "node") -> str:
    """The checksummed text form of a 32-byte node or network id."""
    if not isinstance(raw, bytes) or len(raw) != ID_LENGTH:
        raise InvalidIdText(f"an id is {ID_LENGTH} bytes", code="id_length")
    tweak = _KIND_TWEAK[kind]
    data = _to_symbols(raw)
    symbols: list[int] = []
    for half in (data[:_HALF_DATA], data[_HALF_DATA:]):
        symbols += half + _check_symbols(half, tweak)
    text = "".join(_ALPHABET[s] for s in symbols)
    return "-".join(text[i : i + _GROUP] for i in range(0, len(text), _GROUP))


def short_id(raw: bytes, kind: IdKind = "node") -> str:
    """The first group of the text form: enough for a person to tell nodes apart."""
    return id_to_text(raw, kind)[:_GROUP]


def id_from_text(text: str, kind: IdKind = "node") -> bytes:
    """Parse the text form of an id of the given kind.

    Raises :class:`InvalidIdText` naming the character at fault (1-based
    position in ``text`` as given) and, for a single typo, the likely
    correct character.
    """
    if not isinstance(text, str):
        raise InvalidIdText("an id must be text", code="id_type")
    if len(text) > 200:
        raise InvalidIdText("that is far too long to be an id", code="id_length")
    read = _symbol_values(text, "an id")
    symbols = [value for value, _ in read]
    where = [pos for _, pos in read]  # 1-based position in `text` of each symbol
    if len(symbols) != 2 * _HALF:
        raise InvalidIdText(
            f"an id has {2 * _HALF} letters and digits, this one has {len(symbols)}: "
            "check for a missing or extra character",
            code="id_length",
        )
    tweak = _KIND_TWEAK[kind]
    other: IdKind = "network" if kind == "node" else "node"
    for h in range(2):
        half = symbols[h * _HALF : (h + 1) * _HALF]
        s0, s1 = _syndromes(half, tweak)
        if s0 == 0 and s1 == 0:
            continue
        # Written for the wrong kind? Then both halves check under the other tweak.
        if all(
            _syndromes(symbols[k * _HALF : (k + 1) * _HALF], _KIND_TWEAK[other]) == (0, 0)
            for k in range(2)
        ):
            raise InvalidIdText(f"this is a {other} id, not a {kind} id", code="id_wrong_kind")
        first, last = where[h * _HALF], where[(h + 1) * _HALF - 1]
        if s0 != 0 and s1 != 0:
            j = _LOG[_div(s1, s0)]
            if j < _HALF:
                pos = where[h * _HALF + j]
                fixed = _ALPHABET[half[j] ^ s0]
                raise InvalidIdText(
                    f"character {pos} ({text[pos - 1]!r}) looks mistyped; did you mean "
                    f"{fixed!r}?",
                    position=pos,
                    code="id_checksum",
                )
        raise InvalidIdText(
            f"more than one character between positions {first} and {last} is wrong",
            position=first,
            code="id_checksum",
        )
    data = symbols[:_HALF_DATA] + symbols[_HALF : _HALF + _HALF_DATA]
    raw, pad = _from_symbols(data)
    if pad:
        pos = where[_HALF + _HALF_DATA - 1]
        raise InvalidIdText(
            f"character {pos} ({text[pos - 1]!r}) cannot end the key part of an id",
            position=pos,
            code="id_checksum",
        )
    return raw


#: The fewest characters of an id that are read as its start.
MIN_PREFIX = 4


def _symbol_values(text: str, what: str) -> list[tuple[int, int]]:
    """Each id character of ``text`` as (its value, its 1-based position in ``text``);
    separators are skipped, and a character no id uses is refused naming ``what``."""
    out = []
    for pos, ch in enumerate(text, start=1):
        if ch in _IGNORED:
            continue
        value = _VALUE.get(ch.upper())
        if value is None:
            raise InvalidIdText(
                f"character {pos} ({ch!r}) cannot appear in {what}: ids use the digits "
                "0-9 and the letters A-Z except U",
                position=pos,
                code="id_bad_character",
            )
        out.append((value, pos))
    return out


def _symbols_of(text: str, what: str) -> str:
    """``text`` as canonical id characters (upper case, O read as 0, I and L as 1)."""
    return "".join(_ALPHABET[value] for value, _ in _symbol_values(text, what))


def is_full_id(text: str) -> bool:
    """Whether ``text`` has as many id characters as a whole id (right or wrong)."""
    return isinstance(text, str) and len(text) <= 200 and \
        sum(ch not in _IGNORED for ch in text) >= ID_SYMBOLS


def id_prefix(text: str) -> str:
    """The start of an id, as typed, in canonical characters without dashes.

    ``"6st349b"`` → ``"6ST349B"``. Raises :class:`InvalidIdText` for a
    character no id holds, for fewer than :data:`MIN_PREFIX` characters, and
    for text as long as a whole id (read that with :func:`id_from_text`).
    """
    if not isinstance(text, str):
        raise InvalidIdText("an id must be text", code="id_type")
    if len(text) > 200:
        raise InvalidIdText("that is far too long to be an id", code="id_length")
    prefix = _symbols_of(text, "an id")
    if len(prefix) < MIN_PREFIX:
        raise InvalidIdText(
            f"type at least {MIN_PREFIX} characters of the id (its short form, the first "
            "seven, is shown everywhere)", code="id_length")
    if len(prefix) >= ID_SYMBOLS:
        raise InvalidIdText("that is a whole id, not the start of one", code="id_length")
    return prefix


def prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """The lowest and highest 32-byte ids whose text form starts with ``prefix``.

    ``prefix`` is from :func:`id_prefix`. Only its first 26 characters (the
    key part of the first half) narrow the range; the caller compares the
    text of each id found in it when the prefix is longer.
    """
    data = [_VALUE[c] for c in prefix[:_HALF_DATA]]
    free = ID_LENGTH * 8 - 5 * len(data)
    n = 0
    for s in data:
        n = (n << 5) | s
    low = n << free
    return low.to_bytes(ID_LENGTH, "big"), (low | ((1 << free) - 1)).to_bytes(ID_LENGTH, "big")


def base32_encode(raw: bytes) -> str:
    """Crockford base32 of ``raw`` (no check symbols), zero-padded to whole symbols."""
    bits = len(raw) * 8
    n = int.from_bytes(raw, "big") << (-bits % 5)
    count = (bits + 4) // 5
    return "".join(_ALPHABET[(n >> (5 * (count - 1 - i))) & 31] for i in range(count))


def base32_decode(text: str, *, what: str = "code") -> bytes:
    """Inverse of :func:`base32_encode`; dashes and spaces are ignored, case too.

    Raises :class:`InvalidIdText` naming a character that cannot appear.
    """
    n = 0
    count = 0
    for pos, ch in enumerate(text, start=1):
        if ch in _IGNORED:
            continue
        value = _VALUE.get(ch.upper())
        if value is None:
            raise InvalidIdText(f"character {pos} ({ch!r}) cannot appear in a {what}",
                                position=pos, code="id_bad_character")
        n = (n << 5) | value
        count += 1
    nbytes = count * 5 // 8
    return (n >> (count * 5 - nbytes * 8)).to_bytes(nbytes, "big")
