"""mDNS with real processes: two nodes on one LAN find each other with no address typed.

Two ``hedgerow up`` processes with mDNS on, each in a network namespace of
its own, joined by a veth pair the test makes (loopback carries no
multicast). The second group's invitation carries an address that does not
work on this LAN (as a public address behind a router would not), and the
first node admits it by its id, as the README says to do then: so the only
way either node can learn where the other is, is mDNS. Each must find the
other (peer book: the other's address, its node id, source ``mdns``), and a
publication on each must reach the other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import id_from_text

from ..netns import Network, current_ids, integrity, read_db, wait_until

#: Seconds two nodes may take to find each other once both are up (mDNS
#: probing and announcing take about 2 s; a lookup up to 3 s more).
FIND_WITHIN_S = 20.0
#: Seconds a publication may take to reach the other node (it is pushed at once).
REACH_WITHIN_S = 20.0


def mdns_peers(data_dir: Path) -> list[tuple[object, ...]]:
    return read_db(data_dir, "SELECT address, node_id, source FROM peers WHERE source = 'mdns'")


@pytest.mark.timeout(150)
def test_two_nodes_on_a_lan_find_each_other_by_mdns_and_share(
        make_network: Callable[..., Network], tmp_path: Path) -> None:
    net = make_network(env={"HEDGEROW_MDNS": "true", "HEDGEROW_SYNC_INTERVAL": "10"})
    a, b = net.add_pair()
    dir_a, dir_b = tmp_path / "leeds", tmp_path / "easton"
    net.hedgerow(a, dir_a, "init", "--new-network", "--name", "Leeds Play Out",
                 "--level", "local")
    net.hedgerow(a, dir_a, "profile", "publish")
    code = net.hedgerow_json(a, dir_a, "invite", "--address",
                             "http://203.0.113.9:8470")["invitation"]
    joined = net.hedgerow_json(b, dir_b, "init", "--join", code, "--name", "Easton Fridge",
                               "--level", "neighbourhood")
    id_a = json.loads(net.hedgerow(a, dir_a, "keys", "show", "--json"))["node_id"]
    net.hedgerow(a, dir_a, "admit", joined["node_id"])

    started = time.monotonic()
    node_a = net.start_node(a, dir_a)
    node_b = net.start_node(b, dir_b)
    expected = {dir_a: (b.url(), id_from_text(joined["node_id"])),
                dir_b: (a.url(), id_from_text(id_a))}

    def found_each_other() -> bool:
        return all((address, node_id, "mdns") in mdns_peers(d)
                   for d, (address, node_id) in expected.items())

    wait_until(found_each_other, "the two nodes did not find each other by mDNS",
               timeout=FIND_WITHIN_S)
    found_s = time.monotonic() - started
    for node, other in ((node_a, b), (node_b, a)):  # and the log says so
        node.wait_for(f"at {other.url()} on the local network", log=True, timeout=5)
    for d in (dir_a, dir_b):
        listed = net.hedgerow_json(a if d == dir_a else b, d, "peer", "list")["peers"]
        assert [(p["address"], p["source"]) for p in listed if p["source"] == "mdns"] \
            == [(expected[d][0], "mdns")]

    # A publication on each reaches the other.
    before = current_ids(dir_b)
    net.hedgerow(a, dir_a, "record", "add", "--title", "Play street")
    published = net.hedgerow_json(a, dir_a, "share", "publish", "play-street")
    entry_a = bytes.fromhex(published["entry_id"])
    assert entry_a not in before
    reach_a = wait_until(lambda: entry_a in current_ids(dir_b),
                         "a publication on the first node did not reach the second",
                         timeout=REACH_WITHIN_S)
    wait_until(lambda: net.hedgerow_json(b, dir_b, "status")["membership"]["member"],
               "the second node never learned it was admitted", timeout=REACH_WITHIN_S)
    published_b = net.hedgerow_json(b, dir_b, "profile", "publish")
    entry_b = bytes.fromhex(published_b["entry_id"])
    reach_b = wait_until(lambda: entry_b in current_ids(dir_a),
                         "a publication on the second node did not reach the first",
                         timeout=REACH_WITHIN_S)
    wait_until(lambda: current_ids(dir_a) == current_ids(dir_b),
               "the two nodes do not hold the same entries", timeout=REACH_WITHIN_S)
    print(f"mDNS: found each other {found_s:.1f} s after starting; publications reached the "
          f"other in {reach_a:.1f} s and {reach_b:.1f} s")

    for node in (node_a, node_b):
        assert node.stop() == 0
        assert "Traceback" not in node.errors()
    assert integrity(dir_a) == integrity(dir_b) == "ok"
