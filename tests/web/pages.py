"""Helpers for the pages' tests: a node service with its pages, and a form-filling client."""

from __future__ import annotations

import functools
import hashlib
import random
import re
from html import unescape
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from node import Store, init_node
from node.service import NodeService
from node.settings import Config
from node.web import setup_pages
from node.web.admin import AdminFile, PasswordHash, hash_password
from protocol import Invitation, NodeKey, format_invitation, network_id_of


def _nonce(name: str) -> bytes:
    return hashlib.sha256(f"the pages' test network of {name}".encode()).digest()[:16]


def network_of(name: str) -> bytes:
    """The network the node ``make_data_dir(root, name)`` founds."""
    return network_id_of(NodeKey.from_seed(hashlib.sha256(name.encode()).digest()).public,
                         _nonce(name))


NETWORK = network_of("node")
PASSWORD = "correct horse battery"
CONFIG = Config(mdns=False, sync_interval=3600, push_fanout=3, rate_limit_per_peer=1000,
                rate_limit_per_ip=1000)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class PagesService(NodeService):
    """A node service whose app has the pages (until NodeService.make_app mounts them)."""

    def make_app(self) -> web.Application:
        app = super().make_app()
        setup_pages(app, self)  # a no-op once make_app mounts the pages itself
        return app


def make_data_dir(root: Path, name: str, *, network: bytes | None = None,
                  now_ms: int = 1_700_000_000_000) -> Path:
    """A node as `hedgerow init` makes it: the founder of a network of its own
    (:func:`network_of`), or, given ``network``, a node waiting to join it."""
    data_dir = root / name
    init_node(data_dir, network=network, nonce=None if network else _nonce(name),
              seed=hashlib.sha256(name.encode()).digest(), now_ms=now_ms)
    return data_dir


def invitation_code(network: bytes, inviter: bytes, address: str) -> str:
    """An invitation code as another node would make it (its secret unknown here)."""
    return format_invitation(Invitation(network, inviter, address, b"\x05" * 8, b"\x06" * 16,
                                        2_000_000_000))


async def open_service(data_dir: Path, *, config: Config = CONFIG,
                       clock: Any = None) -> PagesService:
    store = await Store.open(data_dir, **({"clock": clock} if clock else {}))
    return PagesService(store, config, rng=random.Random(str(data_dir)))


@functools.cache
def _hash_of(password: str) -> PasswordHash:
    return hash_password(password)  # scrypt is slow on purpose: once per test run


def claim(data_dir: Path, password: str = PASSWORD) -> None:
    """Set the admin password directly (as if the setup page had been used)."""
    AdminFile(data_dir).set_password(_hash_of(password))


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return unescape(found.group(1))


def text_of(html: str) -> str:
    """The page's text, roughly (tags dropped, entities decoded, spaces squeezed)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


class PageClient:
    """Drives the pages like a browser without JavaScript: keeps the cookie, fills tokens."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.token = ""

    async def get(self, path: str, *, status: int = 200, **kwargs: Any) -> str:
        response = await self.client.get(path, **kwargs)
        html = await response.text()
        assert response.status == status, (path, response.status, text_of(html)[:500])
        found = _CSRF.search(html)
        if found:
            self.token = unescape(found.group(1))
        return html

    async def post(self, path: str, data: dict[str, Any] | list[tuple[str, Any]] | None = None,
                   *, status: int = 200, csrf: bool = True, **kwargs: Any) -> str:
        if not self.token and csrf:
            await self.get("/login" if not path.startswith("/setup") else "/setup",
                           status=200)
        fields: list[tuple[str, Any]] = list(data.items() if isinstance(data, dict)
                                             else data or [])
        if csrf:
            fields.insert(0, ("csrf_token", self.token))
        response = await self.client.post(path, data=fields, **kwargs)
        html = await response.text()
        assert response.status == status, (path, response.status, text_of(html)[:500])
        found = _CSRF.search(html)
        if found:
            self.token = unescape(found.group(1))
        return html

    async def login(self, password: str = PASSWORD) -> None:
        await self.get("/login")
        await self.post("/login", {"password": password, "next": "/"})
