"""The registry of views: one entry per view, used by the API, the CLI and exports.

:data:`VIEWS` maps a view's name to its :class:`ViewSpec`: the parameters
it takes (declared in :mod:`.params`), the synchronous function computing
it over one database connection, and how it flattens into a table (for
CSV and Excel). :func:`compute_view` is the one synchronous entry point
(the verifier calls it over an in-memory store); :func:`run_view` is the
async one, which first brings the derived index up to date through the
store's single writer and then reads in one snapshot.

Every result has the same envelope: ``view`` (its name), ``params`` (as
parsed, ids in text form, so that an export can be recomputed) and
``excluded`` (what the exclusion rule left out, :mod:`.common`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from protocol import id_to_text

from ..errors import InvalidInput, NotFound
from . import counts, directory, health, introductions, members, similar, spread, travelled
from .common import memo
from .index import catch_up, is_stale
from .params import Filters, echo, parse_params

if TYPE_CHECKING:
    import sqlite_utils

    from ..store.store import Store

__all__ = ["VIEWS", "ViewSpec", "compute_view", "prepare", "prepare_for", "refresh", "run_view",
           "spec_of", "table"]

Row = dict[str, Any]
Table = tuple[list[str], list[Row]]

_FILTERS: Final = ("theme", "level", "area", "principle", "status", "since", "updated_since")


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A view: its name, one-line summary, parameters, computation and table form."""

    name: str
    summary: str
    params: tuple[str, ...]
    compute: Callable[[sqlite_utils.Database, dict[str, Any]], dict[str, Any]]
    table: Callable[[dict[str, Any]], Table]
    #: Defaults of this view that differ from the parameter's own (``limit``).
    defaults: Mapping[str, int] = field(default_factory=dict)


def _cell_rows(rows: list[Row], columns: list[str]) -> Table:
    return columns, [{c: row.get(c) for c in columns} for row in rows]


_PRACTICE_COLUMNS = ["node", "node_name", "key", "title", "themes", "level", "area", "status",
                     "since", "updated", "version"]


def _directory_table(result: dict[str, Any]) -> Table:
    columns = ["kind", *_PRACTICE_COLUMNS, "principles"]
    if result["params"].get("q") is not None:
        columns.append("snippet")
    return _cell_rows(result["results"], columns)


def _spread_table(result: dict[str, Any]) -> Table:
    if "roots" in result:
        return _cell_rows(result["roots"], [*_PRACTICE_COLUMNS, "practices", "adopting_nodes",
                                            "crediting_nodes", "generations",
                                            "areas_reached", "credits_received"])
    rows: list[Row] = []

    def walk(vertex: Row, parent: Row | None) -> None:
        rows.append({**{k: v for k, v in vertex.items() if k != "children"},
                     "parent_node": parent["node"] if parent else None,
                     "parent_key": parent["key"] if parent else None})
        for child in vertex["children"]:
            walk(child, vertex)

    walk(result["tree"], None)
    return _cell_rows(rows, ["generation", "via", "node", "node_name", "key", "title", "area",
                             "level", "date", "credited", "parent_node", "parent_key"])


def _lineage_table(result: dict[str, Any]) -> Table:
    rows = []
    for direction in ("learned_from", "learned_by"):
        for other in result[direction]:
            for link in other["links"]:
                rows.append({"direction": direction, "node": other["node"],
                             "name": other["name"], "area": other["area"],
                             "level": other["level"], **link})
    return _cell_rows(rows, ["direction", "node", "name", "area", "level", "via",
                             "our_practice", "their_practice", "their_title", "held", "date"])


def _health_table(result: dict[str, Any]) -> Table:
    rows: list[Row] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            rows.append({"figure": prefix, "value": value})

    walk("", result["figures"])
    return ["figure", "value"], rows


def _similar_table(result: dict[str, Any]) -> Table:
    return _cell_rows(result["results"], [*_PRACTICE_COLUMNS, "contact", "shared_themes",
                                          "shared_words", "same_level", "connected",
                                          "lessons", "why"])


