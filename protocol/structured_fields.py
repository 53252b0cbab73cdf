"""Structured Field Values (RFC 8941): the strict, bounded subset HTTP signatures use.

Parsing (RFC 8941 §4.2) and strict serialisation (§4.1) of dictionaries,
inner lists, items and parameters, as ``Signature-Input``, ``Signature`` and
``Content-Digest`` carry them (RFC 9421 §4, RFC 9530 §2). Decimals are refused:
none of these fields use them. Every bound below caps what a peer can make a
node parse. Failures raise :class:`FieldFailure`, which :mod:`protocol.httpsig`
translates into its own errors (AuthError when verifying, InvalidArgument when
signing).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final, NoReturn

__all__ = [
    "FIELD_VALUE_RE",
    "KEY_RE",
    "MAX_COMPONENTS",
    "MAX_FIELD_LENGTH",
    "MAX_INTEGER",
    "MAX_PARAMS",
    "PRINTABLE_RE",
    "TOKEN_RE",
    "Bare",
    "FieldFailure",
    "InnerList",
    "Item",
    "Member",
    "Params",
    "Parser",
    "Token",
    "fail",
    "serialise_bare",
    "serialise_member",
    "serialise_params",
]

# Bounds on what a peer can make us parse.
MAX_FIELD_LENGTH: Final = 8192
MAX_COMPONENTS: Final = 24
MAX_PARAMS: Final = 8


class FieldFailure(Exception):
    """Internal failure; translated to AuthError (verifying) or InvalidArgument (signing)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fail(code: str, message: str) -> NoReturn:
    raise FieldFailure(code, message)




class Token(str):
    """An sf-token, kept distinct from an sf-string (RFC 8941 §3.3.4)."""

    __slots__ = ()


Bare = int | str | bytes | bool
Params = tuple[tuple[str, Bare], ...]


@dataclass(frozen=True, slots=True)
class Item:
    value: Bare
    params: Params = ()


@dataclass(frozen=True, slots=True)
class InnerList:
    items: tuple[Item, ...]
    params: Params = ()


Member = Item | InnerList

KEY_RE: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")
TOKEN_RE: Final = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER_RE: Final = re.compile(r"-?[0-9]+(\.[0-9]*)?")
_STRING_RE: Final = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')
_BYTES_RE: Final = re.compile(r":([A-Za-z0-9+/]*=*):")
_BOOL_RE: Final = re.compile(r"\?[01]")
_UNESCAPE_RE: Final = re.compile(r'\\(["\\])')
PRINTABLE_RE: Final = re.compile(r"[ -~]*")
FIELD_VALUE_RE: Final = re.compile(r"[\t -~]*")
MAX_INTEGER: Final = 999_999_999_999_999


class Parser:
    """A strict, bounded RFC 8941 parser over one field value (§4.2)."""

    __slots__ = ("i", "s", "what")

    def __init__(self, text: str, what: str) -> None:
        if len(text) > MAX_FIELD_LENGTH:
            fail("too_large", f"{what} is longer than {MAX_FIELD_LENGTH} characters")
        # RFC 8941 §4.2: input must be ASCII; leading and trailing SP are discarded.
        if not FIELD_VALUE_RE.fullmatch(text):
            fail("malformed", f"{what} contains characters outside printable ASCII")
        self.s = text.strip(" ")
        self.i = 0
        self.what = what

    def fail(self, message: str) -> NoReturn:
        fail("malformed", f"{self.what}: {message} at offset {self.i}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def take(self, rx: re.Pattern[str]) -> re.Match[str] | None:
        m = rx.match(self.s, self.i)
        if m is not None:
            self.i = m.end()
        return m

    def skip(self, chars: str) -> None:
        while self.i < len(self.s) and self.s[self.i] in chars:
            self.i += 1

    def dictionary(self, max_members: int) -> dict[str, Member]:
        # RFC 8941 §4.2.2; duplicate keys are refused rather than overwritten.
        out: dict[str, Member] = {}
        while self.i < len(self.s):
            key = self.key()
            if key in out:
                self.fail(f"duplicate key {key!r}")
            if self.peek() == "=":
                self.i += 1
                out[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                out[key] = Item(True, self.params())
            if len(out) > max_members:
                fail("too_large", f"{self.what} has more than {max_members} members")
            self.skip(" \t")
            if self.i == len(self.s):
                break
            if self.peek() != ",":
                self.fail("expected ','")
            self.i += 1
            self.skip(" \t")
            if self.i == len(self.s):
                self.fail("trailing comma")
        return out

    def inner_list(self) -> InnerList:
        self.i += 1  # "("
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.i += 1
                return InnerList(tuple(items), self.params())
            items.append(self.item())
            if len(items) > MAX_COMPONENTS:
                fail("too_large", f"{self.what} lists more than {MAX_COMPONENTS} items")
            if self.peek() not in (" ", ")"):
                self.fail("expected ' ' or ')' in inner list")

    def item(self) -> Item:
        return Item(self.bare(), self.params())

    def params(self) -> Params:
        out: dict[str, Bare] = {}
        while self.peek() == ";":
            self.i += 1
            self.skip(" ")
            key = self.key()
            value: Bare = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare()
            if key in out:
                self.fail(f"duplicate parameter {key!r}")
            out[key] = value
            if len(out) > MAX_PARAMS:
                fail("too_large", f"{self.what} has more than {MAX_PARAMS} parameters")
        return tuple(out.items())

    def key(self) -> str:
        m = self.take(KEY_RE)
        if m is None:
            self.fail("expected a key")
        return m.group()

    def bare(self) -> Bare:
        c = self.peek()
        if c == "-" or c.isdigit():
            m = self.take(_NUMBER_RE)
            if m is None:
                self.fail("expected an integer")
            if m.group(1) is not None:
                self.fail("decimals are not accepted here")
            if len(m.group().lstrip("-")) > 15:  # RFC 8941 §3.3.1
                self.fail("integer has more than 15 digits")
            return int(m.group())
        if c == '"':
            m = self.take(_STRING_RE)
            if m is None:
                self.fail("bad string")
            return _UNESCAPE_RE.sub(r"\1", m.group(1))
        if c == ":":
            m = self.take(_BYTES_RE)
            if m is None:
                self.fail("bad byte sequence")
            return _b64decode(m.group(1), self)
        if c == "?":
            m = self.take(_BOOL_RE)
            if m is None:
                self.fail("bad boolean")
            return m.group() == "?1"
        m = self.take(TOKEN_RE)
        if m is None:
            self.fail("unrecognised item")
        return Token(m.group())


def _b64decode(text: str, parser: Parser) -> bytes:
    stripped = text.rstrip("=")
    pad = -len(stripped) % 4
    if len(text) - len(stripped) not in (0, pad) or pad == 3:
        parser.fail("bad base64 padding")
    try:
        return base64.b64decode(stripped + "=" * pad, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FieldFailure("malformed", f"{parser.what}: bad base64") from exc


def serialise_bare(value: Bare) -> str:
    # RFC 8941 §4.1.3: strict serialisation.
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            fail("malformed", "integer out of range")
        return str(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    if not PRINTABLE_RE.fullmatch(value):
        fail("malformed", "string contains characters outside printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialise_params(params: Params) -> str:
    return "".join(f";{k}" if v is True else f";{k}={serialise_bare(v)}" for k, v in params)


def serialise_member(member: Member) -> str:
    if isinstance(member, InnerList):
        inner = " ".join(serialise_bare(it.value) + serialise_params(it.params)
                         for it in member.items)
        return f"({inner}){serialise_params(member.params)}"
    return serialise_bare(member.value) + serialise_params(member.params)
