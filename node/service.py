"""A running node: the store, the HTTP server, the sync client, gossip and discovery.

:class:`NodeService` is the composition root. It owns everything it starts
— the aiohttp server and client session, the gossip scheduler, the mDNS
announcer — and :meth:`NodeService.stop` ends all of it; nothing is left
running that nobody owns. The store is opened and closed by the caller.

Tests run many services in one process: each gets ``port=0`` (an ephemeral
port), its own clock and seeded randomness, and can skip listening
(``listen=False``: a node behind a home router, which syncs by initiating)
or gossip (``gossip=False``: the test drives rounds itself).
"""

from __future__ import annotations

import logging
import random
import socket
import time
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Final

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from . import front, systemd
from .backups import NightlyBackups
from .events import EventBus, NodeStarted
from .settings import Config
from .store.reconciliation import ReconciliationSet
from .store.store import Store
from .sync import peerbook
from .sync.announce import announce
from .sync.client import SyncClient
from .sync.dialling import CheckedResolver, DialPolicy
from .sync.gossip import Gossip
from .sync.server import SYNC_SERVER, SyncServer
from .web import setup_pages
from .web.api import VIEWS_STORE, api_routes
from .web.health import routes as health_routes

if TYPE_CHECKING:
    from .metrics import NodeMetrics
    from .sync.discovery import Discovery

__all__ = ["NODE_SERVICE", "NodeService", "software_version"]

log = logging.getLogger(__name__)


def software_version() -> str:
    try:
        return version("hedgerow")
    except PackageNotFoundError:
        return "0+unknown"


