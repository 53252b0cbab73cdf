"""What the pages keep while the node runs, found through one :class:`aiohttp.web.AppKey`.

:class:`PagesState` holds the node service, the admin file, the sessions,
the login limiter and the live-update hub. :data:`PAGES` is its key in the
app; nothing else about the pages is stored on the app (the templates
environment has its own key, :data:`JINJA`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import jinja2
from aiohttp import web

from .admin import AdminFile
from .auth import LoginLimiter, Sessions

if TYPE_CHECKING:  # node.service imports this package to mount the pages
    from ..service import NodeService

__all__ = ["JINJA", "PAGES", "LiveHub", "PagesState"]


@dataclass(slots=True)
class LiveHub:
    """The open live-update streams, so that shutting down can end them at once."""

    closing: asyncio.Event = field(default_factory=asyncio.Event)
    queues: set[asyncio.Queue[str | None]] = field(default_factory=set)
    max_streams: int = 50


@dataclass(slots=True)
class PagesState:
    service: NodeService
    admin: AdminFile
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    live: LiveHub = field(default_factory=LiveHub)
    #: Background work the pages started (a first sync with a new peer), ended on shutdown.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


PAGES: Final = web.AppKey("hedgerow_pages", PagesState)
JINJA: Final = web.AppKey("hedgerow_pages_jinja", jinja2.Environment)
