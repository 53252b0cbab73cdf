"""Settings and backup: the organisation's profile, public pages, password, backups.

* **Profile** — what the organisation says about itself (name, area,
  level, description, the network principles it holds, its addresses, an
  org-id.guide identifier, and the contact it may choose to publish so
  other groups can get in touch); saved privately, with a preview of exactly the
  profile entry publishing would sign, then published.
* **Public pages** — which read-only page groups anyone on the network
  may see without logging in (:data:`.admin.PUBLIC_PAGE_GROUPS`).
* **Password** — change it (everyone else is logged out).
* **API tokens** — for other programs using the JSON API: make one
  (scoped read or write; its text is shown once), revoke one.
* **Backup** — download a consistent copy of the database (it holds the
  private records, not the node key); restore one (uploaded, checked to be
  this node's, then the node catches up with its peers before publishing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from protocol import LEVELS

from ..backups import backup_health
from ..errors import InvalidInput, LocalProblem
from ..store.organisation import Organisation
from .admin import (
    API_TOKEN_SCOPES,
    PUBLIC_PAGE_GROUPS,
    check_new_password,
    hash_password,
    verify_password,
)
from .forms import lines, read_form
from .login import switch_session
from .practices import store_of
from .render import access_of, error_page, redirect, render
from .state import PAGES
from .uploads import CsrfRefused, read_upload

__all__ = ["routes"]

_PROFILE_FIELDS: Final = ("name", "area", "level", "description", "principles", "addresses",
                          "org_id", "contact")


def _profile_values(org: Organisation) -> dict[str, str]:
    return {"name": org.name, "area": org.area, "level": org.level or "",
            "description": org.description, "principles": "\n".join(org.principles),
            "addresses": "\n".join(org.addresses), "org_id": org.org_id or "",
            "contact": org.contact or ""}


async def _settings_page(request: web.Request, *, status: int = 200,
                         error: str | None = None, error_field: str | None = None,
                         section: str = "", values: dict[str, str] | None = None,
                         new_token: str | None = None) -> web.Response:
    pages = request.app[PAGES]
    store = pages.service.store
    org = await store.get_organisation()
    preview: Any = None
    preview_error = None
    try:
        preview = await store.preview_profile()
    except InvalidInput as exc:
        preview_error = exc.message
    published = await store.current_entry(store.node_id, "profile", "profile")
    admin = pages.admin.read()
    backups = backup_health(store.data_dir, pages.service.config, now_ms=store.now_ms(),
                            created_ms=(await store.state()).created_ms)
    return await render(request, "settings.html", {
        "tokens": admin.api_tokens, "new_token": new_token, "backups": backups,
        "values": values if values is not None else _profile_values(org),
        "levels": LEVELS, "preview": preview, "preview_error": preview_error,
        "published": published,
        "up_to_date": published is not None and preview is not None
        and published.entry.body == preview.body,
        "public_groups": PUBLIC_PAGE_GROUPS, "public": pages.admin.read().public_pages,
        "error": error, "error_field": error_field, "error_section": section,
        "node_id": store.key.node_id, "announced": await store.announced(),
    }, status=status, title="Settings and backup")


async def settings_page(request: web.Request) -> web.StreamResponse:
    return await _settings_page(request)


def profile_changes(form: Any) -> dict[str, Any]:
    return {"name": form.text("name", max_len=2000), "area": form.text("area", max_len=2000),
            "level": form.choice("level", LEVELS, required=False, default=""),
            "description": form.text("description"),
            "principles": lines(form.text("principles")),
            "addresses": lines(form.text("addresses")),
            "org_id": form.text("org_id", max_len=100),
            "contact": form.text("contact", max_len=300)}


async def profile_save(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        await store_of(request).update_organisation(profile_changes(form))
    except InvalidInput as exc:
        return await _settings_page(request, status=400, error=exc.message,
                                    error_field=exc.field, section="profile",
                                    values=form.values(_PROFILE_FIELDS))
    access_of(request).session.flash("Saved the profile. Check the preview, then publish it.")
    return redirect("/settings#profile-preview")


async def profile_publish(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    try:
        # The running node's feed watch announces it (log line, live pages)
        # and tells the peers, as for a publication from the command line.
        await store.publish_profile()
    except (InvalidInput, LocalProblem) as exc:
        return await _settings_page(request, status=400, error=exc.message,
                                    section="profile")
    access_of(request).session.flash("Published the profile.")
    return redirect("/settings#profile-preview")


async def public_pages(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        request.app[PAGES].admin.set_public_pages(frozenset(form.words("public")))
    except InvalidInput as exc:
        return await _settings_page(request, status=400, error=exc.message, section="public")
    access_of(request).session.flash("Saved which pages are public.")
    return redirect("/settings#public")


async def change_password(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    form = await read_form(request)
    try:
        current = form.password("current_password")
        if not await asyncio.to_thread(verify_password, pages.admin.read().password, current):
            raise InvalidInput("current password: that is not right",
                               field="current_password")
        new = check_new_password(form.password("password"), form.password("password_again"))
        state = pages.admin.change_password(await asyncio.to_thread(hash_password, new))
    except InvalidInput as exc:
        return await _settings_page(request, status=400, error=exc.message,
                                    error_field=exc.field, section="password")
    session = pages.sessions.log_in(access_of(request).session, state.epoch)
    switch_session(request, session)
    session.flash("Changed the password. Everyone else is logged out.")
    return redirect("/settings#password")


async def create_token(request: web.Request) -> web.StreamResponse:
    pages = request.app[PAGES]
    form = await read_form(request)
    try:
        _, text = pages.admin.create_api_token(
            form.text("token_name", max_len=200),
            form.choice("token_scope", API_TOKEN_SCOPES, default="read") or "read",
            now_ms=store_of(request).now_ms())
    except InvalidInput as exc:
        return await _settings_page(request, status=400, error=exc.message,
                                    error_field="token_name", section="tokens",
                                    values=form.values(("token_name", "token_scope")))
    # Shown on this page only, never stored: the node keeps only its hash.
    return await _settings_page(request, new_token=text)


async def revoke_token(request: web.Request) -> web.StreamResponse:
    token = request.app[PAGES].admin.revoke_api_token(request.match_info["token_id"][:40])
    access_of(request).session.flash(f"Revoked the token “{token.name}”: it no longer works.")
    return redirect("/settings#tokens")


async def download_backup(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    fd, name = tempfile.mkstemp(prefix=".backup-", suffix=".db", dir=store.data_dir)
    os.close(fd)
    path = Path(name)
    try:
        await store.backup(path)
        stamp = store.now_ms() // 1000
        response = web.StreamResponse(headers={
            "Content-Type": "application/vnd.sqlite3",
            "Content-Disposition": f'attachment; filename="hedgerow-backup-{stamp}.db"',
            "Content-Length": str(path.stat().st_size)})
        await response.prepare(request)
        with open(path, "rb") as source:
            while chunk := await asyncio.to_thread(source.read, 256 * 1024):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


async def restore(request: web.Request) -> web.StreamResponse:
    store = store_of(request)
    session = access_of(request).session
    try:
        upload = await read_upload(request, session, file_field="backup",
                                   folder=store.data_dir)
    except CsrfRefused:
        return await error_page(request, 403, "This form cannot be accepted",
                                "The form did not carry this session's security token. Go "
                                "back, reload the page and send it again.")
    except InvalidInput as exc:
        return await _settings_page(request, status=400, error=exc.message,
                                    section="restore")
    try:
        if upload.file is None:
            return await _settings_page(request, status=400, section="restore",
                                        error="backup: choose the backup file to restore")
        if not upload.form.checked("confirm"):
            return await _settings_page(
                request, status=400, section="restore",
                error="confirm: tick the box to say you mean to replace this node's records")
        try:
            await store.restore(upload.file)
        except LocalProblem as exc:
            return await _settings_page(request, status=400, error=exc.message,
                                        section="restore")
    finally:
        upload.discard()
    session.flash("Restored the backup. Before it publishes again, the node catches up on its "
                  "own entries from its peers.")
    return redirect("/")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/settings", settings_page, name="settings.page"),
        web.post("/settings/profile", profile_save, name="settings.profile"),
        web.post("/settings/profile/publish", profile_publish, name="settings.publish"),
        web.post("/settings/public-pages", public_pages, name="settings.public"),
        web.post("/settings/password", change_password, name="settings.password"),
        web.post("/settings/tokens", create_token, name="settings.token_create"),
        web.post("/settings/tokens/{token_id}/revoke", revoke_token,
                 name="settings.token_revoke"),
        web.get("/settings/backup", download_backup, name="settings.backup"),
        web.post("/settings/restore", restore, name="settings.restore"),
    ]
