"""mDNS discovery's pure parts: what a node announces, and what it makes of an announcement.

The real thing (two ``hedgerow up`` processes finding each other across a
veth pair) is in tests/test_mdns_netns.py.
"""

from __future__ import annotations

import logging

import pytest

from node import Store
from node.events import EventBus
from node.sync import peerbook
from node.sync.discovery import (
    MAX_ADDRESSES_PER_NODE,
    MAX_ADDRESSES_READ,
    Discovery,
    announced_addresses,
    judge_announcement,
    listening_hosts,
)
from node.sync.wire import network_fingerprint
from protocol import PROTOCOL_VERSION, NodeKey, id_to_text

OTHER = NodeKey.from_seed(b"\7" * 32)
ME = NodeKey.from_seed(b"\1" * 32)
NET = "0123456789abcdef"
LAN = ["127.0.0.1", "::1", "192.168.1.20", "fe80::1", "10.77.0.3", "2001:db8::5"]


def props(node: NodeKey = OTHER, net: str = NET,
          version: str = str(PROTOCOL_VERSION)) -> dict[bytes, bytes | None]:
    return {b"id": node.node_id.encode(), b"net": net.encode(), b"v": version.encode()}


def judge(addresses: list[str], *, properties: dict[bytes, bytes | None] | None = None,
          port: int = 8470, own: list[str] | None = None, loopback_only: bool = False
          ) -> object:
    return judge_announcement(props() if properties is None else properties, addresses, port,
                              own_id=ME.public, fingerprint=NET,
                              own=["192.168.1.9"] if own is None else own,
                              loopback_only=loopback_only)


def test_a_node_on_every_interface_announces_its_lan_addresses_not_loopback() -> None:
    assert announced_addresses(["0.0.0.0"], LAN) == ["192.168.1.20", "10.77.0.3"]
    # `::` is dual-stack on Linux: both families, still without loopback or link-local.
    assert announced_addresses(["::"], LAN) == ["192.168.1.20", "10.77.0.3", "2001:db8::5"]


def test_a_node_on_one_address_announces_that_one_and_loopback_announces_nothing() -> None:
    assert announced_addresses(["10.77.0.3"], LAN) == ["10.77.0.3"]
    assert announced_addresses(["127.0.0.1"], LAN) == []
    assert announced_addresses(["169.254.3.3"], LAN) == []  # link-local: never
    assert announced_addresses(["0.0.0.0", "10.77.0.3"], LAN) == ["192.168.1.20", "10.77.0.3"]


def test_listening_hosts_are_read_from_the_urls() -> None:
    assert listening_hosts(["http://0.0.0.0:8470", "http://[::]:8470", "http://x.local:1"]) \
        == ["0.0.0.0", "::"]


def test_an_announcement_of_another_node_of_our_network_becomes_peer_addresses() -> None:
    found = judge(["192.168.1.20"])
    assert found is not None
    assert found.node_id == OTHER.public  # the expected node, checked by the first session
    assert found.addresses == ("http://192.168.1.20:8470",)
    assert found.refused == ()
    v6 = judge(["fd00::7"], own=["fd00::1"])
    assert v6 is not None and v6.addresses == ("http://[fd00::7]:8470",)


@pytest.mark.parametrize("properties, port", [
    (props(ME), 8470),  # ourselves
    (props(net="fedcba9876543210"), 8470),  # another network
    (props(version="1"), 8470),  # another protocol version
    (props(), 0),
    (props(), 70000),
    ({b"net": NET.encode(), b"v": str(PROTOCOL_VERSION).encode()}, 8470),  # no id
    ({**props(), b"id": b"not an id"}, 8470),
    ({**props(), b"id": id_to_text(OTHER.public, "network").encode()}, 8470),  # wrong kind
    ({**props(), b"id": None}, 8470),
    ({}, 8470),
])
def test_announcements_that_are_not_another_node_of_ours_are_ignored(
        properties: dict[bytes, bytes | None], port: int) -> None:
    assert judge(["192.168.1.20"], properties=properties, port=port) is None


