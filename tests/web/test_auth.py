"""Who may see and do what: first-run setup, login, sessions, CSRF, public pages, the API."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from node.sync import peerbook
from node.web.admin import AdminFile, normalise_setup_code, reset_password
from node.web.api import VIEWS_STORE, api_routes

from .conftest import AiohttpClient
from .pages import (
    NETWORK,
    PASSWORD,
    PageClient,
    PagesService,
    claim,
    invitation_code,
    text_of,
)

OTHER_NETWORK = bytes(32)


def setup_fields(code: str, **changes: str) -> dict[str, str]:
    fields = {"setup_code": code, "password": PASSWORD, "password_again": PASSWORD,
              "name": "Alder Street Tenants", "area": "LS6", "level": "local",
              "network": "keep", "invitation": ""}
    fields.update(changes)
    return fields


@pytest.fixture
async def fresh(service: PagesService, aiohttp_client: AiohttpClient) -> PageClient:
    """A client of a node that has no admin password yet."""
    return PageClient(await aiohttp_client(service.make_app()))


def code_of(service: PagesService) -> str:
    code = AdminFile(service.store.data_dir).read().setup_code
    assert code is not None
    return code


# --- first run -------------------------------------------------------------------------

async def test_an_unclaimed_node_serves_only_the_setup_page(fresh: PageClient) -> None:
    for path in ("/", "/practices", "/network/directory", "/settings", "/login"):
        response = await fresh.client.get(path, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/setup", path
    html = await fresh.get("/setup")
    assert "Setup code" in html and 'enctype="multipart/form-data"' in html
    # Forms elsewhere are refused; the sync endpoints stay open.
    await fresh.post("/practices/new", {"title": "x"}, status=403)
    response = await fresh.client.get("/.well-known/hedgerow")
    assert response.status == 200 and "node_id" in await response.json()
    assert (await fresh.client.get("/static/style.css")).status == 200


async def test_the_admin_file_is_private_and_holds_no_password(service: PagesService) -> None:
    service.make_app()
    path = service.store.data_dir / "admin.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["password"] is None and len(data["setup_code"]) == 14


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"setup_code": "AAAA-BBBB-CCCC"}, "setup_code", "not this node's setup code"),
    ({"setup_code": ""}, "setup_code", "not this node's setup code"),
    ({"password": "short", "password_again": "short"}, "password", "at least 10"),
    ({"password_again": "something else entirely"}, "password_again", "not the same"),
    ({"name": ""}, "name", "please fill this in"),
    ({"name": "x" * 500}, "name", "longer than 120"),
    ({"level": "galactic"}, "level", "must be one of"),
    ({"network": "sideways"}, "network", "must be one of"),
    ({"network": "join", "invitation": "HR1-NOTACODE"}, "invitation", "invitation code"),
    ({"network": "join", "invitation": ""}, "invitation", "please fill this in"),
    ({"network": "restore"}, "backup", "choose the backup file"),
])
async def test_setup_refuses_bad_input_readably(fresh: PageClient, service: PagesService,
                                                changes: dict[str, str], field: str,
                                                words: str) -> None:
    await fresh.get("/setup")
    code = code_of(service)
    html = await fresh.post("/setup", setup_fields(code, **changes), status=400)
    assert words in text_of(html)
    assert f'href="#field-{field}"' in html
    assert not AdminFile(service.store.data_dir).read().claimed


async def test_setup_with_an_invitation_for_another_network_explains(
        fresh: PageClient, service: PagesService) -> None:
    # A node that already holds entries cannot change networks.
    from tests.node.peer_entries import peer_key, practice

    await service.store.admit(peer_key("held").public)
    outcomes = await service.store.ingest([practice(peer_key("held"), "held",
                                                    1_700_000_000_000, network=NETWORK)])
    assert outcomes[0].stored
    other = invitation_code(OTHER_NETWORK, b"\x01" * 32, "http://127.0.0.1:9")
    await fresh.get("/setup")
    html = await fresh.post("/setup", setup_fields(code_of(service), network="join",
                                                   invitation=other), status=400)
    assert "another network" in text_of(html) and "hedgerow init --join" in text_of(html)
    assert service.store.network == NETWORK
    assert not AdminFile(service.store.data_dir).read().claimed


async def test_a_fresh_node_joins_the_network_of_its_invitation(
        fresh: PageClient, service: PagesService) -> None:
    # Nothing published or held but its own genesis: the node moves into the
    # invitation's network, leaving the one it founded unused.
    other = invitation_code(OTHER_NETWORK, b"\x01" * 32, "http://127.0.0.1:9")
    await fresh.get("/setup")
    await fresh.post("/setup", setup_fields(code_of(service), network="join",
                                            invitation=other))
    assert service.store.network == OTHER_NETWORK
    assert (await service.store.state()).network == OTHER_NETWORK
    assert AdminFile(service.store.data_dir).read().claimed


async def test_setup_claims_the_node_and_logs_in(fresh: PageClient,
                                                 service: PagesService) -> None:
    await fresh.get("/setup")
    code = code_of(service)
    invitation = invitation_code(NETWORK, b"\x02" * 32, "http://127.0.0.1:9")
    # The code is forgiving about case, spaces and look-alike letters.
    typed = code.lower().replace("-", " ").replace("1", "l")
    response = await fresh.client.post("/setup", data=[
        ("csrf_token", fresh.token), *setup_fields(typed, network="join",
                                                   invitation=invitation).items()],
        allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"
    state = AdminFile(service.store.data_dir).read()
    assert state.claimed and state.setup_code is None
    html = await fresh.get("/")
    assert "Alder Street Tenants" in html and "Log out" in html
    org = await service.store.get_organisation()
    assert (org.name, org.area, org.level) == ("Alder Street Tenants", "LS6", "local")
    peers = await service.store.db.read(peerbook.list_peers)
    assert [(p.address, p.source) for p in peers] == [("http://127.0.0.1:9", "invitation")]
    # Setup is over: its page now sends people on.
    response = await fresh.client.get("/setup", allow_redirects=False)
    assert response.headers["Location"] == "/"


async def test_setup_restores_a_backup(fresh: PageClient, service: PagesService,
                                       tmp_path: Path) -> None:
    store = service.store
    await store.create_practice({"title": "Seed swap"})
    backup = tmp_path / "backup.db"
    await store.backup(backup)
    await store.delete_practice("seed-swap")
    await fresh.get("/setup")
    fields: list[tuple[str, Any]] = [("csrf_token", fresh.token)]
    fields += setup_fields(code_of(service), network="restore").items()
    fields.append(("backup", backup.open("rb")))
    response = await fresh.client.post("/setup", data=fields, allow_redirects=False)
    assert response.status == 303, text_of(await response.text())
    assert [p.key for p in await store.list_practices()] == ["seed-swap"]
    assert await store.needs_catch_up()
    assert not list(store.data_dir.glob(".upload-*"))  # the upload was cleaned up


async def test_setup_attempts_are_rate_limited(fresh: PageClient,
                                               service: PagesService) -> None:
    await fresh.get("/setup")
    statuses = []
    for _ in range(7):
        response = await fresh.client.post("/setup", data=[
            ("csrf_token", fresh.token), *setup_fields("WRONG-CODE-0000").items()])
        statuses.append(response.status)
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429]
    assert "Too many attempts" in text_of(await response.text())


async def test_setup_without_its_token_first_is_refused(fresh: PageClient,
                                                        service: PagesService) -> None:
    await fresh.get("/setup")
    response = await fresh.client.post("/setup", data=[  # multipart: it holds a file
        *setup_fields(code_of(service)).items(), ("backup", io.BytesIO(b"")),
        ("csrf_token", fresh.token)])
    assert response.status == 403
    assert not AdminFile(service.store.data_dir).read().claimed


# --- login -------------------------------------------------------------------------------

async def test_logged_out_visitors_are_sent_to_login(anonymous: PageClient) -> None:
    for path in ("/", "/practices", "/practice/anything", "/settings", "/peers",
                 "/network/directory", "/settings/backup"):
        response = await anonymous.client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login"), path
    response = await anonymous.client.get("/practices?q=x", allow_redirects=False)
    assert response.headers["Location"] == "/login?next=/practices%3Fq%3Dx"
    # A form from a logged-out visitor is refused even with a valid (anonymous) token.
    await anonymous.get("/login")
    html = await anonymous.post("/practices/new", {"title": "Sneaky"}, status=403)
    assert "log in" in text_of(html).lower()


async def test_login_and_failed_login(anonymous: PageClient, service: PagesService) -> None:
    html = await anonymous.get("/login")
    assert 'type="password"' in html and 'autocomplete="current-password"' in html
    html = await anonymous.post("/login", {"password": "not the password"}, status=400)
    assert "That password is not right." in text_of(html)
    assert PASSWORD not in html and "not the password" not in html
    response = await anonymous.client.post("/login", data={
        "csrf_token": anonymous.token, "password": PASSWORD, "next": "//evil.example/"},
        allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    await anonymous.get("/practices")


async def test_login_gives_a_new_session_token(anonymous: PageClient) -> None:
    await anonymous.get("/login")
    before = anonymous.client.session.cookie_jar.filter_cookies(
        anonymous.client.make_url("/"))["hedgerow_session"].value
    await anonymous.post("/login", {"password": PASSWORD})
    after = anonymous.client.session.cookie_jar.filter_cookies(
        anonymous.client.make_url("/"))["hedgerow_session"].value
    assert before != after


async def test_login_is_rate_limited(anonymous: PageClient) -> None:
    await anonymous.get("/login")
    statuses = []
    for _ in range(6):
        response = await anonymous.client.post("/login", data={
            "csrf_token": anonymous.token, "password": "wrong guess"})
        statuses.append(response.status)
    assert statuses == [400] * 5 + [429]
    assert "Wait" in text_of(await response.text())


async def test_logout(pages: PageClient) -> None:
    html = await pages.post("/logout")
    assert "You are logged out." in html
    response = await pages.client.get("/", allow_redirects=False)
    assert response.headers["Location"].startswith("/login")


async def test_reset_password_logs_everyone_out(pages: PageClient,
                                                service: PagesService) -> None:
    code = reset_password(service.store.data_dir)
    response = await pages.client.get("/practices", allow_redirects=False)
    assert response.headers["Location"] == "/setup"
    assert normalise_setup_code(code) == code


# --- CSRF --------------------------------------------------------------------------------

async def test_forms_without_the_session_token_are_refused(pages: PageClient,
                                                           service: PagesService) -> None:
    html = await pages.post("/practices/new", {"title": "No token"}, csrf=False, status=403)
    assert "security token" in text_of(html)
    await pages.post("/practices/new", {"title": "Bad token", "csrf_token": "forged"},
                     csrf=False, status=403)
    response = await pages.client.post("/practices/new", json={"title": "JSON"})
    assert response.status == 403
    assert await service.store.list_practices() == []


# --- public pages and the API ----------------------------------------------------------

async def test_public_pages_are_read_only(anonymous: PageClient,
                                          service: PagesService) -> None:
    AdminFile(service.store.data_dir).set_public_pages(frozenset({"network", "peers"}))
    html = await anonymous.get("/network/directory")
    assert "Log in" in html and "Our practices" not in html
    await anonymous.get("/peers")
    assert "Add a peer" not in await anonymous.get("/peers")
    response = await anonymous.client.get("/practices", allow_redirects=False)
    assert response.status == 303
    await anonymous.post("/network/credit", {"node": "x", "key": "y"}, status=403)
    await anonymous.post("/peers/add", {"peer": "http://127.0.0.1:1"}, status=403)


@pytest.fixture
async def api_client(service: PagesService, aiohttp_client: AiohttpClient) -> PageClient:
    claim(service.store.data_dir)
    app: web.Application = service.make_app()
    app[VIEWS_STORE] = service.store
    app.add_routes(api_routes())
    return PageClient(await aiohttp_client(app))


async def test_the_json_api_needs_the_login(api_client: PageClient,
                                           service: PagesService) -> None:
    response = await api_client.client.get("/api/v1/views/themes")
    assert response.status == 401 and "log in" in (await response.json())["error"]
    await api_client.login()
    response = await api_client.client.get("/api/v1/views/themes")
    assert response.status == 200
    await api_client.post("/logout")
    AdminFile(service.store.data_dir).set_public_pages(frozenset({"api"}))
    assert (await api_client.client.get("/api/v1/views/themes")).status == 200


async def test_security_headers(pages: PageClient) -> None:
    response = await pages.client.get("/practices")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


async def test_unknown_pages_are_a_readable_404(pages: PageClient) -> None:
    html = await pages.get("/no/such/page", status=404)
    assert "There is no such page" in text_of(html)


# --- the CLI ---------------------------------------------------------------------------

def test_cli_setup_code_and_reset_password(tmp_path: Path) -> None:
    import click

    from cli import web as web_cli

    @click.group()
    def hedgerow() -> None:
        """Stand-in for the root group."""

    web_cli.register(hedgerow)
    runner = CliRunner()
    data_dir = tmp_path / "node"
    result = runner.invoke(hedgerow, ["setup-code", "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "no data directory" in result.output
    data_dir.mkdir()
    first = runner.invoke(hedgerow, ["setup-code", "--data-dir", str(data_dir)])
    again = runner.invoke(hedgerow, ["setup-code", "--data-dir", str(data_dir)])
    assert first.exit_code == 0 and first.output == again.output
    claim(data_dir)
    result = runner.invoke(hedgerow, ["setup-code", "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "reset-password" in result.output
    result = runner.invoke(hedgerow, ["reset-password", "--data-dir", str(data_dir)],
                           input="n\n")
    assert result.exit_code == 1 and AdminFile(data_dir).read().claimed
    result = runner.invoke(hedgerow, ["reset-password", "--data-dir", str(data_dir), "--yes"])
    assert result.exit_code == 0 and "Setup code:" in result.output
    state = AdminFile(data_dir).read()
    assert not state.claimed and state.epoch == 1
    assert state.setup_code is not None and state.setup_code in result.output
