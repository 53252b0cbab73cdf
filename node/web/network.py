"""Network: what this node can see of the whole network, from the signed summaries it holds.

Every figure comes from :func:`node.views.run_view` — the same views, with
the same parameters and the same refusals, as the JSON API and the CLI:

* ``/network`` — themes, levels and areas as SVG bar charts, each with its
  table, and a summary of health;
* ``/network/directory`` — search and filters; the list refreshes by
  itself when entries arrive (:mod:`.live` and ``static/live.js``);
* ``/network/practice?node=…&key=…`` — one practice: its summary, its
  lineage as a layered tree (and as a nested list), credits received, the
  practices of other groups most like it ("others on the same journey");
  a logged-in group can adapt it or credit its authors here;
* ``/network/similar?node=…&key=…`` — all the practices like it, page by page;
* ``/network/introductions`` — introductions a convenor can make: groups on
  the same theme with nothing between them yet, by theme, with filters;
* ``/network/spread`` — practices that started a lineage, by reach;
* ``/network/lineage?node=…`` — credits given and received by a node
  (this one by default);
* ``/network/health`` — how complete and fresh this node's picture is.

Groups appear with the contact they publish ("get in touch") to a logged-in
visitor only: a page the group made public does not pass other groups'
addresses on to whoever finds it.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from protocol import HedgerowError, credit_key, id_from_text, id_to_text

from ..errors import InvalidInput, LocalProblem, NotFound
from ..store.input_checks import check_practice_key
from ..store.sharing import SharePolicy
from ..views import FILTER_NAMES, run_view
from ..views.params import PARAMS
from ..views.ties import contacts_by_id
from .charts import bar_chart, lineage_tree
from .forms import read_form
from .practices import store_of
from .render import access_of, redirect, render

__all__ = ["routes"]

DIRECTORY_PARAMS: Final = ("q", "kind", *FILTER_NAMES)
INTRODUCTION_PARAMS: Final = ("theme", "level", "area")
PAGE_SIZE: Final = 25
#: Practices like this one on its page; the rest on /network/similar, this many a page.
SIMILAR_ON_PRACTICE: Final = 5
SIMILAR_PAGE: Final = 10
#: Themes on a page of introductions, suggestions for each (or, for one theme, a page).
INTRODUCTION_THEMES: Final = 10
INTRODUCTIONS_PER_THEME: Final = 3
#: Groups of a lineage whose contacts a practice's page looks up (a big lineage has thousands).
MAX_TREE_CONTACTS: Final = 500


def _tree_nodes(tree: dict[str, Any], most: int) -> set[str]:
    """The node ids in a lineage tree, breadth first, at most ``most`` of them."""
    found: set[str] = set()
    level = [tree]
    while level and len(found) < most:
        found.update(vertex["node"] for vertex in level)
        level = [child for vertex in level for child in vertex["children"]]
    return found


async def _contacts(request: web.Request, ids: Any) -> dict[str, str]:
    """Published contacts of these nodes (id text), for "get in touch" — logged in only."""
    if not access_of(request).logged_in:
        return {}
    return await store_of(request).db.read(contacts_by_id, list(ids))


def _query(request: web.Request, names: tuple[str, ...]) -> dict[str, str | int | None]:
    raw: dict[str, str | int | None] = {}
    for name in names:
        value = request.query.get(name, "").strip()
        if value:
            raw[name] = value[:300]
    return raw


def _offset(request: web.Request) -> int:
    text = request.query.get("offset", "0").strip()
    if not text.isdigit() or len(text) > 7:
        raise InvalidInput("offset: must be a whole number", field="offset")
    return int(text)


def _node_param(text: str, field: str = "node") -> bytes:
    try:
        return id_from_text(text.strip())
    except HedgerowError as exc:
        raise InvalidInput(f"{field}: {exc.message}", field=field) from None


async def overview(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    counts = {name: await run_view(store, name, {}) for name in ("themes", "levels", "areas")}
    charts = {
        "themes": bar_chart([(r["theme"], r["practices"]) for r in counts["themes"]["rows"]],
                            title="Practices per theme",
                            description="How many practice summaries name each theme."),
        "levels": bar_chart([(r["level"] or "not stated", r["practices"])
                             for r in counts["levels"]["rows"]],
                            title="Practices per level",
                            description="How many practices work at each level, from "
                                        "neighbourhood to national."),
        "areas": bar_chart([(r["area"] or "not stated", r["practices"])
                            for r in counts["areas"]["rows"]],
                           title="Practices per area",
                           description="How many practices each area has, at the grain "
                                       "groups share it."),
    }
    health = await run_view(store, "health", {})
    return await render(request, "network.html", {"counts": counts, "charts": charts,
                                                  "health": health["figures"]},
                        title="The network")


async def _directory_context(request: web.Request) -> dict[str, Any]:
    store = store_of(request)
    raw = _query(request, DIRECTORY_PARAMS)
    error = None
    offset = 0
    try:
        offset = _offset(request)
        result = await run_view(store, "directory",
                                {**raw, "limit": PAGE_SIZE, "offset": offset})
    except InvalidInput as exc:
        error = exc.message
        result = await run_view(store, "directory", {"limit": PAGE_SIZE})
    return {"result": result, "params": raw, "error": error, "offset": offset,
            "page_size": PAGE_SIZE, "filters": FILTER_NAMES,
            "choices": {name: PARAMS[name].choices for name in DIRECTORY_PARAMS},
            "me": store.key.node_id,
            "contacts": await _contacts(request, (r["node"] for r in result["results"]))}


async def directory(request: web.Request) -> web.StreamResponse:
    context = await _directory_context(request)
    status = 400 if context["error"] else 200
    if request.query.get("fragment") == "1":
        return await render(request, "directory_results.html", context, status=status)
    return await render(request, "directory.html", context, status=status,
                        title="Directory")


async def _practice_context(request: web.Request, node: str, key: str) -> dict[str, Any]:
    store = store_of(request)
    author = _node_param(node)
    key = check_practice_key(key.strip())
    spread = await run_view(store, "spread", {"node": id_to_text(author), "key": key})
    held = await store.current_entry(author, "practice", key)
    body = held.entry.body if held is not None else {}
    mine = author == store.node_id
    credited = None
    if not mine:
        # The slot holds the credit, or its withdrawal.
        credited = await store.current_entry(store.node_id, "credit", credit_key(author, key))
    own = await store.list_practices() if access_of(request).logged_in and not mine else []
    tree = lineage_tree(spread["tree"], title=f"Lineage of {spread['practice']['title']}",
                        description="Each box is a practice or a crediting group; lines go "
                                    "from a practice to those adapted from it.",
                        highlight=(id_to_text(author), key))
    similar = await run_view(store, "similar", {"node": id_to_text(author), "key": key,
                                                "limit": SIMILAR_ON_PRACTICE})
    contacts = await _contacts(request, [id_to_text(author),
                                         *(c["node"] for c in spread["credits"]),
                                         *_tree_nodes(spread["tree"], MAX_TREE_CONTACTS)])
    return {"spread": spread, "body": body, "tree_svg": tree, "mine": mine,
            "credited": credited, "own_practices": own, "node": id_to_text(author),
            "key": key, "error": None, "values": {}, "similar": similar,
            "contacts": contacts}


async def practice(request: web.Request) -> web.StreamResponse:
    node, key = request.query.get("node", ""), request.query.get("key", "")
    if not node or not key:
        raise InvalidInput("a practice is named by its node and key (from the directory)",
                           field="node")
    context = await _practice_context(request, node, key)
    return await render(request, "network_practice.html", context,
                        title=context["spread"]["practice"]["title"])


async def _practice_failed(request: web.Request, node: str, key: str,
                           exc: HedgerowError, values: dict[str, str]) -> web.Response:
    try:
        context = await _practice_context(request, node, key)
    except (InvalidInput, NotFound):
        raise exc from None
    context.update(error=exc.message, error_field=getattr(exc, "field", None), values=values)
    return await render(request, "network_practice.html", context, status=400,
                        title=context["spread"]["practice"]["title"])


def _back_to(node: str, key: str) -> str:
    return "/network/practice?" + urlencode({"node": node, "key": key})


async def adapt(request: web.Request) -> web.StreamResponse:
    """Record that one of our practices (or a new one) is adapted from a network practice."""
    store = store_of(request)
    form = await read_form(request)
    node, key = form.text("node", max_len=200), form.text("key", max_len=100)
    values = form.values(("target", "title"))
    try:
        author = _node_param(node)
        key = check_practice_key(key)
        if author == store.node_id:
            raise InvalidInput("that practice is one of ours already", field="node")
        target = form.text("target", required=True, max_len=100)
        if target == "new":
            title = form.text("title", required=True, max_len=4000)
            created = await store.create_practice({"title": title})
            target = created.key
            # Generous attribution by default: a practice made by adapting another
            # shares where it came from (the group can change this on the Share page).
            await store.set_share_policy(target, SharePolicy.of({"adapted_from"}))
        await store.add_adaptation(target, author, key, note=form.text("note"))
    except InvalidInput as exc:
        return await _practice_failed(request, node, key, exc, values)
    access_of(request).session.flash(
        "Recorded where your practice came from. It is private until you publish it; its "
        "summary will name the original.")
    return redirect(f"/practice/{target}")


async def credit(request: web.Request) -> web.StreamResponse:
    """Publish a signed thank-you: "we learned this practice from that node"."""
    store = store_of(request)
    form = await read_form(request)
    node, key = form.text("node", max_len=200), form.text("key", max_len=100)
    try:
        author = _node_param(node)
        key = check_practice_key(key)
        await store.publish_credit(author, key, note=form.text("credit_note", max_len=500))
    except (InvalidInput, LocalProblem, NotFound) as exc:
        return await _practice_failed(request, node, key, exc, form.values(("credit_note",)))
    access_of(request).session.flash("Thank you published: your credit is signed and will "
                                     "travel with the network.")
    return redirect(_back_to(id_to_text(author), key))


async def credit_withdraw(request: web.Request) -> web.StreamResponse:
    """Withdraw a credit this node gave: a signed withdrawal that spreads like the credit."""
    store = store_of(request)
    form = await read_form(request)
    node, key = form.text("node", max_len=200), form.text("key", max_len=100)
    back = form.text("back", max_len=20)
    try:
        author = _node_param(node)
        key = check_practice_key(key)
        await store.withdraw_credit(author, key, reason=form.text("reason", max_len=500))
    except (InvalidInput, LocalProblem) as exc:
        if back == "lineage":
            access_of(request).session.flash(exc.message, "error")
            return redirect("/network/lineage")
        return await _practice_failed(request, node, key, exc, {})
    access_of(request).session.flash("Credit withdrawn: a signed withdrawal replaces it here "
                                     "and, as it spreads, on every node.")
    return redirect("/network/lineage" if back == "lineage" else
                    _back_to(id_to_text(author), key))


async def similar(request: web.Request) -> web.StreamResponse:
    """Every practice of other groups like this one, most alike first, a page at a time."""
    node, key = request.query.get("node", ""), request.query.get("key", "")
    if not node or not key:
        raise InvalidInput("a practice is named by its node and key (from the directory)",
                           field="node")
    offset = _offset(request)
    result = await run_view(store_of(request), "similar", {
        "node": node[:200], "key": key[:100], "limit": SIMILAR_PAGE, "offset": offset})
    return await render(request, "similar.html", {
        "similar": result, "offset": offset, "page_size": SIMILAR_PAGE,
        "node": result["practice"]["node"], "key": result["practice"]["key"]},
        title=f"Others on the same journey as {result['practice']['title']}")


async def introductions(request: web.Request) -> web.StreamResponse:
    """Introductions a convenor can make, by theme; filters by theme, level and area."""
    store = store_of(request)
    raw = _query(request, INTRODUCTION_PARAMS)
    error = None
    offset = 0
    try:
        offset = _offset(request)
        result = await run_view(store, "introductions", {
            **raw, "per_theme": INTRODUCTIONS_PER_THEME, "limit": INTRODUCTION_THEMES,
            "offset": offset})
    except InvalidInput as exc:
        error = exc.message
        result = await run_view(store, "introductions", {
            "per_theme": INTRODUCTIONS_PER_THEME, "limit": INTRODUCTION_THEMES})
    one_theme = "theme" in result["params"]
    shown = len(result["themes"][0]["suggestions"]) if one_theme and result["themes"] \
        else len(result["themes"])
    more = result["themes"][0]["more"] if one_theme and result["themes"] \
        else offset + INTRODUCTION_THEMES < result["total"]
    return await render(request, "introductions.html", {
        "result": result, "params": raw, "error": error, "offset": offset,
        "page_size": INTRODUCTION_THEMES, "one_theme": one_theme, "shown": shown,
        "more": more, "levels": PARAMS["level"].choices},
        status=400 if error else 200, title="Introductions to make")


async def roots(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    offset = _offset(request)
    result = await run_view(store, "spread", {"limit": PAGE_SIZE, "offset": offset})
    return await render(request, "spread.html", {
        "result": result, "offset": offset, "page_size": PAGE_SIZE,
        "contacts": await _contacts(request, (r["node"] for r in result["roots"]))},
        title="How practices spread")


async def lineage(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    node = request.query.get("node", "").strip()
    raw: dict[str, str | int | None] = {"node": node} if node else {}
    try:
        result = await run_view(store, "lineage", raw)
    except NotFound:
        if node:
            raise
        result = None  # this node has no entries yet
    others = [o["node"] for d in ("learned_from", "learned_by") for o in result[d]] \
        if result is not None else []
    return await render(request, "lineage.html",
                        {"result": result, "me": store.key.node_id,
                         "is_me": result is None or result["params"]["node"] == store.key.node_id,
                         "contacts": await _contacts(request, others)},
                        title="Credits given and received")


async def health(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    result = await run_view(store, "health", {})
    forks = await store.forks()
    return await render(request, "health.html", {"result": result, "forks": forks},
                        title="Network health")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/network", overview, name="network.overview"),
        web.get("/network/directory", directory, name="network.directory"),
        web.get("/network/practice", practice, name="network.practice"),
        web.get("/network/similar", similar, name="network.similar"),
        web.get("/network/introductions", introductions, name="network.introductions"),
        web.get("/network/spread", roots, name="network.spread"),
        web.get("/network/lineage", lineage, name="network.lineage"),
        web.get("/network/health", health, name="network.health"),
        web.post("/network/adapt", adapt, name="private.adapt"),
        web.post("/network/credit", credit, name="private.credit"),
        web.post("/network/credit/withdraw", credit_withdraw, name="private.credit_withdraw"),
    ]
