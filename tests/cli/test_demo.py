"""The demo network in this process (node/demo.py), and ``hedgerow demo``'s option checks."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest

from node.demo import MAX_DEMO_NODES, DemoNetwork
from node.errors import InvalidInput, SyncFailed
from node.logview import describe
from node.samples import LIVE_PRACTICE, SAMPLE_ORGANISATIONS
from protocol import SMALL_COUNT_TEXT

from .conftest import fails


async def test_the_demo_network_seeds_settles_and_spreads(tmp_path: Path) -> None:
    with socket.socket() as taken:  # the wanted first port is in use: the next is taken
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        net = DemoNetwork(tmp_path, nodes=3, port_base=busy, sync_interval=60)
        await net.start()
    try:
        assert [node.name for node in net.nodes] == [s.name for s in SAMPLE_ORGANISATIONS[:3]]
        ports = [int(node.url.rsplit(":", 1)[1]) for node in net.nodes]
        assert busy not in ports and ports == sorted(ports)
        assert await net.settle() >= 0
        first = net.nodes[0].store
        profiles = await first.current_entries(kind="profile")
        assert sorted(p.entry.body["name"] for p in profiles) == \
            sorted(s.name for s in SAMPLE_ORGANISATIONS[:3])
        practices = await first.current_entries(kind="practice")
        measures = [m for p in practices for m in p.entry.body.get("measures", [])]
        assert measures and all(m["value"] == SMALL_COUNT_TEXT or m["value"] >= 5
                                for m in measures)
        # Private fields stay on the node that wrote them.
        for sample in SAMPLE_ORGANISATIONS[:3]:
            for practice in sample.practices:
                assert all(practice.context not in p.signed.payload.decode("utf-8", "replace")
                           for p in practices)
        live = await net.publish_live()
        assert live.publisher == 2 and live.title == LIVE_PRACTICE.title
        assert live.adapted_from == 0
        assert await net.holders() == (2,)
        for _ in range(20):
            spread = await net.spread_round()
            if spread.everywhere:
                break
        assert spread.everywhere and spread.holders == (0, 1, 2)
        credits = await first.current_entries(kind="credit")
        assert any(c.entry.body["practice"] == "play-street" for c in credits)
        held = await first.current_entry(net.nodes[2].node_id, "practice", live.key)
        assert held is not None
        assert held.entry.body["adapted_from"] == [{"author": net.nodes[0].node_id,
                                                    "key": "play-street"}]
        net.start_gossip()
    finally:
        await net.stop()
    assert net.nodes == []


async def test_stopping_the_demo_logs_no_peer_that_has_just_stopped(tmp_path: Path) -> None:
    """While the demo stops, a node that syncs with one already stopped fails: not news."""
    net = DemoNetwork(tmp_path, nodes=2, port_base=0, sync_interval=60)
    await net.start()
    lines: list[str] = []
    net.watch(lambda node, event: lines.append(f"{node.name}: {describe(event)[1]}"))
    first, second = net.nodes
    gossip = second.service.gossip
    assert gossip is not None
    await gossip.sync_peer(first.url)  # watched: logged
    assert lines and "synced with" in lines[-1]
    seen, url, tried = len(lines), first.url, []
    stop_first = first.service.stop

    async def stop_then_sync() -> None:
        # The second node's gossip is still busy when the first has gone.
        await stop_first()
        with contextlib.suppress(SyncFailed):
            await gossip.sync_peer(url)
        tried.append(url)

    first.service.stop = stop_then_sync  # type: ignore[method-assign]
    await net.stop()
    assert tried == [url]
    assert lines[seen:] == [], lines[seen:]


def test_the_demo_refuses_impossible_sizes(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        DemoNetwork(tmp_path, nodes=1)
    with pytest.raises(InvalidInput):
        DemoNetwork(tmp_path, nodes=MAX_DEMO_NODES + 1)
    assert "Invalid value for '--nodes'" in fails("demo", "--nodes", "1", code=2)
    assert "Invalid value for '--port-base'" in fails("demo", "--port-base", "70000", code=2)
