"""The pages' middleware: access rules, CSRF, readable errors, and response headers.

It applies the state machine described in :mod:`.auth` to every request
except the sync endpoints, which pass through untouched. Each page route
has a name ``<group>.<page>``; the group decides who may see it:

* ``setup`` — only while the node is unclaimed;
* ``login`` — always (login, logout);
* ``network`` and ``peers`` (their GET pages) — anyone, if the group made
  that page group public; else a logged-in session;
* anything else — a logged-in session.

Errors never reach the visitor as a traceback: a
:class:`protocol.HedgerowError` a handler did not catch becomes a page
saying what was wrong (400, 404 or 409), a form too large a 413 page, and
anything unexpected a plain 500 page (logged on the node).
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from protocol import HedgerowError

from ..errors import InvalidInput, LocalProblem, NotFound
from .auth import (
    COOKIE,
    CSRF_FIELD,
    UPLOAD_ROUTES,
    Access,
    Session,
    authorise_api,
    check_csrf,
    is_sync_path,
    set_cookie,
)
from .render import ACCESS, error_page, redirect, request_key
from .routes import OWN_CHECKS
from .state import PAGES

__all__ = ["guard_middleware", "on_response_prepare"]

log = logging.getLogger(__name__)

_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
_NEW_SESSION: Final = request_key("new_session", Session)
#: Content Security Policy: everything from this node, nothing inline but SVG attributes.
_CSP: Final = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
               "script-src 'self'; connect-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")


def _group(route_name: str) -> str:
    return route_name.split(".", 1)[0] if route_name else "private"


async def _refuse_login_needed(request: web.Request) -> web.StreamResponse:
    if request.method in _SAFE_METHODS:
        target = request.path_qs
        return redirect(f"/login?next={quote(target, safe='/')}" if target != "/"
                        else "/login")
    return await error_page(request, 403, "Please log in",
                            "This needs the node's admin login. Log in, then try again.",
                            back="/login")


async def _check_form_token(request: web.Request, access: Access,
                            route_name: str) -> web.StreamResponse | None:
    """None if the request may go on; else the refusal."""
    if request.method in _SAFE_METHODS or request.method == "OPTIONS":
        return None
    content_type = request.content_type
    if route_name in UPLOAD_ROUTES and content_type == "multipart/form-data":
        return None  # the handler checks the token in the first part
    if content_type in _FORM_TYPES:
        form = await request.post()
        if check_csrf(access.session, form.get(CSRF_FIELD)):
            return None
    return await error_page(
        request, 403, "This form cannot be accepted",
        "The form did not carry this session's security token (it may be old, or it did not "
        "come from this node's pages). Go back, reload the page and send it again.")


async def _dispatch(request: web.Request, handler: Handler, access: Access,
                    route_name: str) -> web.StreamResponse:
    state = access.state
    group = _group(route_name)
    if not state.claimed:
        if group != "setup" and route_name != "static":
            if request.method in _SAFE_METHODS:
                return redirect("/setup")
            return await error_page(request, 403, "This node is not set up yet",
                                    "Set the node up first.", back="/setup")
    elif group == "setup":
        return redirect("/" if access.logged_in else "/login")
    elif group != "login" and not access.logged_in and not (
            request.method in _SAFE_METHODS and group in state.public_pages):
        return await _refuse_login_needed(request)
    refusal = await _check_form_token(request, access, route_name)
    if refusal is not None:
        return refusal
    return await handler(request)


async def _handle_errors(request: web.Request, handler: Handler, access: Access,
                         route_name: str) -> web.StreamResponse:
    try:
        return await _dispatch(request, handler, access, route_name)
    except web.HTTPRequestEntityTooLarge:
        return await error_page(request, 413, "Too much to send",
                                "What you sent is larger than this page accepts. Shorten the "
                                "text (or choose a smaller file) and try again.")
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return await error_page(request, exc.status, "Not found" if exc.status == 404
                                    else "Not allowed",
                                    "There is no such page on this node." if exc.status == 404
                                    else "This page cannot be used that way.", back="/")
        raise
    except InvalidInput as exc:
        return await error_page(request, 400, "That cannot be done", exc.message)
    except NotFound as exc:
        return await error_page(request, 404, "Not found", exc.message, back="/")
    except LocalProblem as exc:
        return await error_page(request, 409, "That cannot be done now", exc.message)
    except HedgerowError as exc:
        return await error_page(request, 400, "That cannot be done", exc.message)
    except ConnectionResetError:
        raise  # the browser went away: nobody to tell
    except Exception:
        log.exception("a page failed: %s %s", request.method, request.path)
        return await error_page(request, 500, "Something went wrong on this node",
                                "The node could not finish this. It is written in the node's "
                                "log; try again, and if it keeps happening, tell whoever looks "
                                "after the node.")


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if is_sync_path(path) or path in OWN_CHECKS or PAGES not in request.app:
        return await handler(request)
    pages = request.app[PAGES]
    if path.startswith("/api/"):
        await authorise_api(request)
        return await handler(request)
    route = request.match_info.route
    route_name = route.name or ""
    if route_name == "static":
        return await handler(request)
    state = pages.admin.read()
    session = pages.sessions.find(request.cookies.get(COOKIE), state.epoch)
    if session is None:
        session = pages.sessions.anonymous()
        request[_NEW_SESSION] = session
    access = Access(session, session.logged_in, state)
    request[ACCESS] = access
    return await _handle_errors(request, handler, access, route_name)


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers for every page: no framing, no sniffing, our own assets only; the cookie."""
    if is_sync_path(request.path) or PAGES not in request.app:
        return
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    access = request.get(ACCESS)
    new = request.get(_NEW_SESSION)
    if isinstance(access, Access) and (new is not None or access.session.token !=
                                       request.cookies.get(COOKIE)):
        set_cookie(response, request, access.session)
