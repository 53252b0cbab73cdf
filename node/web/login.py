"""Logging in and out, and the home page a logged-in group lands on.

The home page shows, besides the node's state, where the group's ideas
travelled: which of its practices other groups adapted or credited, with
those new since the page last showed them highlighted
(:func:`node.home.ideas_travelled`).

The rules (rate limit, fresh token on login, what a wrong password tells)
are in :mod:`.auth`. Checking a password costs about 50 ms of scrypt, so
it runs on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import math

from aiohttp import web

from ..front import client_of
from ..home import ideas_travelled, node_status
from .admin import verify_password
from .auth import Access, Session, safe_next
from .forms import read_form
from .health import health_summary
from .render import ACCESS, access_of, redirect, render
from .state import PAGES

__all__ = ["ADMIN_ACCOUNT", "routes", "switch_session"]

#: The one account a node has (login throttling counts failures per account).
ADMIN_ACCOUNT = "admin"


def switch_session(request: web.Request, session: Session) -> None:
    """Use ``session`` from now on in this request (the response carries its cookie)."""
    old = access_of(request)
    request[ACCESS] = Access(session, session.logged_in, old.state)


async def login_form(request: web.Request) -> web.StreamResponse:
    if access_of(request).logged_in:
        return redirect(safe_next(request.query.get("next")))
    return await render(request, "login.html",
                        {"next": safe_next(request.query.get("next"))}, title="Log in")


async def login(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    access = access_of(request)
    form = await read_form(request)
    target = safe_next(form.text("next", max_len=500))
    wait = pages.limiter.wait_for(client_of(request).address)
    if wait > 0:
        return await render(request, "login.html", {
            "next": target,
            "error": f"Too many attempts. Wait {math.ceil(wait)} seconds, then try again."},
            status=429, title="Log in")
    password = form.password("password")
    # Slowed down, never refused, after failures from anywhere (auth.LoginLimiter).
    await asyncio.sleep(pages.limiter.delay_for(ADMIN_ACCOUNT))
    state = pages.admin.read()
    async with pages.limiter.checking:
        right = bool(password) and await asyncio.to_thread(verify_password, state.password,
                                                           password)
    if not right:
        pages.limiter.failed(ADMIN_ACCOUNT)
        return await render(request, "login.html", {
            "next": target, "error": "That password is not right.",
            "error_field": "password"}, status=400, title="Log in")
    session = pages.sessions.log_in(access.session, state.epoch)
    switch_session(request, session)
    session.flash("You are logged in.")
    return redirect(target)


async def logout(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    access = access_of(request)
    pages.sessions.drop(access.session.token)
    fresh = pages.sessions.anonymous()
    switch_session(request, fresh)
    fresh.flash("You are logged out.")
    return redirect("/login")  # with the fresh anonymous session's cookie


async def home(request: web.Request) -> web.StreamResponse:
    store = request.app[PAGES].service.store
    status = await node_status(store)
    organisation = await store.get_organisation()
    profile = await store.current_entry(store.node_id, "profile", "profile")
    health = await health_summary(request.app[PAGES].service)
    # Where the group's ideas travelled; those new since this page last showed them marked.
    travelled = await ideas_travelled(store, "home")
    return await render(request, "home.html", {"status": status, "org": organisation,
                                               "profile": profile, "health": health,
                                               "travelled": travelled},
                        title=organisation.name or "Your node")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/login", login_form, name="login.form"),
        web.post("/login", login, name="login.submit"),
        web.post("/logout", logout, name="login.logout"),
        web.get("/", home, name="private.home"),
    ]
