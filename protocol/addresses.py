"""Which addresses a node may dial, and which of its own it announces.

Peers' addresses arrive in signed profiles, and a profile is anyone's to
write: without checks, one member could make every node dial its router's
admin page, a cloud's metadata service or a port on the node's own machine
(blind request forgery). Rules (DESIGN.md "Discovery and topology"), applied
to the IP address a name resolves to, at the moment of connecting:

1. Never: link-local addresses (169.254.0.0/16, fe80::/10), cloud metadata
   services, unspecified, multicast and reserved addresses.
2. An address *learned* from the network (a profile, a member that synced
   with this node, mDNS) is dialled only if:

   a. it is loopback only when this node listens only on loopback (tests,
      the demo, a node behind a local proxy);
   b. it is in a private range (10/8, 172.16/12, 192.168/16, 100.64/10,
      fc00::/7) only when one of this node's own addresses is in that range;

   Addresses a person typed (configuration, ``peer add``, an invitation) are
   the person's choice: only rule 1 applies to them.
3. A node announces (puts in its profile) its public URL when it has one;
   otherwise the addresses it listens on that others could reach — its
   network interfaces' addresses when it listens on all of them (0.0.0.0),
   the loopback address when it listens on loopback only (tests, the demo)
   — at most :data:`MAX_ANNOUNCED`; none when it says nobody can reach it
   (:func:`announcement`).

Pure: IP addresses are text in, a reason (or None) out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_ANNOUNCED",
    "PRIVATE_RANGES",
    "WILDCARD_HOSTS",
    "Announcement",
    "announcement",
    "dial_refusal",
    "invitation_reach",
    "is_loopback",
    "reachable_from_others",
    "url_for",
]

#: Interface addresses a node listening on all interfaces announces at most.
MAX_ANNOUNCED: Final = 3
#: Hosts that mean "listen on every interface".
WILDCARD_HOSTS: Final = ("", "0.0.0.0", "::", "[::]", "*")

_NEVER: Final = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",  # link-local, and the metadata service of most clouds
    "fe80::/10",  # IPv6 link-local
    "fd00:ec2::254/128",  # AWS metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
))
PRIVATE_RANGES: Final = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(ip: str) -> Address | None:
    try:
        address = ipaddress.ip_address(ip.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def dial_refusal(ip: str, *, learned: bool, own: Iterable[str] = (),
                 loopback_only: bool = False) -> str | None:
    """Why this node must not dial ``ip`` (rules 1 and 2), or None if it may."""
    address = _parse(ip)
    if address is None:
        return "not an IP address"
    if any(address in net for net in _NEVER if net.version == address.version):
        return "link-local and cloud metadata addresses are never dialled"
    # ::1 lies in ::/8, which Python counts as reserved: loopback is judged by rule 2a.
    if address.is_unspecified or address.is_multicast or (
            address.is_reserved and not address.is_loopback):
        return "not an address of a node"
    if not learned:
        return None
    if address.is_loopback:
        return None if loopback_only else (
            "a loopback address learned from the network, and this node listens beyond "
            "loopback")
    ranges = [net for net in PRIVATE_RANGES if net.version == address.version
              and address in net]
    if ranges:
        mine = [a for a in (_parse(o) for o in own) if a is not None]
        if not any(a in net for a in mine for net in ranges if a.version == net.version):
            return "a private address in a range none of this node's own addresses is in"
    return None


def reachable_from_others(ip: str) -> bool:
    """Whether an address this node listens on is worth announcing (rule 3)."""
    address = _parse(ip)
    if address is None:
        return False
    return not (address.is_unspecified or address.is_multicast or address.is_reserved
                or address.is_link_local)


def is_loopback(ip: str) -> bool:
    address = _parse(ip)
    return address is not None and address.is_loopback


def url_for(host: str, port: int, scheme: str = "http") -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    address = _parse(host)
    text = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else host
    return f"{scheme}://{text}:{port}"


@dataclass(frozen=True, slots=True)
class Announcement:
    """The addresses a node puts in its profile, and why those (rule 3)."""

    addresses: tuple[str, ...]
    why: str


def announcement(*, public_url: str, reachable: bool, host: str, port: int,
                 interface_ips: Iterable[str] = ()) -> Announcement:
    """What a node listening on ``host:port`` announces (rule 3).

    ``interface_ips``: this machine's addresses, the one it reaches others
    through first; used when ``host`` is a wildcard.
    """
    if not reachable:
        return Announcement((), "the reachable setting is off: this node announces no "
                                "address and syncs by calling its peers")
    if public_url:
        return Announcement((public_url.rstrip("/"),), "the public_url setting")
    if host in WILDCARD_HOSTS:
        found: list[str] = []
        for ip in interface_ips:
            address = _parse(ip)
            if address is None or address.is_loopback or not reachable_from_others(ip):
                continue
            url = url_for(str(address), port)
            if url not in found:
                found.append(url)
        if not found:
            return Announcement((), "this machine has no network address other nodes could "
                                    "reach (set public_url if it has one)")
        return Announcement(tuple(found[:MAX_ANNOUNCED]),
                            "the addresses of this machine's network interfaces (it listens "
                            "on all of them; set public_url to announce another)")
    address = _parse(host)
    if address is None:  # a host name: the person chose it
        return Announcement((url_for(host, port),), "the host setting")
    if address.is_loopback:
        return Announcement((url_for(host, port),), "it listens on loopback only: only nodes "
                                                    "on this machine can reach it")
    if not reachable_from_others(host):
        return Announcement((), f"it listens on {host}, which other nodes cannot reach")
    return Announcement((url_for(host, port),), "the address it listens on")


def _host_of(url: str) -> str:
    """The host of ``scheme://host[:port]/…``, without brackets (no URL library here)."""
    authority = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def invitation_reach(url: str) -> str | None:
    """Who cannot use an invitation carrying ``url``, or None if anyone may.

    Said to the person making the invitation, so that a code that cannot
    work for a group elsewhere is not handed out unknowingly.
    """
    host = _host_of(url)
    if host == "localhost" or host.endswith(".localhost"):
        return "only this machine can reach it"
    address = _parse(host)
    if address is None:
        if host.endswith(".local"):
            return "only machines on this local network can reach it"
        return None
    if address.is_loopback:
        return "only this machine can reach it"
    if address.is_link_local or address.is_unspecified:
        return "no other machine can reliably reach it"
    if any(address in net for net in PRIVATE_RANGES if net.version == address.version):
        return "only machines on this local network can reach it"
    return None
