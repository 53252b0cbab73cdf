"""Fixtures for the pages' server-side tests: a node with pages, a logged-in client."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .pages import PageClient, PagesService, claim, make_data_dir, open_service

AiohttpClient = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="session")
def template_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One freshly created node, copied for each test (creating one costs more)."""
    return make_data_dir(tmp_path_factory.mktemp("template"), "node")


@pytest.fixture
async def service(tmp_path: Path, template_node: Path) -> AsyncIterator[PagesService]:
    data_dir = tmp_path / "node"
    shutil.copytree(template_node, data_dir)
    node = await open_service(data_dir)
    yield node
    await node.store.close()


@pytest.fixture
async def anonymous(service: PagesService, aiohttp_client: AiohttpClient) -> PageClient:
    """A client of a claimed node, not logged in."""
    claim(service.store.data_dir)
    return PageClient(await aiohttp_client(service.make_app()))


@pytest.fixture
async def pages(anonymous: PageClient) -> PageClient:
    """A logged-in client."""
    await anonymous.login()
    return anonymous
