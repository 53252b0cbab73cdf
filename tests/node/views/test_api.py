"""The JSON API: every view endpoint is in the OpenAPI document and answers to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from node import Store
from node.views import VIEWS, verify_export
from node.web.api import VIEWS_STORE, api_routes, openapi_document
from protocol import id_to_text

from .network import AT, Network


@pytest.fixture
async def client(aiohttp_client: Any, net_dir: Path) -> AsyncIterator[TestClient]:
    store = await Store.open(net_dir, clock=lambda: AT)
    app = web.Application()
    app[VIEWS_STORE] = store
    app.add_routes(api_routes())
    try:
        yield await aiohttp_client(app)
    finally:
        await store.close()


def response_validator(document: dict[str, Any], path: str,
                       status: str = "200") -> Draft202012Validator:
    """A validator for one documented response, resolving refs inside the document."""
    schema = document["paths"][path]["get"]["responses"][status]["content"][
        "application/json"]["schema"]
    registry: Registry = Registry().with_resource("urn:openapi", Resource.opaque(document))
    return Draft202012Validator({"$ref": "urn:openapi" + schema["$ref"]}, registry=registry,
                                format_checker=FormatChecker())


def _requests(net: Network) -> list[tuple[str, dict[str, str]]]:
    alpha = id_to_text(net.keys["L0"].public)
    return [("directory", {}), ("directory", {"q": "repair", "theme": "repair"}),
            ("themes", {"status": "active"}), ("levels", {}), ("principles", {}),
            ("areas", {"area": "E8"}), ("timeline", {}), ("spread", {}),
            ("spread", {"node": alpha, "key": "repair-cafe"}), ("lineage", {"node": alpha}),
            ("lineage", {}), ("health", {}),
            ("similar", {"node": alpha, "key": "repair-cafe", "limit": "3"}),
            ("introductions", {}), ("introductions", {"theme": "repair", "offset": "1"}),
            ("introductions", {"level": "local", "per_theme": "1"}),
            ("travelled", {"node": alpha}), ("travelled", {}), ("members", {})]


async def test_every_view_is_documented_and_answers_to_its_schema(
        client: TestClient, net: Network) -> None:
    answer = await client.get("/api/v1/openapi.json")
    assert answer.status == 200
    document = await answer.json()
    assert document == openapi_document()
    Draft202012Validator.check_schema(document["components"]["schemas"]["SpreadView"])
    for name in VIEWS:
        assert f"/api/v1/views/{name}" in document["paths"], name
        documented = {p["name"] for p in document["paths"][f"/api/v1/views/{name}"]["get"][
            "parameters"]}
        assert documented == set(VIEWS[name].params)
    seen = set()
    for name, params in _requests(net):
        answer = await client.get(f"/api/v1/views/{name}", params=params)
        assert answer.status == 200, (name, await answer.text())
        body = await answer.json()
        errors = list(response_validator(document, f"/api/v1/views/{name}").iter_errors(body))
        assert not errors, (name, errors[0].message, list(errors[0].absolute_path))
        seen.add(name)
        # The schema really constrains: an undocumented field is refused.
        assert not response_validator(document, f"/api/v1/views/{name}").is_valid(
            {**body, "rank": 1})
    assert seen == set(VIEWS)


@pytest.mark.parametrize(("name", "query", "field"), [
    ("themes", "level=galactic", "level"),
    ("directory", "limit=9999", "limit"),
    ("directory", "since=last+week", "since"),
    ("health", "colour=green", "colour"),
    ("themes", "theme=food&theme=repair", "theme"),
    ("spread", "node=ABC&key=x", "node"),
    ("similar", "limit=3", "key"),
    ("similar", "key=Not+A+Key", "key"),
    ("introductions", "per_theme=21", "per_theme"),
    ("introductions", "theme=" + "x" * 41, "theme"),
])
async def test_bad_parameters_are_400_naming_the_parameter(
        client: TestClient, name: str, query: str, field: str) -> None:
    answer = await client.get(f"/api/v1/views/{name}?{query}")
    assert answer.status == 400
    body = await answer.json()
    assert body["field"] == field
    assert body["error"].startswith(f"{field}: ")
    errors = list(response_validator(openapi_document(), f"/api/v1/views/{name}", "400")
                  .iter_errors(body))
    assert not errors


async def test_unknown_views_and_practices_are_404(client: TestClient, net: Network) -> None:
    assert (await client.get("/api/v1/views/rankings")).status == 404
    alpha = id_to_text(net.keys["L0"].public)
    answer = await client.get("/api/v1/views/spread", params={"node": alpha, "key": "nope"})
    assert answer.status == 404
    assert "no such practice" in (await answer.json())["error"]
    answer = await client.get("/api/v1/views/similar", params={"node": alpha, "key": "nope"})
    assert answer.status == 404
    assert "no summary of that practice" in (await answer.json())["error"]


@pytest.mark.parametrize(("name", "params"), [
    ("similar", {"key": "own-practice"}), ("introductions", {"theme": "repair"}),
    ("travelled", {})])
async def test_the_new_views_give_verifiable_exports(client: TestClient, name: str,
                                                    params: dict[str, str]) -> None:
    answer = await client.get(f"/api/v1/views/{name}/evidence", params=params)
    assert answer.status == 200, await answer.text()
    assert verify_export(await answer.json()).view == name


async def test_the_evidence_endpoint_gives_a_verifiable_export(client: TestClient) -> None:
    answer = await client.get("/api/v1/views/areas/evidence", params={"level": "local"})
    assert answer.status == 200
    report = verify_export(await answer.json())
    assert report.view == "areas"
