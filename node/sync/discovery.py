"""Finding nodes on the same LAN by mDNS / DNS-SD (python-zeroconf), ``_hedgerow._tcp``.

A node announces itself with its addresses (the ones it listens on; when it
listens on every interface, the machine's non-loopback interface addresses,
read by :func:`node.sync.dialling.interface_ips` with ifaddr), its port and
the TXT properties ``id`` (its node id text), ``net`` (the network
fingerprint — never the network id itself) and ``v`` (the sync protocol
version), and browses for others.

A node found with the same network fingerprint, protocol version and a
different id becomes a peer (source ``mdns``) with the announced node id
recorded, so the first session there checks that the expected node answers.
Its addresses are *learned* addresses, as hostile as any: each IP is checked
with :func:`protocol.addresses.dial_refusal` before it is added (DESIGN.md
"Discovery and topology": never link-local or metadata addresses; loopback
only when this node listens only on loopback; a private range only when one
of this node's own addresses is in it), and every refusal is one log line
naming the node and the reason. Switch it all off with the ``mdns`` setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from protocol import PROTOCOL_VERSION, InvalidIdText, id_from_text, short_id
from protocol.addresses import dial_refusal, reachable_from_others

from ..errors import InvalidInput
from ..events import EventBus
from ..store.store import Store
from . import peerbook
from .dialling import interface_ips
from .wire import network_fingerprint

__all__ = [
    "MAX_ADDRESSES_PER_NODE",
    "REFRESH_S",
    "SERVICE_TYPE",
    "Discovery",
    "Found",
    "announced_addresses",
    "judge_announcement",
    "listening_hosts",
]

log = logging.getLogger(__name__)

SERVICE_TYPE: Final = "_hedgerow._tcp.local."
#: Peer rows one announcement may add ("at most a few addresses per node").
MAX_ADDRESSES_PER_NODE: Final = 2
#: Addresses of one announcement looked at, at most (the rest are ignored unread).
MAX_ADDRESSES_READ: Final = 16
#: Lookups of announced services running at once; more are dropped until some end.
MAX_PENDING_LOOKUPS: Final = 32
_LOOKUP_TIMEOUT_MS: Final = 3000
#: Seconds between readings of the machine's interface addresses.
REFRESH_S: Final = 60.0


def _packed(ip: str) -> bytes:
    address = ipaddress.ip_address(ip)
    return address.packed


def _unspecified(text: str) -> bool:
    ip = _ip(text)
    return ip is None or ip.is_unspecified


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def listening_hosts(urls: Iterable[str]) -> list[str]:
    """The IP addresses in the node's listening URLs (``http://0.0.0.0:8470`` → ``0.0.0.0``)."""
    hosts = []
    for url in urls:
        host = urlsplit(url).hostname
        if host is not None and _ip(host) is not None:
            hosts.append(host)
    return hosts


def announced_addresses(listening: Iterable[str], interfaces: Iterable[str]) -> list[str]:
    """The IP addresses to announce: those listened on that others on the LAN could reach.

    ``listening``: the hosts the node's sockets are bound to; an unspecified
    one (``0.0.0.0``, ``::``) stands for every interface address of its family
    (``::`` takes IPv4 too, as Linux binds it dual-stack). ``interfaces``: the
    machine's interface addresses. Loopback addresses are never announced on
    the LAN, nor link-local, multicast or reserved ones
    (:func:`protocol.addresses.reachable_from_others`).
    """
    interface_ips = [ip for ip in (_ip(text) for text in interfaces) if ip is not None]
    out: list[str] = []
    for host in listening:
        bound = _ip(host)
        if bound is None:
            continue
        if bound.is_unspecified:
            chosen = [ip for ip in interface_ips if ip.version == bound.version
                      or (bound.version == 6 and ip.version == 4)]
        else:
            chosen = [bound]
        for ip in chosen:
            text = str(ip)
            if not ip.is_loopback and reachable_from_others(text) and text not in out:
                out.append(text)
    return out


