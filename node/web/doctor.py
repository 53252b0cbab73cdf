"""The health check page (``/doctor``): ``hedgerow doctor``'s checks, for the logged-in group."""

from __future__ import annotations

from aiohttp import web

from .render import render
from .state import PAGES

__all__ = ["routes"]


async def doctor_page(request: web.Request) -> web.StreamResponse:
    # Imported here: node.doctor reads the admin state through this package.
    from ..doctor import needs_action, run_checks

    service = request.app[PAGES].service
    backups = service.backups
    findings = await run_checks(service.store, service.config,
                                last_backup_error=backups.last_error if backups else None)
    return await render(request, "doctor.html", {"findings": findings,
                                                 "action": needs_action(findings)},
                        title="Health check")


def routes() -> list[web.RouteDef]:
    return [web.get("/doctor", doctor_page, name="private.doctor")]
