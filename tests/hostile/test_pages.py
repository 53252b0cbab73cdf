"""Hostile visitors of the pages: forms from elsewhere, redirects, setup uploads, searches."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import MakeNode
from .harness import PASSWORD, Browser, HostileNode, Reply

# --- CSRF --------------------------------------------------------------------------------


@pytest.fixture
async def admin(node: HostileNode) -> Browser:
    browser = Browser(node.url)
    await browser.login()
    yield browser
    await browser.close()


@pytest.mark.parametrize("how", ["no token", "a forged token", "another session's token",
                                 "the token in the query", "as JSON", "as text/plain"])
async def test_forms_without_this_sessions_token_are_403(node: HostileNode, admin: Browser,
                                                         how: str) -> None:
    other = Browser(node.url)
    await other.get("/login")
    try:
        async def send() -> Reply:
            fields = {"title": "Planted practice"}
            if how == "no token":
                return await admin.post("/practices/new", fields, csrf=False)
            if how == "a forged token":
                return await admin.post("/practices/new", {**fields, "csrf_token": "x" * 43},
                                        csrf=False)
            if how == "another session's token":
                return await admin.post("/practices/new", {**fields, "csrf_token": other.token},
                                        csrf=False)
            if how == "the token in the query":
                return await admin.post(f"/practices/new?csrf_token={quote(admin.token)}",
                                        fields, csrf=False)
            async with admin.http.post(
                    node.url + "/practices/new", allow_redirects=False,
                    **({"json": {**fields, "csrf_token": admin.token}} if how == "as JSON"
                       else {"data": f"csrf_token={admin.token}&title=x",
                             "headers": {"Content-Type": "text/plain"}})) as resp:
                return Reply(resp.status, await resp.text())
        await node.refused(403, send)
    finally:
        await other.close()


async def test_a_cross_site_form_gets_no_cookie_and_no_way_in(node: HostileNode,
                                                              admin: Browser) -> None:
    # The cookie is SameSite=Strict: a form posted from another site arrives without it,
    # so it is an anonymous visitor's: refused.
    async def send() -> Reply:
        async with aiohttp.ClientSession() as stranger, stranger.post(
                node.url + "/peers/add", data={"address": "http://127.0.0.1:1"},
                headers={"Origin": "https://evil.example", "Referer": "https://evil.example/"},
                allow_redirects=False) as resp:
            return Reply(resp.status, await resp.text())
    await node.refused(403, send)
    reply = await admin.get("/login")
    assert "SameSite=Strict" in reply.headers.get("Set-Cookie", "SameSite=Strict")


# --- open redirects ------------------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example",
    "http:evil.example", "/%2F%2Fevil.example", "javascript:alert(1)", "/\r\nLocation: x",
    "%2F%2Fevil.example", "/" + "a" * 600,
])
async def test_login_never_redirects_off_the_node(node: HostileNode, target: str) -> None:
    browser = Browser(node.url)
    try:
        await browser.get("/login?next=" + quote(target, safe=""))

        async def send() -> Reply:
            return await browser.post("/login", {"password": PASSWORD, "next": target})
        before = node.state()
        reply = await send()
        if len(target) > 500:  # too long to be a path on this node: refused outright
            assert reply.status == 400 and "Location" not in reply.headers
            return
        assert reply.status in (302, 303)
        location = reply.headers["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\"))
        assert "evil" not in location.split("?")[0] or location.startswith("/%2F")
        assert node.state() == before
        await node.still_answers()
    finally:
        await browser.close()


# --- setup uploads (finding 5) -------------------------------------------------------------


def _uploads(data_dir: Path) -> list[str]:
    return [p.name for p in data_dir.iterdir() if p.name.startswith(".upload-")]


async def _stream_setup(node: HostileNode, *, code: str, megabytes: int,
                        drop_after: int | None = None) -> Reply:
    """POST /setup as the page does (token first), with a backup of ``megabytes`` MiB."""
    browser = Browser(node.url)
    try:
        await browser.get("/setup")
        boundary = "hostileboundary"

        def field(name: str, value: str) -> bytes:
            return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                    f"{value}\r\n").encode()

        head = (field("csrf_token", browser.token) + field("setup_code", code)
                + field("password", "a long enough password")
                + field("password_again", "a long enough password") + field("name", "Mine")
                + field("level", "local") + field("network", "restore")
                + f"--{boundary}\r\nContent-Disposition: form-data; name=\"backup\"; "
                  f"filename=\"backup.db\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                  .encode())
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = megabytes * 1024 * 1024
        cookie = "; ".join(f"{c.key}={c.value}" for c in browser.http.cookie_jar)
        reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
        writer.write((f"POST /setup HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
                      f"Cookie: {cookie}\r\nContent-Type: multipart/form-data; "
                      f"boundary={boundary}\r\nContent-Length: {len(head) + size + len(tail)}"
                      "\r\n\r\n").encode() + head)
        chunk = os.urandom(256 * 1024)
        sent = 0
        status = 0
        try:
            while sent < size:
                if drop_after is not None and sent >= drop_after * 1024 * 1024:
                    # The connection drops mid-file; the partial file must go.
                    writer.transport.abort()
                    return Reply(0, "")
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
            writer.write(tail)
            await writer.drain()
        except ConnectionError:
            pass  # the node stopped reading and closed: its answer is waiting
        line = await asyncio.wait_for(reader.readline(), 10)
        status = int(line.split()[1])
        rest = await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        return Reply(status, rest.decode("utf-8", "replace"))
    finally:
        await browser.close()


async def test_a_wrong_setup_code_stores_no_byte_of_the_upload(make_node: MakeNode) -> None:
    """Finding 5: the code is checked before the file is read; nothing reaches the disk."""
    node = await make_node("unclaimed", claimed=False)
    seen: list[list[str]] = []

    async def watch() -> None:
        while True:
            seen.append(_uploads(node.data_dir))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        reply = await node.refused(400, lambda: _stream_setup(node, code="WRNG-CODE-0000",
                                                               megabytes=64))
    finally:
        watcher.cancel()
    assert "setup code" in reply.text
    assert not any(seen), "a file from a stranger's upload reached the disk"


async def test_a_dropped_upload_leaves_no_partial_file(make_node: MakeNode) -> None:
    node = await make_node("unclaimed", claimed=False)
    code = node.pages().admin.read().setup_code
    assert code is not None
    before = node.state()
    await _stream_setup(node, code=code, megabytes=40, drop_after=4)
    for _ in range(500):  # the node notices the drop on its next read
        if not _uploads(node.data_dir):
            break
        await asyncio.sleep(0.01)
    assert _uploads(node.data_dir) == []
    assert node.state() == before
    await node.still_answers()


async def test_an_upload_over_the_cap_is_refused_and_deleted(
        make_node: MakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    from node.web import uploads

    node = await make_node("unclaimed", claimed=False)
    code = node.pages().admin.read().setup_code
    assert code is not None
    monkeypatch.setattr(uploads, "MAX_BACKUP_BYTES", 4 * 1024 * 1024)
    reply = await _stream_setup(node, code=code, megabytes=16)
    assert reply.status == 400 and "larger than 4 MiB" in reply.text
    assert _uploads(node.data_dir) == []
    await node.still_answers()


# --- search (finding 6) --------------------------------------------------------------------

NASTY_SEARCHES = ['"', '""', '"""', "'", "a AND", "OR", "NOT x", "NEAR(a b)", "x*", "*",
                  "-x", "^x", "title:x", "(", ")", "{a b}", "a + b", "\\", "\x00", "\u202e",
                  "🙂", "a\"b", "  ", "x" * 200]


@pytest.mark.parametrize("q", NASTY_SEARCHES)
async def test_any_typed_text_is_a_valid_search(node: HostileNode, admin: Browser,
                                                q: str) -> None:
    """Finding 6: quotes and FTS operators are words; never a 500, never a traceback."""
    for path in (f"/api/v1/views/directory?q={quote(q)}", f"/network/directory?q={quote(q)}",
                 f"/practices?q={quote(q)}",
                 f"/api/v1/views/directory/evidence?q={quote(q)}"):
        reply = await node.refused((200, 400), lambda path=path: admin.get(path))
        assert reply.status == 200 or q.strip() in ("", "\x00"), (path, reply.text[:300])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=1, max_size=60))
async def test_any_text_at_all_searches_without_error(node: HostileNode, admin: Browser,
                                                      q: str) -> None:
    reply = await admin.get(f"/api/v1/views/directory?q={quote(q)}")
    assert reply.status in (200, 400), reply.text[:300]
    if reply.status == 400:
        assert "q:" in reply.text  # a clear word about the parameter, never a crash
