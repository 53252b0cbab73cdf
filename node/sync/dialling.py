"""Which addresses this node dials: the rules of :mod:`protocol.addresses`, at connect time.

Peers' addresses arrive in signed profiles, which any member writes, so a
learned address is checked against the IP it resolves to *when the
connection is made* (a name that resolved to a public address when it was
learned may resolve to the router's admin page later): the sync client's
connections resolve names through :class:`CheckedResolver`, and IP literals
(which aiohttp never resolves) are checked by :meth:`DialPolicy.check_url`
before the request. Addresses a person typed get only the rules that hold
for everyone (no link-local or metadata address, ever).

:class:`DialPolicy` knows this node's own addresses (rule 2b) and whether it
listens on loopback only (rule 2a); :func:`interface_ips` lists this
machine's addresses for it and for the profile (node/sync/announce.py).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from protocol.addresses import dial_refusal, is_loopback

__all__ = ["CheckedResolver", "DialPolicy", "DialRefusedError", "interface_ips"]

log = logging.getLogger(__name__)


class DialRefusedError(OSError):
    """Every IP a name resolves to is one this node must not dial (raised in the resolver)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host, self.reason = host, reason


@dataclass(frozen=True, slots=True)
class DialPolicy:
    """This node's side of the address rules: its own IPs and how it listens."""

    own_ips: frozenset[str] = frozenset()
    loopback_only: bool = False

    @classmethod
    def for_listening(cls, hosts: Iterable[str]) -> DialPolicy:
        """The policy of a node listening on ``hosts`` (no hosts: it does not listen)."""
        listening = [h.strip("[]") for h in hosts]
        loopback_only = bool(listening) and all(is_loopback(h) for h in listening)
        return cls(frozenset(interface_ips()) | frozenset(listening), loopback_only)

    def refusal(self, ip: str, *, learned: bool) -> str | None:
        return dial_refusal(ip, learned=learned, own=self.own_ips,
                            loopback_only=self.loopback_only)

    def check_url(self, url: str, *, learned: bool) -> str | None:
        """Why ``url`` must not be dialled if its host is an IP literal (else None).

        Names are checked when they resolve (:class:`CheckedResolver`).
        """
        host = urlsplit(url).hostname or ""
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            return None  # a name: checked at connect time
        return self.refusal(host, learned=learned)


class CheckedResolver(AbstractResolver):
    """Resolves names as usual, then drops the IPs the policy forbids.

    A name whose every IP is forbidden fails with :class:`DialRefusedError`
    (aiohttp wraps it in ``ClientConnectorError``; the sync client turns it
    into :class:`node.errors.AddressRefused`).
    """

    def __init__(self, policy: DialPolicy, *, learned: bool) -> None:
        self.policy, self.learned = policy, learned
        self._resolver = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        allowed, reasons = [], []
        for result in results:
            reason = self.policy.refusal(result["host"], learned=self.learned)
            if reason is None:
                allowed.append(result)
            else:
                reasons.append(reason)
        if not allowed:
            raise DialRefusedError(host, reasons[0] if reasons else "no address")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def interface_ips() -> list[str]:
    """This machine's IP addresses: the one it reaches other machines through first.

    Read from the network interfaces (ifaddr, which python-zeroconf uses for
    the same job); IPv6 link-local and loopback addresses are included here
    and filtered by the callers' rules.
    """
    import ifaddr  # imported here: only a listening node needs it

    found: list[str] = []
    try:
        # Connecting a UDP socket sends nothing; it only picks the outgoing interface.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            found.append(probe.getsockname()[0])
    except OSError:
        pass  # no route out: the interfaces alone
    try:
        adapters = ifaddr.get_adapters()
    except OSError as exc:
        log.debug("cannot list network interfaces: %s", exc)
        adapters = []
    for adapter in adapters:
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            if text not in found:
                found.append(text)
    return found
