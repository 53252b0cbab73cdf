"""The pages and the API are mounted from node/web/routes.py's tables, each module on first use.

The table must say exactly what each page module's own ``routes()`` says
(method, path, name, options): these tests name any route missing from
either side. Every page test in tests/web goes through the mounted lazy
handlers; that the modules are really not loaded until used is checked on
a real ``hedgerow up`` in tests/cli/test_idle_imports.py.
"""

from __future__ import annotations

import importlib
from collections import Counter

import pytest

from node.web import page_routes
from node.web.routes import API_ROUTES, PAGE_MODULES, PAGE_ROUTES, operation_handler, page_handler


def _declared(module: str) -> list[tuple[str, str, tuple[tuple[str, object], ...]]]:
    routes = importlib.import_module(f"node.web.{module}").routes()
    return [(r.method, r.path, tuple(sorted(r.kwargs.items()))) for r in routes]


def _mounted(module: str) -> list[tuple[str, str, tuple[tuple[str, object], ...]]]:
    lazy = {(route.method, route.path): route for route in page_routes()}
    out = []
    for method, path, _, owner in PAGE_ROUTES:
        if owner == module:
            route = lazy[(method, path)]
            out.append((method, path, tuple(sorted(route.kwargs.items()))))
    return out


@pytest.mark.parametrize("module", PAGE_MODULES)
def test_the_table_says_what_each_page_module_declares(module: str) -> None:
    declared, mounted = _declared(module), _mounted(module)
    missing = [f'("{m}", "{p}", "{dict(k)["name"]}", "{module}")' for m, p, k in declared
               if (m, p, k) not in mounted]
    assert not missing, ("add to PAGE_ROUTES in node/web/routes.py:\n  "
                         + ",\n  ".join(missing))
    extra = [(m, p) for m, p, k in mounted if (m, p, k) not in declared]
    assert not extra, f"PAGE_ROUTES lists routes node.web.{module}.routes() does not: {extra}"


def test_every_route_is_listed_once_with_a_unique_name() -> None:
    keys = Counter((method, path) for method, path, _, _ in PAGE_ROUTES)
    names = Counter(name for _, _, name, _ in PAGE_ROUTES)
    assert [k for k, n in keys.items() if n > 1] == []
    assert [k for k, n in names.items() if n > 1] == []
    # Every GET also answers HEAD, as web.get does in the modules.
    assert all(dict(route.kwargs).get("allow_head") is True
               for route in page_routes() if route.method == "GET")


@pytest.mark.parametrize(("method", "path", "module"),
                         [(m, p, mod) for m, p, _, mod in PAGE_ROUTES])
def test_each_route_finds_its_module_handler(method: str, path: str, module: str) -> None:
    handler = page_handler(module, method, path)
    declared = {(r.method, r.path): r.handler
                for r in importlib.import_module(f"node.web.{module}").routes()}
    assert handler is declared[(method, path)]


def test_a_route_the_module_does_not_declare_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match=r"node\.web\.login has no route GET /nowhere"):
        page_handler("login", "GET", "/nowhere")



def test_the_api_table_lists_every_declared_operation_in_order() -> None:
    from node.web.api import openapi_document
    from node.web.api_ops import OPERATIONS

    openapi_document()  # imports every module that declares operations
    declared = [(op.method, op.path, op.handler.__module__.rsplit(".", 1)[1])
                for op in OPERATIONS]
    missing = [f'("{m}", "{p}", "{mod}")' for m, p, mod in declared
               if (m, p, mod) not in API_ROUTES]
    assert not missing, "add to API_ROUTES in node/web/routes.py:\n  " + ",\n  ".join(missing)
    assert declared == list(API_ROUTES)  # the same order, so routing is the same


@pytest.mark.parametrize(("method", "path", "module"), API_ROUTES)
def test_each_operation_finds_its_declared_handler(method: str, path: str,
                                                   module: str) -> None:
    from node.web.api_ops import OPERATIONS

    handler = operation_handler(module, method, path)
    assert [op.handler for op in OPERATIONS if (op.method, op.path) == (method, path)] == [
        handler]
    with pytest.raises(LookupError, match="declares no API operation"):
        operation_handler(module, method, path + "/nowhere")