def test_every_address_is_checked_as_a_learned_address() -> None:
    found = judge(["169.254.169.254", "127.0.0.1", "10.1.2.3", "224.0.0.251", "bogus",
                   "192.168.1.20"])
    assert found is not None
    assert found.addresses == ("http://192.168.1.20:8470",)
    reasons = dict(found.refused)
    assert set(reasons) == {"169.254.169.254", "127.0.0.1", "10.1.2.3", "224.0.0.251", "bogus"}
    assert "never" in reasons["169.254.169.254"]
    assert "loopback" in reasons["127.0.0.1"]
    assert "private" in reasons["10.1.2.3"]  # none of our own addresses is in 10/8


def test_loopback_only_when_this_node_listens_on_loopback_only() -> None:
    found = judge(["127.0.0.1"], own=["127.0.0.1"], loopback_only=True)
    assert found is not None and found.addresses == ("http://127.0.0.1:8470",)


def test_public_addresses_are_accepted_and_few_are_kept() -> None:
    many = [f"203.0.113.{i}" for i in range(1, 40)]
    found = judge(many)
    assert found is not None
    assert len(found.addresses) == MAX_ADDRESSES_PER_NODE
    assert found.refused == ()
    # Only the first MAX_ADDRESSES_READ are even looked at.
    refused = judge(["bogus"] * 100)
    assert refused is not None and len(refused.refused) == MAX_ADDRESSES_READ


async def test_found_nodes_become_mdns_peers_with_their_id_and_refusals_are_logged(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    discovery = Discovery(store, EventBus(), port=8470, listening=["http://0.0.0.0:8470"],
                          read_interfaces=lambda: ["127.0.0.1", "192.168.1.9"])
    assert discovery.announced == ["192.168.1.9"] and not discovery.loopback_only
    fingerprint = network_fingerprint(store.network)
    properties = {**props(), b"net": fingerprint.encode()}
    with caplog.at_level(logging.INFO, logger="node.sync.discovery"):
        found = await discovery.consider(properties, ["169.254.169.254", "192.168.1.20"], 9000)
    assert found is not None
    rows = await store.db.read(peerbook.list_peers)
    assert [(r.address, r.source, r.node_id) for r in rows] == [
        ("http://192.168.1.20:9000", "mdns", OTHER.public)]
    lines = [r.getMessage() for r in caplog.records]
    refusal = [line for line in lines if "169.254.169.254" in line]
    assert len(refusal) == 1 and OTHER.short_id in refusal[0] and "never" in refusal[0]
    assert any("found node" in line and OTHER.short_id in line for line in lines)
    # Another network's announcement changes nothing.
    assert await discovery.consider(props(), ["192.168.1.30"], 9000) is None
    assert len(await store.db.read(peerbook.list_peers)) == 1


async def test_a_node_on_loopback_only_announces_nothing_and_dials_loopback(
        store: Store) -> None:
    discovery = Discovery(store, EventBus(), port=8470, listening=["http://127.0.0.1:8470"],
                          read_interfaces=lambda: ["127.0.0.1", "192.168.1.9"])
    assert discovery.announced == [] and discovery.loopback_only
    properties = {**props(), b"net": network_fingerprint(store.network).encode()}
    found = await discovery.consider(properties, ["127.0.0.1", "192.168.1.20", "10.1.1.1"],
                                     9000)
    # It still dials out: to the LAN range its machine is in, not to another private one.
    assert found is not None
    assert found.addresses == ("http://127.0.0.1:9000", "http://192.168.1.20:9000")
    assert [ip for ip, _ in found.refused] == ["10.1.1.1"]


async def test_addresses_are_read_again_and_a_change_is_noticed(store: Store) -> None:
    # A machine that gets its LAN address after the node started (DHCP after boot).
    interfaces = [["127.0.0.1"]]
    discovery = Discovery(store, EventBus(), port=8470, listening=["http://0.0.0.0:8470"],
                          read_interfaces=lambda: interfaces[0])
    assert discovery.announced == []
    assert not discovery.read_addresses()
    interfaces[0] = ["127.0.0.1", "192.168.1.9"]
    assert discovery.read_addresses()
    assert discovery.announced == ["192.168.1.9"] and "192.168.1.9" in discovery.own
    assert not discovery.read_addresses()
