"""Peers: whom this node syncs with, how that goes, invitations, and blocking.

The list shows each peer's last sync, bytes and entries each way, and
since when it has been unreachable; nodes flagged for a fork are listed
apart (their entries are left out of every view until it is resolved).
A peer is added by address or by invitation code (whose network must be
this node's: a node belongs to exactly one network); adding one starts a
first sync in the background. An invitation is made for an address other
nodes can reach. Blocking a node deletes what it wrote here and refuses it
from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from protocol import (
    HedgerowError,
    Invitation,
    format_invitation,
    id_to_text,
    parse_invitation,
)
from protocol.invitations import INVITATION_PREFIX

from ..errors import InvalidInput, NotFound, SyncFailed
from ..store import blocklist
from ..sync import peerbook
from .forms import read_form
from .practices import store_of
from .render import access_of, redirect, render
from .state import PAGES

__all__ = ["routes", "start_first_sync"]

log = logging.getLogger(__name__)


def _suggested_address(request: web.Request) -> str:
    config = request.app[PAGES].service.config
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def _lan_addresses(request: web.Request) -> list[str]:
    from ..service import lan_addresses  # node.service mounts this package: import late

    try:
        port = request.app[PAGES].service.port
    except RuntimeError:
        return []
    return lan_addresses(port)


async def _peers_page(request: web.Request, *, status: int = 200, error: str | None = None,
                      error_field: str | None = None, values: dict[str, str] | None = None,
                      invitation: str | None = None) -> web.Response:
    store = store_of(request)
    rows = await store.db.read(peerbook.list_peers)
    blocked = await store.db.read(blocklist.blocked_nodes)
    forks = await store.forks()
    return await render(request, "peers.html", {
        "peers": rows, "blocked": blocked, "forks": forks, "error": error,
        "error_field": error_field, "values": values or {}, "invitation": invitation,
        "suggested_address": _suggested_address(request),
        "lan_addresses": _lan_addresses(request) if access_of(request).logged_in else [],
        "now_ms": store.now_ms(),
    }, status=status, title="Peers")


async def peers_page(request: web.Request) -> web.StreamResponse:
    return await _peers_page(request)


def start_first_sync(app: web.Application, address: str) -> None:
    """Sync with a new peer in the background (the task is ended when the node stops)."""
    pages = app[PAGES]
    gossip = pages.service.gossip
    if gossip is None or pages.live.closing.is_set():
        return

    async def first_sync() -> None:
        with contextlib.suppress(SyncFailed):  # booked in the peer book and the events
            await gossip.sync_peer(address)

    task = asyncio.get_running_loop().create_task(first_sync())
    pages.tasks.add(task)
    task.add_done_callback(pages.tasks.discard)


async def peer_add(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    form = await read_form(request)
    values = form.values(("peer",))
    try:
        text = form.text("peer", required=True, max_len=700)
        if text.upper().startswith(INVITATION_PREFIX):
            try:
                invitation = parse_invitation(text)
            except HedgerowError as exc:
                raise InvalidInput(f"invitation code: {exc.message}", field="peer") from None
            if invitation.network != store.network:
                raise InvalidInput(
                    "invitation code: it is for another network than this node's. A node "
                    "belongs to exactly one network; to join that one, create a node for it "
                    "(`hedgerow init --join CODE` in a new data directory).", field="peer")
            if invitation.inviter == store.node_id:
                raise InvalidInput("invitation code: that is this node's own invitation",
                                   field="peer")
            row, new = await store.db.write(peerbook.add_peer, invitation.address,
                                            source="invitation", now_ms=store.now_ms(),
                                            node_id=invitation.inviter)
        else:
            row, new = await store.db.write(peerbook.add_peer, text, source="manual",
                                            now_ms=store.now_ms())
    except InvalidInput as exc:
        return await _peers_page(request, status=400, error=exc.message, error_field="peer",
                                 values=values)
    if new:
        start_first_sync(request.app, row.address)
    access_of(request).session.flash(
        f"Added {row.address}; a first sync has started." if new
        else f"{row.address} was already a peer.")
    return redirect("/peers")


async def invite(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    form = await read_form(request)
    address = form.text("address", max_len=200) or _suggested_address(request)
    try:
        code = format_invitation(Invitation(store.network, store.node_id,
                                            address.rstrip("/")))
    except HedgerowError as exc:
        return await _peers_page(request, status=400, error=f"address: {exc.message}",
                                 error_field="address", values={"address": address})
    return await _peers_page(request, invitation=code, values={"address": address})


async def _node_of(request: web.Request, text: str) -> bytes:
    """A node id as typed: whole, or the start of one this node knows (its short form)."""
    try:
        return await store_of(request).resolve_node(text, field="node id")
    except NotFound as exc:
        raise InvalidInput(exc.message, field="node") from None


async def block(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    values = form.values(("node", "note"))
    try:
        node_id = await _node_of(request, form.text("node", required=True, max_len=200))
        await request.app[PAGES].service.block(node_id, note=form.text("note", max_len=200))
    except InvalidInput as exc:
        return await _peers_page(request, status=400, error=exc.message, error_field="node",
                                 values=values)
    access_of(request).session.flash(f"Blocked {id_to_text(node_id)[:7]}: what it wrote is "
                                     "deleted here and it is refused from now on.")
    return redirect("/peers")


async def unblock(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    form = await read_form(request)
    node_id = await _node_of(request, form.text("node", required=True, max_len=200))
    await store.db.write(blocklist.unblock_node, node_id)
    service = request.app[PAGES].service
    await service.server.refresh_blocked()
    if service.client is not None:
        service.client.blocked = service.server.blocked
    access_of(request).session.flash(f"Unblocked {id_to_text(node_id)[:7]}; its entries come "
                                     "back with the next syncs.")
    return redirect("/peers")


async def remove(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    address = form.text("address", required=True, max_len=300)
    await store_of(request).db.write(peerbook.remove_peer, address)
    access_of(request).session.flash(f"Removed {peerbook.normalise_address(address)}.")
    return redirect("/peers")


async def sync_now(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    address = peerbook.normalise_address(form.text("address", required=True, max_len=300))
    gossip = request.app[PAGES].service.gossip
    session = access_of(request).session
    if gossip is None:
        raise InvalidInput("this node is not syncing right now (it was started without it)")
    try:
        report = await gossip.sync_peer(address)
    except SyncFailed as exc:
        session.flash(f"Could not sync with {address}: {exc.message}", "error")
    else:
        stats: Any = report.stats
        session.flash(f"Synced with {address}: {stats.accepted} entries received, "
                      f"{stats.push_accepted} sent.")
    return redirect("/peers")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/peers", peers_page, name="peers.list"),
        web.post("/peers/add", peer_add, name="private.peer_add"),
        web.post("/peers/invite", invite, name="private.invite"),
        web.post("/peers/block", block, name="private.block"),
        web.post("/peers/unblock", unblock, name="private.unblock"),
        web.post("/peers/remove", remove, name="private.peer_remove"),
        web.post("/peers/sync", sync_now, name="private.peer_sync"),
    ]

