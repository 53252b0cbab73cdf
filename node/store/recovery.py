"""The recovery sheet: the node key on paper, in a form a person can type back.

The key is the 32-byte Ed25519 seed (node/store/keyfile.py). On the sheet it
is written in Crockford's base32 (digits and capital letters without I, L,
O and U, so that nothing reads as something else): 52 characters on four
lines of 13. Each line ends in a **check character** (Luhn mod 32 over the
line number and its characters): a mistyped character, or two neighbours
swapped, is caught on the line where it happened. A fifth line holds four
characters of a hash of the whole seed, which catches what the line checks
cannot (a line typed in the wrong place). Whoever imports the sheet also
sees the node id it gives, to compare with the one printed on it.

Typing is forgiving: spaces and dashes are ignored, lower case is read as
upper case, and I and L are read as 1, O as 0 (Crockford's rule).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from protocol import NodeKey, id_to_text

from ..errors import InvalidInput

__all__ = [
    "LINES",
    "RecoveryLines",
    "check_line",
    "decode_sheet",
    "encode_sheet",
    "normalise_line",
    "sheet_text",
]

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE: Final = {c: i for i, c in enumerate(_ALPHABET)}
_READ_AS: Final = str.maketrans("ILO", "110")
_PER_LINE: Final = 13
#: Four lines of key, one line of whole-key check.
LINES: Final = 5
_DOMAIN: Final = b"hedgerow-recovery-sheet-v1"


def _luhn_check(number: int, chars: str) -> str:
    """Luhn mod 32 check character over the line number and ``chars``."""
    values = [number, *(_VALUE[c] for c in chars)]
    total = 0
    factor = 2
    for value in reversed(values):
        addend = factor * value
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return _ALPHABET[(32 - total % 32) % 32]


def _valid(number: int, chars: str) -> bool:
    return _luhn_check(number, chars[:-1]) == chars[-1]


def _base32(data: bytes) -> str:
    bits = int.from_bytes(data, "big") << 4  # 256 bits -> 260, a whole 52 characters
    return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(52)))


def _unbase32(text: str) -> bytes:
    bits = 0
    for c in text:
        bits = (bits << 5) | _VALUE[c]
    if bits & 0xF:
        raise InvalidInput("the key lines do not make a key (the last character of line 4 "
                           "is not right)", field="sheet")
    return (bits >> 4).to_bytes(32, "big")


def _whole_check(seed: bytes) -> str:
    digest = hashlib.sha256(_DOMAIN + seed).digest()
    return _base32(digest)[:4]


@dataclass(frozen=True, slots=True)
class RecoveryLines:
    """The five lines of a sheet, as typed back (without spaces)."""

    lines: tuple[str, ...]


def encode_sheet(seed: bytes) -> list[str]:
    """The five lines for ``seed``: four of 13 characters plus a check character, then 4."""
    if len(seed) != 32:
        raise InvalidInput("a node key is 32 bytes", field="seed")
    text = _base32(seed)
    lines = []
    for n in range(4):
        chunk = text[n * _PER_LINE:(n + 1) * _PER_LINE]
        lines.append(chunk + _luhn_check(n + 1, chunk))
    lines.append(_whole_check(seed))
    return lines


def normalise_line(typed: str) -> str:
    """What a person typed, as sheet characters: no spaces or dashes, upper case, I/L/O read."""
    return "".join(c for c in typed.upper() if c.isalnum()).translate(_READ_AS)


def check_line(number: int, typed: str) -> str:
    """Line ``number`` (1-5) as typed, checked; the characters, or :class:`InvalidInput`."""
    chars = normalise_line(typed)
    bad = sorted({c for c in chars if c not in _VALUE})
    if bad:
        raise InvalidInput(f"line {number}: {', '.join(bad)} is not on the sheet (it uses "
                           "digits and the letters A-Z without I, L, O and U)", field="sheet")
    want = _PER_LINE + 1 if number <= 4 else 4
    if len(chars) != want:
        raise InvalidInput(f"line {number} has {want} characters, and this has {len(chars)}: "
                           "check for a missing or extra one", field="sheet")
    if number <= 4 and not _valid(number, chars):
        raise InvalidInput(f"line {number} does not check out: a character is mistyped, or "
                           "two are swapped; compare it with the sheet again", field="sheet")
    return chars


def decode_sheet(typed: list[str]) -> NodeKey:
    """The node key from the five typed lines (each checked, then the whole)."""
    if len(typed) != LINES:
        raise InvalidInput(f"a recovery sheet has {LINES} lines, not {len(typed)}",
                           field="sheet")
    lines = [check_line(n + 1, line) for n, line in enumerate(typed)]
    seed = _unbase32("".join(line[:-1] for line in lines[:4]))
    if _whole_check(seed) != lines[4]:
        raise InvalidInput("every line checks out, but the last line (the whole-key check) "
                           "does not match: are lines 1-4 typed in the right order?",
                           field="sheet")
    return NodeKey.from_seed(seed)


def _spaced(line: str) -> str:
    return " ".join(line[i:i + 4] for i in range(0, len(line), 4))


def sheet_text(key: NodeKey, *, network: bytes, printed_on: str) -> str:
    """The printable recovery sheet for ``key`` (plain text, fits on one page)."""
    lines = encode_sheet(key.seed)
    body = "\n".join(f"   {n + 1}   {_spaced(line)}" for n, line in enumerate(lines[:4]))
    return (
        "HEDGEROW NODE KEY - RECOVERY SHEET\n"
        "==================================\n\n"
        f"Node     {key.node_id}\n"
        f"Network  {id_to_text(network, 'network')}\n"
        f"Printed  {printed_on}\n\n"
        "Keep this sheet somewhere safe and private, away from the node and its backups:\n"
        "whoever has it can act as this node. A backup does not hold the key; with this\n"
        "sheet and a backup, the node can be brought back on a new machine:\n\n"
        "   hedgerow keys import          (type the five lines below)\n"
        "   hedgerow restore BACKUP-FILE\n\n"
        f"{body}\n"
        f"   5   {lines[4]}   (whole-key check)\n\n"
        "The last character of lines 1-4 checks that line. Spaces do not matter.\n"
    )
