"""The front door: what every HTTP request passes before any handler reads its body.

The node's one aiohttp app serves the sync API, the JSON API and the pages.
Before any of them sees a request, :func:`front_middleware` settles three
things, in this order:

1. **Who is asking** (:func:`client_of`). ``request.remote`` is the TCP
   peer. Behind the TLS proxies ``deploy/`` recommends, that is the proxy
   for everyone, so rate limits and login throttling would lump every
   visitor together and a session cookie would never be ``Secure``. Only
   when the TCP peer is one of the ``trusted_proxies`` (off by default) are
   ``X-Forwarded-For`` and ``X-Forwarded-Proto`` believed: the client is the
   rightmost address in ``X-Forwarded-For`` that is not itself a trusted
   proxy (each proxy appends the address it saw, so everything to its left
   may be forged), and the scheme is what the nearest proxy said. From
   anyone else those headers are ignored.
2. **No content coding** (DESIGN.md "Limits": no content coding on the
   sync API). A request with a ``Content-Encoding`` other than ``identity``
   is refused with 415 before a byte of its body is read, on every path:
   neither the sync API nor the pages nor uploads need compressed request
   bodies (browsers never send them), and inflating costs CPU that an
   unsigned stranger chooses. The node's server is also told never to
   inflate a body at all (``auto_decompress=False``, :data:`SERVER_SETTINGS`):
   aiohttp otherwise inflates as bytes arrive, and goes on reading (so
   inflating) the rest of a body for a while after its handler has answered,
   so that the client sees the answer. It still does that reading, but the
   bytes are only counted and dropped.
3. **The sync API's content type** (415 otherwise): a POST to ``/sync/``
   must be :data:`SYNC_CONTENT_TYPE`, checked before its signature. (Pages
   answer anything but their own forms with a page saying why: the CSRF
   check in :mod:`node.web.guard`.)

Every refusal here is plain text, changes nothing and closes the connection.

Nothing a client sends may put a traceback in the node's log: a client that
goes away mid-request ends its request quietly, and aiohttp's own report of
a request it could not parse (a request line too long, a malformed header)
becomes one debug line (:class:`QuietClientErrors`). A traceback in the log
always means a fault in the node.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import http_exceptions, web
from aiohttp.typedefs import Handler

from .errors import InvalidInput

__all__ = [
    "CLIENT",
    "SERVER_SETTINGS",
    "SYNC_CONTENT_TYPE",
    "Client",
    "QuietClientErrors",
    "TrustedProxies",
    "client_of",
    "front_middleware",
    "security_headers",
]

#: The sync API's one content type (node.sync.wire.CONTENT_TYPE is the same text).
SYNC_CONTENT_TYPE: Final = "application/vnd.hedgerow.sync+msgpack"
#: How long a browser should insist on HTTPS once it has seen the node over HTTPS.
HSTS_SECONDS: Final = 365 * 86400
log = logging.getLogger(__name__)

_SYNC_PREFIX: Final = "/sync/"
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: At most this many X-Forwarded-For entries are looked at (a forged list may be long).
_MAX_FORWARDED_HOPS: Final = 20

#: Settings for aiohttp's server (``web.AppRunner(app, **SERVER_SETTINGS)``): never
#: inflate a request body.
SERVER_SETTINGS: Final[dict[str, Any]] = {"auto_decompress": False}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent a request: its address (for limits) and whether it came over HTTPS."""

    address: str
    https: bool


