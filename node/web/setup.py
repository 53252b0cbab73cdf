"""First run: until the node has an admin password, the setup page is all it serves.

Whoever sets the node up types the one-time setup code that ``hedgerow up``
printed in its log (``hedgerow setup-code`` shows it again), so nobody else
on the LAN can claim the node first. On the same page the group sets its
password, names the organisation, its area and level, and says how the
node joins the network:

* **keep** — use the node as ``hedgerow init`` made it: the first node of
  its network (invite others from the Peers page), or already joined;
* **join** — with an invitation code: the inviter becomes the first peer
  and a first sync starts, in which the node proves it holds the code and
  is admitted. A node belongs to exactly one network; a node that has
  published nothing but its own genesis (fresh from ``hedgerow init``)
  moves into the invitation's network, any other is refused with a
  message saying how to create a node for that network instead;
* **restore** — a backup of this node, uploaded; the node then catches up
  on its own entries from its peers before it publishes again.

Everything is checked before anything is changed, in this order: rate
limit, setup code, password, organisation details, invitation or backup.
The rate limit and the setup code are checked before a byte of an uploaded
backup is read (:func:`.uploads.read_upload`'s ``before_file``), so a
stranger's upload never reaches the disk.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from protocol import LEVELS, HedgerowError, Invitation, id_to_text, parse_invitation

from ..errors import InvalidInput, LocalProblem
from ..front import client_of
from ..sync import peerbook
from .admin import check_new_password, hash_password, setup_code_matches
from .forms import Form
from .login import switch_session
from .peers import start_first_sync
from .render import access_of, error_page, redirect, render
from .state import PAGES
from .uploads import CsrfRefused, Upload, read_upload

__all__ = ["CHOICES", "organisation_changes", "routes"]

CHOICES: Final = ("keep", "join", "restore")
#: The setup code counts as an account of its own for login throttling.
SETUP_ACCOUNT: Final = "setup"
_SHOWN_AGAIN: Final = ("name", "area", "level", "network", "invitation")


def organisation_changes(form: Form) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    name = form.text("name", required=True, max_len=120)
    changes["name"] = name
    area = form.text("area", max_len=200)
    if area:
        changes["area"] = area
    changes["level"] = form.choice("level", LEVELS)
    return changes


def parse_invitation_field(form: Form) -> Invitation:
    text = form.text("invitation", required=True, max_len=700)
    try:
        return parse_invitation(text)
    except HedgerowError as exc:
        raise InvalidInput(f"invitation code: {exc.message}", field="invitation") from None


async def setup_form(request: web.Request) -> web.StreamResponse:
    store = request.app[PAGES].service.store
    peers = await store.db.read(peerbook.list_peers)
    org = await store.get_organisation()
    return await render(request, "setup.html", {
        "values": {"name": org.name, "area": org.area, "level": org.level or "",
                   "network": "keep"},
        "levels": LEVELS, "network_text": id_to_text(store.network, "network"),
        "peer_count": len(peers), "fresh": False}, title="Set up this node")


async def _again(request: web.Request, upload: Upload, exc: HedgerowError, *,
                 status: int = 400) -> web.Response:
    store = request.app[PAGES].service.store
    peers = await store.db.read(peerbook.list_peers)
    return await render(request, "setup.html", {
        "values": upload.form.values(_SHOWN_AGAIN), "levels": LEVELS,
        "network_text": id_to_text(store.network, "network"), "peer_count": len(peers),
        "fresh": False, "error": exc.message, "error_field": getattr(exc, "field", None)},
        status=status, title="Set up this node")


class _TooMany(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"Too many attempts. Wait {int(wait) + 1} seconds, then try again.")
        self.wait = wait


async def _check_attempt(request: web.Request, form: Form) -> None:
    """The rate limit and the setup code, before anything else (and before any file)."""
    limiter = request.app[PAGES].limiter
    wait = limiter.wait_for(client_of(request).address)
    if wait > 0:
        raise _TooMany(wait)
    # Slowed down, never refused, after failures from anywhere (auth.LoginLimiter).
    await asyncio.sleep(limiter.delay_for(SETUP_ACCOUNT))
    if not setup_code_matches(request.app[PAGES].admin.read(),
                              form.text("setup_code", max_len=40)):
        limiter.failed(SETUP_ACCOUNT)
        raise InvalidInput("setup code: that is not this node's setup code. It is in the "
                           "log of `hedgerow up`; `hedgerow setup-code` shows it again",
                           field="setup_code")


async def setup_submit(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    store = pages.service.store
    access = access_of(request)
    checked: list[Form] = []

    async def before_file(form: Form) -> bool:
        # The setup code is checked before a byte of a backup is read: a stranger's
        # upload is refused there, and never reaches the disk.
        checked.append(form)
        await _check_attempt(request, form)
        return form.choice("network", CHOICES, default="keep") == "restore"

    try:
        upload = await read_upload(request, access.session, file_field="backup",
                                   folder=store.data_dir, before_file=before_file)
    except CsrfRefused:
        return await error_page(request, 403, "This form cannot be accepted",
                                "The form did not carry this session's security token. Go "
                                "back, reload the page and send it again.")
    except _TooMany as exc:
        return await _again(request, Upload(checked[0], None), InvalidInput(str(exc)),
                            status=429)
    except InvalidInput as exc:
        return await _again(request, Upload(checked[0] if checked else Form({}), None), exc)
    try:
        form = upload.form
        if not checked:  # no file part at all: check now
            await _check_attempt(request, form)
        password = check_new_password(form.password("password"),
                                      form.password("password_again"))
        changes = organisation_changes(form)
        choice = form.choice("network", CHOICES, default="keep")
        invitation = None
        if choice == "join":
            invitation = parse_invitation_field(form)
        if choice == "restore":
            if upload.file is None:
                raise InvalidInput("backup: choose the backup file to restore", field="backup")
            await store.restore(upload.file)
        if invitation is not None and invitation.network != store.network:
            # A node fresh from `hedgerow init --new-network` may still join
            # another network; one that holds entries is refused, unchanged.
            await store.adopt_network(invitation.network)
        await store.update_organisation(changes)
        if invitation is not None:
            row, _ = await store.db.write(peerbook.add_peer, invitation.address,
                                          source="invitation", now_ms=store.now_ms(),
                                          node_id=invitation.inviter)
            # The node joins in its first session with the inviter (gossip).
            await store.record_joining(form.text("invitation", max_len=700).strip(),
                                       invitation.inviter, row.address)
            start_first_sync(request.app, row.address)
        state = pages.admin.set_password(await asyncio.to_thread(hash_password, password))
    except _TooMany as exc:
        return await _again(request, upload, InvalidInput(str(exc)), status=429)
    except (InvalidInput, LocalProblem) as exc:
        return await _again(request, upload, exc)
    finally:
        upload.discard()
    session = pages.sessions.log_in(access.session, state.epoch)
    switch_session(request, session)
    session.flash("Your node is set up and you are logged in. Next: record a practice, or "
                  "publish your profile from Settings.")
    return redirect("/")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/setup", setup_form, name="setup.form"),
        web.post("/setup", setup_submit, name="setup.submit"),
    ]
