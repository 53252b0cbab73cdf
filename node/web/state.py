"""What the pages keep while the node runs, found through one :class:`aiohttp.web.AppKey`.

:class:`PagesState` holds the node service, the admin file, the sessions,
the login limiter, the live-update hub and the templates environment
(made by the first page rendered: a node that only syncs never loads
Jinja2). :data:`PAGES` is its key in the app; nothing else about the pages
is stored on the app.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web

from .admin import AdminFile
from .auth import LoginLimiter, Sessions

if TYPE_CHECKING:  # node.service imports this package to mount the pages
    import jinja2

    from ..service import NodeService

__all__ = ["PAGES", "LiveHub", "PagesState"]


@dataclass(slots=True)
class LiveHub:
    """The open live-update streams, so that shutting down can end them at once."""

    closing: asyncio.Event = field(default_factory=asyncio.Event)
    queues: set[asyncio.Queue[str | None]] = field(default_factory=set)
    max_streams: int = 50

    def close(self) -> None:
        """On shutdown: end every open stream (their handlers return at once)."""
        self.closing.set()
        for queue in list(self.queues):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)


@dataclass(slots=True)
class PagesState:
    service: NodeService
    admin: AdminFile
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    live: LiveHub = field(default_factory=LiveHub)
    #: Background work the pages started (a first sync with a new peer), ended on shutdown.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    #: The templates environment, once a page has been rendered (render.environment).
    templates: jinja2.Environment | None = None


PAGES: Final = web.AppKey("hedgerow_pages", PagesState)
