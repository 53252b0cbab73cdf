"""Live updates: server-sent events telling open pages that something new arrived.

``GET /network/live`` is an ``text/event-stream``. Each stream subscribes
to the node's :class:`node.events.EventBus` with a callback that puts an
event name on a small queue the stream owns (bounded: when a page is that
far behind, one more refresh changes nothing, so the rest are dropped),
and unsubscribes when the browser goes away. A comment line every 15
seconds keeps proxies from closing an idle stream. When the node stops,
every stream is told to end so that shutting down never waits for them.

Events sent: ``entries`` (entries arrived from a peer, or this node
published), ``fork`` (an author was flagged for a fork) and ``peers``
(a sync with a peer finished or failed). ``static/live.js`` listens and
refreshes the directory list in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Final

from aiohttp import web

from ..events import EntriesReceived, Event, ForkDetected, PeerSynced, PeerUnreachable, Published
from .render import error_page
from .state import PAGES

__all__ = ["close_streams", "event_name", "routes"]

KEEPALIVE_S: Final = 15.0
QUEUE_SIZE: Final = 16


def event_name(event: Event) -> str | None:
    """What a page needs to hear of an event (None: nothing)."""
    if isinstance(event, EntriesReceived | Published):
        return "entries"
    if isinstance(event, PeerSynced):
        return "entries" if event.received else "peers"
    if isinstance(event, PeerUnreachable):
        return "peers"
    if isinstance(event, ForkDetected):
        return "fork"
    return None


async def live(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    hub = pages.live
    if hub.closing.is_set() or len(hub.queues) >= hub.max_streams:
        return await error_page(request, 503, "Too many live pages",
                                "This node has many live pages open; reload later.")
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def on_event(event: Event) -> None:
        name = event_name(event)
        if name is not None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(name)

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    unsubscribe = pages.service.events.subscribe(on_event)
    hub.queues.add(queue)
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n: connected\n\n")
        while True:
            try:
                name = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": still here\n\n")
                continue
            if name is None:
                break
            data = json.dumps({"what": name})
            await response.write(f"event: {name}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass  # the page was closed
    finally:
        unsubscribe()
        hub.queues.discard(queue)
    return response


async def close_streams(app: web.Application) -> None:
    """On shutdown: end every open stream (their handlers return at once)."""
    if PAGES in app:
        app[PAGES].live.close()


def routes() -> list[web.RouteDef]:
    return [web.get("/network/live", live, name="network.live")]
