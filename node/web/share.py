"""Share: per practice, choose what its summary says, preview it exactly, publish, retract.

The page shows, side by side, what the group may share (each field a
checkbox; which lessons; which measures, summarised how) and what never
leaves the node (the private fields, voices, exact observations, notes).
Below, the preview is *exactly* the entry that publishing would sign
(:meth:`node.Store.preview_practice`) — the same body; only the version,
which is the time of signing, moves on. The publish form carries the
digest of the previewed body; if the record or the share policy changed
since (another tab, another person, the CLI), nothing is signed and the
page shows the new preview instead (DESIGN.md privacy rule 2). Publishing
signs and stores it and tells the gossip (the node pushes new publications to its peers at
once); retracting publishes a signed tombstone in its place.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ..errors import InvalidInput, NeedsCatchUp, NotFound, PreviewChanged
from ..store.feed import body_digest
from ..store.records import PRIVATE_PRACTICE_FIELDS
from ..store.sharing import AGGREGATES, ALWAYS_SHARED, SHAREABLE_FIELDS, SharedMeasure, SharePolicy
from .forms import Form, read_form
from .practices import practice_key_of, store_of
from .render import access_of, redirect, render

__all__ = ["routes"]

CHOOSABLE: Final = tuple(f for f in SHAREABLE_FIELDS if f not in ALWAYS_SHARED)
FIELD_LABELS: Final = {
    "title": "Title", "status": "Status (active, paused, ended)",
    "description": "Description", "themes": "Themes", "level": "Level", "area": "Area",
    "since": "Running since", "lessons": "Lessons (the ones ticked below)",
    "measures": "Measures (the ones ticked below, as one figure each)",
    "adapted_from": "Adapted from (credit to the practices yours came from)",
}
NEVER_SHARED: Final = (
    *(f"{name.replace('_', ' ')} (private field)" for name in PRIVATE_PRACTICE_FIELDS),
    "voices: the quotes you keep",
    "exact observations: only one total or latest figure per shared measure, and any count "
    "under 5 is published as “<5”",
    "why a measure matters, and your notes on where a practice came from",
)


def policy_from_form(form: Form, measure_ids: set[int]) -> SharePolicy:
    """The share policy a posted Share form describes."""
    fields = set(form.words("fields"))
    lessons = form.ids("lesson")
    measures = []
    for measure_id in form.ids("measure"):
        if measure_id not in measure_ids:
            raise InvalidInput("measures: that is not one of this practice's measures",
                               field="measures")
        aggregate = form.choice(f"aggregate_{measure_id}", AGGREGATES, default="sum")
        period = form.text(f"period_{measure_id}", max_len=10) or "all"
        measures.append(SharedMeasure(measure_id, aggregate or "sum", period))
    if lessons:
        fields.add("lessons")
    if measures:
        fields.add("measures")
    return SharePolicy.of(fields, lessons=lessons, measures=measures)


async def _share_page(request: web.Request, *, status: int = 200, error: str | None = None,
                      policy: SharePolicy | None = None) -> web.Response:
    key = practice_key_of(request)
    store = store_of(request)
    record = await store.get_practice(key)
    policy = policy or await store.get_share_policy(key)
    preview: Any = None
    preview_error = None
    try:
        preview = await store.preview_practice(key)
    except InvalidInput as exc:
        preview_error = exc.message
    digest = body_digest(preview.body) if preview is not None else ""
    current = await store.current_entry(store.node_id, "practice", key)
    up_to_date = (current is not None and preview is not None
                  and current.entry.kind == "practice" and current.entry.body == preview.body)
    shared_measures = {m.measure_id: m for m in policy.measures}
    return await render(request, "share.html", {
        "record": record, "p": record.practice, "policy": policy, "choosable": CHOOSABLE,
        "labels": FIELD_LABELS, "never_shared": NEVER_SHARED, "aggregates": AGGREGATES,
        "shared_measures": shared_measures, "preview": preview,
        "preview_error": preview_error, "preview_digest": digest, "current": current,
        "up_to_date": up_to_date,
        "needs_catch_up": await store.needs_catch_up(), "error": error,
    }, status=status, title=f"Share “{record.practice.title}”")


async def share_page(request: web.Request) -> web.StreamResponse:
    return await _share_page(request)


async def share_save(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    store = store_of(request)
    record = await store.get_practice(key)
    form = await read_form(request)
    try:
        policy = policy_from_form(form, {m.id for m in record.measures})
        await store.set_share_policy(key, policy)
    except InvalidInput as exc:
        return await _share_page(request, status=400, error=exc.message)
    access_of(request).session.flash("Saved your choices. Check the preview below, then "
                                     "publish.")
    return redirect(f"/practice/{key}/share#preview")


async def publish(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    store = store_of(request)
    form = await read_form(request)
    # What was previewed: publishing signs that body or nothing.
    previewed = form.text("preview_digest", max_len=64)
    try:
        # Announced (log, live pages, peers) by the running node's feed watch.
        await store.publish_practice(key, previewed=previewed or "none")
    except PreviewChanged as exc:
        return await _share_page(request, status=409, error=exc.message)
    except (InvalidInput, NeedsCatchUp) as exc:
        return await _share_page(request, status=400, error=exc.message)
    access_of(request).session.flash("Published. The summary is signed and on its way to "
                                     "your peers.")
    return redirect(f"/practice/{key}/share")


async def retract(request: web.Request) -> web.StreamResponse:
    key = practice_key_of(request)
    store = store_of(request)
    form = await read_form(request)
    try:
        await store.retract_practice(key, reason=form.text("reason", max_len=500))
    except (InvalidInput, NeedsCatchUp, NotFound) as exc:
        if not await _has_record(request, key):
            raise
        return await _share_page(request, status=400, error=exc.message)
    access_of(request).session.flash("Retracted. A signed withdrawal replaces the summary on "
                                     "the network.")
    if not await _has_record(request, key):
        return redirect("/practices")
    return redirect(f"/practice/{key}/share")


async def _has_record(request: web.Request, key: str) -> bool:
    try:
        await store_of(request).get_practice(key)
    except NotFound:
        return False
    return True


def routes() -> list[web.RouteDef]:
    return [
        web.get("/practice/{key}/share", share_page, name="share.page"),
        web.post("/practice/{key}/share", share_save, name="share.save"),
        web.post("/practice/{key}/publish", publish, name="share.publish"),
        web.post("/practice/{key}/retract", retract, name="share.retract"),
    ]