class TrustedProxies:
    """The ``trusted_proxies`` setting, parsed: addresses or networks (``10.0.0.0/8``)."""

    def __init__(self, entries: Iterable[str]) -> None:
        networks: list[Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise InvalidInput(f"trusted_proxies: {entry[:60]!r} is not an IP address or "
                                   "network (for example 127.0.0.1 or 10.0.0.0/8)",
                                   field="trusted_proxies") from None
        self.networks: tuple[Network, ...] = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        parsed = _address(address)
        return parsed is not None and any(parsed in net for net in self.networks)


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:8080"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:41000"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_client(peer: str, header_values: Sequence[str],
                      trusted: TrustedProxies) -> str:
    hops = [hop.strip() for value in header_values for hop in value.split(",")]
    client = peer
    for hop in reversed(hops[-_MAX_FORWARDED_HOPS:]):
        address = _address(hop)
        if address is None:
            break  # garbage: believe no further than the proxy that passed it on
        client = str(address)
        if not trusted.trusts(client):
            break
    return client


def resolve_client(request: web.BaseRequest, trusted: TrustedProxies) -> Client:
    """Who sent ``request``, believing forwarding headers only from ``trusted`` proxies."""
    peer = request.remote or "unknown"
    https = request.secure
    if trusted and trusted.trusts(peer):
        forwarded_for = request.headers.getall("X-Forwarded-For", [])
        if forwarded_for:
            peer = _forwarded_client(peer, forwarded_for, trusted)
        proto = request.headers.getall("X-Forwarded-Proto", [])
        if proto:
            https = proto[-1].split(",")[-1].strip().lower() == "https"
    return Client(peer, https)


def _request_key(name: str, kind: type) -> Any:
    key_type: Any = getattr(web, "RequestKey", None)  # aiohttp 3.14+; a plain str before
    return key_type(name, kind) if key_type is not None else f"hedgerow.{name}"


#: Where :func:`front_middleware` leaves the request's :class:`Client`.
CLIENT: Final = _request_key("client", Client)
#: Where the app keeps its parsed ``trusted_proxies``.
TRUSTED_PROXIES: Final = web.AppKey("hedgerow_trusted_proxies", TrustedProxies)


def client_of(request: web.BaseRequest) -> Client:
    """The request's client as the front door settled it (or the TCP peer, plainly)."""
    client = request.get(CLIENT)
    if isinstance(client, Client):
        return client
    return Client(request.remote or "unknown", request.secure)


def _refuse(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text)
    # The body, if any, is never read: the connection cannot carry another request.
    response.force_close()
    return response


def _content_coding(request: web.BaseRequest) -> str | None:
    codings = [c.strip().lower() for value in request.headers.getall("Content-Encoding", [])
               for c in value.split(",") if c.strip()]
    unwanted = [c for c in codings if c != "identity"]
    return unwanted[0] if unwanted else None


def _unwanted_type(request: web.BaseRequest) -> str | None:
    """Why this sync request's content type is refused, or None."""
    if request.method not in _BODY_METHODS or not request.path.startswith(_SYNC_PREFIX):
        # Pages refuse anything but their own forms with a page saying why (the
        # CSRF check in node/web/guard.py); the JSON API takes no bodies.
        return None
    if request.content_type != SYNC_CONTENT_TYPE:
        return f"the sync API takes only {SYNC_CONTENT_TYPE}"
    return None


@web.middleware
async def front_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    trusted = request.app.get(TRUSTED_PROXIES)
    request[CLIENT] = resolve_client(request, trusted or TrustedProxies(()))
    coding = _content_coding(request)
    if coding is not None:
        return _refuse(415, f"request bodies must not be content-coded (got {coding[:40]!r})")
    reason = _unwanted_type(request)
    if reason is not None:
        return _refuse(415, reason)
    try:
        return await handler(request)
    except ConnectionResetError:
        # The client went away while its body was being read: nobody to answer.
        log.debug("%s %s: the client closed the connection mid-request", request.method,
                  request.path[:100])
        return _refuse(400, "the connection was closed before the request was complete")


#: aiohttp's errors for requests it could not parse: what a client sent, not a fault here.
_CLIENT_FAULTS: Final = (http_exceptions.HttpProcessingError, ConnectionError)


class QuietClientErrors(logging.Filter):
    """Turns aiohttp's traceback for a request a client botched into one debug line.

    aiohttp logs "Error handling request" with a traceback at ERROR for a
    request it cannot parse (its answer, 400, is right); anything else a
    handler raised is left as it is: that is a fault in the node.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], _CLIENT_FAULTS):
            problem = record.exc_info[1]
            said = str(problem).strip()
            record.args = (record.getMessage(),
                           said.splitlines()[0][:200] if said else type(problem).__name__)
            record.msg = "%s; refused: %s"
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_QUIET: Final = QuietClientErrors()


def quiet_client_errors() -> None:
    """Install :class:`QuietClientErrors` on aiohttp's server logger (once per process)."""
    server_log = logging.getLogger("aiohttp.server")
    if _QUIET not in server_log.filters:
        server_log.addFilter(_QUIET)


async def security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Over HTTPS (directly or through a trusted proxy), tell browsers to stay on HTTPS."""
    if client_of(request).https:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")


def install(app: web.Application, trusted: TrustedProxies) -> None:
    """Put the front door on ``app``: first middleware, HSTS on every response."""
    app[TRUSTED_PROXIES] = trusted
    quiet_client_errors()
    app.middlewares.insert(0, front_middleware)
    app.on_response_prepare.append(security_headers)
