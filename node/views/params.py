"""View parameters: one declaration drives parsing, the CLI options and the OpenAPI file.

Every view takes its parameters as text (a URL query, command-line
options) and parses them here, so the JSON API, the CLI and the web pages
refuse bad input with the same message. A bad value raises
:class:`node.errors.InvalidInput` whose ``field`` is the parameter's name
and whose message starts with it (the API answers 400 with it).

:class:`Filters` are the practice filters most views share (theme, level,
area, principle, status, since, updated_since); :meth:`Filters.sql` turns
them into a WHERE clause over the derived tables of :mod:`.index`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from protocol import LEVELS, PRACTICE_STATUSES, HedgerowError, id_from_text, id_to_text

from ..errors import InvalidInput
from ..timestamps import utc_datetime
from .index import area_key, principle_key

__all__ = [
    "FILTER_NAMES",
    "PARAMS",
    "Filters",
    "Param",
    "echo",
    "format_ms",
    "parse_params",
    "practice_ref",
]

_SINCE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?\Z")
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Param:
    """One view parameter: its name, type (for OpenAPI) and help (for both)."""

    name: str
    type: str  # "string" or "integer", as OpenAPI says it
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: int | None = None
    pattern: str | None = None


PARAMS: Final[dict[str, Param]] = {p.name: p for p in (
    Param("q", "string", "Words to search for in practice summaries and profiles "
          "(full text, ranked)."),
    Param("kind", "string", "Only practices, or only profiles.",
          choices=("practice", "profile")),
    Param("theme", "string", "Only practices with this theme."),
    Param("level", "string", "Only practices at this level (the practice's own, else its "
          "organisation's).", choices=LEVELS),
    Param("area", "string", "Only practices in this area (postcode district or local "
          "authority, as the groups share it; case does not matter)."),
    Param("principle", "string", "Only practices of organisations that hold this principle."),
    Param("status", "string", "Only practices with this status.", choices=PRACTICE_STATUSES),
    Param("since", "string", "Only practices running since this date or later "
          "(YYYY, YYYY-MM or YYYY-MM-DD, compared with the practice's own `since`).",
          pattern=_SINCE.pattern.removesuffix(r"\Z") + "$"),
    Param("updated_since", "string", "Only practices whose current version was signed on "
          "or after this day (YYYY-MM-DD, UTC).", pattern=r"^\d{4}-\d{2}-\d{2}$"),
    Param("node", "string", "A node id, or its short form (the start of the id of a node "
          "this node knows)."),
    Param("key", "string", "A practice key (with `node`: that node's practice).",
          pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"),
    Param("at", "string", "The moment the figures are for: YYYY-MM-DD, an ISO 8601 time, "
          "or milliseconds since the epoch (default: now)."),
    Param("per_theme", "integer", "Most suggestions shown for each theme (without `theme`).",
          minimum=1, maximum=20, default=3),
    Param("limit", "integer", "Most rows to return.", minimum=1, maximum=500, default=50),
    Param("offset", "integer", "Rows to skip (for paging).", minimum=0, maximum=1_000_000,
          default=0),
)}

#: The practice filters, in the order they are shown.
FILTER_NAMES: Final = ("theme", "level", "area", "principle", "status", "since",
                       "updated_since")


def format_ms(ms: int) -> str:
    """An ISO 8601 UTC time with milliseconds, e.g. ``2023-11-14T22:13:20.000Z``."""
    moment = utc_datetime(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _bad(name: str, rule: str) -> InvalidInput:
    return InvalidInput(f"{name}: {rule}", field=name)


def _text(name: str, value: str, max_len: int) -> str:
    value = value.strip()
    if not value:
        raise _bad(name, "must not be empty")
    if len(value) > max_len:
        raise _bad(name, f"at most {max_len} characters")
    if _CONTROL.search(value):
        raise _bad(name, "contains control characters")
    return value


def _day_ms(name: str, value: str) -> int:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _bad(name, "must be a date, YYYY-MM-DD") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _moment_ms(name: str, value: str) -> int:
    if value.isdigit():
        ms = int(value)
        if ms > 2**53:
            raise _bad(name, "is too far in the future")
        return ms
    try:
        if len(value) == 10:
            return _day_ms(name, value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(name, "must be a date, an ISO 8601 time or milliseconds since the "
                         "epoch") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _parse_one(param: Param, raw: str) -> Any:
    name = param.name
    if param.type == "integer":
        try:
            number = int(raw.strip())
        except ValueError:
            raise _bad(name, "must be a whole number") from None
        if param.minimum is not None and number < param.minimum:
            raise _bad(name, f"must be at least {param.minimum}")
        if param.maximum is not None and number > param.maximum:
            raise _bad(name, f"must be at most {param.maximum}")
        return number
    if param.choices:
        value = raw.strip().lower()
        if value not in param.choices:
            raise _bad(name, "must be one of " + ", ".join(param.choices))
        return value
    if name == "q":
        return _text(name, raw, 200)
    if name == "theme":
        return _text(name, raw, 40).lower()
    if name in ("area", "principle"):
        return _text(name, raw, 80)
    if name == "since":
        value = raw.strip()
        if not _SINCE.match(value):
            raise _bad(name, "must be a date: YYYY, YYYY-MM or YYYY-MM-DD")
        return value
    if name == "updated_since":
        value = raw.strip()
        _day_ms(name, value)
        return value
    if name == "node":
        try:
            return id_from_text(raw.strip())
        except HedgerowError as exc:
            raise _bad(name, exc.message) from None
    if name == "key":
        value = raw.strip()
        if not _SLUG.match(value):
            raise _bad(name, "must be a practice key: lower-case letters, digits and dashes")
        return value
    if name == "at":
        return _moment_ms(name, raw.strip())
    raise AssertionError(name)  # pragma: no cover - every declared parameter is handled


def parse_params(view: str, accepted: Sequence[str],
                 raw: Mapping[str, str | int | None]) -> dict[str, Any]:
    """Parse the text parameters of ``view``; unknown names and bad values raise InvalidInput.

    Values that are ``None`` or ``""`` count as absent. Integers with a
    default get it when absent.
    """
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in accepted:
            allowed = ", ".join(accepted) or "none"
            raise _bad(name, f"is not a parameter of the {view} view (it takes: {allowed})")
        if value is None or value == "":
            continue
        param = PARAMS[name]
        out[name] = value if isinstance(value, int) and param.type == "integer" and \
            _in_range(param, value) else _parse_one(param, str(value))
    for name in accepted:
        default = PARAMS[name].default
        if name not in out and default is not None:
            out[name] = default
    return out


def _in_range(param: Param, value: int) -> bool:
    return (param.minimum is None or value >= param.minimum) and \
        (param.maximum is None or value <= param.maximum)


def practice_ref(text: str) -> dict[str, str]:
    """A practice as people write it: ``KEY`` (one of this node's) or ``NODE_ID/KEY``.

    Returns the ``node`` and ``key`` parameters as text (parsed, like any
    other, by :func:`parse_params`).
    """
    node, _, key = text.strip().rpartition("/")
    if not key:
        raise _bad("key", "name a practice as KEY (one of ours) or NODE_ID/KEY")
    return {"node": node, "key": key} if node else {"key": key}


def echo(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as they are shown in a view's output (ids as text, times as ISO)."""
    out: dict[str, Any] = {}
    for name in sorted(params):
        value = params[name]
        if name == "node":
            out[name] = id_to_text(value)
        elif name == "at":
            out[name] = format_ms(value)
        else:
            out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class Filters:
    """The practice filters shared by the directory and the count views."""

    theme: str | None = None
    level: str | None = None
    area: str | None = None
    principle: str | None = None
    status: str | None = None
    since: str | None = None
    updated_since: str | None = None

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Filters:
        return cls(**{name: params.get(name) for name in FILTER_NAMES})

    @property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in FILTER_NAMES)

    def sql(self, *, seq: str = "seq", node: str = "node", status: str = "status",
            level: str = "eff_level", area: str = "area_key", since: str = "since",
            version: str = "version") -> tuple[str, list[Any]]:
        """``AND …`` conditions on a practice row (of ``view_entries``, or a theme row)."""
        where: list[str] = []
        args: list[Any] = []
        if self.theme is not None:
            where.append(f"{seq} IN (SELECT seq FROM view_tags WHERE facet = 'theme' "
                         "AND value = ?)")
            args.append(self.theme)
        if self.level is not None:
            where.append(f"{level} = ?")
            args.append(self.level)
        if self.area is not None:
            where.append(f"{area} = ?")
            args.append(area_key(self.area))
        if self.principle is not None:
            where.append(f"{node} IN (SELECT node FROM view_tags WHERE facet = 'principle' "
                         "AND value = ?)")
            args.append(principle_key(self.principle))
        if self.status is not None:
            where.append(f"{status} = ?")
            args.append(self.status)
        if self.since is not None:
            where.append(f"{since} >= ?")
            args.append(self.since)
        if self.updated_since is not None:
            where.append(f"{version} >= ?")
            args.append(_day_ms("updated_since", self.updated_since))
        return "".join(f" AND {w}" for w in where), args