def _introductions_table(result: dict[str, Any]) -> Table:
    rows: list[Row] = []
    for theme in result["themes"]:
        for suggestion in theme["suggestions"]:
            row: Row = {"theme": theme["theme"], "groups_in_theme": theme["groups"]}
            for side, group in zip("ab", suggestion["groups"], strict=True):
                row.update({f"{name}_{side}": group[name]
                            for name in ("node", "name", "area", "level", "contact")})
            row.update(shared_themes=suggestion["shared_themes"],
                       same_level=suggestion["same_level"], why=suggestion["why"])
            rows.append(row)
    return _cell_rows(rows, ["theme", "groups_in_theme",
                             *(f"{name}_{side}" for side in "ab"
                               for name in ("node", "name", "area", "level", "contact")),
                             "shared_themes", "same_level", "why"])


def _travelled_table(result: dict[str, Any]) -> Table:
    rows = []
    for practice in result["practices"]:
        for group in practice["groups"]:
            rows.append({"our_practice": practice["key"], "our_title": practice["title"],
                         "held": practice["held"], "node": group["node"],
                         "name": group["name"], "area": group["area"], "level": group["level"],
                         "contact": group["contact"],
                         "adapted_as": [a["key"] for a in group["adapted_as"]],
                         "their_titles": [a["title"] for a in group["adapted_as"]],
                         "credited": group["credited"], "note": group["note"],
                         "date": group["date"]})
    return _cell_rows(rows, ["our_practice", "our_title", "held", "node", "name", "area",
                             "level", "contact", "adapted_as", "their_titles", "credited",
                             "note", "date"])


def _rows_table(first: str, *more: str) -> Callable[[dict[str, Any]], Table]:
    return lambda result: _cell_rows(result["rows"], [first, *more])


def _filters(params: dict[str, Any]) -> Filters:
    return Filters.of(params)


VIEWS: Final[dict[str, ViewSpec]] = {spec.name: spec for spec in (
    ViewSpec("directory", "Practice summaries and profiles: full-text search and filters.",
             ("q", "kind", *_FILTERS, "limit", "offset"),
             lambda db, p: directory.directory(db, q=p.get("q"), kind=p.get("kind"),
                                               filters=_filters(p), limit=p["limit"],
                                               offset=p["offset"]),
             _directory_table),
    ViewSpec("themes", "Practices and nodes per theme.", _FILTERS,
             lambda db, p: counts.themes(db, _filters(p)),
             _rows_table("theme", "practices", "nodes")),
    ViewSpec("levels", "Practices and nodes per level.", _FILTERS,
             lambda db, p: counts.levels(db, _filters(p)),
             _rows_table("level", "practices", "nodes")),
    ViewSpec("principles", "Profiles, practices and nodes per principle.", _FILTERS,
             lambda db, p: counts.principles(db, _filters(p)),
             _rows_table("principle", "profiles", "practices", "nodes")),
    ViewSpec("areas", "Practices and nodes per area (postcode district or local authority).",
             _FILTERS, lambda db, p: counts.areas(db, _filters(p)),
             _rows_table("area", "practices", "nodes")),
    ViewSpec("timeline", "New and retracted practices per month.", _FILTERS,
             lambda db, p: counts.timeline(db, _filters(p)),
             _rows_table("month", "new", "retracted")),
    ViewSpec("spread", "The lineage tree of a practice (node and key), or, without them, "
             "the practices that started a lineage, by reach.",
             ("node", "key", "limit", "offset"),
             lambda db, p: _spread(db, p), _spread_table),
    ViewSpec("lineage", "Who a node learned from and who learned from it (default: this "
             "node).", ("node",),
             lambda db, p: spread.lineage(db, p["node"]), _lineage_table),
    ViewSpec("health", "Nodes known and heard from, coverage, forks, entries held, freshness.",
             ("at",), lambda db, p: health.health(db, at_ms=p["at"]), _health_table),
    ViewSpec("members", "The network's own lineage: who admitted whom, and when.", (),
             lambda db, p: members.members(db),
             lambda result: _cell_rows(result["members"], [
                 "node", "name", "area", "admitted_by", "admitted_by_name", "admitted",
                 "depth"])),
    ViewSpec("similar", "Others on the same journey: the practices of other groups most "
             "like a practice (node and key; default node: this one), and why.",
             ("node", "key", "limit", "offset"),
             lambda db, p: similar.similar(db, p["node"], p["key"], limit=p["limit"],
                                           offset=p["offset"]),
             _similar_table, defaults={"limit": 10}),
    ViewSpec("introductions", "Introductions a convenor can make: groups on the same theme "
             "with no credit, adaptation or shared lineage between them, by theme.",
             ("theme", "level", "area", "per_theme", "limit", "offset"),
             lambda db, p: introductions.introductions(
                 db, theme=p.get("theme"), level=p.get("level"), area=p.get("area"),
                 per_theme=p["per_theme"], limit=p["limit"], offset=p["offset"]),
             _introductions_table, defaults={"limit": 10}),
    ViewSpec("travelled", "Where a node's ideas travelled: which of its practices others "
             "adapted or credited, by whom, where, with their notes (default: this node).",
             ("node",), lambda db, p: travelled.travelled(db, p["node"]), _travelled_table),
)}


