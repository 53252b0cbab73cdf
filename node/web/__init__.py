"""The node's own web pages: everything the CLI does, in a browser on the LAN.

Served by the node's aiohttp server next to the sync endpoints. Mount them
with :func:`setup_pages` (``NodeService.make_app`` does). Page groups, one
module each:

* :mod:`.setup` — first run (until there is an admin password);
* :mod:`.login` — login, logout, and the home page;
* :mod:`.practices` — our practices: private records, measures,
  observations, voices, lessons, and where each came from;
* :mod:`.share` — per practice: fields to share, exact preview, publish,
  retract;
* :mod:`.network` and :mod:`.live` — the network views (charts drawn as
  SVG by :mod:`.charts`), and live updates by server-sent events;
* :mod:`.peers` — peer status, adding peers, invitations, blocking, forks;
* :mod:`.settings` — profile, public pages, password, backup and restore.

Each page module (and each module of the JSON API) is imported by the
first request to one of its routes (:mod:`.routes` mounts them all without
loading them), and the templates environment is made by the first page
rendered: a node that only syncs holds none of the pages' code, the views
or Jinja2 in memory.

The rules on who may see what are in :mod:`.auth` (applied by the
middleware in :mod:`.guard`); the admin password, setup code and public
pages live in ``admin.json`` (:mod:`.admin`). Templates are in
``templates/``, our stylesheet and the few lines of script in ``static/``:
every asset is served by the node itself, nothing from elsewhere. The JSON
API (:mod:`.api`, ``/api/v1/``) lives beside the pages and shares their login.

The top layer of the node: may import any of node/, never cli/.
"""

from __future__ import annotations

import asyncio
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from .admin import AdminFile, reset_password, setup_code_to_show
from .routes import OWN_CHECKS, is_sync_path, lazy_page_routes
from .state import PAGES, PagesState

if TYPE_CHECKING:
    from ..service import NodeService

__all__ = [
    "PAGES",
    "page_routes",
    "reset_password",
    "setup_code_to_show",
    "setup_pages",
]

#: Page forms are read whole up to the app's ``client_max_size`` (aiohttp's default,
#: 1 MiB, which NodeService.make_app keeps); a backup upload is streamed, with its own cap.


def static_folder() -> Path:
    return Path(str(files("node.web") / "static"))


def page_routes() -> list[web.RouteDef]:
    """Every page route, each named ``<group>.<page>`` (see :mod:`.guard`).

    Each page's module is imported by the first request to it (:mod:`.routes`).
    """
    return lazy_page_routes()


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The pages' rules (node/web/guard.py), loaded by the first request they apply to.
    path = request.path
    if is_sync_path(path) or path in OWN_CHECKS:
        return await handler(request)
    from .guard import guard_middleware

    return await guard_middleware(request, handler)


async def _on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    if not is_sync_path(request.path):
        from .guard import on_response_prepare

        await on_response_prepare(request, response)


async def _end_background_work(app: web.Application) -> None:
    app[PAGES].live.close()  # the open live pages' streams (node/web/live.py)
    tasks = list(app[PAGES].tasks)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def setup_pages(app: web.Application, service: NodeService) -> None:
    """Mount the pages, their middleware and static files on ``app``.

    Safe to call twice on one app (the second call does nothing). The admin
    state is read from (and a first setup code written to) ``admin.json``
    in the node's data directory.
    """
    if PAGES in app:
        return
    admin = AdminFile(service.store.data_dir)
    admin.ensure_setup_code()
    app[PAGES] = PagesState(service, admin)
    app.middlewares.append(_guard)
    app.on_response_prepare.append(_on_response_prepare)
    app.on_shutdown.append(_end_background_work)
    app.add_routes(page_routes())
    app.router.add_static("/static/", static_folder(), name="static", append_version=False)
