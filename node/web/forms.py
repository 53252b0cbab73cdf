"""Reading what a person sent in a form, with a readable message for every mistake.

Every value a form sends is text (or, in an upload, a file). :class:`Form`
wraps the posted fields and reads each one as what it should be; anything
wrong — missing, too long, a number that is not one, a field given twice,
a file where text belongs — raises :class:`node.errors.InvalidInput` naming
the field, which the handler shows on the page (HTTP 400). The store's own
checks come after and speak the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy

from ..errors import InvalidInput

__all__ = ["MAX_FIELD", "Form", "comma_list", "lines", "read_form"]

#: Longest text any single form field may carry (the store has tighter limits per field).
MAX_FIELD: Final = 100_000


def _label(name: str) -> str:
    return name.replace("_", " ")


class Form:
    """The fields of one posted form."""

    def __init__(self, data: MultiDictProxy[Any] | Mapping[str, Any]) -> None:
        self._data = data

    def _all(self, name: str) -> list[Any]:
        if isinstance(self._data, MultiDictProxy):
            return list(self._data.getall(name, []))
        value = self._data.get(name)
        return [] if value is None else [value]

    def has(self, name: str) -> bool:
        return bool(self._all(name))

    def raw(self, name: str) -> str | None:
        """The field as given (one value, text), or None if absent."""
        values = self._all(name)
        if not values:
            return None
        if len(values) > 1:
            raise InvalidInput(f"{_label(name)}: give this once", field=name,
                               code="repeated_field")
        value = values[0]
        if not isinstance(value, str):
            raise InvalidInput(f"{_label(name)}: must be text, not a file", field=name,
                               code="wrong_type")
        if len(value) > MAX_FIELD:
            raise InvalidInput(f"{_label(name)}: longer than {MAX_FIELD} characters",
                               field=name, code="too_long")
        return value

    def text(self, name: str, *, required: bool = False, max_len: int = MAX_FIELD) -> str:
        value = (self.raw(name) or "").strip()
        if required and not value:
            raise InvalidInput(f"{_label(name)}: please fill this in", field=name,
                               code="missing_field")
        if len(value) > max_len:
            raise InvalidInput(f"{_label(name)}: longer than {max_len} characters",
                               field=name, code="too_long")
        return value

    def password(self, name: str) -> str:
        """A secret: not stripped, never echoed back."""
        return self.raw(name) or ""

    def choice(self, name: str, options: Iterable[str], *, required: bool = True,
               default: str | None = None) -> str | None:
        options = tuple(options)
        value = self.text(name)
        if not value:
            if required and default is None:
                raise InvalidInput(f"{_label(name)}: choose one of {', '.join(options)}",
                                   field=name, code="missing_field")
            return default
        if value not in options:
            raise InvalidInput(f"{_label(name)}: must be one of {', '.join(options)}",
                               field=name, code="bad_choice")
        return value

    def integer(self, name: str, *, minimum: int = 0, maximum: int = 10**12,
                required: bool = True) -> int | None:
        value = self.text(name, max_len=30)
        if not value:
            if required:
                raise InvalidInput(f"{_label(name)}: please give a whole number", field=name,
                                   code="missing_field")
            return None
        try:
            number = int(value.replace(",", "").replace("_", ""))
        except ValueError:
            raise InvalidInput(f"{_label(name)}: must be a whole number, like 12", field=name,
                               code="wrong_type") from None
        if not minimum <= number <= maximum:
            raise InvalidInput(f"{_label(name)}: must be from {minimum} to {maximum}",
                               field=name, code="out_of_range")
        return number

    def ids(self, name: str, *, maximum: int = 1000) -> list[int]:
        """Every value of a repeated field (checkboxes) as numbers."""
        out = []
        values = self._all(name)
        if len(values) > maximum:
            raise InvalidInput(f"{_label(name)}: too many chosen", field=name,
                               code="too_many")
        for value in values:
            if not isinstance(value, str) or not value.strip().isdigit() \
                    or len(value.strip()) > 12:
                raise InvalidInput(f"{_label(name)}: not a valid choice", field=name,
                                   code="wrong_type")
            out.append(int(value))
        return out

    def words(self, name: str, *, maximum: int = 100) -> list[str]:
        """Every value of a repeated field (checkboxes) as text."""
        values = self._all(name)
        if len(values) > maximum or not all(isinstance(v, str) and len(v) < 200
                                            for v in values):
            raise InvalidInput(f"{_label(name)}: not a valid choice", field=name,
                               code="wrong_type")
        return [v.strip() for v in values]

    def checked(self, name: str) -> bool:
        return self.has(name)

    def values(self, names: Iterable[str]) -> dict[str, str]:
        """Text fields as sent, to show the form again after a mistake."""
        out = {}
        for name in names:
            values = self._all(name)
            if values and isinstance(values[0], str):
                out[name] = values[0][:MAX_FIELD]
        return out


def lines(text: str) -> list[str]:
    """Non-empty lines of a text area, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def comma_list(text: str) -> list[str]:
    """Comma-separated words (themes), stripped, empty ones dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


async def read_form(request: web.Request) -> Form:
    """The posted form (the guard middleware has read and checked it already)."""
    return Form(await request.post())
