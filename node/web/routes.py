"""The pages' and the API's routes, mounted without loading them: each module on first use.

A node spends most of its life syncing, with nobody looking at its pages.
The page and API modules, and what they import (the network views,
Jinja2), are a good part of an idle node's memory. So :data:`PAGE_ROUTES`
lists every page route here — method, path, name and the module in
``node/web`` that serves it — and :data:`API_ROUTES` every operation of the
JSON API (node/web/api_ops.py); each is mounted with a handler that imports
its module on the first request to that route and then hands every request
to the handler the module itself declares for that method and path (its
``routes()``, or its ``@operation``). The names, methods, paths and their
order are exactly the modules'; the first request to a module pays for the
import once.

A route added to a module is added here too: tests/web/test_lazy_pages.py
compares the tables with the modules and names what is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

__all__ = ["API_PREFIX", "API_ROUTES", "OWN_CHECKS", "PAGE_MODULES", "PAGE_ROUTES", "is_sync_path",
           "lazy_operation", "lazy_page_routes", "operation_handler", "page_handler"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Where the JSON API lives (node/web/api.py).
API_PREFIX: Final = "/api/v1"
_SYNC_PREFIXES: Final = ("/sync/", "/.well-known/hedgerow")
#: Paths outside the pages' login that check access themselves (node/web/health.py):
#: /healthz answers anyone (privacy rule 4), /metrics wants an API token.
OWN_CHECKS: Final = frozenset({"/healthz", "/metrics"})


def is_sync_path(path: str) -> bool:
    """The sync endpoints: never behind the pages' login, never touched by it."""
    return path.startswith(_SYNC_PREFIXES)

#: Every page route: (method, path, route name, module in node/web).
PAGE_ROUTES: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("GET", "/setup", "setup.form", "setup"),
    ("POST", "/setup", "setup.submit", "setup"),
    ("GET", "/login", "login.form", "login"),
    ("POST", "/login", "login.submit", "login"),
    ("POST", "/logout", "login.logout", "login"),
    ("GET", "/", "private.home", "login"),
    ("GET", "/practices", "practices.list", "practices"),
    ("GET", "/practices/new", "practices.new", "practices"),
    ("POST", "/practices/new", "practices.create", "practices"),
    ("GET", "/practice/{key}", "practices.show", "practices"),
    ("GET", "/practice/{key}/edit", "practices.edit_form", "practices"),
    ("POST", "/practice/{key}/edit", "practices.edit", "practices"),
    ("GET", "/practice/{key}/delete", "practices.delete_form", "practices"),
    ("POST", "/practice/{key}/delete", "practices.delete", "practices"),
    ("POST", "/practice/{key}/measures", "practices.measure_add", "practices"),
    ("POST", "/practice/{key}/measures/{measure_id}/delete", "practices.measure_delete",
     "practices"),
    ("POST", "/practice/{key}/measures/{measure_id}/observations",
     "practices.observation_add", "practices"),
    ("POST", "/practice/{key}/observations/{observation_id}/delete",
     "practices.observation_delete", "practices"),
    ("POST", "/practice/{key}/lessons", "practices.lesson_add", "practices"),
    ("POST", "/practice/{key}/lessons/{lesson_id}/edit", "practices.lesson_edit", "practices"),
    ("POST", "/practice/{key}/lessons/{lesson_id}/delete", "practices.lesson_delete",
     "practices"),
    ("POST", "/practice/{key}/voices", "practices.voice_add", "practices"),
    ("POST", "/practice/{key}/voices/{voice_id}/delete", "practices.voice_delete", "practices"),
    ("GET", "/practice/{key}/adapted-from", "practices.adapt_picker", "practices"),
    ("POST", "/practice/{key}/adapted-from", "practices.adapt_add", "practices"),
    ("POST", "/practice/{key}/adapted-from/{adaptation_id}/delete", "practices.adapt_delete",
     "practices"),
    ("GET", "/practice/{key}/share", "share.page", "share"),
    ("POST", "/practice/{key}/share", "share.save", "share"),
    ("POST", "/practice/{key}/publish", "share.publish", "share"),
    ("POST", "/practice/{key}/retract", "share.retract", "share"),
    ("GET", "/network", "network.overview", "network"),
    ("GET", "/network/directory", "network.directory", "network"),
    ("GET", "/network/practice", "network.practice", "network"),
    ("GET", "/network/similar", "network.similar", "network"),
    ("GET", "/network/introductions", "network.introductions", "network"),
    ("GET", "/network/spread", "network.spread", "network"),
    ("GET", "/network/lineage", "network.lineage", "network"),
    ("GET", "/network/health", "network.health", "network"),
    ("POST", "/network/adapt", "private.adapt", "network"),
    ("POST", "/network/credit", "private.credit", "network"),
    ("POST", "/network/credit/withdraw", "private.credit_withdraw", "network"),
    ("GET", "/network/live", "network.live", "live"),
    ("GET", "/peers", "peers.list", "peers"),
    ("POST", "/peers/add", "private.peer_add", "peers"),
    ("POST", "/peers/invite", "private.invite", "peers"),
    ("POST", "/peers/invitations/withdraw", "private.invitation_withdraw", "peers"),
    ("POST", "/peers/admit", "private.admit", "peers"),
    ("POST", "/peers/admit/withdraw", "private.admit_withdraw", "peers"),
    ("POST", "/peers/block", "private.block", "peers"),
    ("POST", "/peers/unblock", "private.unblock", "peers"),
    ("POST", "/peers/remove", "private.peer_remove", "peers"),
    ("POST", "/peers/sync", "private.peer_sync", "peers"),
    ("GET", "/settings", "settings.page", "settings"),
    ("POST", "/settings/profile", "settings.profile", "settings"),
    ("POST", "/settings/profile/publish", "settings.publish", "settings"),
    ("POST", "/settings/public-pages", "settings.public", "settings"),
    ("POST", "/settings/password", "settings.password", "settings"),
    ("POST", "/settings/tokens", "settings.token_create", "settings"),
    ("POST", "/settings/tokens/{token_id}/revoke", "settings.token_revoke", "settings"),
    ("GET", "/settings/backup", "settings.backup", "settings"),
    ("POST", "/settings/restore", "settings.restore", "settings"),
    ("GET", "/doctor", "private.doctor", "doctor"),
)

