"""The JSON API for looking after the node: status, peers, sync, backups, settings, tokens,
health, exports and verification.

Each handler does what the ``hedgerow`` command named in its declaration does,
through the same node/ functions (node.home, node.backups, node.doctor,
node.exports, node.views, the peer book, the running node's gossip).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from protocol import HedgerowError, id_from_text, id_to_text

from ..backups import backup_folder, backup_health, check_restorable, list_backups, take_backup
from ..errors import InvalidInput, LocalProblem, NotFound, SyncFailed
from ..home import node_status
from ..settings import SETTINGS, load_config, update_settings_file
from ..store import blocklist
from ..sync import peerbook
from .admin import API_TOKEN_SCOPES
from .api_ops import body_of, operation, reply, service_of, text_field
from .auth import api_refusal
from .state import PAGES
from .uploads import MAX_BACKUP_BYTES

__all__: list[str] = []

_TEXT: Final = {"type": "string"}
_CHUNK: Final = 256 * 1024


def _store(request: web.Request) -> Any:
    return service_of(request).store


# --- the node ---------------------------------------------------------------------------

@operation("GET", "/status", summary="Node id, network, peers, counts, forks, catch-up "
           "state and backups.", tag="node", cli=("status",))
async def _status(request: web.Request) -> web.StreamResponse:
    return reply((await node_status(_store(request))).to_json())


@operation("GET", "/keys", summary="The node id (and its short form) and the network id "
           "(never the private key).", tag="node", cli=("keys show",))
async def _keys(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    return reply({"node_id": store.key.node_id, "short_id": store.key.short_id,
                  "network": id_to_text(store.network, "network")})


@operation("GET", "/doctor", summary="The node's health checks, each saying what to do.",
           tag="node", cli=("doctor",))
async def _doctor(request: web.Request) -> web.StreamResponse:
    from ..doctor import needs_action, run_checks  # node.doctor reads this package's admin

    service = service_of(request)
    findings = await run_checks(service.store, service.config, last_backup_error=(
        service.backups.last_error if service.backups else None))
    return reply({"needs_action": needs_action(findings),
                  "findings": [{"check": f.check, "status": f.status, "message": f.message}
                               for f in findings]})


@operation("POST", "/caught-up", summary="Let a restored node publish again without "
           "catching up from a peer (only if it published nothing after its backup).",
           tag="node", cli=("caught-up",))
async def _caught_up(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    needed = await store.needs_catch_up()
    if needed:
        await store.mark_caught_up()
    return reply({"was_needed": needed, "needs_catch_up": False})


# --- peers and sync ---------------------------------------------------------------------

def _peer_json(row: peerbook.PeerRow) -> dict[str, Any]:
    return {"address": row.address, "node_id": id_to_text(row.node_id) if row.node_id else None,
            "source": row.source, "last_sync_ms": row.last_sync_ms,
            "last_outcome": row.last_outcome or None, "last_error": row.last_error or None,
            "failures": row.health.failures, "next_attempt_ms": row.health.next_attempt_ms,
            "entries_in": row.entries_in, "entries_out": row.entries_out,
            "bytes_up": row.bytes_up, "bytes_down": row.bytes_down}


@operation("GET", "/peers", summary="Known peers, how their last sync went, and the blocked "
           "nodes.", tag="peers", cli=("peer list",))
async def _peers(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    return reply({"peers": [_peer_json(r) for r in await store.db.read(peerbook.list_peers)],
                  "blocked": [id_to_text(n) for n in
                              await store.db.read(blocklist.blocked_nodes)]})


@operation("POST", "/peers", summary="Add a peer by its address.", tag="peers",
           cli=("peer add",), status=201, body={"type": "object", "required": ["address"],
                                                "properties": {"address": _TEXT}})
async def _add_peer(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    data = await body_of(request)
    row, new = await store.db.write(peerbook.add_peer,
                                    text_field(data, "address", required=True, max_len=500),
                                    source="manual", now_ms=store.now_ms())
    return reply({"peer": _peer_json(row), "added": new}, 201 if new else 200)


@operation("DELETE", "/peers", summary="Forget a peer.", tag="peers", cli=("peer remove",),
           query=(("address", "The peer's address.", {"type": "string"}),))
async def _remove_peer(request: web.Request) -> web.StreamResponse:
    address = request.query.get("address", "")
    if not address:
        raise InvalidInput("address: give the peer's address", field="address")
    await _store(request).db.write(peerbook.remove_peer, address[:500])
    return reply({"removed": peerbook.normalise_address(address[:500])})


@operation("POST", "/blocked", summary="Block a node: delete what it wrote here and refuse it "
           "from now on.", tag="peers", cli=("peer block",), status=201,
           body={"type": "object", "required": ["node"],
                 "properties": {"node": _TEXT, "note": _TEXT,
                                "with_admitted": {"type": "boolean"}}})
async def _block(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    node = id_from_text(text_field(data, "node", required=True, max_len=200))
    with_admitted = data.get("with_admitted", False)
    if not isinstance(with_admitted, bool):
        raise InvalidInput("with_admitted: true or false", field="with_admitted")
    blocked = await service_of(request).block(
        node, note=text_field(data, "note", max_len=500), with_admitted=with_admitted)
    return reply({"blocked": [id_to_text(n) for n in blocked]}, 201)


@operation("DELETE", "/blocked/{node}", summary="Stop blocking a node.", tag="peers",
           cli=("peer unblock",))
async def _unblock(request: web.Request) -> web.StreamResponse:
    node = id_from_text(request.match_info["node"][:200])
    service = service_of(request)
    await service.store.db.write(blocklist.unblock_node, node)
    await service.server.refresh_blocked()
    return reply({"unblocked": id_to_text(node)})


@operation("POST", "/sync", summary="Sync with one peer, or every known peer, now.",
           tag="peers", cli=("sync",),
           body={"type": "object", "properties": {"peer": _TEXT}})
async def _sync(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    gossip = service.gossip
    if gossip is None:
        raise LocalProblem("this node is not running its sync client")
    data = await body_of(request) if request.can_read_body else {}
    only = text_field(data, "peer", max_len=500)
    addresses = [peerbook.normalise_address(only)] if only else [
        row.address for row in await service.store.db.read(peerbook.list_peers)]
    if not addresses:
        raise LocalProblem("this node knows no peers yet: add one first")

    async def one(address: str) -> dict[str, Any]:
        try:
            report = await gossip.sync_peer(address)
        except SyncFailed as exc:
            return {"address": address, "ok": False, "error": exc.message}
        stats = report.stats
        return {"address": address, "ok": True, "received": stats.accepted,
                "sent": stats.push_accepted, "bytes_up": stats.bytes_up,
                "bytes_down": stats.bytes_down, "rounds": stats.rounds}

    outcomes = await asyncio.gather(*(one(a) for a in addresses[:100]))
    return reply({"outcomes": outcomes}, 200 if any(o["ok"] for o in outcomes) else 502)


# --- backups ----------------------------------------------------------------------------

@operation("GET", "/backups", summary="The nightly backups and whether the last is recent.",
           tag="backups", cli=("backup list",))
async def _backups(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    store = service.store
    state = await store.state()
    health = backup_health(store.data_dir, service.config, now_ms=store.now_ms(),
                           created_ms=state.created_ms)
    return reply({"health": health.to_json(), "backups": [
        {"name": b.path.name, "taken_ms": b.taken_ms, "size": b.size}
        for b in list_backups(backup_folder(store.data_dir, service.config))]})


@operation("POST", "/backups", summary="Take a checked backup into the backup folder now (as "
           "the nightly one does).", tag="backups", cli=("backup now",), status=201)
async def _backup_now(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    if service.backups is not None:
        report = await service.backups.run_now()
        if report is None:
            raise LocalProblem(f"the backup failed: {service.backups.last_error}")
    else:
        report = await take_backup(service.store, service.config)
    return reply({"name": report.path.name, "size": report.size,
                  "copied_to": str(report.copied_to) if report.copied_to else None,
                  "copy_error": report.copy_error}, 201)


@operation("GET", "/backup", summary="Download a backup made now: the database and settings, "
           "not the key.", tag="backups", cli=("backup create",),
           response={"type": "string", "format": "binary"},
           response_type="application/vnd.sqlite3")
async def _download_backup(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    fd, name = tempfile.mkstemp(prefix=".backup-", suffix=".db", dir=store.data_dir)
    os.close(fd)
    path = Path(name)
    try:
        await store.backup(path)
        response = web.StreamResponse(headers={
            "Content-Type": "application/vnd.sqlite3",
            "Content-Disposition":
                f'attachment; filename="hedgerow-backup-{store.now_ms() // 1000}.db"',
            "Content-Length": str(path.stat().st_size)})
        await response.prepare(request)
        with open(path, "rb") as source:
            while chunk := await asyncio.to_thread(source.read, _CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


@operation("POST", "/backups/{name}/test", summary="Restore one of the nightly backups into a "
           "temporary folder and check it.", tag="backups", cli=("backup test",))
async def _test_backup(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    name = request.match_info["name"]
    found = [b for b in list_backups(backup_folder(service.store.data_dir, service.config))
             if b.path.name == name]
    if not found:
        raise NotFound(f"there is no backup {name[:80]!r} in the backup folder")
    check = await asyncio.to_thread(check_restorable, found[0].path,
                                    node_id=service.store.node_id)
    return reply(check.to_json())


@operation("POST", "/restore", summary="Replace the node's database with an uploaded backup "
           "(and its settings file); the node catches up before it publishes again.",
           tag="backups", cli=("restore",), body={"type": "string", "format": "binary"},
           body_type="application/octet-stream")
async def _restore(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    fd, name = tempfile.mkstemp(prefix=".restore-", suffix=".db", dir=store.data_dir)
    path = Path(name)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await request.content.read(_CHUNK):
                written += len(chunk)
                if written > MAX_BACKUP_BYTES:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=MAX_BACKUP_BYTES, actual_size=written,
                        text=json.dumps({"error": "the backup is larger than this node "
                                                  "accepts", "field": "body",
                                         "code": "too_large"}),
                        content_type="application/json")
                await asyncio.to_thread(out.write, chunk)
        if written == 0:
            raise InvalidInput("send the backup file as the body", field="body")
        files = await store.restore(path)
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    return reply({"restored": True, "settings_files": files, "needs_catch_up": True})


# --- settings ---------------------------------------------------------------------------

def _settings_json(request: web.Request) -> dict[str, Any]:
    service = service_of(request)
    saved = load_config(service.store.data_dir, environ={})
    return {"settings": [{"name": s.name, "value": getattr(saved, s.name),
                          "running": getattr(service.config, s.name), "default": s.default,
                          "environment": s.env, "help": s.help} for s in SETTINGS],
            "restart_needed": any(getattr(saved, s.name) != getattr(service.config, s.name)
                                  for s in SETTINGS)}


@operation("GET", "/settings", summary="Every setting: as saved in hedgerow.toml, as the "
           "running node uses it, its default and what it does.", tag="settings")
async def _settings(request: web.Request) -> web.StreamResponse:
    return reply(_settings_json(request))


@operation("PATCH", "/settings", summary="Change settings in hedgerow.toml (used from the "
           "node's next start).", tag="settings",
           body={"type": "object", "additionalProperties": True})
async def _set_settings(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    await asyncio.to_thread(update_settings_file, _store(request).data_dir, data)
    return reply(_settings_json(request))


# --- API tokens (the admin's own login only) ------------------------------------------

def _no_token(request: web.Request) -> None:
    if "Authorization" in request.headers:
        raise api_refusal(web.HTTPForbidden,
                          "API tokens are managed with the admin login, not with a token")


@operation("GET", "/tokens", summary="The API tokens (never their secrets).", tag="tokens",
           session_only=True)
async def _tokens(request: web.Request) -> web.StreamResponse:
    _no_token(request)
    return reply([t.to_json() for t in request.app[PAGES].admin.read().api_tokens])


@operation("POST", "/tokens", summary="Make an API token; its text is shown this once.",
           tag="tokens", session_only=True, status=201,
           body={"type": "object", "required": ["name", "scope"],
                 "properties": {"name": _TEXT, "scope": {"enum": list(API_TOKEN_SCOPES)}}})
async def _create_token(request: web.Request) -> web.StreamResponse:
    _no_token(request)
    data = await body_of(request)
    token, text = request.app[PAGES].admin.create_api_token(
        text_field(data, "name", required=True, max_len=200),
        text_field(data, "scope", required=True, max_len=20), now_ms=_store(request).now_ms())
    return reply({**token.to_json(), "token": text}, 201)


@operation("DELETE", "/tokens/{id}", summary="Revoke an API token (it stops working at once).",
           tag="tokens", session_only=True)
async def _revoke_token(request: web.Request) -> web.StreamResponse:
    _no_token(request)
    token = request.app[PAGES].admin.revoke_api_token(request.match_info["id"][:40])
    return reply({"revoked": token.id})


# --- exports and verification -----------------------------------------------------------

_EXPORT_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json", "graphml": "application/graphml+xml",
    "kumu": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "openreferral": "application/json"}


@operation("GET", "/export", summary="Export a view: CSV, Excel, JSON, GraphML, Kumu or Open "
           "Referral UK (the view's own parameters as query parameters too).", tag="views",
           cli=("export",), response={"type": "string", "format": "binary"},
           response_type="application/octet-stream",
           query=(("format", "csv, xlsx, json, graphml, kumu or openreferral.",
                   {"enum": list(_EXPORT_TYPES)}),
                  ("view", "Which view (default: directory; spread for graphml and kumu).",
                   {"type": "string"}),
                  ("evidence", "With format=json: the signed entries behind every figure.",
                   {"type": "boolean"})))
async def _export(request: web.Request) -> web.StreamResponse:
    from ..exports import export_view  # spreadsheet writers load only when exporting

    raw: dict[str, str | int | None] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) > 1:
            raise InvalidInput(f"{name[:40]}: give this parameter once", field=name[:40])
        raw[name] = values[0]
    fmt = str(raw.pop("format", "") or "")
    if fmt not in _EXPORT_TYPES:
        raise InvalidInput(f"format: one of {', '.join(_EXPORT_TYPES)}", field="format")
    view = raw.pop("view", None)
    evidence = str(raw.pop("evidence", "") or "").lower() in ("1", "true", "yes")
    data = await export_view(_store(request), fmt, str(view) if view else None, raw,
                             evidence=evidence)
    return web.Response(body=data, headers={
        "Content-Type": _EXPORT_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="hedgerow-{view or "export"}.{fmt}"'})


@operation("POST", "/verify", summary="Check a verifiable export: signatures, network, and "
           "every figure.", tag="views", cli=("verify",),
           body={"$ref": "#/components/schemas/VerifiableExport"})
async def _verify(request: web.Request) -> web.StreamResponse:
    from ..views import VerificationFailed, verify_export

    doc = await body_of(request)
    try:
        report = await asyncio.to_thread(verify_export, doc)
    except VerificationFailed as exc:
        return reply({"ok": False, "error": exc.message})
    except HedgerowError as exc:
        return reply({"ok": False, "error": exc.message})
    return reply({"ok": True, "view": report.view, "network": report.network,
                  "exported_by": report.exported_by, "entries": report.entries,
                  "notes": report.notes})