@dataclass(frozen=True, slots=True)
class Found:
    """A node of this network announced on the LAN, judged.

    ``addresses``: peer addresses (``http://ip:port``) this node may dial, at
    most :data:`MAX_ADDRESSES_PER_NODE`; ``refused``: (ip, reason) for each
    announced address it must not dial.
    """

    node_id: bytes
    addresses: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


def judge_announcement(properties: dict[bytes, bytes | None], addresses: Sequence[str],
                       port: int, *, own_id: bytes, fingerprint: str, own: Sequence[str],
                       loopback_only: bool) -> Found | None:
    """What to do with an announcement: None if it is not another node of this network.

    Everything in it is the sender's word: a node id that does not parse, a
    port out of range or another protocol version make it no one's; its IP
    addresses are learned addresses, each checked by
    :func:`protocol.addresses.dial_refusal` against ``own`` (this node's own
    IP addresses) and ``loopback_only`` (whether this node listens on
    loopback alone).
    """
    net = (properties.get(b"net") or b"").decode("ascii", "replace")
    version = (properties.get(b"v") or b"").decode("ascii", "replace")
    if net != fingerprint or version != str(PROTOCOL_VERSION) or not 0 < port < 65536:
        return None
    try:
        node_id = id_from_text((properties.get(b"id") or b"").decode("ascii", "replace"), "node")
    except InvalidIdText:
        return None
    if node_id == own_id:
        return None
    accepted: list[str] = []
    refused: list[tuple[str, str]] = []
    for text in addresses[:MAX_ADDRESSES_READ]:
        ip = _ip(text)
        if ip is None:
            refused.append((text[:60], "not an IP address"))
            continue
        reason = dial_refusal(str(ip), learned=True, own=own, loopback_only=loopback_only)
        if reason is not None:
            refused.append((str(ip), reason))
            continue
        url = f"http://[{ip}]:{port}" if ip.version == 6 else f"http://{ip}:{port}"
        if url not in accepted and len(accepted) < MAX_ADDRESSES_PER_NODE:
            accepted.append(url)
    return Found(node_id, tuple(accepted), tuple(refused))


