"""``/healthz`` (no login, nothing private) and ``/metrics`` (off by default, behind a token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.backups import STALE_AFTER_MS
from node.events import PeerSynced, PeerUnreachable
from node.settings import Config
from node.web.admin import AdminFile

from .conftest import AiohttpClient
from .pages import CONFIG, PageClient, PagesService, claim, open_service

CREATED_MS = 1_700_000_000_000  # when pages.make_data_dir made the template node


async def _service(tmp_path: Path, template_node: Path, *, now_ms: int = CREATED_MS + 60_000,
                   config: Config = CONFIG) -> PagesService:
    import shutil

    data_dir = tmp_path / "node"
    shutil.copytree(template_node, data_dir)
    return await open_service(data_dir, config=config, clock=lambda: now_ms)


async def test_healthz_answers_anyone_and_says_nothing_private(
        tmp_path: Path, template_node: Path, aiohttp_client: AiohttpClient) -> None:
    service = await _service(tmp_path, template_node)
    try:
        await service.store.update_organisation({"name": "Secret Garden Group"})
        client = await aiohttp_client(service.make_app())
        for claimed in (False, True):  # before and after the node is set up
            if claimed:
                claim(service.store.data_dir)
            response = await client.get("/healthz")
            assert response.status == 200
            body = await response.json()
            assert body["status"] == "ok" and body["database"] == "ok"
            assert body["last_backup_ms"] is None and body["backup_stale"] is False
            assert set(body) == {"status", "database", "last_sync_ms", "last_backup_ms",
                                 "backup_stale", "problems"}
            text = await response.text()
            assert "Secret Garden" not in text and service.store.key.node_id not in text
            assert response.headers["Cache-Control"] == "no-store"
    finally:
        await service.store.close()


async def test_healthz_reports_a_stale_backup(tmp_path: Path, template_node: Path,
                                              aiohttp_client: AiohttpClient) -> None:
    service = await _service(tmp_path, template_node, now_ms=CREATED_MS + STALE_AFTER_MS + 1)
    data_dir = service.store.data_dir
    try:
        client = await aiohttp_client(service.make_app())
        body = await (await client.get("/healthz")).json()
        assert body["status"] == "degraded" and body["backup_stale"] is True
        assert body["problems"] == ["the last good backup is older than 2 days"]
        claim(data_dir)
        pages = PageClient(client)
        await pages.login()
        assert "older than 2 days" in await pages.get("/")
    finally:
        await service.store.close()


async def test_healthz_fails_when_the_database_does_not_answer(
        service: PagesService, aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(service.make_app())
    await service.store.db.close()
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["status"] == "failing"


async def test_metrics_are_off_by_default(pages: PageClient) -> None:
    response = await pages.client.get("/metrics")
    assert response.status == 404


async def _metrics_service(tmp_path: Path, template_node: Path) -> PagesService:
    import dataclasses

    return await _service(tmp_path, template_node,
                          config=dataclasses.replace(CONFIG, metrics=True))


async def test_metrics_need_a_token_and_count_what_happens(
        tmp_path: Path, template_node: Path, aiohttp_client: AiohttpClient) -> None:
    service = await _metrics_service(tmp_path, template_node)
    try:
        claim(service.store.data_dir)
        client = await aiohttp_client(service.make_app())
        assert (await client.get("/metrics")).status == 401
        bad = {"Authorization": "Bearer hrt_00000000_nope"}
        assert (await client.get("/metrics", headers=bad)).status == 401
        _, token = AdminFile(service.store.data_dir).create_api_token(
            "prometheus", "read", now_ms=1)
        service.events.publish(PeerSynced("http://127.0.0.1:1", 3, 2, 100, 200, 1))
        service.events.publish(PeerUnreachable("http://127.0.0.1:2", "refused", 5.0))
        await client.post("/sync/v1/reconcile", data=b"junk")  # refused: not signed
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/views/health", headers=auth)).status == 200
        assert (await client.get("/api/v1/views/no-such-view", headers=auth)).status == 404
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
        values = _samples(text)
        assert values['hedgerow_sync_sessions_total{outcome="ok"}'] == 1
        assert values['hedgerow_sync_sessions_total{outcome="failed"}'] == 1
        assert values['hedgerow_entries_total{direction="in"}'] == 3
        assert values['hedgerow_entries_total{direction="out"}'] == 2
        assert values['hedgerow_sync_bytes_total{direction="down"}'] == 200
        assert values['hedgerow_rejected_requests_total{reason="unauthenticated"}'] >= 1
        assert values["hedgerow_entries_held"] == len(await service.store.current_set())
        assert values['hedgerow_view_seconds_count{view="health"}'] == 1
        assert not [k for k in values if "no-such-view" in k]  # no label a client chose
        assert values['hedgerow_peers{state="live"}'] == 0
        # A revoked token stops working at once.
        token_id = token.split("_")[1]
        AdminFile(service.store.data_dir).revoke_api_token(token_id)
        assert (await client.get("/metrics", headers={
            "Authorization": f"Bearer {token}"})).status == 401
    finally:
        await service.store.close()


def _samples(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def test_the_health_check_page(pages: PageClient) -> None:
    html = await pages.get("/doctor")
    assert "Health check" in html and "integrity check passed" in html


async def test_the_health_check_page_needs_the_login(anonymous: PageClient) -> None:
    response = await anonymous.client.get("/doctor", allow_redirects=False)
    assert response.status in (302, 303) and response.headers["Location"].startswith("/login")
