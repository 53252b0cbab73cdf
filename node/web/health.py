"""``/healthz`` and ``/metrics``: how the node is, for people's tools and for Prometheus.

* ``GET /healthz`` — no login (DESIGN.md privacy rule 4 names it): whether
  the node is up, whether its database answers, when it last synced and
  when it last took a good backup. Nothing private: no names, no records,
  no addresses. ``200`` while the database answers (``status`` is ``ok``,
  or ``degraded`` with the problems listed, e.g. a backup older than two
  days), ``503`` when it does not.
* ``GET /metrics`` — Prometheus text format, only when the ``metrics``
  setting is on (``404`` otherwise), and only to an API token or the admin
  login (:func:`.auth.authorise_metrics`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from ..backups import backup_health
from ..sync import peerbook

if TYPE_CHECKING:
    from ..service import NodeService

__all__ = ["health_summary", "routes"]

_HEALTH_TIMEOUT_S: Final = 5.0


def _peer_state(row: peerbook.PeerRow, now_ms: int) -> str:
    if row.health.last_success_ms is None:
        return "never_reached"
    return "backing_off" if row.health.failures else "live"


async def health_summary(service: NodeService) -> dict[str, Any]:
    """What ``/healthz`` says (and the pages' health line)."""
    store, config = service.store, service.config
    problems: list[str] = []
    database = "ok"
    last_sync_ms = None
    created_ms = store.now_ms()
    try:
        state = await asyncio.wait_for(store.state(), _HEALTH_TIMEOUT_S)
        created_ms = state.created_ms
        peers = await asyncio.wait_for(store.db.read(peerbook.list_peers), _HEALTH_TIMEOUT_S)
        successes = [p.health.last_success_ms for p in peers if p.health.last_success_ms]
        last_sync_ms = max(successes) if successes else None
    except Exception:  # any failure to answer is the finding itself
        database = "failing"
        problems.append("the database does not answer")
    backups = await asyncio.to_thread(backup_health, store.data_dir, config,
                                      now_ms=store.now_ms(), created_ms=created_ms)
    if not backups.enabled:
        problems.append("nightly backups are off")
    elif backups.stale:
        problems.append("the last good backup is older than 2 days")
    job = service.backups
    if job is not None and job.last_error:
        problems.append("the last backup failed")
    if job is not None and job.last_copy_error:
        problems.append("the last backup could not be copied to the second place")
    status = "failing" if database != "ok" else ("degraded" if problems else "ok")
    return {"status": status, "database": database, "last_sync_ms": last_sync_ms,
            "last_backup_ms": backups.last_ms, "backup_stale": backups.stale,
            "problems": problems}


async def healthz(request: web.Request) -> web.StreamResponse:
    from ..service import NODE_SERVICE

    summary = await health_summary(request.app[NODE_SERVICE])
    return web.json_response(summary, status=503 if summary["status"] == "failing" else 200,
                             headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.StreamResponse:
    from ..service import NODE_SERVICE

    service = request.app[NODE_SERVICE]
    if service.metrics is None:
        raise web.HTTPNotFound(text="metrics are off: set metrics = true in hedgerow.toml")
    from .auth import authorise_metrics  # the pages' login code, loaded when first asked

    await authorise_metrics(request)
    store = service.store
    peers = await store.db.read(peerbook.list_peers)
    now = store.now_ms()
    states = {"live": 0, "backing_off": 0, "never_reached": 0}
    for row in peers:
        states[_peer_state(row, now)] += 1
    held = await store.db.read(lambda db: int(db.conn.execute(
        "SELECT count(*) FROM entries").fetchone()[0]))
    backups = await asyncio.to_thread(backup_health, store.data_dir, service.config,
                                      now_ms=now, created_ms=now)
    service.metrics.refresh(peers=states, held=held, last_backup_ms=backups.last_ms)
    from ..metrics import CONTENT_TYPE

    return web.Response(body=service.metrics.exposition(),
                        headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/metrics", metrics)]
