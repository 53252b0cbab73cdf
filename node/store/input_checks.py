"""Checks on what a person types, shared by records, the organisation and the share policy.

Every failure is an :class:`InvalidInput` that names the field and the rule,
never the value: the value may be private (DESIGN.md, privacy rule 1).
Fields that can end up in a signed summary are also checked against the
protocol's own body schema (:func:`protocol.validate_body`), so what a group
saves is always publishable and the rules live in one place.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from protocol import EntryError, decode, encode, validate_body
from protocol.bodies import validate_key

from ..errors import InvalidInput

__all__ = [
    "MAX_PRIVATE_TEXT",
    "check_bool",
    "check_choice",
    "check_count",
    "check_date",
    "check_fields_known",
    "check_practice_key",
    "check_text",
    "check_with_protocol",
    "in_canonical_order",
]

#: Longest private free text (context, notes, quotes…): bounded, but generous.
MAX_PRIVATE_TEXT = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_fields_known(values: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for name in values:
        if name not in allowed:
            raise InvalidInput(f"{what}: {str(name)[:40]!r} is not a field; the fields are "
                               f"{', '.join(allowed)}", field=str(name)[:40], code="unknown_field")


def check_text(value: Any, field: str, *, max_len: int = MAX_PRIVATE_TEXT,
               required: bool = False, single_line: bool = False) -> str:
    """Clean free text: must be text, within ``max_len``, no control characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be text", field=field, code="wrong_type")
    text: str = value.strip()
    if required and not text:
        raise InvalidInput(f"{field}: must not be empty", field=field, code="missing_field")
    if len(text) > max_len:
        raise InvalidInput(f"{field}: longer than {max_len} characters", field=field,
                           code="too_long")
    if _CONTROL.search(text) or (single_line and ("\n" in text or "\r" in text)):
        raise InvalidInput(f"{field}: contains control characters", field=field,
                           code="control_characters")
    return text


def check_choice(value: Any, field: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise InvalidInput(f"{field}: must be one of {', '.join(options)}", field=field,
                           code="bad_choice")
    return value


def check_date(value: Any, field: str) -> str:
    """A calendar date written YYYY-MM-DD."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InvalidInput(f"{field}: must be a date written YYYY-MM-DD", field=field,
                       code="bad_format")


def check_count(value: Any, field: str, *, maximum: int = 10**12) -> int:
    """A whole number from 0 to ``maximum``."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise InvalidInput(f"{field}: must be a whole number from 0 to {maximum}", field=field,
                           code="bad_number")
    return value


def check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field}: must be true or false", field=field, code="wrong_type")
    return value


def in_canonical_order(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with every map's keys in canonical (sorted) order, as a receiver decodes it."""
    value: dict[str, Any] = decode(encode(body))
    return value


def check_with_protocol(kind: str, key: str, body: dict[str, Any], author: bytes) -> None:
    """Validate a would-be entry body; the protocol's message, minus ``body.``, names the field."""
    try:
        validate_body(kind, key, in_canonical_order(body), author)
    except EntryError as exc:
        message = exc.message.removeprefix("body.")
        field = message.split(":", 1)[0].split("[", 1)[0].split(".", 1)[0]
        raise InvalidInput(message, field=field, code=exc.code) from exc


def check_practice_key(key: Any) -> str:
    """A practice key: the slug that becomes the key of its summary entry."""
    if not isinstance(key, str):
        raise InvalidInput("key: must be text", field="key", code="wrong_type")
    try:
        validate_key("practice", key, {}, bytes(32))
    except EntryError as exc:
        raise InvalidInput(exc.message, field="key", code=exc.code) from exc
    return key
