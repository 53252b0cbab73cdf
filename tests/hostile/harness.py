"""The hostile suite's tools: a real node on loopback, and what every case asserts.

Every case sends something hostile to a real node — an aiohttp server
listening on 127.0.0.1, with its pages, its sync API and its own SQLite
database — and checks three things with :meth:`HostileNode.refused`:

1. the status the node answered;
2. that nothing was stored: every table that holds what the node keeps
   (entries, forks, private records, peers, blocklist, and any table added
   later) and the files in its data directory are as they were;
3. that the node still answers a normal request within 1 s.

New classes of attack (membership, peer-book poisoning) add a test module
here using the same fixtures: ``node`` (a claimed node), ``member`` (a
signed peer of the node's network) and :class:`RawHttp` for bytes no
well-behaved client would send.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from node import Store
from node import open_node as open_database_of
from node.service import NodeService
from node.settings import Config
from node.store.ingest import ingest_batch
from node.web.admin import AdminFile, PasswordHash, hash_password
from node.web.state import PAGES, PagesState
from protocol import HttpMessage, NodeKey, sign_hedgerow

from ..members import TEST_NETWORK
from ..node.conftest import make_member_node
from ..node.peer_entries import NETWORK as NETWORK
from ..node.peer_entries import OTHER_NETWORK as OTHER_NETWORK

PASSWORD = "correct horse battery"
SYNC_TYPE = "application/vnd.hedgerow.sync+msgpack"
#: The limits of a real node, except that a test's few dozen requests never hit the
#: per-IP limit by accident (tests of the limits set their own).
CONFIG = Config(mdns=False, sync_interval=3600, push_fanout=0, rate_limit_per_ip=1000,
                rate_limit_per_peer=1000)
#: Tables whose rows may change on a refused request: nonces of verified signatures
#: (remembered even when the request is then refused) and derived indexes.
_NOT_STATE = ("seen_nonces", "entries_generation")
_PASSWORD_HASH: list[PasswordHash] = []


def key_of(name: str) -> NodeKey:
    return NodeKey.from_seed(hashlib.sha256(f"hostile suite {name}".encode()).digest())


def password_hash() -> PasswordHash:
    if not _PASSWORD_HASH:  # scrypt is slow on purpose: once per run
        _PASSWORD_HASH.append(hash_password(PASSWORD))
    return _PASSWORD_HASH[0]


def _is_state_table(name: str) -> bool:
    return not (name.startswith(("_sqlite", "view_", "sqlite_")) or "_fts" in name
                or name in _NOT_STATE)


def state_of(data_dir: Path) -> dict[str, str]:
    """A digest of everything the node keeps: each state table, and the data directory."""
    out: dict[str, str] = {}
    conn = sqlite3.connect(f"file:{data_dir / 'hedgerow.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in filter(_is_state_table, tables):
            digest = hashlib.sha256()
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                digest.update(repr(row).encode())
            out[f"table {table}"] = digest.hexdigest()
    finally:
        conn.close()
    for path in sorted(data_dir.iterdir()):
        if not path.name.startswith("hedgerow.db"):
            out[f"file {path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest() \
                if path.is_file() else "dir"
    return out


@dataclass
class Reply:
    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


class HostileNode:
    """A running node under attack, and the three checks every case makes."""

    def __init__(self, service: NodeService) -> None:
        self.service = service

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def data_dir(self) -> Path:
        return self.service.store.data_dir

    def state(self) -> dict[str, str]:
        return state_of(self.data_dir)

    def pages(self) -> PagesState:
        """What the node's pages keep (sessions, the login limiter)."""
        runner = self.service._runner
        assert runner is not None
        return runner.app[PAGES]

    async def still_answers(self) -> None:
        """A normal request gets its normal answer within 1 s."""
        timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.get(f"{self.url}/.well-known/hedgerow") as resp:
                assert resp.status == 200
                assert (await resp.json())["node_id"] == self.service.store.key.node_id
            async with http.get(f"{self.url}/login") as resp:
                assert resp.status == 200

    async def refused(self, status: int | tuple[int, ...],
                      send: Callable[[], Awaitable[Reply | int]]) -> Reply:
        """Run ``send``; assert its status, that nothing was stored, and that the node answers."""
        before = self.state()
        reply = await send()
        if isinstance(reply, int):
            reply = Reply(reply, "")
        wanted = status if isinstance(status, tuple) else (status,)
        assert reply.status in wanted, f"answered {reply.status}, not {wanted}: {reply.text}"
        assert "Traceback" not in reply.text
        await asyncio.sleep(0)  # let the node finish anything the request started
        assert self.state() == before, "a refused request changed what the node keeps"
        await self.still_answers()
        return reply


