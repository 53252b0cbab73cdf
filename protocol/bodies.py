"""Body schemas of the four entry kinds, and their validation.

Rules (protocol version 1):

* ``profile`` — key ``"profile"``. The organisation: ``name`` (required),
  ``level`` (required), ``area``, ``description``, ``principles``,
  ``addresses`` (http/https URLs where the node is reached) and ``org_id``
  (an org-id.guide identifier such as ``GB-CHC-1234567``).
* ``practice`` — key = the practice key (a slug). ``title`` and ``status``
  required; ``description``, ``themes``, ``level``, ``area``, ``since``,
  ``measures``, ``lessons``, ``adapted_from``.
  A measure's ``value`` is a count of at least 5 or the text ``"<5"``: a
  count under 5 is never published exactly (DESIGN.md, privacy rule 3), and
  receivers refuse entries that break this, so the rule holds network-wide.
* ``credit`` — a thank-you: ``to`` (the credited node, 32 bytes),
  ``practice`` (its practice key), ``note``. Its key is derived:
  ``credit_key(to, practice)``, so one node credits one practice once
  (a newer version replaces the older thank-you).
* ``retract`` — key = the practice key it withdraws; optional ``reason``.

Unknown fields are refused: a version-1 node cannot know what they mean, and
silently dropping them would break the signature. Every error names the field
(``body.measures[2].value``) and never quotes the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from .errors import EntryError

__all__ = [
    "KINDS",
    "LEVELS",
    "MEASURE_DEFINERS",
    "PRACTICE_STATUSES",
    "SMALL_COUNT_TEXT",
    "SUPPRESSION_THRESHOLD",
    "credit_key",
    "suppress_count",
    "validate_body",
    "validate_key",
]

KINDS: Final = ("credit", "practice", "profile", "retract")
LEVELS: Final = ("neighbourhood", "local", "regional", "national")
PRACTICE_STATUSES: Final = ("active", "paused", "ended")
MEASURE_DEFINERS: Final = ("community", "funder", "own")
#: Counts below this are published as :data:`SMALL_COUNT_TEXT`, never exactly.
SUPPRESSION_THRESHOLD: Final = 5
SMALL_COUNT_TEXT: Final = "<5"

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
_THEME = re.compile(r"[a-z0-9](?:[a-z0-9 -]{0,38}[a-z0-9])?\Z")
_SINCE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?\Z")
# org-id.guide: <2-letter country or XI/XM list prefix>-<register code>-<id in register>
_ORG_ID = re.compile(r"[A-Z]{2}-[A-Z0-9]{2,10}-[A-Za-z0-9][A-Za-z0-9._/-]{0,39}\Z")
_URL = re.compile(r"https?://[^\s/?#]+(?::\d{1,5})?(?:/[^\s]*)?\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")

Checker = Callable[[Any], None]


def suppress_count(count: int) -> int | str:
    """The publishable form of a count: exact from 5 up, ``"<5"`` below."""
    return count if count >= SUPPRESSION_THRESHOLD else SMALL_COUNT_TEXT


def credit_key(to: bytes, practice: str) -> str:
    """The key of a credit entry: one per (credited node, practice)."""
    return f"{to.hex()}/{practice}"


class _Invalid(Exception):
    """Raised inside validation; carries the path, built only on failure."""

    def __init__(self, message: str, code: str) -> None:
        self.message, self.code, self.path = message, code, ""

    def under(self, step: str) -> _Invalid:
        self.path = step + self.path
        return self


def _text(max_len: int, *, min_len: int = 0, pattern: re.Pattern[str] | None = None,
          shape: str = "", multiline: bool = True) -> Checker:
    control = _CONTROL if multiline else _CONTROL_OR_NEWLINE

    def check(value: Any) -> None:
        if type(value) is not str:
            raise _Invalid("must be text", "wrong_type")
        n = len(value)
        if n > max_len:
            raise _Invalid(f"longer than {max_len} characters", "too_long")
        if n < min_len:
            raise _Invalid("must not be empty" if min_len == 1 else
                           f"shorter than {min_len} characters", "too_short")
        # Control characters (ESC above all) in text a peer sends would reach
        # terminals and pages; refuse them at the door.
        if control.search(value):
            raise _Invalid("contains control characters", "control_characters")
        if pattern is not None and not pattern.match(value):
            raise _Invalid(f"must be {shape}", "bad_format")

    return check


def _choice(options: tuple[str, ...]) -> Checker:
    allowed = frozenset(options)

    def check(value: Any) -> None:
        if type(value) is not str:
            raise _Invalid("must be text", "wrong_type")
        if value not in allowed:
            raise _Invalid("must be one of " + ", ".join(options), "bad_choice")

    return check


def _node_ref(value: Any) -> None:
    if type(value) is not bytes or len(value) != 32:
        raise _Invalid("must be a 32-byte node id", "wrong_type")


def _list(item: Checker, max_items: int, *, unique: bool = False) -> Checker:
    def check(value: Any) -> None:
        if type(value) is not list:
            raise _Invalid("must be a list", "wrong_type")
        if len(value) > max_items:
            raise _Invalid(f"has more than {max_items} items", "too_many")
        for i, v in enumerate(value):
            try:
                item(v)
            except _Invalid as bad:
                raise bad.under(f"[{i}]") from None
        if unique and len({_identity(v) for v in value}) != len(value):
            raise _Invalid("lists the same item twice", "duplicate_item")

    return check


def _identity(value: Any) -> Any:
    return tuple(value.items()) if type(value) is dict else value


def _record(required: Mapping[str, Checker], optional: Mapping[str, Checker]) -> Checker:
    fields = {**required, **optional}
    needed = frozenset(required)

    def check(value: Any) -> None:
        if type(value) is not dict:
            raise _Invalid("must be a map", "wrong_type")
        prev = ""
        for name, v in value.items():
            checker = fields.get(name)
            if checker is None:
                if type(name) is not str:
                    raise _Invalid("map keys must be text", "non_string_key")
                raise _Invalid("is not a known field", "unknown_field").under(f".{name}")
            # Canonical form (protocol.wire): keys in sorted order. Checked here
            # because entry payloads skip the generic type walk for speed.
            if name <= prev:
                raise _Invalid("keys out of order", "unsorted_keys").under(f".{name}")
            prev = name
            try:
                checker(v)
            except _Invalid as bad:
                raise bad.under(f".{name}") from None
        if not needed <= value.keys():
            missing = min(needed - value.keys())
            raise _Invalid("is required", "missing_field").under(f".{missing}")

    return check


def _count(value: Any) -> None:
    if type(value) is str:
        if value != SMALL_COUNT_TEXT:
            raise _Invalid(f'must be a count or "{SMALL_COUNT_TEXT}"', "bad_format")
        return
    if type(value) is not int:
        raise _Invalid(f'must be a count or "{SMALL_COUNT_TEXT}"', "wrong_type")
    if value < SUPPRESSION_THRESHOLD:
        # DESIGN.md privacy rule 3: counts under 5 are never published exactly.
        raise _Invalid(f'a count under {SUPPRESSION_THRESHOLD} must be published as '
                       f'"{SMALL_COUNT_TEXT}"', "unsuppressed_count")
    if value > 10**12:
        raise _Invalid("is implausibly large", "too_large")


_SLUG_TEXT = _text(64, min_len=1, pattern=_SLUG, multiline=False,
                   shape="a practice key: lower-case letters, digits and dashes")
_LINE = _text(200, min_len=1, multiline=False)

_MEASURE = _record(
    {"name": _text(80, min_len=1, multiline=False), "value": _count},
    {
        "unit": _text(40, multiline=False),
        "period": _text(40, multiline=False),
        "defined_by": _choice(MEASURE_DEFINERS),
    },
)
_PRACTICE_REF = _record({"author": _node_ref, "key": _SLUG_TEXT}, {})

_SCHEMAS: dict[str, Checker] = {
    "profile": _record(
        {"name": _text(120, min_len=1, multiline=False), "level": _choice(LEVELS)},
        {
            "area": _text(80, multiline=False),
            "description": _text(2000),
            "principles": _list(_text(80, min_len=1, multiline=False), 20, unique=True),
            "addresses": _list(_text(200, pattern=_URL, multiline=False,
                                     shape="an http:// or https:// address"), 8, unique=True),
            "org_id": _text(56, pattern=_ORG_ID, multiline=False,
                            shape="an org-id.guide identifier such as GB-CHC-1234567"),
        },
    ),
    "practice": _record(
        {"title": _LINE, "status": _choice(PRACTICE_STATUSES)},
        {
            "description": _text(4000),
            "themes": _list(_text(40, min_len=1, pattern=_THEME, multiline=False,
                                  shape="a theme: lower-case words"), 12, unique=True),
            "level": _choice(LEVELS),
            "area": _text(80, multiline=False),
            "since": _text(10, pattern=_SINCE, multiline=False,
                           shape="a date: YYYY, YYYY-MM or YYYY-MM-DD"),
            "measures": _list(_MEASURE, 20),
            "lessons": _list(_text(1000, min_len=1), 20),
            "adapted_from": _list(_PRACTICE_REF, 16, unique=True),
        },
    ),
    "credit": _record(
        {"to": _node_ref, "practice": _SLUG_TEXT},
        {"note": _text(500)},
    ),
    "retract": _record({}, {"reason": _text(500)}),
}


def validate_key(kind: str, key: str, body: Mapping[str, Any], author: bytes) -> None:
    """Check that ``key`` is right for ``kind`` (and, for credits, the body)."""
    if kind == "profile":
        if key != "profile":
            raise EntryError('key: a profile\'s key is "profile"', code="bad_key")
    elif kind in ("practice", "retract"):
        try:
            _SLUG_TEXT(key)
        except _Invalid as bad:
            raise EntryError(f"key: {bad.message}", code=bad.code) from None
    elif kind == "credit":
        to, practice = body.get("to"), body.get("practice")
        if not isinstance(to, bytes) or not isinstance(practice, str) or \
                key != credit_key(to, practice):
            raise EntryError("key: a credit's key is <credited node hex>/<practice key>",
                             code="bad_key")


def validate_body(kind: str, key: str, body: Any, author: bytes) -> None:
    """Validate an entry body of ``kind``; raise :class:`EntryError` naming the field."""
    schema = _SCHEMAS.get(kind)
    if schema is None:
        raise EntryError(f"kind: unknown kind; expected one of {', '.join(KINDS)}",
                         code="unknown_kind")
    try:
        schema(body)
    except _Invalid as bad:
        raise EntryError(f"body{bad.path}: {bad.message}", code=bad.code) from None
    validate_key(kind, key, body, author)
    if kind == "practice":
        for i, ref in enumerate(body.get("adapted_from", ())):
            if ref["author"] == author and ref["key"] == key:
                raise EntryError(f"body.adapted_from[{i}]: a practice cannot be adapted "
                                 "from itself", code="self_reference")