class NodeService:
    def __init__(self, store: Store, config: Config, *, events: EventBus | None = None,
                 rng: random.Random | None = None) -> None:
        self.store, self.config = store, config
        self.events = events or EventBus()
        self.rng = rng or random.Random()
        self.trusted_proxies = front.TrustedProxies(config.trusted_proxies)
        self.recset = ReconciliationSet(store.db)
        self.server = SyncServer(store, config, self.events, recset=self.recset,
                                 version=software_version())
        self.http: aiohttp.ClientSession | None = None
        self.learned_http: aiohttp.ClientSession | None = None
        self.client: SyncClient | None = None
        self.gossip: Gossip | None = None
        self.discovery: Discovery | None = None  # only when mDNS is on
        self._runner: web.AppRunner | None = None
        self.addresses: list[str] = []
        self.backups: NightlyBackups | None = None  # the nightly job, while it runs
        self._watchdog: systemd.Watchdog | None = None
        self.metrics: NodeMetrics | None = None
        if config.metrics:
            # Imported here: prometheus-client costs memory a node without metrics never needs.
            from .metrics import NodeMetrics

            self.metrics = NodeMetrics()
            self.events.subscribe(self.metrics.on_event)

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._count_refusals] if self.metrics else [])
        # First: who is asking, and no compressed or mistyped bodies (node/front.py).
        front.install(app, self.trusted_proxies)
        app[NODE_SERVICE] = self
        app[SYNC_SERVER] = self.server
        app[VIEWS_STORE] = self.store
        app.add_routes(self.server.routes())
        app.add_routes(api_routes())
        # /healthz (no login, nothing private) and /metrics (its own token check).
        app.add_routes(health_routes())
        # The pages, and the login every page and /api/ path needs unless the
        # group made it public (DESIGN.md privacy rule 4); /sync/ and
        # /.well-known/ stay outside the login: they are signed instead.
        setup_pages(app, self)
        return app

    @web.middleware
    async def _count_refusals(self, request: web.Request,
                              handler: Handler) -> web.StreamResponse:
        metrics = self.metrics
        assert metrics is not None
        path = request.path
        if path.startswith("/sync/"):
            metrics.requests.inc()
        # View latency: the JSON API's views by name, the network pages together.
        view = (path.split("/")[4] if path.startswith("/api/v1/views/") and path.count("/") >= 4
                else "pages" if path.startswith("/network") and "/live" not in path else None)
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                metrics.reject(exc.status)
            raise
        if response.status >= 400:
            metrics.reject(response.status)
        elif view is not None:
            metrics.observe_view(view, time.perf_counter() - started)
        return response

    async def healthy(self) -> bool:
        """The watchdog's check: the database answers a read."""
        await self.store.state()
        return True

    async def start(self, *, host: str | None = None, port: int | None = None,
                    listen: bool = True, gossip: bool = True, mdns: bool | None = None,
                    backups: bool = False) -> None:
        """Start serving and syncing. ``port=0`` picks a free port (see :attr:`addresses`).

        ``backups``: run the nightly backups too (``hedgerow up`` does, unless
        the ``backups`` setting is off). Under systemd, tells it the node is
        ready and pings its watchdog (node/systemd.py).
        """
        host = host or self.config.host
        # Which addresses this node dials depends on where it listens
        # (protocol/addresses.py rule 2): addresses a person typed go through
        # one connection pool, those learned from the network through another
        # whose names resolve through the dial policy (node/sync/dialling.py).
        policy = DialPolicy.for_listening([host] if listen else [])
        self.http = self._client_session(CheckedResolver(policy, learned=False))
        self.learned_http = self._client_session(CheckedResolver(policy, learned=True))
        try:
            await self.server.start()
            self.client = SyncClient(self.store, self.events, self.http, recset=self.recset,
                                     timeout_s=self.config.request_timeout,
                                     blocked=self.server.blocked,
                                     learned_http=self.learned_http, policy=policy)
            self.gossip = Gossip(self.store, self.client, self.config, self.events,
                                 rng=self.rng, on_tick=self._refresh_blocked)
            self.server.on_member_request = self.gossip.view.inbound
            for address in self.config.peers:
                await self.store.db.write(peerbook.add_peer, address, source="config",
                                          now_ms=self.store.now_ms())
            if listen:
                await self._listen(host, self.config.port if port is None else port)
            # The profile announces where this node can be reached (published
            # again if that changed since): node/sync/announce.py.
            await announce(self.store, self.config,
                           [(host, self.port)] if listen else [])
            if gossip:
                # What this node has published so far is the baseline: anything
                # published from now on (the CLI, a moment after `up`) is relayed.
                await self.gossip.watch_own_feed()
                self.gossip.start()
            if (self.config.mdns if mdns is None else mdns) and listen:
                # Imported here: zeroconf costs memory a node without mDNS never needs.
                from .sync.discovery import Discovery

                self.discovery = Discovery(self.store, self.events, port=self.port)
                await self.discovery.start()
            if backups and self.config.backups:
                self.backups = NightlyBackups(self.store, self.config, self.events)
                self.backups.start()
            interval = systemd.watchdog_interval_s()
            if interval is not None:
                self._watchdog = systemd.Watchdog(self.healthy, interval)
                self._watchdog.start()
        except BaseException:
            await self.stop()
            raise
        self.events.publish(NodeStarted(self.store.key.node_id, tuple(self.addresses)))
        systemd.notify(f"READY=1\nSTATUS=node {self.store.key.short_id} is up")

    def _client_session(self, resolver: CheckedResolver) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.request_timeout),
            connector=aiohttp.TCPConnector(limit=32, limit_per_host=4, resolver=resolver),
            headers={"User-Agent": f"hedgerow/{software_version()}"},
        )

    async def _listen(self, host: str, port: int) -> None:
        # Limits on what a client may send before a handler runs: request
        # line and header sizes; idle keep-alive connections are closed; no
        # body is ever inflated or read after its answer (node/front.py).
        self._runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None,
                                     keepalive_timeout=15, max_line_size=4096,
                                     max_field_size=8192, shutdown_timeout=5,
                                     **front.SERVER_SETTINGS)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        self.addresses = [_address_text(a) for a in self._runner.addresses]

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the node is not listening")
        return int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        """A loopback URL for this node (tests and the demo)."""
        return f"http://127.0.0.1:{self.port}"

    async def block(self, node_id: bytes, note: str = "", *,
                    with_admitted: bool = False) -> list[bytes]:
        """Block a node: refuse its requests and entries, drop what it wrote.

        ``with_admitted``: the nodes whose membership runs only through it too.
        """
        blocked = await self.store.block_author(node_id, note=note,
                                                with_admitted=with_admitted)
        await self._refresh_blocked()
        return blocked

    async def _refresh_blocked(self) -> None:
        # Also run every few seconds by gossip: `hedgerow peer block` may
        # change the blocklist from another process while this node runs.
        await self.server.refresh_blocked()
        if self.client is not None:
            self.client.blocked = self.server.blocked

    async def stop(self) -> None:
        systemd.notify("STOPPING=1")
        if self._watchdog is not None:
            await self._watchdog.stop()
            self._watchdog = None
        if self.backups is not None:
            await self.backups.stop()
        if self.gossip is not None:
            await self.gossip.stop()
        if self.discovery is not None:
            await self.discovery.stop()
            self.discovery = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.server.close()
        for http in (self.http, self.learned_http):
            if http is not None:
                await http.close()
        self.http = self.learned_http = None


def _address_text(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        if ":" in str(host):
            return f"http://[{host}]:{port}"
        return f"http://{host}:{port}"
    return str(address)


def lan_addresses(port: int) -> list[str]:
    """Addresses a person on the LAN can use: the LAN IP and ``<hostname>.local``."""
    out = []
    try:
        # Connecting a UDP socket sends nothing; it only picks the outgoing interface.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            ip = s.getsockname()[0]
        if not ip.startswith("127."):
            out.append(f"http://{ip}:{port}")
    except OSError:
        pass
    out.append(f"http://{socket.gethostname()}.local:{port}")
    return out


NODE_SERVICE: Final = web.AppKey("node_service", NodeService)
