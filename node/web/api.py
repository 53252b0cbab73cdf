"""The node's local JSON API: ``/api/v1/…``, everything the CLI does.

The operations for the group's work and for looking after the node are
declared in :mod:`.api_records`, :mod:`.api_node` and :mod:`.api_members` (:mod:`.api_ops` says
how); :func:`covered_commands` maps each ``hedgerow`` command to the route
that does its work. The network views:

* ``GET /api/v1/views/<name>?…`` — a view (:data:`node.views.VIEWS`) as
  JSON. Parameters are parsed by :mod:`node.views.params`, the same code
  the CLI uses; a bad one is answered ``400`` with
  ``{"error": "<parameter>: <what is wrong>", "field": "<parameter>"}``,
  an unknown view or practice ``404``.
* ``GET /api/v1/views/<name>/evidence?…`` — the view as a verifiable export
  (the signed entries behind its figures; ``hedgerow verify FILE``).
* ``GET /api/v1/openapi.json`` — the OpenAPI 3.1 document for all of the
  above, generated from the same declarations (:func:`openapi_document`),
  so it cannot drift from the code.

Mounting: ``app[VIEWS_STORE] = store; app.add_routes(api_routes())``. The
store is found through :data:`VIEWS_STORE` (an :class:`aiohttp.web.AppKey`).
The views' code (:mod:`node.views`) is imported by the first request that
needs it, not when the routes are mounted: a node that only syncs never loads it.

Access: DESIGN.md privacy rule 4 says the local API requires the node's
admin login — the pages' session, or an API token the admin made (scoped
read or write) — checked in :func:`_authorise`, the single place every
handler here passes through.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from protocol import HedgerowError

from ..errors import InvalidInput, LocalProblem, NotFound, SyncFailed
from ..store.store import Store
from .routes import API_PREFIX, API_ROUTES, lazy_operation

__all__ = ["API_PREFIX", "VIEWS_STORE", "api_routes", "covered_commands", "openapi_document"]

VIEWS_STORE: Final = web.AppKey("hedgerow_views_store", Store)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _authorise(request: web.Request) -> None:
    """The one place the admin login is checked (DESIGN.md privacy rule 4).

    The pages own the login (:mod:`node.web.auth`); without the pages on
    this app (the API's own unit tests) there is no login to check.
    """
    from .auth import authorise_api

    await authorise_api(request)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _error(exc: HedgerowError, status: int) -> web.Response:
    return _json({"error": exc.message, "field": getattr(exc, "field", None),
                  "code": exc.code}, status)


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        await _authorise(request)
        try:
            return await handler(request)
        except InvalidInput as exc:
            return _error(exc, 400)
        except NotFound as exc:
            return _error(exc, 404)
        except LocalProblem as exc:  # the node's rules refuse it now (e.g. needs catch-up)
            return _error(exc, 409)
        except SyncFailed as exc:
            return _error(exc, 502)
        except HedgerowError as exc:  # a bad id, an invalid entry: the request's fault
            return _error(exc, 400)
    guarded.__name__ = handler.__name__
    return guarded


def _raw_params(request: web.Request) -> dict[str, str | int | None]:
    raw: dict[str, str | int | None] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) > 1:
            raise InvalidInput(f"{name[:40]}: give this parameter once", field=name[:40])
        raw[name] = values[0]
    return raw


async def _view(request: web.Request) -> web.StreamResponse:
    from ..views import VIEWS, run_view

    name = request.match_info["name"]
    if name not in VIEWS:
        raise NotFound(f"no view called {name[:40]!r}; the views are {', '.join(VIEWS)}")
    store = request.app[VIEWS_STORE]
    return _json(await run_view(store, name, _raw_params(request)))


async def _evidence(request: web.Request) -> web.StreamResponse:
    from ..views import VIEWS, prepare_for, refresh, verifiable_export

    name = request.match_info["name"]
    if name not in VIEWS:
        raise NotFound(f"no view called {name[:40]!r}; the views are {', '.join(VIEWS)}")
    store = request.app[VIEWS_STORE]
    params = await prepare_for(store, name, _raw_params(request))
    await refresh(store)
    return _json(await store.db.read(verifiable_export, name, params))


async def _openapi(request: web.Request) -> web.StreamResponse:
    return _json(openapi_document())


def api_routes() -> list[web.RouteDef]:
    """The API's routes, to add to the node's app (which must set :data:`VIEWS_STORE`).

    Each operation's module is imported by the first request to it (node/web/routes.py).
    """
    return [
        web.get(f"{API_PREFIX}/openapi.json", _guarded(_openapi)),
        web.get(f"{API_PREFIX}/views/{{name}}", _guarded(_view)),
        web.get(f"{API_PREFIX}/views/{{name}}/evidence", _guarded(_evidence)),
        *(web.route(method, API_PREFIX + path, _guarded(lazy_operation(module, method, path)))
          for method, path, module in API_ROUTES),
    ]


def _declared() -> None:
    """Every operation in ``.api_ops.OPERATIONS``, in the order of the routes' table.

    The modules that declare them register each on import, which a request
    may have done already for one of them: the order is put back to the table's.
    """
    from . import api_members, api_node, api_records  # noqa: F401
    from .api_ops import OPERATIONS

    order = {(method, path): i for i, (method, path, _) in enumerate(API_ROUTES)}
    OPERATIONS.sort(key=lambda op: order.get((op.method, op.path), len(order)))


def covered_commands() -> dict[str, str]:
    """Each ``hedgerow`` command the API does the work of, and its route (``GET /api/v1/…``)."""
    from ..views import VIEWS
    from .api_ops import OPERATIONS

    _declared()
    out = {f"view {name}": f"GET {API_PREFIX}/views/{name}" for name in VIEWS}
    for op in OPERATIONS:
        for command in op.cli:
            out.setdefault(command, f"{op.method} {API_PREFIX}{op.path}")
    return out


def _parameter(name: str, default: int | None = None) -> dict[str, Any]:
    from ..views import PARAMS

    param = PARAMS[name]
    schema: dict[str, Any] = {"type": param.type}
    if param.choices:
        schema["enum"] = list(param.choices)
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    if default is not None or param.default is not None:
        schema["default"] = default if default is not None else param.default
    if param.pattern is not None:
        schema["pattern"] = param.pattern
    return {"name": name, "in": "query", "required": False, "description": param.help,
            "schema": schema}


def _responses(ok: dict[str, Any], description: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}
    return {
        "200": {"description": description,
                "content": {"application/json": {"schema": ok}}},
        "400": {"description": "A bad parameter; `field` names it.", **error},
        "404": {"description": "No such view, node or practice.", **error},
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of this API, built from the view declarations."""
    from ..views import VIEWS
    from ..views.schemas import VIEW_SCHEMAS, common_schemas
    from .api_ops import openapi_paths

    _declared()
    paths: dict[str, Any] = {}
    schemas = common_schemas()
    for name, spec in VIEWS.items():
        schema_name = f"{name.capitalize()}View"
        schemas[schema_name] = VIEW_SCHEMAS[name]
        parameters = [_parameter(p, spec.defaults.get(p)) for p in spec.params]
        paths[f"{API_PREFIX}/views/{name}"] = {"get": {
            "operationId": f"view_{name}", "summary": spec.summary, "tags": ["views"],
            "parameters": parameters,
            "responses": _responses({"$ref": f"#/components/schemas/{schema_name}"},
                                    f"The {name} view."),
        }}
        paths[f"{API_PREFIX}/views/{name}/evidence"] = {"get": {
            "operationId": f"evidence_{name}",
            "summary": f"The {name} view with the signed entries behind its figures "
                       "(check it offline with `hedgerow verify FILE`).",
            "tags": ["evidence"], "parameters": parameters,
            "responses": _responses({"$ref": "#/components/schemas/VerifiableExport"},
                                    "A verifiable export."),
        }}
    schemas["VerifiableExport"] = {
        "type": "object",
        "required": ["format", "network", "network_text", "exported_by", "view", "params",
                     "figures", "evidence"],
        "properties": {
            "format": {"const": "hedgerow-verifiable-view/1"},
            "network": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "network_text": {"type": "string"}, "exported_by": {"type": "string"},
            "view": {"enum": list(VIEWS)}, "params": {"$ref": "#/components/schemas/Params"},
            "figures": {"type": "object"},
            "evidence": {"type": "array", "items": {
                "type": "object", "required": ["payload", "sig", "received_ms"],
                "properties": {"payload": {"type": "string", "contentEncoding": "base64"},
                               "sig": {"type": "string", "contentEncoding": "base64"},
                               "received_ms": {"type": "integer"}}}}},
    }
    paths[f"{API_PREFIX}/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document.", "tags": ["meta"],
        "responses": {"200": {"description": "The OpenAPI document.",
                              "content": {"application/json": {"schema": {
                                  "type": "object"}}}}},
    }}
    paths.update(openapi_paths())
    schemas["Error"] = schemas.get("Error") or {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]},
                       "code": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hedgerow node API", "version": "1",
                 "description": "Everything the `hedgerow` command does, on this node: the "
                                "group's private records, what it shares and publishes, "
                                "credits, peers and sync, backups, settings and health; and "
                                "what this node can see of the whole network, from the "
                                "signed summaries it holds. No view ranks organisations "
                                "against each other; every view says what it left out. "
                                "Authenticate with the pages' admin login (cookie), or an "
                                "API token made on the Settings page (Authorization: "
                                "Bearer hrt_…; a read token may only GET)."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "hedgerow_session"},
            "token": {"type": "http", "scheme": "bearer"}}},
    }
