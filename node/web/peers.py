"""Peers and members: whom this node syncs with, invitations, admissions, blocking.

The list shows each peer's last sync, bytes and entries each way, and
since when it has been unreachable; forks are listed apart (a forked node's
entries are left out of every view until it publishes the forked entries
again). A peer is added by address or by invitation code (whose network
must be this node's: a node belongs to exactly one network); adding one
starts a first sync in the background.

Membership (DESIGN.md "Membership"): an invitation (made for an address
other nodes can reach, used once and valid for a week unless the group
says otherwise) holds a secret and is shown once; the list of invitations
says which are open, used, expired or withdrawn, and who joined. A node
that cannot reach its inviter is admitted by its id. Withdrawing this
node's admission of another is previewed first, with every node whose
membership would end. The members are shown as the tree of who admitted
whom. Blocking a node deletes what it wrote here and refuses it from then
on; it stays local to this node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from protocol import (
    HedgerowError,
    format_invitation,
    id_to_text,
    parse_invitation,
)
from protocol.invitations import INVITATION_PREFIX

from ..errors import InvalidInput, NotFound, NotMember, SyncFailed
from ..store import blocklist
from ..store.membership import DEFAULT_INVITATION_DAYS, MAX_INVITATION_USES
from ..sync import peerbook
from ..sync.announce import InvitationAddress, invitation_address
from ..views import refresh
from ..views.members import members as members_view
from .forms import read_form
from .practices import store_of
from .render import access_of, redirect, render
from .state import PAGES

__all__ = ["routes", "start_first_sync"]

log = logging.getLogger(__name__)


async def _suggested_address(request: web.Request) -> InvitationAddress:
    # The rules `hedgerow invite` follows: public_url, else where this node listens.
    service = request.app[PAGES].service
    return await invitation_address(service.store, service.config, running=True)


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
    logged_in = access_of(request).logged_in
    await refresh(store)
    suggested = await _suggested_address(request)
    return await render(request, "peers.html", {
        "peers": rows, "blocked": blocked, "forks": forks, "error": error,
        "error_field": error_field, "values": values or {}, "invitation": invitation,
        "me": id_to_text(store.node_id),
        "members": await store.db.read(members_view),
        "invitations": await store.invitations() if logged_in else [],
        "default_days": DEFAULT_INVITATION_DAYS, "max_uses": MAX_INVITATION_USES,
        "suggested_address": suggested.address,
        "invite_warning": suggested.warning if logged_in else "",
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
            if not await store.is_member():
                # Not a member yet: the code is this node's way in. It joins
                # in the first sync with the inviter (node/sync/gossip.py).
                await store.record_joining(text.strip(), invitation.inviter, row.address)
                new = True
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
    values = form.values(("address", "uses", "days", "note"))
    address = form.text("address", max_len=200) or (await _suggested_address(request)).address
    try:
        uses = form.integer("uses", minimum=1, maximum=MAX_INVITATION_USES,
                            required=False) or 1
        days = form.integer("days", minimum=1, maximum=365,
                            required=False) or DEFAULT_INVITATION_DAYS
        invitation = await store.create_invitation(
            address.rstrip("/"), uses=uses, days=days, note=form.text("note", max_len=200))
    except (HedgerowError, NotMember) as exc:
        field = getattr(exc, "field", None) or "address"
        return await _peers_page(request, status=400, error=f"{field}: {exc.message}",
                                 error_field=field, values=values)
    # Shown once: the code holds a secret, and this node keeps only what it
    # needs to check a joining node's proof.
    return await _peers_page(request, invitation=format_invitation(invitation),
                             values={"address": address})


async def invitation_withdraw(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        invitation = await store_of(request).withdraw_invitation(
            form.text("invitation", required=True, max_len=40))
    except (InvalidInput, NotFound) as exc:
        return await _peers_page(request, status=400, error=exc.message)
    access_of(request).session.flash(f"Withdrew invitation {invitation.hex()}: it admits no "
                                     "one now.")
    return redirect("/peers")


async def admit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    values = form.values(("admit_node", "admit_note"))
    try:
        node_id = await _node_of(request, form.text("admit_node", required=True, max_len=200),
                                 field="admit_node")
        await store_of(request).admit(node_id, note=form.text("admit_note", max_len=200))
    except (InvalidInput, NotMember) as exc:
        return await _peers_page(request, status=400, error=exc.message,
                                 error_field="admit_node", values=values)
    access_of(request).session.flash(f"Admitted {id_to_text(node_id)[:7]}; the admission "
                                     "spreads with the next syncs.")
    return redirect("/peers")


async def withdraw_admission(request: web.Request) -> web.StreamResponse:
    """Step one shows who would stop being a member; step two (``confirm``) withdraws."""
    store = store_of(request)
    form = await read_form(request)
    try:
        node_id = await _node_of(request, form.text("node", required=True, max_len=200))
        if not form.checked("confirm"):
            ending = sorted(await store.withdrawal_preview(node_id))
            return await render(request, "withdraw_admission.html", {
                "node": id_to_text(node_id), "ending": [id_to_text(n) for n in ending]},
                title="Withdraw an admission")
        await store.withdraw_admission(node_id, reason=form.text("reason", max_len=500))
    except (InvalidInput, NotFound, NotMember) as exc:
        return await _peers_page(request, status=400, error=exc.message)
    access_of(request).session.flash(f"Withdrew this node's admission of "
                                     f"{id_to_text(node_id)[:7]}.")
    return redirect("/peers")


async def _node_of(request: web.Request, text: str, *, field: str = "node") -> bytes:
    """A node id as typed: whole, or the start of one this node knows (its short form)."""
    try:
        return await store_of(request).resolve_node(text, field="node id")
    except NotFound as exc:
        raise InvalidInput(exc.message, field=field) from None


async def block(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    values = form.values(("node", "note"))
    try:
        node_id = await _node_of(request, form.text("node", required=True, max_len=200))
        await request.app[PAGES].service.block(node_id, note=form.text("note", max_len=200),
                                               with_admitted=form.checked("with_admitted"))
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
        web.post("/peers/invitations/withdraw", invitation_withdraw,
                 name="private.invitation_withdraw"),
        web.post("/peers/admit", admit, name="private.admit"),
        web.post("/peers/admit/withdraw", withdraw_admission, name="private.admit_withdraw"),
        web.post("/peers/block", block, name="private.block"),
        web.post("/peers/unblock", unblock, name="private.unblock"),
        web.post("/peers/remove", remove, name="private.peer_remove"),
        web.post("/peers/sync", sync_now, name="private.peer_sync"),
    ]