#: The page modules, in the order their routes are listed.
PAGE_MODULES: Final = tuple(dict.fromkeys(module for *_, module in PAGE_ROUTES))

#: Every API operation, in the order node.web.api_ops.OPERATIONS has them:
#: (method, path under /api/v1, module in node/web that declares it).
API_ROUTES: Final[tuple[tuple[str, str, str], ...]] = (
    ("POST", "/invitations", "api_members"),
    ("GET", "/invitations", "api_members"),
    ("POST", "/invitations/withdraw", "api_members"),
    ("POST", "/admissions", "api_members"),
    ("GET", "/admissions/{node}/withdrawal", "api_members"),
    ("POST", "/admissions/{node}/withdrawal", "api_members"),
    ("GET", "/leave", "api_members"),
    ("POST", "/leave", "api_members"),
    ("GET", "/status", "api_node"),
    ("GET", "/keys", "api_node"),
    ("GET", "/doctor", "api_node"),
    ("POST", "/caught-up", "api_node"),
    ("GET", "/peers", "api_node"),
    ("POST", "/peers", "api_node"),
    ("DELETE", "/peers", "api_node"),
    ("POST", "/blocked", "api_node"),
    ("DELETE", "/blocked/{node}", "api_node"),
    ("POST", "/sync", "api_node"),
    ("GET", "/backups", "api_node"),
    ("POST", "/backups", "api_node"),
    ("GET", "/backup", "api_node"),
    ("POST", "/backups/{name}/test", "api_node"),
    ("POST", "/restore", "api_node"),
    ("GET", "/settings", "api_node"),
    ("PATCH", "/settings", "api_node"),
    ("GET", "/tokens", "api_node"),
    ("POST", "/tokens", "api_node"),
    ("DELETE", "/tokens/{id}", "api_node"),
    ("GET", "/export", "api_node"),
    ("POST", "/verify", "api_node"),
    ("GET", "/records", "api_records"),
    ("POST", "/records", "api_records"),
    ("GET", "/records/{key}", "api_records"),
    ("PATCH", "/records/{key}", "api_records"),
    ("DELETE", "/records/{key}", "api_records"),
    ("POST", "/records/{key}/measures", "api_records"),
    ("POST", "/measures/{id}/observations", "api_records"),
    ("GET", "/records/{key}/share-policy", "api_records"),
    ("PUT", "/records/{key}/share-policy", "api_records"),
    ("GET", "/records/{key}/preview", "api_records"),
    ("POST", "/records/{key}/publish", "api_records"),
    ("POST", "/records/{key}/retract", "api_records"),
    ("POST", "/credits", "api_records"),
    ("POST", "/credits/withdraw", "api_records"),
    ("GET", "/profile", "api_records"),
    ("PATCH", "/profile", "api_records"),
    ("GET", "/profile/preview", "api_records"),
    ("POST", "/profile/publish", "api_records"),
)


def page_handler(module: str, method: str, path: str) -> Handler:
    """The handler ``node.web.<module>.routes()`` declares for ``method path`` (imports it)."""
    for route in importlib.import_module(f"{__package__}.{module}").routes():
        if route.method == method and route.path == path:
            handler: Handler = route.handler
            return handler
    raise LookupError(f"node.web.{module} has no route {method} {path}")


def operation_handler(module: str, method: str, path: str) -> Handler:
    """The handler ``node.web.<module>`` declares as the API operation ``method path``."""
    importlib.import_module(f"{__package__}.{module}")  # its operations register themselves
    from .api_ops import OPERATIONS

    for operation in OPERATIONS:
        if operation.method == method and operation.path == path:
            return operation.handler
    raise LookupError(f"node.web.{module} declares no API operation {method} {path}")


def _lazy(find: Callable[[str, str, str], Handler], module: str, method: str,
          path: str) -> Handler:
    found: list[Handler] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if not found:
            found.append(find(module, method, path))
        return await found[0](request)

    handler.__name__ = f"{module}_route"
    return handler


def lazy_page_routes() -> list[web.RouteDef]:
    """Every page route, each named ``<group>.<page>``, its module loaded on first use."""
    return [web.get(path, _lazy(page_handler, module, method, path), name=name)
            if method == "GET"
            else web.route(method, path, _lazy(page_handler, module, method, path), name=name)
            for method, path, name, module in PAGE_ROUTES]


def lazy_operation(module: str, method: str, path: str) -> Handler:
    """The handler of an API operation, its module loaded by the first request to it."""
    return _lazy(operation_handler, module, method, path)
