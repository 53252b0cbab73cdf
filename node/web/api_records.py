"""The JSON API for the group's own work: records, sharing, publishing, credits, the profile.

Each handler does what the ``hedgerow`` command named in its declaration does,
through the same store methods (node/store/store.py). Private fields are in
what ``GET /records/{key}`` answers — the API needs the admin login or a token
the admin made — and never in what is published.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from protocol import id_from_text, id_to_text

from ..errors import InvalidInput, NotFound
from ..store.organisation import Organisation
from ..store.records import PracticeRecord
from ..store.sharing import AGGREGATES, SHAREABLE_FIELDS, SharedMeasure, SharePolicy
from ..store.store import Store
from .api_ops import (
    body_of,
    entry_json,
    operation,
    reply,
    service_of,
    signed_json,
    text_field,
)

__all__: list[str] = []

_TEXT: Final = {"type": "string"}
_TEXTS: Final = {"type": "array", "items": {"type": "string"}}
_SOURCE: Final = {"type": "object", "required": ["node", "key"],
                  "properties": {"node": _TEXT, "key": _TEXT}}
_RECORD_FIELDS: Final = {
    "title": _TEXT, "status": {"enum": ["active", "paused", "ended"]}, "description": _TEXT,
    "themes": _TEXTS, "level": _TEXT, "area": _TEXT, "since": _TEXT, "context": _TEXT,
    "community": _TEXT, "run_by": _TEXT, "notes": _TEXT, "key": _TEXT}
_RECORD_BODY: Final = {"type": "object", "properties": {
    **_RECORD_FIELDS, "lessons": _TEXTS, "adapted_from": {"type": "array", "items": _SOURCE}}}
_POLICY: Final = {"type": "object", "properties": {
    "fields": {"type": "array", "items": {"enum": list(SHAREABLE_FIELDS)}},
    "lessons": {"type": "array", "items": {"type": "integer"},
                "description": "Lesson ids (from GET /records/{key})."},
    "measures": {"type": "array", "items": {
        "type": "object", "required": ["id"],
        "properties": {"id": {"type": "integer"}, "aggregate": {"enum": list(AGGREGATES)},
                       "period": _TEXT}}}}}
_ENTRY: Final = {"type": "object", "required": ["kind", "key", "version", "author", "body"]}


def _store(request: web.Request) -> Any:
    return service_of(request).store


def _record_fields(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    allowed = set(_RECORD_FIELDS) if creating else set(_RECORD_FIELDS) - {"key"}
    unknown = sorted(set(data) - allowed - {"lessons", "adapted_from"})
    if unknown:
        raise InvalidInput(f"{unknown[0][:40]}: not a field of a practice record",
                           field=unknown[0][:40])
    return {k: v for k, v in data.items() if k in allowed}


def _sources(data: dict[str, Any]) -> list[tuple[bytes, str]]:
    raw = data.get("adapted_from", [])
    if not isinstance(raw, list) or len(raw) > 50:
        raise InvalidInput("adapted_from: a list of {node, key}", field="adapted_from")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("adapted_from: a list of {node, key}", field="adapted_from")
        out.append((id_from_text(text_field(item, "node", required=True, max_len=200)),
                    text_field(item, "key", required=True, max_len=200)))
    return out


def _lessons(data: dict[str, Any]) -> list[str]:
    raw = data.get("lessons", [])
    if not isinstance(raw, list) or len(raw) > 100 or not all(isinstance(t, str) for t in raw):
        raise InvalidInput("lessons: a list of text", field="lessons")
    return raw


def record_json(record: PracticeRecord) -> dict[str, Any]:
    """Everything kept about a practice, as ``hedgerow record show --json`` shows it."""
    p = record.practice
    return {
        "key": p.key, "title": p.title, "status": p.status, "description": p.description,
        "themes": list(p.themes), "level": p.level, "area": p.area, "since": p.since,
        "context": p.context, "community": p.community, "run_by": p.run_by, "notes": p.notes,
        "lessons": [{"number": n, "id": lesson.id, "text": lesson.text}
                    for n, lesson in enumerate(record.lessons, start=1)],
        "measures": [{"id": m.id, "name": m.name, "unit": m.unit, "defined_by": m.defined_by,
                      "why": m.why} for m in record.measures],
        "voices": [{"id": v.id, "speaker": v.speaker, "quote": v.quote,
                    "recorded_on": v.recorded_on} for v in record.voices],
        "adapted_from": [{"id": a.id, "author": id_to_text(a.author), "key": a.practice_key,
                          "note": a.note} for a in record.adaptations],
    }


@operation("GET", "/records", summary="The practices this node keeps, and whether each is "
           "published.", tag="records", cli=("record list",))
async def _list_records(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    published: dict[str, str] = {}
    for kind in ("practice", "retract"):
        for held in await store.current_entries(kind=kind, author=store.node_id, limit=10_000):
            published[held.entry.key] = "published" if kind == "practice" else "retracted"
    return reply([{"key": p.key, "title": p.title, "status": p.status,
                   "themes": list(p.themes), "summary": published.get(p.key, "private")}
                  for p in await store.list_practices()])


@operation("POST", "/records", summary="Record a new practice (private until published).",
           tag="records", cli=("record add",), body=_RECORD_BODY, status=201)
async def _add_record(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    data = await body_of(request)
    fields = _record_fields(data, creating=True)
    lessons, sources = _lessons(data), _sources(data)
    practice = await store.create_practice(fields)
    try:
        for text in lessons:
            await store.add_lesson(practice.key, text)
        for author, key in sources:
            await store.add_adaptation(practice.key, author, key)
    except BaseException:
        await store.delete_practice(practice.key)
        raise
    return reply(record_json(await store.get_practice(practice.key)), 201)


@operation("GET", "/records/{key}", summary="Everything kept about a practice, private fields "
           "included.", tag="records", cli=("record show",))
async def _show_record(request: web.Request) -> web.StreamResponse:
    return reply(record_json(await _store(request).get_practice(request.match_info["key"])))


@operation("PATCH", "/records/{key}", summary="Change a practice; `lessons` and "
           "`adapted_from` are added.", tag="records", cli=("record edit",), body=_RECORD_BODY)
async def _edit_record(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    key = request.match_info["key"]
    data = await body_of(request)
    changes = _record_fields(data, creating=False)
    lessons, sources = _lessons(data), _sources(data)
    await store.get_practice(key)
    if changes:
        await store.update_practice(key, changes)
    for text in lessons:
        await store.add_lesson(key, text)
    for author, source in sources:
        await store.add_adaptation(key, author, source)
    return reply(record_json(await store.get_practice(key)))


@operation("DELETE", "/records/{key}", summary="Delete a practice record and everything kept "
           "about it (a published summary stays until retracted).", tag="records",
           cli=("record delete",))
async def _delete_record(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    key = request.match_info["key"]
    await store.get_practice(key)
    held = await store.current_entry(store.node_id, "practice", key)
    await store.delete_practice(key)
    return reply({"deleted": key,
                  "still_published": held is not None and held.entry.kind == "practice"})


@operation("POST", "/records/{key}/measures", summary="Add a measure to a practice.",
           tag="records", cli=("record measure",), status=201, body={
               "type": "object", "required": ["name"], "properties": {
                   "name": _TEXT, "unit": _TEXT,
                   "defined_by": {"enum": ["community", "funder", "own"]}, "why": _TEXT}})
async def _add_measure(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    measure = await _store(request).add_measure(request.match_info["key"], {
        "name": text_field(data, "name", required=True, max_len=500),
        "unit": text_field(data, "unit", max_len=200),
        "defined_by": text_field(data, "defined_by", default="own", max_len=20),
        "why": text_field(data, "why")})
    return reply({"id": measure.id, "name": measure.name, "unit": measure.unit,
                  "defined_by": measure.defined_by}, 201)


@operation("POST", "/measures/{id}/observations", summary="Record a figure for a measure "
           "(exact figures never leave the node).", tag="records", cli=("record observe",),
           status=201, body={"type": "object", "required": ["value", "observed_on"],
                             "properties": {"value": {"type": "integer", "minimum": 0},
                                            "observed_on": {"type": "string",
                                                            "format": "date"},
                                            "note": _TEXT}})
async def _observe(request: web.Request) -> web.StreamResponse:
    try:
        measure_id = int(request.match_info["id"])
    except ValueError:
        raise InvalidInput("id: a measure's number", field="id") from None
    data = await body_of(request)
    value = data.get("value")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput("value: a whole number, 0 or more", field="value")
    observation = await _store(request).record_observation(measure_id, {
        "observed_on": text_field(data, "observed_on", required=True, max_len=10),
        "value": value, "note": text_field(data, "note")})
    return reply({"id": observation.id, "measure": measure_id,
                  "observed_on": observation.observed_on, "value": observation.value}, 201)


def _policy_json(policy: SharePolicy) -> dict[str, Any]:
    return {"fields": sorted(policy.fields), "lessons": sorted(policy.lessons),
            "measures": [{"id": m.measure_id, "aggregate": m.aggregate, "period": m.period}
                         for m in policy.measures]}


@operation("GET", "/records/{key}/share-policy", summary="What a practice's summary shares.",
           tag="sharing", cli=("share policy",), response=_POLICY)
async def _get_policy(request: web.Request) -> web.StreamResponse:
    return reply(_policy_json(await _store(request).get_share_policy(
        request.match_info["key"])))


@operation("PUT", "/records/{key}/share-policy", summary="Choose what a practice's summary "
           "shares (title and status always are; private fields never).", tag="sharing",
           cli=("share policy",), body=_POLICY, response=_POLICY)
async def _set_policy(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    fields, lessons, measures = (data.get("fields", []), data.get("lessons", []),
                                 data.get("measures", []))
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise InvalidInput("fields: a list of summary field names", field="fields")
    if not isinstance(lessons, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in lessons):
        raise InvalidInput("lessons: a list of lesson ids", field="lessons")
    if not isinstance(measures, list) or len(measures) > 100:
        raise InvalidInput("measures: a list of {id, aggregate, period}", field="measures")
    shared = []
    for item in measures:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise InvalidInput("measures: a list of {id, aggregate, period}", field="measures")
        shared.append(SharedMeasure(item["id"], text_field(item, "aggregate", default="sum"),
                                    text_field(item, "period", default="all")))
    chosen = set(fields)
    if lessons:
        chosen.add("lessons")
    if shared:
        chosen.add("measures")
    policy = await _store(request).set_share_policy(
        request.match_info["key"], SharePolicy.of(chosen, lessons=lessons, measures=shared))
    return reply(_policy_json(policy))


@operation("GET", "/records/{key}/preview", summary="Exactly the entry publishing would sign "
           "now.", tag="sharing", cli=("share preview",), response=_ENTRY)
async def _preview(request: web.Request) -> web.StreamResponse:
    return reply(entry_json(await _store(request).preview_practice(
        request.match_info["key"])))


@operation("POST", "/records/{key}/publish", summary="Sign and publish a practice's summary.",
           tag="sharing", cli=("share publish",), response=_ENTRY)
async def _publish(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    store = service.store
    key = request.match_info["key"]
    # Announced (log, live pages, peers) by the running node's feed watch, as a
    # publication from the command line is: once.
    signed = await store.publish_practice(key)
    return reply(signed_json(signed))


@operation("POST", "/records/{key}/retract", summary="Withdraw a published practice (a signed "
           "retraction replaces it).", tag="sharing", cli=("retract",),
           body={"type": "object", "properties": {"reason": _TEXT}}, response=_ENTRY)
async def _retract(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    store = service.store
    key = request.match_info["key"]
    data = await body_of(request) if request.can_read_body else {}
    signed = await store.retract_practice(key, reason=text_field(data, "reason", max_len=2000))
    return reply(signed_json(signed))


async def _credited_node(store: Store, data: dict[str, Any]) -> bytes:
    """The ``node`` field: a whole id, or the start of a known node's (a bad field if none)."""
    try:
        return await store.resolve_node(text_field(data, "node", required=True, max_len=200))
    except NotFound as exc:
        raise InvalidInput(exc.message, field="node") from None