def _spread(db: sqlite_utils.Database, params: dict[str, Any]) -> dict[str, Any]:
    if ("node" in params) != ("key" in params):
        missing = "key" if "node" in params else "node"
        raise InvalidInput(f"{missing}: spread takes a node and a key together (or neither, "
                           "for the roots)", field=missing)
    if "node" in params:
        return spread.spread(db, params["node"], params["key"])
    return spread.roots(db, limit=params["limit"], offset=params["offset"])


def spec_of(name: str) -> ViewSpec:
    spec = VIEWS.get(name)
    if spec is None:
        raise NotFound(f"no view called {name[:40]!r}; the views are {', '.join(VIEWS)}")
    return spec


def prepare(name: str, raw: Mapping[str, str | int | None], *, me: bytes,
            now_ms: int) -> dict[str, Any]:
    """Parse the text parameters of a view, filling in this node and now where it needs them."""
    spec = spec_of(name)
    params = parse_params(name, spec.params, raw)
    for param, value in spec.defaults.items():
        if raw.get(param) in (None, ""):
            params[param] = value
    if name in ("lineage", "similar", "travelled") and "node" not in params:
        params["node"] = me
    if name == "similar" and "key" not in params:
        raise InvalidInput("key: similar needs a practice: its key (and `node`, for "
                           "another node's practice)", field="key")
    if name == "health" and "at" not in params:
        params["at"] = now_ms
    return params


def compute_view(db: sqlite_utils.Database, name: str,
                 params: dict[str, Any]) -> dict[str, Any]:
    """Compute a view over an up-to-date index (see :func:`refresh`)."""
    spec = spec_of(name)
    if name == "health":  # depends on `at`; remembers its own parts
        result = spec.compute(db, params)
    else:
        result = memo(db, ("view", name, tuple(sorted(params.items()))),
                      lambda: spec.compute(db, params))
    return {"view": name, "params": echo(params), **result}


def table(result: dict[str, Any]) -> Table:
    """The view result as columns and flat rows (for CSV and Excel)."""
    return spec_of(result["view"]).table(result)


async def refresh(store: Store) -> None:
    """Index entries not yet indexed, through the store's single writer."""
    if await store.db.read(is_stale):
        await store.db.write(catch_up)


async def prepare_for(store: Store, name: str,
                      raw: Mapping[str, str | int | None]) -> dict[str, Any]:
    """:func:`prepare`, reading a ``node`` given as the start of an id as the known node.

    People type the short ids that every list shows; the store knows which
    node one names (:meth:`node.Store.resolve_node`).
    """
    node = raw.get("node")
    if isinstance(node, str) and node.strip() and name in VIEWS and \
            "node" in VIEWS[name].params:
        try:
            resolved = await store.resolve_node(node[:200])
        except NotFound as exc:  # a bad parameter here, as a mistyped whole id is
            raise InvalidInput(exc.message, field="node") from None
        raw = {**raw, "node": id_to_text(resolved)}
    return prepare(name, raw, me=store.node_id, now_ms=store.now_ms())


async def run_view(store: Store, name: str,
                   raw: Mapping[str, str | int | None]) -> dict[str, Any]:
    """Parse, refresh the index and compute a view for the API, the CLI and the pages."""
    params = await prepare_for(store, name, raw)
    await refresh(store)
    return await store.db.read(compute_view, name, params)

