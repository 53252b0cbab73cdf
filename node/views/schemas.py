"""The JSON Schema of each view's output (JSON Schema 2020-12, as OpenAPI 3.1 uses).

:mod:`node.web.api` puts these into the OpenAPI document it serves at
``/api/v1/openapi.json``; a test validates every view's responses against
them, so the document and the code cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["VIEW_SCHEMAS", "common_schemas"]

Schema = dict[str, Any]

_STR: Final[Schema] = {"type": "string"}
_INT: Final[Schema] = {"type": "integer"}
_BOOL: Final[Schema] = {"type": "boolean"}
_NSTR: Final[Schema] = {"type": ["string", "null"]}
_NINT: Final[Schema] = {"type": ["integer", "null"]}
_STRS: Final[Schema] = {"type": "array", "items": _STR}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = (),
            extra: Schema | bool = False) -> Schema:
    return {"type": "object", "properties": properties,
            "required": [k for k in properties if k not in optional],
            "additionalProperties": extra}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


_PRACTICE_FIELDS: Final[dict[str, Schema]] = {
    "node": _STR, "node_name": _NSTR, "key": _STR, "title": _STR, "themes": _STRS,
    "level": _NSTR, "area": _NSTR, "status": _NSTR, "since": _NSTR, "updated": _STR,
    "version": _INT,
}
_NODE: Final[Schema] = _object({"node": _STR, "name": _NSTR, "level": _NSTR, "area": _NSTR})
_GROUP: Final[Schema] = _object({**_NODE["properties"], "contact": _NSTR})
_MEMBER_FIELDS: Final[dict[str, Schema]] = {
    "node": _STR, "name": _NSTR, "area": _NSTR, "admitted_by": _NSTR,
    "admitted_by_name": _NSTR, "admitted": _NSTR, "depth": _INT}


def common_schemas() -> dict[str, Schema]:
    """Schemas the view schemas refer to (``#/components/schemas/…``)."""
    return {
        "Excluded": _object({"forked_authors": _INT, "entries_of_forked_authors": _INT,
                             "retracted_practices": _INT, "note": _STR},
                            extra=_INT),
        "Params": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
        "Practice": _object(_PRACTICE_FIELDS),
        "Totals": _object({"practices": _INT, "nodes": _INT}),
        "Node": _NODE,
        "Group": _GROUP,
        "Vertex": _object({
            "node": _STR, "node_name": _NSTR, "key": _NSTR, "title": _NSTR, "area": _NSTR,
            "level": _NSTR, "date": _STR, "generation": _INT,
            "via": {"enum": ["root", "adapted_from", "credit"]}, "credited": _BOOL,
            "children": {"type": "array", "items": _ref("Vertex")}}),
        "Error": _object({"error": _STR, "field": _NSTR, "code": _STR}),
        "Member": _object(_MEMBER_FIELDS),
        "MemberVertex": _object({**_MEMBER_FIELDS,
                                 "children": {"type": "array", "items": _ref("MemberVertex")}}),
    }


def _envelope(name: str, body: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    return _object({"view": {"const": name}, "params": _ref("Params"), **body,
                    "excluded": _ref("Excluded")}, optional=optional)


def _counts(name: str, facet: Schema, *more: str) -> Schema:
    row = _object({name: facet, **{m: _INT for m in more}})
    return {"type": "array", "items": row}


_DIRECTORY_ROW: Final[Schema] = _object(
    {"kind": {"enum": ["practice", "profile"]}, **_PRACTICE_FIELDS, "principles": _STRS,
     "snippet": _STR}, optional=("principles", "snippet"))
_FIGURES: Final[Schema] = _object({"practices": _INT, "adopting_nodes": _INT,
                                   "crediting_nodes": _INT, "generations": _INT,
                                   "areas_reached": _INT, "credits_received": _INT})
_LINK: Final[Schema] = _object({
    "via": {"enum": ["adapted_from", "credit"]}, "our_practice": _NSTR, "our_title": _NSTR,
    "their_practice": _NSTR, "their_title": _NSTR, "held": _BOOL, "date": _STR},
    optional=("our_title",))
_OTHER: Final[Schema] = _object({**_NODE["properties"],
                                 "links": {"type": "array", "items": _LINK}})
_TREE_EXCLUDED: Final[Schema] = {"allOf": [_ref("Excluded"), {
    "required": ["self_credits", "cycle_links", "merge_links"]}]}

VIEW_SCHEMAS: Final[dict[str, Schema]] = {
    "directory": _envelope("directory", {
        "total": _INT, "results": {"type": "array", "items": _DIRECTORY_ROW}}),
    "themes": _envelope("themes", {"rows": _counts("theme", _STR, "practices", "nodes"),
                                   "totals": _ref("Totals")}),
    "levels": _envelope("levels", {"rows": _counts("level", _NSTR, "practices", "nodes"),
                                   "totals": _ref("Totals")}),
    "principles": _envelope("principles", {
        "rows": _counts("principle", _STR, "profiles", "practices", "nodes"),
        "totals": _ref("Totals")}),
    "areas": _envelope("areas", {"rows": _counts("area", _NSTR, "practices", "nodes"),
                                 "totals": _ref("Totals")}),
    "timeline": _envelope("timeline", {
        "rows": _counts("month", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, "new",
                        "retracted"),
        "totals": _ref("Totals"), "new_without_month": _INT, "notes": _STRS}),
    "spread": {"oneOf": [
        _envelope("spread", {
            "practice": _ref("Practice"), "figures": _FIGURES, "tree": _ref("Vertex"),
            "credits": {"type": "array", "items": _object({
                "node": _STR, "node_name": _NSTR, "date": _STR, "note": _NSTR})}}),
        _envelope("spread", {
            "total": _INT, "roots": {"type": "array", "items": _object(
                {**_PRACTICE_FIELDS, **_FIGURES["properties"]})}}),
    ]},
    "lineage": _envelope("lineage", {
        "node": _ref("Node"),
        "figures": _object({"learned_from_nodes": _INT, "learned_by_nodes": _INT,
                            "links_from": _INT, "links_by": _INT}),
        "learned_from": {"type": "array", "items": _OTHER},
        "learned_by": {"type": "array", "items": _OTHER}}),
    "similar": _envelope("similar", {
        "practice": _object({**_PRACTICE_FIELDS, "contact": _NSTR}),
        "total": _INT,
        "results": {"type": "array", "items": _object({
            **_PRACTICE_FIELDS, "contact": _NSTR, "lessons": _STRS, "shared_themes": _STRS,
            "shared_words": _STRS, "same_level": _BOOL, "connected": _BOOL,
            "why": _STR})}}),
    "introductions": _envelope("introductions", {
        "total": _INT,
        "themes": {"type": "array", "items": _object({
            "theme": _STR, "groups": _INT, "more": _BOOL,
            "suggestions": {"type": "array", "items": _object({
                "groups": {"type": "array", "items": _ref("Group"), "minItems": 2,
                           "maxItems": 2},
                "shared_themes": _STRS, "same_level": _BOOL, "why": _STR})}})}}),
    "travelled": _envelope("travelled", {
        "node": _ref("Node"),
        "practices": {"type": "array", "items": _object({
            "key": _STR, "title": _NSTR, "held": _BOOL,
            "groups": {"type": "array", "items": _object({
                **_GROUP["properties"],
                "adapted_as": {"type": "array", "items": _object({
                    "key": _STR, "title": _STR, "area": _NSTR, "date": _STR})},
                "credited": _BOOL, "note": _NSTR, "date": _STR})}})}}),
    "health": _envelope("health", {
        "figures": _object({
            "nodes_known": _INT, "heard_from_last_day": _INT, "heard_from_last_week": _INT,
            "profiles_held": _INT, "nodes_referenced": _INT,
            "coverage": {"type": ["number", "null"]}, "forked_nodes": _INT,
            "fork_proofs": _INT,
            "entries_held": _object({"total": _INT, "admit": _INT, "credit": _INT,
                                     "genesis": _INT, "practice": _INT, "profile": _INT,
                                     "retract": _INT, "withdrawal": _INT}),
            "freshness": _object({"entries_received": _INT, "median_delay_ms": _NINT,
                                  "p90_delay_ms": _NINT, "signed_after_arrival": _INT})}),
        "notes": _STRS}),
    "members": _envelope("members", {
        "count": _INT, "founder": _NSTR,
        "tree": {"oneOf": [_ref("MemberVertex"), {"type": "null"}]},
        "members": {"type": "array", "items": _ref("Member")}}),
}
