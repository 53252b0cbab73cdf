"""The namespace harness itself: hosts reach each other, partitions cut, loss, clean-up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from .. import netns
from ..netns import NetnsUnavailable, Network


def listener(ip: str, port: int) -> list[str]:
    """A TCP listener that accepts and closes connections (http.server would look up DNS)."""
    return [sys.executable, "-c",
            "import socket\n"
            f"s = socket.create_server(({ip!r}, {port}))\n"
            "while True:\n"
            "    s.accept()[0].close()\n"]


def test_without_root_the_reason_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsUnavailable) as caught:
        netns.require()
    assert str(caught.value) == "network namespaces need root (this runs as uid 1000)"


def test_without_iproute2_the_reason_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    with pytest.raises(NetnsUnavailable, match=r"\Athe `ip` command \(iproute2\) is not "):
        netns.require()


def test_hosts_on_the_bridge_reach_each_other_until_cut_and_after_healing(
        make_network: Callable[..., Network]) -> None:
    net = make_network()
    one, two, three = net.add_hosts(3)
    assert [h.ip for h in (one, two, three)] == ["10.77.0.1", "10.77.0.2", "10.77.0.3"]
    for host in (two, three):
        net.spawn(host, listener(host.ip, 8470))

    def reach(source: netns.Host, target: netns.Host) -> bool:
        # The listener may take a moment to start: poll, with a deadline.
        try:
            netns.wait_until(lambda: net.reachable(source, target, 8470, timeout=1),
                             "unreachable", timeout=8, interval=0.1)
        except AssertionError:
            return False
        return True

    assert reach(one, two) and reach(one, three)
    net.partition([three])
    assert reach(one, two)
    assert not net.reachable(one, three, 8470, timeout=1)
    net.heal()
    assert reach(one, three)

    impairment = net.impair(loss_percent=2, delay_ms=20)
    assert impairment.method in ("netem", "nft")
    shown = net.run(one, ["nft", "list", "ruleset"] if impairment.method == "nft"
                    else ["tc", "qdisc", "show", "dev", "eth0"]).stdout
    assert ("numgen random mod 1000 < 20 drop" if impairment.method == "nft"
            else "loss 2%") in shown
    assert reach(one, two)  # 2 % loss leaves the network usable

    names = [h.name for h in net.hosts]
    net.close()
    assert net.leftovers() == []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    assert not any(name in listed for name in names)


def test_two_namespaces_joined_end_to_end(make_network: Callable[..., Network]) -> None:
    net = make_network()
    a, b = net.add_pair()
    net.spawn(b, listener(b.ip, 9000))
    netns.wait_until(lambda: net.reachable(a, b, 9000, timeout=1), "the pair is not joined",
                     timeout=8, interval=0.1)
