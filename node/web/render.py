"""Rendering pages: the template environment, the context every page gets, and errors.

Templates are Jinja2 files in ``node/web/templates`` (a package loader, so
they ship inside the wheel), autoescaped, with ``StrictUndefined`` so a
mistake in a template fails loudly in the tests instead of printing
nothing. :func:`render` adds what every page needs: the session's CSRF
token, whether the visitor is logged in, messages left for it, and the
organisation's name. :func:`error_page` is how every refusal looks.

The environment is made when the first page is rendered (:func:`environment`),
not when the node starts: a node that only syncs never loads Jinja2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from protocol import id_to_text, short_id

from ..timestamps import utc_datetime
from .auth import Access, safe_next
from .state import PAGES

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "ACCESS",
    "access_of",
    "environment",
    "error_page",
    "json_text",
    "make_environment",
    "redirect",
    "render",
]

_REQUEST_KEY: Any = getattr(web, "RequestKey", None)  # aiohttp 3.14+; a plain str before


def request_key(name: str, kind: type) -> Any:
    """A typed key for request storage where aiohttp has them (3.14), else a string."""
    return _REQUEST_KEY(name, kind) if _REQUEST_KEY is not None else f"hedgerow.{name}"


#: Where the guard middleware leaves the request's :class:`Access`.
ACCESS: Final = request_key("access", Access)

#: The navigation, in order: (path, label, page group for public access).
NAVIGATION: Final = (
    ("/", "Home", "private"),
    ("/practices", "Our practices", "private"),
    ("/network", "Network", "network"),
    ("/peers", "Peers", "peers"),
    ("/settings", "Settings", "private"),
)


def access_of(request: web.Request) -> Access:
    access = request.get(ACCESS)
    if not isinstance(access, Access):
        raise RuntimeError("the pages' guard middleware did not run for this request")
    return access


def when(ms: int | None) -> str:
    """A moment for people: ``2024-05-01 14:03 UTC``; a dash for never."""
    if not ms:
        return "never"
    return utc_datetime(ms).strftime("%Y-%m-%d %H:%M UTC")


def node_text(node_id: bytes | str | None) -> str:
    if node_id is None:
        return "unknown"
    return node_id if isinstance(node_id, str) else id_to_text(node_id)


def node_short(node_id: bytes | str | None) -> str:
    if node_id is None:
        return "?"
    return node_id[:7] if isinstance(node_id, str) else short_id(node_id)


def size_text(count: int | None) -> str:
    value = float(count or 0)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\Z")
_WEB: Final = re.compile(r"https?://[^\s]+\Z", re.IGNORECASE)


def contact_href(contact: str | None) -> str:
    """Where a group's published contact leads: ``mailto:`` for an email, else the address.

    The protocol only lets an email or an http(s) address through; anything
    else gets no link at all (an empty string).
    """
    if not contact:
        return ""
    if _WEB.match(contact):
        return contact
    if _EMAIL.match(contact):
        return "mailto:" + contact
    return ""


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 practice``, ``3 practices`` (``words``: the plural when it is not word + s)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return id_to_text(value) if len(value) == 32 else value.hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """Pretty JSON for people (node ids in their text form)."""
    return json.dumps(_jsonable(value), indent=2, ensure_ascii=False, sort_keys=True)


def make_environment() -> jinja2.Environment:
    import jinja2  # here, not at the top: only a node that renders a page needs it

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("node.web", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, node_text=node_text, node_short=node_short,
                       size=size_text, json_text=json_text, plural=plural,
                       contact_href=contact_href)
    return env


def environment(app: web.Application) -> jinja2.Environment:
    """The pages' templates environment, made the first time a page is rendered."""
    pages = app[PAGES]
    if pages.templates is None:
        pages.templates = make_environment()
    return pages.templates


async def _organisation_name(request: web.Request) -> str:
    pages = request.app[PAGES]
    try:
        return (await pages.service.store.get_organisation()).name
    except Exception:  # a page must render even if the database has a problem
        return ""


async def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None,
                 *, status: int = 200, title: str | None = None) -> web.Response:
    """Render ``template`` with the page context; ``title`` is the page's one ``h1``."""
    access = access_of(request)
    state = access.state
    navigation = [(path, label) for path, label, group in NAVIGATION
                  if access.logged_in or group in state.public_pages]
    base: dict[str, Any] = {
        "csrf_token": access.session.csrf,
        "logged_in": access.logged_in,
        "claimed": state.claimed,
        "flashes": access.session.take_flashes(),
        "navigation": navigation,
        "current_path": request.path,
        "organisation_name": await _organisation_name(request) if state.claimed else "",
        "title": title or "",
        "error": None,
        "error_field": None,
        "values": {},
    }
    base.update(context or {})
    page = environment(request.app).get_template(template)
    response = web.Response(status=status, content_type="text/html", charset="utf-8")
    response.text = page.render(base)
    return response


def redirect(location: str, *, status: int = 303) -> web.Response:
    """Send the browser on (303: after a form, GET the next page)."""
    return web.Response(status=status, headers={"Location": location})


async def error_page(request: web.Request, status: int, heading: str, message: str,
                     *, back: str | None = None) -> web.Response:
    """A page that says plainly what went wrong and where to go next."""
    if ACCESS not in request:
        return web.Response(status=status, text=f"{heading}\n\n{message}\n",
                            content_type="text/plain")
    return await render(request, "error.html",
                        {"message": message, "back": safe_next(back) if back else None},
                        status=status, title=heading)