@operation("POST", "/credits", summary="Thank a node for a practice (signed, published); "
           "refused for a practice this node has not seen from it, unless `anyway`.",
           tag="sharing", cli=("credit give",), status=201, response=_ENTRY, body={
               "type": "object", "required": ["node", "practice"],
               "properties": {"node": _TEXT, "practice": _TEXT, "note": _TEXT,
                              "anyway": {"type": "boolean"}}})
async def _credit(request: web.Request) -> web.StreamResponse:
    store = service_of(request).store
    data = await body_of(request)
    anyway = data.get("anyway", False)
    if not isinstance(anyway, bool):
        raise InvalidInput("anyway: must be true or false", field="anyway")
    to = await _credited_node(store, data)
    signed = await store.publish_credit(
        to, text_field(data, "practice", required=True, max_len=200),
        note=text_field(data, "note", max_len=2000), anyway=anyway)
    return reply(signed_json(signed), 201)


@operation("POST", "/credits/withdraw", summary="Withdraw a credit this node gave (a signed "
           "withdrawal replaces it).", tag="sharing", cli=("credit withdraw",),
           response=_ENTRY, body={
               "type": "object", "required": ["node", "practice"],
               "properties": {"node": _TEXT, "practice": _TEXT, "reason": _TEXT}})
