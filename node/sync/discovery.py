"""Finding nodes on the same LAN by mDNS / DNS-SD (python-zeroconf), ``_hedgerow._tcp``.

A node announces itself with TXT properties ``id`` (its node id text),
``net`` (the network fingerprint — never the network id itself) and ``v``
(the sync protocol version), and browses for others. A node found with the
same network fingerprint and a different id becomes a peer (source
``mdns``); it is trusted no further than any peer: every request is still
signed and checked. Switch it off with the ``mdns`` setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import Final

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ..errors import InvalidInput
from ..events import EventBus
from ..store.store import Store
from . import peerbook
from .wire import network_fingerprint

__all__ = ["SERVICE_TYPE", "Discovery", "peer_address_from"]

log = logging.getLogger(__name__)

SERVICE_TYPE: Final = "_hedgerow._tcp.local."


def peer_address_from(properties: dict[bytes, bytes | None], addresses: list[str], port: int,
                      *, own_id: str, fingerprint: str) -> str | None:
    """The address to sync with, if an announcement is a node of our network that is not us."""
    node_id = (properties.get(b"id") or b"").decode("ascii", "replace")
    net = (properties.get(b"net") or b"").decode("ascii", "replace")
    if net != fingerprint or not node_id or node_id == own_id or not 0 < port < 65536:
        return None
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            continue
        return f"http://[{ip}]:{port}" if ip.version == 6 else f"http://{ip}:{port}"
    return None


class Discovery:
    def __init__(self, store: Store, events: EventBus, *, port: int) -> None:
        self.store, self.events, self.port = store, events, port
        self.fingerprint = network_fingerprint(store.network)
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._announcing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        node = self.store.key
        self._info = AsyncServiceInfo(
            SERVICE_TYPE, f"hedgerow-{node.short_id.lower()}.{SERVICE_TYPE}", port=self.port,
            properties={"id": node.node_id, "net": self.fingerprint, "v": "1"},
            server=f"hedgerow-{node.short_id.lower()}.local.",
        )
        # Announcing probes the LAN for a second or so: let the node answer
        # requests meanwhile (the task is ours and stop() ends it).
        self._announcing = asyncio.get_running_loop().create_task(self._announce())
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, [SERVICE_TYPE],
                                            handlers=[self._on_change])

    async def _announce(self) -> None:
        assert self._zc is not None and self._info is not None
        try:
            await self._zc.async_register_service(self._info)
        except Exception as exc:  # a LAN without multicast must not stop the node
            log.warning("mDNS announcement failed (%s); LAN discovery is off", exc)

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Added:
            return
        # The browser calls back synchronously; the lookup runs as a task we
        # own and cancel in stop().
        task = asyncio.get_running_loop().create_task(self._resolve(service_type, name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        if self._zc is None:
            return
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self._zc.zeroconf, 3000):
            return
        address = peer_address_from(info.properties, info.parsed_addresses(), info.port or 0,
                                    own_id=self.store.key.node_id,
                                    fingerprint=self.fingerprint)
        if address is None:
            return
        try:
            _, new = await self.store.db.write(peerbook.add_peer, address, source="mdns",
                                               now_ms=self.store.now_ms())
        except InvalidInput:
            return
        if new:
            log.info("found %s on the local network", address)

    async def stop(self) -> None:
        for task in [*self._pending, *([self._announcing] if self._announcing else [])]:
            task.cancel()
        if self._announcing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcing
            self._announcing = None
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            if self._info is not None:
                try:
                    await self._zc.async_unregister_service(self._info)
                except Exception:
                    log.debug("mDNS unregister failed", exc_info=True)
            await self._zc.async_close()
        self._zc = self._browser = self._info = None
