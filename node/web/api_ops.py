"""How the JSON API declares its operations: one :class:`Operation` per route.

Each operation names its method, path, summary, the JSON schemas of its
request and response, and the ``hedgerow`` commands it does the work of
(``cli``): tests/node/web/test_api_coverage.py walks the CLI's command list
and checks each command has an operation, except the listed local-only
commands. The OpenAPI document (``/api/v1/openapi.json``) is generated from
the same declarations (:func:`openapi_paths`), so it cannot drift.

Handlers call the same node/ functions as the CLI (the store's methods,
node.backups, node.doctor, …); this module only reads and checks JSON
bodies and shapes answers. A bad field is answered ``400`` naming it, a
missing thing ``404``, a refusal by the node's rules (publishing before a
restored node caught up) ``409``, a peer that could not be synced ``502``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from protocol import Entry, HedgerowError, SignedEntry, decode, id_to_text

from ..errors import InvalidInput
from .routes import API_PREFIX

if TYPE_CHECKING:
    from ..service import NodeService

__all__ = [
    "API_PREFIX",
    "LOCAL_ONLY_COMMANDS",
    "OPERATIONS",
    "Operation",
    "body_of",
    "entry_json",
    "jsonable",
    "operation",
    "reply",
    "service_of",
    "signed_json",
    "text_field",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

OBJECT: Final[dict[str, Any]] = {"type": "object"}


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # under API_PREFIX, with {placeholders}
    handler: Handler
    summary: str
    tag: str
    cli: tuple[str, ...] = ()
    body: Mapping[str, Any] | None = None  # JSON schema of the request body
    body_type: str = "application/json"
    response: Mapping[str, Any] | None = None  # JSON schema of a success
    response_type: str = "application/json"
    query: tuple[tuple[str, str, Mapping[str, Any]], ...] = ()  # (name, help, schema)
    status: int = 200
    session_only: bool = False  # not with an API token (managing tokens)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD")


#: Every declared operation, in the order of the OpenAPI document.
OPERATIONS: list[Operation] = []


def operation(method: str, path: str, *, summary: str, tag: str, cli: tuple[str, ...] = (),
              body: Mapping[str, Any] | None = None, body_type: str = "application/json",
              response: Mapping[str, Any] | None = None,
              response_type: str = "application/json",
              query: tuple[tuple[str, str, Mapping[str, Any]], ...] = (), status: int = 200,
              session_only: bool = False) -> Callable[[Handler], Handler]:
    """Declare ``handler`` as the API operation ``method path``."""
    def register(handler: Handler) -> Handler:
        OPERATIONS.append(Operation(method, path, handler, summary, tag, cli, body, body_type,
                                    response, response_type, query, status, session_only))
        return handler
    return register


def service_of(request: web.Request) -> NodeService:
    from ..service import NODE_SERVICE  # node.service mounts this package

    return request.app[NODE_SERVICE]


def jsonable(value: Any) -> Any:
    """Bytes as text (32-byte ids as node id text, others hex), recursively."""
    if isinstance(value, bytes):
        return id_to_text(value) if len(value) == 32 else value.hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as the CLI's --json shows it: ids as text, the body as signed."""
    return {"kind": entry.kind, "key": entry.key, "version": entry.version,
            "author": id_to_text(entry.author), "network": id_to_text(entry.network, "network"),
            "body": jsonable(entry.body)}


def signed_json(signed: SignedEntry) -> dict[str, Any]:
    """A signed entry this node just made: its id and what it says."""
    payload = decode(signed.payload)
    return {"entry_id": signed.id.hex(), "kind": payload["kind"], "key": payload["key"],
            "version": payload["version"], "author": id_to_text(payload["author"]),
            "network": id_to_text(payload["network"], "network"),
            "body": jsonable(payload["body"])}


def reply(body: Any, status: int = 200) -> web.Response:
    return web.json_response(jsonable(body), status=status,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def body_of(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (bounded by the app's client_max_size)."""
    if request.content_type != "application/json":
        raise InvalidInput("send a JSON object (Content-Type: application/json)", field="body")
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return data


def text_field(data: Mapping[str, Any], name: str, *, required: bool = False,
               default: str = "", max_len: int = 10_000) -> str:
    value = data.get(name, None)
    if value is None:
        if required:
            raise InvalidInput(f"{name}: required", field=name)
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: must be text", field=name)
    if len(value) > max_len:
        raise InvalidInput(f"{name}: at most {max_len} characters", field=name)
    return value


def error_reply(exc: HedgerowError, status: int) -> web.Response:
    return reply({"error": exc.message, "field": getattr(exc, "field", None),
                  "code": exc.code}, status)


_ERROR_SCHEMA: Final = {"$ref": "#/components/schemas/Error"}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI ``paths`` of every declared operation."""
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
        if op.cli:
            entry["description"] = "Does what `" + "`, `".join(
                f"hedgerow {c}" for c in op.cli) + "` does."
        parameters = [{"name": name, "in": "path", "required": True,
                       "schema": {"type": "string"}}
                      for name in _placeholders(op.path)]
        parameters += [{"name": name, "in": "query", "required": False, "description": help_,
                        "schema": dict(schema)} for name, help_, schema in op.query]
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {
                op.body_type: {"schema": dict(op.body)}}}
        responses: dict[str, Any] = {str(op.status): {
            "description": "Done.",
            "content": {op.response_type: {"schema": dict(op.response or OBJECT)}}}}
        for code, why in (("400", "A bad field; `field` names it."),
                          ("401", "No admin login and no valid API token."),
                          ("403", "An API token without the scope for this."),
                          ("404", "No such thing."),
                          ("409", "The node's rules refuse it now (the message says why).")):
            responses[code] = {"description": why,
                               "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
        entry["responses"] = responses
        entry["security"] = ([{"session": []}] if op.session_only else
                             [{"session": []}, {"token": []}])
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = entry
    return paths


def _placeholders(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


#: Commands the API does not offer, each with its reason: they act on the machine
#: itself, or would send the node's secrets over the network.
LOCAL_ONLY_COMMANDS: Final[dict[str, str]] = {
    "init": "creates a node in a data directory on this machine; a running node exists "
            "already (and the first-run page joins or restores)",
    "up": "runs the node; the API is served by the running node",
    "demo": "starts a demonstration network of its own on this machine",
    "keys export": "the private key never leaves the machine over the network",
    "keys sheet": "the recovery sheet is the private key: it is printed on the machine",
    "keys import": "writes a private key into a new data directory on this machine",
    "setup-code": "the one-time code that claims an unclaimed node is shown only on the "
                  "machine; the API needs the claimed node's login anyway",
    "reset-password": "the way back in for a group locked out of the pages: only on the "
                      "machine itself",
    "install-service": "installs a system service (root, on the machine)",
    "uninstall-service": "removes the system service (root, on the machine)",
    "simulate": "a simulation on virtual time that touches no node: it runs in the "
                "process that asks for it, for minutes at a time, and is not the running "
                "node's work",
}
