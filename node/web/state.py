"""What the pages keep while the node runs, found through one :class:`aiohttp.web.AppKey`.

:class:`PagesState` holds the node service, the admin file, the sessions,
the login limiter, the live-update hub and the templates environment. The
sessions and the limiter are made by the first request to the pages, the
templates by the first page rendered: a node that only syncs never loads
the pages' login code or Jinja2. :data:`PAGES` is its key in the app;
nothing else about the pages is stored on the app.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web

from .admin import AdminFile

if TYPE_CHECKING:  # node.service imports this package to mount the pages
    import jinja2

    from ..service import NodeService
    from .auth import LoginLimiter, Sessions

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
    live: LiveHub = field(default_factory=LiveHub)
    #: Background work the pages started (a first sync with a new peer), ended on shutdown.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    #: The templates environment, once a page has been rendered (render.environment).
    templates: jinja2.Environment | None = None
    _sessions: Sessions | None = None
    _limiter: LoginLimiter | None = None

    @property
    def sessions(self) -> Sessions:
        """The visitors' sessions (node/web/auth.py)."""
        if self._sessions is None:
            from .auth import Sessions

            self._sessions = Sessions()
        return self._sessions

    @property
    def limiter(self) -> LoginLimiter:
        """Who may try a password when (node/web/auth.py)."""
        if self._limiter is None:
            from .auth import LoginLimiter

            self._limiter = LoginLimiter()
        return self._limiter


PAGES: Final = web.AppKey("hedgerow_pages", PagesState)
