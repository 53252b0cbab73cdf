"""Our practices: the group's private records, and what it keeps about each.

List, add, edit and delete practices; add and remove measures and their
observations, voices, lessons, and the practices each was adapted from
(picked by searching the network directory). Nothing here leaves the node:
what a summary shares is chosen on the Share page (:mod:`.share`).

Every form is re-shown with the values typed and a message naming the
field when the store refuses it (HTTP 400).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from protocol import LEVELS, MEASURE_DEFINERS, PRACTICE_STATUSES, slot_of

from .. import Store
from ..errors import InvalidInput, NotFound
from ..store.records import PRIVATE_PRACTICE_FIELDS, PracticeRecord
from ..views import run_view
from .forms import Form, comma_list, read_form
from .render import access_of, redirect, render
from .state import PAGES

__all__ = ["routes"]

_TEXT_FIELDS: Final = ("title", "status", "description", "themes", "level", "area", "since",
                       "context", "community", "run_by", "notes")
_OBSERVATIONS_SHOWN: Final = 50


def store_of(request: web.Request) -> Store:
    return request.app[PAGES].service.store


def practice_key_of(request: web.Request) -> str:
    key = request.match_info["key"]
    if len(key) > 64:
        raise NotFound("there is no practice with that key")
    return key


def number_of(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not text.isdigit() or len(text) > 12:
        raise NotFound(f"there is no {name.removesuffix('_id')} with that number")
    return int(text)


def practice_fields(form: Form, *, creating: bool) -> dict[str, Any]:
    """The practice fields of a posted form, as the store takes them."""
    fields: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        if not form.has(name):
            continue
        value = form.text(name)
        if name == "themes":
            fields[name] = comma_list(value)
        elif name in ("level", "since"):
            fields[name] = value or None
        else:
            fields[name] = value
    if creating and form.text("key", max_len=100):
        fields["key"] = form.text("key", max_len=100)
    return fields


def _form_context(values: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"values": values, "levels": LEVELS, "statuses": PRACTICE_STATUSES,
            "private_fields": PRIVATE_PRACTICE_FIELDS, **extra}


async def practice_list(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    query = request.query.get("q", "").strip()
    error = None
    if query:
        try:
            practices = await store.search_practices(query[:200], limit=100)
        except InvalidInput as exc:
            practices, error = await store.list_practices(), exc.message
    else:
        practices = await store.list_practices()
    published = {slot.key: e for e in await store.current_entries(
        author=store.node_id, limit=10_000) if e.entry.kind in ("practice", "retract")
        and (slot := slot_of(e.entry.author, e.entry.kind, e.entry.key)).family == "practice"}
    return await render(request, "practices.html",
                        {"practices": practices, "query": query, "published": published,
                         "error": error}, title="Our practices",
                        status=400 if error else 200)


async def practice_new(request: web.Request) -> web.StreamResponse:
    return await render(request, "practice_form.html",
                        _form_context({"status": "active"}, creating=True,
                                      action="/practices/new"), title="Add a practice")


async def practice_create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        practice = await store_of(request).create_practice(practice_fields(form, creating=True))
    except InvalidInput as exc:
        return await render(request, "practice_form.html", _form_context(
            form.values(("key", *_TEXT_FIELDS)), creating=True, action="/practices/new",
            error=exc.message, error_field=exc.field), status=400, title="Add a practice")
    access_of(request).session.flash(f"Saved “{practice.title}”. It is private until you "
                                     "share it.")
    return redirect(f"/practice/{practice.key}")


async def _record_page(request: web.Request, record: PracticeRecord, *, status: int = 200,
                       error: str | None = None, error_field: str | None = None,
                       section: str = "") -> web.Response:
    store = store_of(request)
    observations = {m.id: await store.list_observations(m.id, limit=_OBSERVATIONS_SHOWN)
                    for m in record.measures}
    current = await store.current_entry(store.node_id, "practice", record.practice.key)
    return await render(request, "practice.html", {
        "record": record, "p": record.practice, "observations": observations,
        "definers": MEASURE_DEFINERS, "published": current, "error": error,
        "error_field": error_field, "error_section": section,
        "values": {}}, status=status, title=record.practice.title)


async def practice_show(request: web.Request) -> web.StreamResponse:
    record = await store_of(request).get_practice(practice_key_of(request))
    return await _record_page(request, record)


async def practice_edit_form(request: web.Request) -> web.StreamResponse:
    p = (await store_of(request).get_practice(practice_key_of(request))).practice
    values = {name: getattr(p, name) or "" for name in _TEXT_FIELDS}
    values["themes"] = ", ".join(p.themes)
    return await render(request, "practice_form.html", _form_context(
        values, creating=False, action=f"/practice/{p.key}/edit", key=p.key),
        title=f"Edit “{p.title}”")


async def practice_edit(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    store = store_of(request)
    form = await read_form(request)
    try:
        practice = await store.update_practice(key, practice_fields(form, creating=False))
    except InvalidInput as exc:
        current = (await store.get_practice(key)).practice
        return await render(request, "practice_form.html", _form_context(
            form.values(_TEXT_FIELDS), creating=False, action=f"/practice/{key}/edit",
            key=key, error=exc.message, error_field=exc.field), status=400,
            title=f"Edit “{current.title}”")
    access_of(request).session.flash("Saved your changes (they stay private until you share "
                                     "and publish).")
    return redirect(f"/practice/{practice.key}")


async def practice_delete_form(request: web.Request) -> web.StreamResponse:
    p = (await store_of(request).get_practice(practice_key_of(request))).practice
    return await render(request, "practice_delete.html", {"p": p},
                        title=f"Delete “{p.title}”?")


async def practice_delete(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    store = store_of(request)
    p = (await store.get_practice(key)).practice
    await store.delete_practice(key)
    published = await store.current_entry(store.node_id, "practice", key)
    note = (" Its published summary is still on the network: retract it too if it should go."
            if published is not None and published.entry.kind == "practice" else "")
    access_of(request).session.flash(f"Deleted “{p.title}” and everything kept about it."
                                     + note)
    return redirect("/practices")


# --- the parts of a record ---------------------------------------------------------------

async def _part_failed(request: web.Request, key: str, exc: InvalidInput,
                       section: str) -> web.Response:
    record = await store_of(request).get_practice(key)
    return await _record_page(request, record, status=400, error=exc.message,
                              error_field=exc.field, section=section)


async def measure_add(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    form = await read_form(request)
    try:
        fields = {"name": form.text("name"), "unit": form.text("unit"),
                  "defined_by": form.choice("defined_by", MEASURE_DEFINERS, default="own"),
                  "why": form.text("why")}
        measure = await store_of(request).add_measure(key, fields)
    except InvalidInput as exc:
        return await _part_failed(request, key, exc, "measures")
    access_of(request).session.flash(f"Added the measure “{measure.name}”.")
    return redirect(f"/practice/{key}#measures")


async def measure_delete(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    await store_of(request).delete_measure(number_of(request, "measure_id"))
    access_of(request).session.flash("Deleted the measure and its observations.")
    return redirect(f"/practice/{key}#measures")


async def observation_add(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    measure_id = number_of(request, "measure_id")
    form = await read_form(request)
    try:
        fields = {"observed_on": form.text("observed_on", required=True, max_len=20),
                  "value": form.integer("value"), "note": form.text("note")}
        await store_of(request).record_observation(measure_id, fields)
    except InvalidInput as exc:
        return await _part_failed(request, key, exc, f"measure-{measure_id}")
    access_of(request).session.flash("Recorded the observation.")
    return redirect(f"/practice/{key}#measure-{measure_id}")


async def observation_delete(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    await store_of(request).delete_observation(number_of(request, "observation_id"))
    access_of(request).session.flash("Deleted the observation.")
    return redirect(f"/practice/{key}#measures")


async def lesson_add(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    form = await read_form(request)
    try:
        await store_of(request).add_lesson(key, form.text("lesson", required=True))
    except InvalidInput as exc:
        return await _part_failed(request, key, exc, "lessons")
    access_of(request).session.flash("Added the lesson.")
    return redirect(f"/practice/{key}#lessons")


async def lesson_edit(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    form = await read_form(request)
    try:
        await store_of(request).update_lesson(number_of(request, "lesson_id"),
                                              form.text("lesson", required=True))
    except InvalidInput as exc:
        return await _part_failed(request, key, exc, "lessons")
    access_of(request).session.flash("Saved the lesson.")
    return redirect(f"/practice/{key}#lessons")


async def lesson_delete(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    await store_of(request).delete_lesson(number_of(request, "lesson_id"))
    access_of(request).session.flash("Deleted the lesson.")
    return redirect(f"/practice/{key}#lessons")


async def voice_add(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    form = await read_form(request)
    try:
        fields: dict[str, Any] = {"quote": form.text("quote", required=True),
                                  "speaker": form.text("speaker")}
        recorded_on = form.text("recorded_on", max_len=20)
        if recorded_on:
            fields["recorded_on"] = recorded_on
        await store_of(request).add_voice(key, fields)
    except InvalidInput as exc:
        return await _part_failed(request, key, exc, "voices")
    access_of(request).session.flash("Kept the quote (voices are never shared).")
    return redirect(f"/practice/{key}#voices")


async def voice_delete(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    await store_of(request).delete_voice(number_of(request, "voice_id"))
    access_of(request).session.flash("Deleted the quote.")
    return redirect(f"/practice/{key}#voices")


# --- adapted from: a picker over the network directory ------------------------------------

async def adaptation_picker(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    store = store_of(request)
    record = await store.get_practice(key)
    query = request.query.get("q", "").strip()
    results: list[dict[str, Any]] = []
    error = None
    try:
        raw: dict[str, str | int | None] = {"kind": "practice", "limit": 20}
        if query:
            raw["q"] = query
        found = await run_view(store, "directory", raw)
        results = [r for r in found["results"] if r["node"] != store.key.node_id]
    except InvalidInput as exc:
        error = exc.message
    return await render(request, "adapt_picker.html",
                        {"p": record.practice, "record": record, "query": query,
                         "results": results, "error": error},
                        status=400 if error else 200,
                        title=f"Where “{record.practice.title}” came from")


async def adaptation_add(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    store = store_of(request)
    form = await read_form(request)
    try:
        node_text = form.text("node", required=True, max_len=200)
        try:
            author = await store.resolve_node(node_text)
        except NotFound as exc:
            raise InvalidInput(exc.message, field="node") from None
        await store.add_adaptation(key, author, form.text("key", required=True, max_len=100),
                                   note=form.text("note"))
    except InvalidInput as exc:
        return await _part_failed(request, key, exc, "adaptations")
    access_of(request).session.flash(
        "Noted where this practice came from. Share “adapted from” and publish, so the credit "
        "travels with your summary.")
    return redirect(f"/practice/{key}#adaptations")


async def adaptation_delete(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    await store_of(request).delete_adaptation(number_of(request, "adaptation_id"))
    access_of(request).session.flash("Removed the source.")
    return redirect(f"/practice/{key}#adaptations")


def routes() -> list[web.RouteDef]:
    p = "/practice/{key}"
    return [
        web.get("/practices", practice_list, name="practices.list"),
        web.get("/practices/new", practice_new, name="practices.new"),
        web.post("/practices/new", practice_create, name="practices.create"),
        web.get(p, practice_show, name="practices.show"),
        web.get(f"{p}/edit", practice_edit_form, name="practices.edit_form"),
        web.post(f"{p}/edit", practice_edit, name="practices.edit"),
        web.get(f"{p}/delete", practice_delete_form, name="practices.delete_form"),
        web.post(f"{p}/delete", practice_delete, name="practices.delete"),
        web.post(f"{p}/measures", measure_add, name="practices.measure_add"),
        web.post(f"{p}/measures/{{measure_id}}/delete", measure_delete,
                 name="practices.measure_delete"),
        web.post(f"{p}/measures/{{measure_id}}/observations", observation_add,
                 name="practices.observation_add"),
        web.post(f"{p}/observations/{{observation_id}}/delete", observation_delete,
                 name="practices.observation_delete"),
        web.post(f"{p}/lessons", lesson_add, name="practices.lesson_add"),
        web.post(f"{p}/lessons/{{lesson_id}}/edit", lesson_edit, name="practices.lesson_edit"),
        web.post(f"{p}/lessons/{{lesson_id}}/delete", lesson_delete,
                 name="practices.lesson_delete"),
        web.post(f"{p}/voices", voice_add, name="practices.voice_add"),
        web.post(f"{p}/voices/{{voice_id}}/delete", voice_delete,
                 name="practices.voice_delete"),
        web.get(f"{p}/adapted-from", adaptation_picker, name="practices.adapt_picker"),
        web.post(f"{p}/adapted-from", adaptation_add, name="practices.adapt_add"),
        web.post(f"{p}/adapted-from/{{adaptation_id}}/delete", adaptation_delete,
                 name="practices.adapt_delete"),
    ]
