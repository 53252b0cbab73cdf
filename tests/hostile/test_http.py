"""Hostile HTTP: long lines, odd methods, traversal, slow clients, compressed bodies, proxies.

Real nodes on loopback; raw sockets where no HTTP library would send it.
"""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import replace

import aiohttp
import pytest

from .conftest import MakeNode
from .harness import CONFIG, PASSWORD, Browser, HostileNode, RawHttp, Reply


def request(node: HostileNode, line: str, headers: str = "", body: bytes = b"") -> bytes:
    return (f"{line}\r\nHost: 127.0.0.1:{node.port}\r\n{headers}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


@pytest.mark.parametrize("line", [
    pytest.param("GET /" + "a" * 10_000 + " HTTP/1.1", id="a 10 KB URL"),
    pytest.param("GET /?" + "q=x&" * 3000 + " HTTP/1.1", id="a 12 KB query"),
    pytest.param("GET / HTTP/9.9", id="an unknown HTTP version"),
    pytest.param("GET  HTTP/1.1", id="no target"),
    pytest.param("\x16\x03\x01\x02\x00\x01", id="TLS sent to a plain port"),
])
async def test_malformed_request_lines_are_400(node: HostileNode, line: str) -> None:
    raw = RawHttp(node.port)
    await node.refused((400, 414, 505), lambda: raw.exchange(request(node, line)))


@pytest.mark.parametrize("headers", [
    pytest.param("X-Long: " + "a" * 20_000 + "\r\n", id="a 20 KB header"),
    pytest.param("".join(f"X-{i}: {i}\r\n" for i in range(200)), id="200 headers"),
    pytest.param("Bad Header\r\n", id="a header without a colon"),
    pytest.param("X-Null: a\x00b\r\n", id="a NUL in a header"),
])
async def test_malformed_headers_are_400(node: HostileNode, headers: str) -> None:
    raw = RawHttp(node.port)
    await node.refused((400, 431), lambda: raw.exchange(request(node, "GET /login HTTP/1.1",
                                                                 headers)))


@pytest.mark.parametrize("path", [
    "/static/../node.key", "/static/%2e%2e/node.key", "/static/..%2fnode.key",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/static//etc/passwd", "/../node.key",
    "/static/..\\node.key", "/practice/..%2f..%2fsettings",
])
async def test_path_traversal_reaches_nothing(node: HostileNode, path: str) -> None:
    raw = RawHttp(node.port)
    reply = await node.refused((302, 303, 400, 403, 404),
                               lambda: raw.exchange(request(node, f"GET {path} HTTP/1.1")))
    assert "private_key" not in reply.text and "BEGIN" not in reply.text


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PROPFIND",
                                    "FOO", "OPTIONS"])
@pytest.mark.parametrize("path", ["/sync/v2/push", "/login", "/api/v1/views/directory",
                                  "/settings/restore"])
async def test_odd_methods_change_nothing(node: HostileNode, method: str, path: str) -> None:
    raw = RawHttp(node.port)
    line = f"{method} {'127.0.0.1:1' if method == 'CONNECT' else path} HTTP/1.1"
    reply = await node.refused((400, 401, 403, 404, 405, 415, 501),
                               lambda: raw.exchange(request(node, line, body=b"x=1")))
    assert "Traceback" not in reply.text


async def test_slow_headers_do_not_hold_the_node(node: HostileNode) -> None:
    """Clients that trickle their headers: the node still answers everyone else."""
    writers = []
    try:
        for _ in range(50):
            _, writer = await asyncio.open_connection("127.0.0.1", node.port)
            writer.write(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            writers.append(writer)
        await asyncio.gather(*(w.drain() for w in writers))
        await node.refused(200, lambda: _get(node, "/.well-known/hedgerow"))
    finally:
        for writer in writers:
            writer.close()


async def _get(node: HostileNode, path: str, **headers: str) -> Reply:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
            http.get(node.url + path, headers=headers, allow_redirects=False) as resp:
        return Reply(resp.status, await resp.text(), dict(resp.headers))


@pytest.mark.parametrize("path", ["/login", "/setup", "/settings/restore", "/practices/new",
                                  "/api/v1/views/directory"])
async def test_pages_take_no_content_coding_either(node: HostileNode, path: str) -> None:
    """Finding 1 on the pages: a compressed form is 415, its body never read."""
    raw = RawHttp(node.port)
    bomb = gzip.compress(bytes(16 * 1024 * 1024))
    head = request(node, f"POST {path} HTTP/1.1",
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Encoding: gzip\r\n").replace(
        b"Content-Length: 0", f"Content-Length: {len(bomb)}".encode())
    await node.refused(415, lambda: raw.exchange(head, timeout=2, then=bomb))


# --- behind a reverse proxy (finding 4) ------------------------------------------------


async def test_forwarding_headers_are_ignored_unless_the_proxy_is_trusted(
        node: HostileNode) -> None:
    reply = await _get(node, "/login", **{"X-Forwarded-Proto": "https",
                                          "X-Forwarded-For": "203.0.113.9"})
    assert "Strict-Transport-Security" not in reply.headers
    assert "Secure" not in reply.headers.get("Set-Cookie", "")


async def test_behind_a_trusted_https_proxy_the_cookie_is_secure_and_hsts_is_sent(
        make_node: MakeNode) -> None:
    node = await make_node("proxied", config=replace(CONFIG, trusted_proxies=["127.0.0.1"]))
    reply = await _get(node, "/login", **{"X-Forwarded-Proto": "https",
                                          "X-Forwarded-For": "203.0.113.9"})
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "; Secure" in reply.headers["Set-Cookie"] or "secure" in \
        reply.headers["Set-Cookie"].lower()
    plain = await _get(node, "/login", **{"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


async def _wrong_password(node: HostileNode, address: str) -> int:
    browser = Browser(node.url, headers={"X-Forwarded-For": address})
    try:
        return (await browser.post("/login", {"password": "not it", "next": "/"})).status
    finally:
        await browser.close()


async def test_one_visitor_behind_the_proxy_cannot_lock_out_another(
        make_node: MakeNode) -> None:
    node = await make_node("proxied", config=replace(CONFIG, trusted_proxies=["127.0.0.1"]))
    statuses = [await _wrong_password(node, "203.0.113.9") for _ in range(7)]
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429]
    # Another visitor, through the same proxy, is not held back by the first one's limit.
    admin = Browser(node.url, headers={"X-Forwarded-For": "198.51.100.7"})
    try:
        await admin.login(PASSWORD)
    finally:
        await admin.close()


async def test_without_trusted_proxies_a_forged_address_gains_nothing(
        node: HostileNode) -> None:
    statuses = [await _wrong_password(node, f"203.0.113.{i}") for i in range(7)]
    assert statuses[5:] == [429, 429]  # all one address: the forged header is ignored


async def test_failures_from_everywhere_slow_the_account_down_but_never_lock_it(
        make_node: MakeNode) -> None:
    """Finding 4: login throttling keys on the account, with a delay, not a lock-out."""
    node = await make_node("proxied", config=replace(CONFIG, trusted_proxies=["127.0.0.1"]))
    limiter = node.pages().limiter
    for i in range(7):  # seven addresses, one wrong guess each
        assert await _wrong_password(node, f"203.0.113.{i}") == 400
    assert limiter.delay_for("admin") >= 1.0  # the next attempt waits before it is checked
    admin = Browser(node.url, headers={"X-Forwarded-For": "198.51.100.7"})
    try:
        await admin.login(PASSWORD)  # slowed, and let in
    finally:
        await admin.close()