async def _credit_withdraw(request: web.Request) -> web.StreamResponse:
    store = service_of(request).store
    data = await body_of(request)
    to = await _credited_node(store, data)
    signed = await store.withdraw_credit(
        to, text_field(data, "practice", required=True, max_len=200),
        reason=text_field(data, "reason", max_len=2000))
    return reply(signed_json(signed))


# --- the organisation's profile ---------------------------------------------------------

_PROFILE: Final = {"type": "object", "properties": {
    "name": _TEXT, "area": _TEXT, "level": _TEXT, "description": _TEXT, "principles": _TEXTS,
    "addresses": _TEXTS, "org_id": _TEXT,
    # The contact other groups may use (an email or web address); null: none.
    "contact": {"type": ["string", "null"]}}}


def _organisation_json(org: Organisation) -> dict[str, Any]:
    return {"name": org.name, "level": org.level, "area": org.area,
            "description": org.description, "principles": list(org.principles),
            "addresses": list(org.addresses), "org_id": org.org_id, "contact": org.contact}


@operation("GET", "/profile", summary="The organisation's details as stored (published or "
           "not).", tag="profile", cli=("profile show",), response=_PROFILE)
async def _profile(request: web.Request) -> web.StreamResponse:
    return reply(_organisation_json(await _store(request).get_organisation()))


@operation("PATCH", "/profile", summary="Change the organisation's details (publish them "
           "separately).", tag="profile", cli=("profile set",), body=_PROFILE,
           response=_PROFILE)
async def _set_profile(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    unknown = sorted(set(data) - set(_PROFILE["properties"]))
    if unknown:
        raise InvalidInput(f"{unknown[0][:40]}: not a profile field", field=unknown[0][:40])
    return reply(_organisation_json(await _store(request).update_organisation(data)))


@operation("GET", "/profile/preview", summary="Exactly the profile entry publishing would "
           "sign now.", tag="profile", cli=("profile preview",), response=_ENTRY)
async def _profile_preview(request: web.Request) -> web.StreamResponse:
    return reply(entry_json(await _store(request).preview_profile()))


@operation("POST", "/profile/publish", summary="Sign and publish the organisation's profile.",
           tag="profile", cli=("profile publish",), response=_ENTRY)
async def _publish_profile(request: web.Request) -> web.StreamResponse:
    signed = await service_of(request).store.publish_profile()
    return reply(signed_json(signed))
