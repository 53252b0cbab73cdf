"""Who may see and do what on the node's pages: sessions, login, CSRF, public pages.

The rules, as a state machine (DESIGN.md privacy rule 4)
--------------------------------------------------------

The node is **unclaimed** while ``admin.json`` holds no password
(:mod:`.admin`), and **claimed** after.

Unclaimed:

1. Every page (anything but the sync endpoints ``/sync/v1/…`` and
   ``/.well-known/hedgerow``, and ``/static/…``) redirects to ``/setup``;
   a form sent anywhere else is refused (403); the JSON API answers 503.
2. ``POST /setup`` needs the one-time setup code (printed by ``hedgerow
   up``, shown by ``hedgerow setup-code``) besides a CSRF token; attempts
   are rate-limited per IP like logins. A correct code sets the password,
   which spends the code; the node is then claimed and the person who set
   it is logged in.

Claimed:

3. ``/setup`` redirects to ``/login`` (or home, when logged in).
4. A **public** page — a read-only page of a group the node chose to
   show (:data:`.admin.PUBLIC_PAGE_GROUPS`) — is served to anyone, for
   ``GET`` and ``HEAD`` only.
5. Every other page needs a **logged-in session**: without one, ``GET``
   redirects to ``/login?next=…`` and anything else gets 403; the JSON API
   (``/api/…``) answers 401 unless ``api`` is public.
6. ``POST /login`` is rate-limited per client address (5 at once, then one
   every 10 seconds: 429), slowed down per account after repeated failures
   from anywhere (a delay of up to 8 s, never a lock-out) and limited to two
   password checks at a time (scrypt costs CPU): :class:`LoginLimiter`.
   Behind a reverse proxy the client address is believed from
   ``X-Forwarded-For`` only when the proxy is one of ``trusted_proxies``
   (:mod:`node.front`), so one visitor's failures never hold back another.
   A right password makes a **new** session token (never the one the visitor had,
   so a planted cookie cannot be promoted); a wrong one says so, and
   nothing else.
7. ``hedgerow reset-password`` (on the machine) erases the password, makes
   a new setup code and bumps the epoch: every session made under an older
   epoch is void — back to *unclaimed*.

Everywhere:

* A **session** is a random 256-bit token in the cookie ``hedgerow_session``
  (``HttpOnly``, ``SameSite=Strict``, ``Path=/``, ``Secure`` over HTTPS —
  directly, or through a trusted proxy that says so, when HSTS is sent too),
  mapped in memory to its CSRF token, epoch and times. A restart logs
  everybody out. Logged-in sessions end after 12 idle hours or 7 days;
  anonymous ones (which exist only to carry a CSRF token for the login and
  setup forms) after 2 idle hours. Both maps are bounded.
* **CSRF**: every form carries the session's token in a hidden field
  ``csrf_token``; every ``POST`` to a page is checked (constant time)
  before its handler runs, and refused with 403 if the token is missing or
  wrong. Only ``multipart/form-data`` uploads (:data:`UPLOAD_ROUTES`) are
  checked by their handler instead, from the form's first part, so the
  file is streamed rather than read here.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Final

from aiohttp import web

from ..front import client_of
from ..sync.limits import RateLimiter
from .admin import AdminState
from .routes import is_sync_path

__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "UPLOAD_ROUTES",
    "Access",
    "LoginLimiter",
    "Session",
    "Sessions",
    "authorise_api",
    "authorise_metrics",
    "grant_session",
    "is_sync_path",
    "safe_next",
]

COOKIE: Final = "hedgerow_session"
CSRF_FIELD: Final = "csrf_token"
#: Routes whose multipart form is checked for CSRF by the handler (first part).
UPLOAD_ROUTES: Final = frozenset({"settings.restore", "setup.submit"})
LOGGED_IN_IDLE_S: Final = 12 * 3600
LOGGED_IN_MAX_S: Final = 7 * 86400
ANONYMOUS_IDLE_S: Final = 2 * 3600
MAX_LOGGED_IN: Final = 200
MAX_ANONYMOUS: Final = 5000
#: Login throttling per account (:class:`LoginLimiter`).
FREE_FAILURES: Final = 5
MAX_DELAY_S: Final = 8.0
FORGET_FAILURE_S: Final = 120.0
CONCURRENT_CHECKS: Final = 2


@dataclass(slots=True)
class Session:
    token: str
    csrf: str
    logged_in: bool
    epoch: int
    created: float
    last_seen: float
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def flash(self, text: str, kind: str = "done") -> None:
        """A message for the next page this session sees (kind: done, error)."""
        if len(self.flashes) < 5:
            self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        out, self.flashes = self.flashes, []
        return out


class Sessions:
    """Sessions in memory, by token: logged-in and anonymous kept apart, both bounded."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logged_in: OrderedDict[str, Session] = OrderedDict()
        self._anonymous: OrderedDict[str, Session] = OrderedDict()

    def _new(self, *, logged_in: bool, epoch: int) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), logged_in,
                          epoch, now, now)
        table, limit = ((self._logged_in, MAX_LOGGED_IN) if logged_in
                        else (self._anonymous, MAX_ANONYMOUS))
        table[session.token] = session
        while len(table) > limit:
            table.popitem(last=False)
        return session

    def anonymous(self) -> Session:
        return self._new(logged_in=False, epoch=0)

    def log_in(self, previous: Session | None, epoch: int) -> Session:
        """A fresh logged-in session (the previous token is dropped, never promoted)."""
        if previous is not None:
            self.drop(previous.token)
        session = self._new(logged_in=True, epoch=epoch)
        if previous is not None:
            session.flashes = previous.flashes
        return session

    def drop(self, token: str) -> None:
        self._logged_in.pop(token, None)
        self._anonymous.pop(token, None)

    def drop_all(self) -> None:
        self._logged_in.clear()

    def find(self, token: str | None, epoch: int) -> Session | None:
        """The live session for ``token``, or None (expired or voided ones are dropped)."""
        if not token or len(token) > 100:
            return None
        now = self._clock()
        session = self._logged_in.get(token)
        if session is not None:
            if (session.epoch != epoch or now - session.last_seen > LOGGED_IN_IDLE_S
                    or now - session.created > LOGGED_IN_MAX_S):
                self.drop(token)
                return None
            self._logged_in.move_to_end(token)
        else:
            session = self._anonymous.get(token)
            if session is None:
                return None
            if now - session.last_seen > ANONYMOUS_IDLE_S:
                self.drop(token)
                return None
            self._anonymous.move_to_end(token)
        session.last_seen = now
        return session

    def count(self) -> tuple[int, int]:
        return len(self._logged_in), len(self._anonymous)