class Signer:
    """Signs sync requests as a node would (or, on purpose, as it would not)."""

    def __init__(self, key: NodeKey, network: bytes, node: HostileNode,
                 clock: Callable[[], int]) -> None:
        self.key, self.network, self.node, self.clock = key, network, node, clock
        self._nonces = random.Random(key.node_id)

    def nonce(self) -> str:
        return "".join(self._nonces.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(24))

    def headers(self, endpoint: str, body: bytes, *, now_s: int | None = None,
                nonce: str | None = None, content_type: str = SYNC_TYPE) -> dict[str, str]:
        url = f"{self.node.url}/sync/v2/{endpoint}"
        msg = HttpMessage.for_request("POST", url, {"content-type": content_type}, body)
        fields = sign_hedgerow(msg, key=self.key.private_key, keyid=self.key.node_id,
                               network_id=self.network,
                               now=self.clock() // 1000 if now_s is None else now_s,
                               nonce=nonce or self.nonce())
        return {"Content-Type": content_type, **fields}

    async def post(self, endpoint: str, body: bytes, headers: dict[str, str] | None = None,
                   *, send_body: bytes | None = None) -> Reply:
        """POST ``send_body`` (default ``body``) with ``headers`` (default: signed)."""
        headers = self.headers(endpoint, body) if headers is None else headers
        return await post(f"{self.node.url}/sync/v2/{endpoint}",
                          body if send_body is None else send_body, headers)


async def post(url: str, body: bytes, headers: Mapping[str, str], *,
               timeout: float = 10.0) -> Reply:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout),
                                     auto_decompress=False) as http, \
            http.post(url, data=body, headers=dict(headers), allow_redirects=False) as resp:
        text = (await resp.read())[:2000].decode("utf-8", "replace")
        return Reply(resp.status, text, dict(resp.headers))


class Browser:
    """A person's browser, without JavaScript: keeps the cookie and fills the CSRF token."""

    def __init__(self, base: str, *, headers: Mapping[str, str] | None = None) -> None:
        self.base = base
        # unsafe: keep cookies set by an IP address (the node on 127.0.0.1).
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          headers=dict(headers or {}),
                                          timeout=aiohttp.ClientTimeout(total=30))
        self.token = ""

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str, **kwargs: Any) -> Reply:
        async with self.http.get(self.base + path, allow_redirects=False, **kwargs) as resp:
            text = await resp.text(errors="replace")
            self._remember_token(text)
            return Reply(resp.status, text, dict(resp.headers))

    def _remember_token(self, text: str) -> None:
        marker = 'name="csrf_token" value="'
        if marker in text:
            self.token = text.split(marker, 1)[1].split('"', 1)[0]

    async def post(self, path: str, fields: Mapping[str, str] | list[tuple[str, str]] | None
                   = None, *, csrf: bool = True, **kwargs: Any) -> Reply:
        if csrf and not self.token:
            await self.get("/login")
        data = list(fields.items() if isinstance(fields, Mapping) else fields or [])
        if csrf:
            data.insert(0, ("csrf_token", self.token))
        async with self.http.post(self.base + path, data=data, allow_redirects=False,
                                  **kwargs) as resp:
            text = await resp.text(errors="replace")
            self._remember_token(text)
            return Reply(resp.status, text, dict(resp.headers))

    async def login(self, password: str = PASSWORD) -> Reply:
        await self.get("/login")
        reply = await self.post("/login", {"password": password, "next": "/"})
        assert reply.status in (302, 303), (reply.status, reply.text[:500])
        return reply


class RawHttp:
    """Bytes on a socket to the node, for requests no HTTP library would send."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def exchange(self, data: bytes, *, timeout: float = 5.0,
                       then: bytes = b"", close_write: bool = False) -> Reply:
        """Send ``data``, read the reply's status line and headers (and what follows)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(data)
            await writer.drain()
            if close_write:
                writer.write_eof()
            async with asyncio.timeout(timeout):
                head = await reader.readuntil(b"\r\n\r\n")
                if then:
                    writer.write(then)
                body = await reader.read(4096)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
            return Reply(int(status_line.split(" ")[1]), body.decode("utf-8", "replace"),
                         headers)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def open_node(data_dir: Path, clock: Callable[[], int], *,
                    config: Config = CONFIG) -> HostileNode:
    store = await Store.open(data_dir, clock=clock)
    service = NodeService(store, config, rng=random.Random(1))
    try:
        await service.start(host="127.0.0.1", port=0, gossip=False, mdns=False)
    except BaseException:
        await store.close()
        raise
    return HostileNode(service)


async def close_node(node: HostileNode) -> None:
    await node.service.stop()
    await node.service.store.close()


#: The signers the node under attack holds admissions of: members of its network.
MEMBERS = ("member",)


def make_node_dir(root: Path, name: str = "node", *, claimed: bool = True,
                  now_ms: int = 1_700_000_000_000) -> Path:
    """A member of the test network that has admitted the :data:`MEMBERS` too."""
    data_dir = root / name
    make_member_node(data_dir, seed=hashlib.sha256(name.encode()).digest(), now_ms=now_ms)
    _, db = open_database_of(data_dir)
    try:
        ingest_batch(db, TEST_NETWORK.admissions(*(key_of(m) for m in MEMBERS)),
                     now_ms=now_ms)
    finally:
        db.close()
    if claimed:
        AdminFile(data_dir).set_password(password_hash())
    return data_dir


def json_of(reply: Reply) -> Any:
    return json.loads(reply.text)


def monotonic_ms() -> float:
    return time.monotonic() * 1000