class Discovery:
    """Announces this node on the LAN and adds the nodes of its network it finds as peers.

    ``listening``: the URLs the node listens on (:attr:`NodeService.addresses`).
    The announced addresses and the node's own addresses come from them and
    from the machine's interface addresses (``read_interfaces``), read again
    every :data:`REFRESH_S` seconds: a machine that got its LAN address after
    the node started (DHCP after boot), or a new one, announces what it has now.
    """

    def __init__(self, store: Store, events: EventBus, *, port: int,
                 listening: Sequence[str],
                 read_interfaces: Callable[[], list[str]] = interface_ips) -> None:
        self.store, self.events, self.port = store, events, port
        self.fingerprint = network_fingerprint(store.network)
        self.hosts = listening_hosts(listening)
        self.read_interfaces = read_interfaces
        self.own: list[str] = []
        self.announced: list[str] = []
        self.loopback_only = bool(self.hosts) and all(
            ip is not None and ip.is_loopback for ip in map(_ip, self.hosts))
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._registered = False
        self._pending: set[asyncio.Task[None]] = set()
        self._announcing: asyncio.Task[None] | None = None
        self.read_addresses()

    def read_addresses(self) -> bool:
        """Read the interfaces again; whether what this node announces changed."""
        interfaces = list(self.read_interfaces())
        # This node's own addresses (protocol.addresses rule 2b): its machine's,
        # and the one it listens on when that is a single address.
        self.own = [*interfaces, *(h for h in self.hosts if h not in interfaces
                                   and not _unspecified(h))]
        announced = announced_addresses(self.hosts, interfaces)
        changed = announced != self.announced
        self.announced = announced
        return changed

    async def start(self) -> None:
        six = any(ip is not None and ip.version == 6 for ip in map(_ip, self.hosts))
        self._zc = AsyncZeroconf(ip_version=IPVersion.All if six else IPVersion.V4Only)
        node = self.store.key
        self._info = AsyncServiceInfo(
            SERVICE_TYPE, f"hedgerow-{node.short_id.lower()}.{SERVICE_TYPE}",
            port=self.port, parsed_addresses=self.announced,
            properties={"id": node.node_id, "net": self.fingerprint,
                        "v": str(PROTOCOL_VERSION)},
            server=f"hedgerow-{node.short_id.lower()}.local.",
        )
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, [SERVICE_TYPE],
                                            handlers=[self._on_change])
        # Announcing probes the LAN for a second or so: let the node answer
        # requests meanwhile (the task is ours and stop() ends it).
        self._announcing = asyncio.get_running_loop().create_task(self._keep_announcing())

    async def _keep_announcing(self) -> None:
        await self._announce()
        while True:
            await asyncio.sleep(REFRESH_S)
            if self.read_addresses():
                await self._announce()

    async def _announce(self) -> None:
        """Announce the current addresses (register, update, or withdraw when there are none)."""
        assert self._zc is not None and self._info is not None
        try:
            if not self.announced:
                if self._registered:
                    await self._zc.async_unregister_service(self._info)
                    self._registered = False
                # Nothing others on the LAN could reach (loopback only, or no
                # network yet): look for other nodes, announce nothing.
                log.info("mDNS: no address to announce (listening on loopback only, or no "
                         "network); looking for other nodes only")
                return
            self._info.addresses = [_packed(ip) for ip in self.announced]
            if self._registered:
                await self._zc.async_update_service(self._info)
            else:
                await self._zc.async_register_service(self._info, allow_name_change=True)
                self._registered = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a LAN without multicast must not stop the node
            log.warning("mDNS announcement failed (%s); this node is not announced", exc)
            return
        log.info("mDNS: announcing %s on the local network",
                 ", ".join(f"{ip}:{self.port}" for ip in self.announced))

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Added:
            return
        if len(self._pending) >= MAX_PENDING_LOOKUPS:
            log.debug("mDNS: too many lookups at once; %s left for its next announcement",
                      name[:80])
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
        if not await info.async_request(self._zc.zeroconf, _LOOKUP_TIMEOUT_MS):
            log.debug("mDNS: %s did not answer the lookup", name[:80])
            return
        await self.consider(info.properties, info.parsed_addresses(), info.port or 0)

    async def consider(self, properties: dict[bytes, bytes | None], addresses: Sequence[str],
                       port: int) -> Found | None:
        """Judge one resolved announcement and add what may be dialled to the peer book."""
        found = judge_announcement(properties, addresses, port, own_id=self.store.key.public,
                                   fingerprint=self.fingerprint, own=self.own,
                                   loopback_only=self.loopback_only)
        if found is None:
            return None
        who = short_id(found.node_id)
        for ip, reason in found.refused:
            log.info("mDNS: not adding node %s at %s: %s", who, ip, reason)
        for address in found.addresses:
            try:
                _, new = await self.store.db.write(peerbook.add_peer, address, source="mdns",
                                                   now_ms=self.store.now_ms(),
                                                   node_id=found.node_id)
            except InvalidInput as exc:
                log.info("mDNS: not adding node %s at %s: %s", who, address, exc)
                continue
            log.info("mDNS: found node %s at %s on the local network%s", who, address,
                     "" if new else " (already a peer)")
        return found

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
            if self._info is not None and self._registered:
                try:
                    await self._zc.async_unregister_service(self._info)
                except Exception:
                    log.debug("mDNS unregister failed", exc_info=True)
            await self._zc.async_close()
        self._zc = self._browser = self._info = None
        self._registered = False