class LoginLimiter:
    """Password and setup-code attempts: held back per address, slowed down per account.

    * **Per client address** (the visitor's own, through ``trusted_proxies``
      behind a proxy): 5 attempts at once, then one every 10 seconds; more is
      refused (429, "wait N seconds"). This holds back only that address.
    * **Per account** (the admin password; the setup code is one too): every
      failed attempt, from anywhere, adds to a delay that each later attempt
      waits before its password is checked — none for the first
      :data:`FREE_FAILURES`, then 1 s, doubling up to :data:`MAX_DELAY_S`;
      one failure is forgotten every :data:`FORGET_FAILURE_S` seconds. A delay,
      never a refusal: however many wrong guesses a stranger makes, whoever
      holds the password still gets in, at worst :data:`MAX_DELAY_S` later,
      while guessing from many addresses is slowed to one per delay each.
    * **Node-wide**: at most :data:`CONCURRENT_CHECKS` password checks (scrypt,
      about 50 ms of CPU each) run at once; the others wait their turn.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._per_ip = RateLimiter(rate=0.1, burst=5, max_keys=10_000)
        self._failures: dict[str, tuple[float, float]] = {}
        self.checking = asyncio.Semaphore(CONCURRENT_CHECKS)

    def wait_for(self, ip: str) -> float:
        """Seconds this address must wait (0.0: go ahead, and the attempt is counted)."""
        return self._per_ip.allow(ip, self._clock())

    def _count(self, account: str, now: float) -> float:
        count, at = self._failures.get(account, (0.0, now))
        return max(0.0, count - (now - at) / FORGET_FAILURE_S)

    def delay_for(self, account: str) -> float:
        """Seconds an attempt on ``account`` waits before its password is checked."""
        over = self._count(account, self._clock()) - FREE_FAILURES
        if over < 1:
            return 0.0
        return float(min(MAX_DELAY_S, 2 ** (over - 1)))

    def failed(self, account: str) -> None:
        """Count a wrong password (or setup code) for ``account``."""
        now = self._clock()
        self._failures[account] = (self._count(account, now) + 1, now)


@dataclass(frozen=True, slots=True)
class Access:
    """What a request may do: its session, and whether it is logged in."""

    session: Session
    logged_in: bool
    state: AdminState


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this node only, never another site."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or len(target) > 500 or any(ord(c) < 32 for c in target)):
        return "/"
    return target


def set_cookie(response: web.StreamResponse, request: web.Request, session: Session) -> None:
    """Add the session cookie as a header (works while the response is being prepared)."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[COOKIE] = session.token
    morsel = cookie[COOKIE]
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    morsel["path"] = "/"
    if client_of(request).https:
        morsel["secure"] = True
    response.headers.add("Set-Cookie", morsel.OutputString())


