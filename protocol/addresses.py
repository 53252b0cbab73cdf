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
   otherwise the addresses it listens on that others could reach; none when
   it says nobody can reach it.

Pure: IP addresses are text in, a reason (or None) out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

__all__ = ["PRIVATE_RANGES", "dial_refusal", "reachable_from_others"]

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
    if address.is_unspecified or address.is_multicast or address.is_reserved:
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
