"""Privacy canaries on every byte a node sends (DESIGN.md privacy rule 1).

Canary strings are planted in every private field of two practice records
(the same planting as tests/node/store/test_privacy.py), which are then
published under the fullest share policy. Then every route of the node's
app — taken from its router, so a new route is scanned without touching
this test — is requested anonymously and logged in, with every method it
has, plus error pages, the JSON API with searches, every export format of
every view, and every sync reply (reconcile, fetch of everything, push).
No canary may appear in any status line, header or body, nor in the log.

The only exception is the group's own view of its private records, logged
in: the pages and API operations for recording and sharing a practice, and
the backup download (the whole database, for the group itself). Anonymous visitors see nothing
of those either.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from node.errors import InvalidInput
from node.exports import FORMATS, export_view
from node.store import feed, sharing
from node.store.datadir import open_node as open_data_dir
from node.views import VIEWS
from protocol.messages import encode_fetch_request, encode_push_request, encode_reconcile
from protocol.negentropy import Negentropy, NegentropyStorage

from ..node.conftest import FakeClock
from ..node.peer_entries import practice
from ..node.store.test_privacy import plant
from .conftest import MakeNode
from .harness import Browser, HostileNode, Signer, key_of, make_node_dir, open_node

#: Route names whose pages are the group's own private records, shown to it when logged
#: in (DESIGN.md: records stay on the node; the group sees and edits them there).
OWN_RECORD_ROUTES = re.compile(r"^(practices\.|share\.|settings\.backup$)")
#: The same for the JSON API, by path: the records, their measures, and the backup.
OWN_RECORD_PATHS = re.compile(r"^/api/v1/(records|measures|backup$)")


def own_records(name: str, template: str) -> bool:
    return bool(OWN_RECORD_ROUTES.match(name) or OWN_RECORD_PATHS.match(template))


def _planted(data_dir: Path) -> tuple[dict[str, str], list[str]]:
    canary: dict[str, str] = {}
    keys = []
    node_key, db = open_data_dir(data_dir)
    try:
        rng = random.Random(20240501)
        for n in range(2):
            key, policy = plant(db, n, canary, rng)
            sharing.set_share_policy(db, key, policy, now_ms=1_700_000_000_000)
            feed.publish_practice(db, node_key, key, now_ms=1_700_000_000_001 + n)
            keys.append(key)
        ids = {
            "measure_id": db.execute("SELECT min(id) FROM measures").fetchone()[0],
            "observation_id": db.execute("SELECT min(id) FROM observations").fetchone()[0],
            "lesson_id": db.execute("SELECT min(id) FROM lessons").fetchone()[0],
            "voice_id": db.execute("SELECT min(id) FROM voices").fetchone()[0],
            "adaptation_id": db.execute("SELECT min(id) FROM adaptations").fetchone()[0],
        }
    finally:
        db.close()
    _planted.ids = ids  # type: ignore[attr-defined]
    return canary, keys


def _fill(template: str, values: dict[str, list[str]]) -> Iterator[str]:
    names = re.findall(r"{(\w+)}", template)
    unknown = [n for n in names if n not in values]
    assert not unknown, f"{template}: teach this test what to put in {unknown}"
    paths = [template]
    for name in names:
        paths = [p.replace("{" + name + "}", quote(v, safe="")) for p in paths
                 for v in values[name]]
    yield from paths


def _routes(app: web.Application) -> list[tuple[str, str, str]]:
    """(method, path template, route name) of every route the app serves."""
    out = []
    for resource in app.router.resources():
        info = resource.get_info()
        template = info.get("formatter") or info.get("path") or ""
        if "prefix" in info:  # static files: scanned through their directory below
            template = info["prefix"] + "/{static_file}"
        for route in resource:
            if route.method != "HEAD":
                out.append((route.method, template, resource.name or ""))
    return out


class Scanner:
    def __init__(self, canary: dict[str, str]) -> None:
        self.canary = canary
        self.patterns = {text: where for text, where in canary.items()}
        self.count = 0

    def check(self, what: str, data: bytes | str) -> None:
        blob = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
        self.count += 1
        for text, where in self.patterns.items():
            for form in (text, quote(text), text.replace(" ", "+")):
                assert form.encode() not in blob, f"{where} leaked into {what}"

    async def response(self, what: str, resp: aiohttp.ClientResponse) -> None:
        if resp.content_type == "text/event-stream":
            # Live updates never end: scan what the first second of the stream sends.
            body = b""
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    async for chunk in resp.content.iter_any():
                        body += chunk
        else:
            body = await resp.read()
        head = f"{resp.status} {resp.reason}\n" + "\n".join(
            f"{k}: {v}" for k, v in resp.headers.items())
        self.check(what, head.encode() + b"\n" + body)
        if body[:2] == b"PK":  # an xlsx: scan what it holds, not its compressed bytes
            with zipfile.ZipFile(io.BytesIO(body)) as book:
                for name in book.namelist():
                    self.check(f"{what} ({name})", book.read(name))


@pytest.fixture
async def planted(tmp_path: Path, clock: FakeClock) -> Any:
    data_dir = make_node_dir(tmp_path, "canaries")
    canary, keys = _planted(data_dir)
    node = await open_node(data_dir, clock)
    yield node, canary, keys
    from .harness import close_node
    await close_node(node)


async def test_no_canary_in_any_response_of_any_route(planted: Any, clock: FakeClock,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    node, canary, keys = planted
    node: HostileNode
    assert len(canary) == 2 * 18
    scan = Scanner(canary)
    app = node.pages().service._runner.app  # type: ignore[union-attr]
    static = sorted(p.name for p in (Path(__import__("node.web").web.__file__).parent
                                     / "static").iterdir())
    ids = {k: [str(v), "999999"] for k, v in _planted.ids.items()}  # type: ignore[attr-defined]
    values = {"key": [*keys, "no-such-practice"], "name": list(VIEWS), **ids,
              "endpoint": ["reconcile", "fetch", "push", "join", "nothing"],
              "version": ["v2", "v1"], "static_file": static,
              "node": [node.service.store.key.node_id, "not-a-node"],
              "id": ["1", "999999"], "token_id": ["1", "999999"]}
    routes = _routes(app)
    assert len(routes) > 40
    # Searches for the canaries' common prefix and for what the records talk about.
    queries = ["", "?q=CANARY0", "?q=practice", "?limit=500", "?format=csv"]

    async def sweep(browser: Browser, logged_in: bool) -> None:
        for method, template, name in routes:
            for path in _fill(template, values):
                where = f"{method} {path} ({'logged in' if logged_in else 'anonymous'})"
                if method == "GET":
                    for query in queries if "{" not in template or "/api/" in path \
                            else [""]:
                        async with browser.http.get(node.url + path + query,
                                                    allow_redirects=False) as resp:
                            if logged_in and own_records(name, template):
                                continue
                            await scan.response(where + query, resp)
                elif name != "login.logout":
                    # A form sent with the session's token but nothing else in it: the
                    # error pages (and any page shown again) are scanned.
                    form = {"csrf_token": browser.token} if browser.token else {}
                    async with browser.http.post(node.url + path, data=form,
                                                 allow_redirects=False) as resp:
                        if logged_in and own_records(name, template):
                            continue
                        await scan.response(where, resp)

    anonymous = Browser(node.url)
    admin = Browser(node.url)
    try:
        await anonymous.get("/login")
        await sweep(anonymous, logged_in=False)
        await admin.login()
        await admin.get("/")
        await sweep(admin, logged_in=True)
        # Every page group made public, then seen by a stranger.
        await admin.post("/settings/public-pages",
                         [("pages", g) for g in ("network", "peers", "api")])
        await sweep(anonymous, logged_in=False)
        for path in ("/no/such/page", "/practice/%00", "/api/v1/views/nothing",
                     "/api/v1/views/directory?limit=-1", "/static/nothing.css"):
            async with admin.http.get(node.url + path) as resp:
                await scan.response(f"error page {path}", resp)
    finally:
        await anonymous.close()
        await admin.close()

    # Every export of every view, in every format.
    store = node.service.store
    exported = 0
    for view in [*VIEWS, None]:
        for fmt in FORMATS:
            try:
                data = await export_view(store, fmt, view, {})
            except InvalidInput:  # a format that view does not come in
                continue
            exported += 1
            if data[:2] == b"PK":
                with zipfile.ZipFile(io.BytesIO(data)) as book:
                    for inner in book.namelist():
                        scan.check(f"export {view}.{fmt} ({inner})", book.read(inner))
            else:
                scan.check(f"export {view}.{fmt}", data)

    # Every sync reply: reconcile from nothing, fetch everything, push.
    member = Signer(key_of("member"), node.service.store.network, node, clock)
    empty = NegentropyStorage.from_sorted([])
    first = encode_reconcile({"all": Negentropy(empty).initiate()})
    reply = await member.post("reconcile", first)
    scan.check("sync reconcile reply", reply.text.encode("utf-8", "surrogateescape"))
    held = [i for _, i in await store.current_set()]
    async with aiohttp.ClientSession() as http:
        for endpoint, body in (("reconcile", first), ("fetch", encode_fetch_request(held)),
                               ("push", encode_push_request([practice(member.key, "x",
                                                                      1_700_000_000_000)]))):
            async with http.post(f"{node.url}/sync/v2/{endpoint}", data=body,
                                 headers=member.headers(endpoint, body)) as resp:
                assert resp.status == 200
                await scan.response(f"sync {endpoint} reply", resp)
    assert exported >= len(VIEWS) * 3 and scan.count > 500
    for record in caplog.records:
        scan.check(f"log line {record.name}", record.getMessage() + (record.exc_text or ""))
    assert logging.getLogger().isEnabledFor(logging.DEBUG)


async def test_the_scan_has_teeth(make_node: MakeNode) -> None:
    scan = Scanner({"CANARY0xnotesx00000000ab": "record 0: notes"})
    with pytest.raises(AssertionError, match="record 0: notes leaked"):
        scan.check("a page", b"<p>CANARY0xnotesx00000000ab</p>")
    with pytest.raises(AssertionError):
        scan.check("a query", b"/?q=CANARY0xnotesx00000000ab")