def check_csrf(session: Session, token: object) -> bool:
    return isinstance(token, str) and hmac.compare_digest(token.encode(), session.csrf.encode())


# --- the JSON API ----------------------------------------------------------------------

_REFUSAL_CODES: Final = {401: "not_authorised", 403: "forbidden", 415: "unsupported_media_type",
                          503: "not_set_up"}


def api_refusal(status: type[web.HTTPException], message: str) -> web.HTTPException:
    """An HTTP refusal with the API's error body (the ``Error`` schema: error, field, code)."""
    code = _REFUSAL_CODES.get(status.status_code, "refused")
    return status(text=json.dumps({"error": message, "field": None, "code": code}),
                  content_type="application/json")


_PUBLIC_API_PREFIXES: Final = ("/api/v1/views/", "/api/v1/openapi.json")
_API_BODY_TYPES: Final = ("application/json", "multipart/form-data",
                          "application/octet-stream", "application/vnd.sqlite3")


async def authorise_api(request: web.Request) -> None:
    """Refuse an API request that neither an API token nor the admin login allows.

    * ``Authorization: Bearer hrt_…`` — an API token (:mod:`.admin`): a
      ``read`` token may GET, a ``write`` token may do everything;
    * else a logged-in session (the pages' cookie); a request that changes
      something must then carry a JSON (or file upload) body, which no form
      on another site can send without the browser asking first;
    * the network views (``/api/v1/views/…``) to anyone, if the group made
      the ``api`` page group public (GET only).

    For :func:`node.web.api._authorise`. A no-op when the pages are not installed
    on this app (the API's own unit tests); the pages' middleware makes the
    same check for every ``/api/`` path anyway.
    """
    from .state import PAGES  # the pages' state module imports this one

    if PAGES not in request.app:
        return
    pages = request.app[PAGES]
    state = pages.admin.read()
    reading = request.method in ("GET", "HEAD")
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, presented = header.partition(" ")
        token = state.token_for(presented.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise api_refusal(web.HTTPUnauthorized, "this API token is not valid (revoked, or "
                               "mistyped); the admin makes tokens on the Settings page")
        if token.scope != "write" and not reading:
            raise api_refusal(web.HTTPForbidden, "this API token may only read; make a write "
                               "token on the Settings page for this")
        return
    if not state.claimed:
        raise api_refusal(web.HTTPServiceUnavailable,
                           "this node is not set up yet: open its pages to set it up")
    if reading and "api" in state.public_pages and request.path.startswith(
            _PUBLIC_API_PREFIXES):
        return
    session = pages.sessions.find(request.cookies.get(COOKIE), state.epoch)
    if session is None or not session.logged_in:
        raise api_refusal(web.HTTPUnauthorized, "log in on this node's pages first, or send "
                           "an API token (the API needs the admin login)")
    if not reading and request.content_type not in _API_BODY_TYPES:
        raise api_refusal(web.HTTPUnsupportedMediaType,
                           "send the request body as application/json")


async def authorise_metrics(request: web.Request) -> None:
    """``/metrics``: any valid API token, or the admin login (Prometheus sends a token)."""
    from .state import PAGES

    if PAGES not in request.app:
        return
    pages = request.app[PAGES]
    state = pages.admin.read()
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() == "bearer" and state.token_for(presented.strip()) is not None:
            return
        raise api_refusal(web.HTTPUnauthorized, "this API token is not valid")
    session = pages.sessions.find(request.cookies.get(COOKIE), state.epoch)
    if session is None or not session.logged_in:
        raise api_refusal(web.HTTPUnauthorized, "the metrics need an API token "
                           "(Authorization: Bearer …) or the admin login")


def grant_session(app: web.Application) -> tuple[str, str]:
    """A logged-in session for tools and tests: the cookie's name and value."""
    from .state import PAGES

    pages = app[PAGES]
    session = pages.sessions.log_in(None, pages.admin.read().epoch)
    return COOKIE, session.token
