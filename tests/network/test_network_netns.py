"""Twenty real nodes on a lossy LAN: built as the README says, then killed, cut and restarted.

Twenty ``hedgerow up`` processes, each in a network namespace of its own on
one bridge (tests/netns.py), 2 % of packets lost (netem, or an nftables rule
where the kernel has no netem, in which case the test says that delay could
not be emulated), mDNS off, ``sync_interval`` 10 s. The network is built with
invitations in a chain, exactly as the README says: the first node founds
it, each next one joins with an invitation from the one before. No address
is ever typed: each node must learn its peers by itself.

Then: practices published on three nodes; four nodes killed with SIGKILL
(one of them right after publishing); two more published; the network cut
in two halves, each publishing, and healed; the killed nodes restarted. At
the end every node holds the same current set, holding every publication a
command reported as done (or its author's newer version), and every
database passes ``PRAGMA integrity_check``.

Convergence is polled on the databases (read-only); the end state is also
compared through ``hedgerow view directory --json``. Every wait has a
deadline; the phases' times are printed.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import hedgerow

from ..netns import Cluster, Member, Network, Publication, current_ids, integrity

NODES = 20
KILLED = 4
SYNC_INTERVAL_S = 10
LOSS_PERCENT = 2.0
DELAY_MS = 20
#: Deadlines (seconds) of each phase: a few anti-entropy intervals; relay
#: push makes each far shorter when all is well.
SPREAD_S = 45.0
HEAL_S = 75.0


def directory(member: Member) -> set[tuple[str, str, str, int]]:
    """(kind, node, key, version) of every practice and profile, as `view directory` lists them."""
    done = CliRunner().invoke(hedgerow, ["view", "directory", "--json", "--limit", "500",
                                         "--data-dir", str(member.data_dir)])
    assert done.exit_code == 0, done.output
    return {(r["kind"], r["node"], r["key"], int(r["version"]))
            for r in json.loads(done.stdout)["results"]}


@pytest.mark.timeout(235)
def test_twenty_nodes_find_each_other_and_lose_nothing_through_kills_and_a_partition(
        make_network: Callable[..., Network], tmp_path: Path) -> None:
    began = time.monotonic()
    timings: list[str] = []

    def note(text: str) -> None:
        timings.append(f"{time.monotonic() - began:6.1f} s  {text}")
        print(timings[-1], flush=True)

    net = make_network()
    hosts = net.add_hosts(NODES)
    impairment = net.impair(loss_percent=LOSS_PERCENT, delay_ms=DELAY_MS)
    note(impairment.describe())
    if impairment.delay_ms != DELAY_MS:
        warnings.warn(f"network test: {impairment.describe()}", stacklevel=1)
    cluster = Cluster(net, env={"HEDGEROW_SYNC_INTERVAL": str(SYNC_INTERVAL_S),
                                "HEDGEROW_MDNS": "false"})
    members = cluster.build_chain(hosts)
    note(f"{NODES} nodes joined in a chain of invitations")
    rng = random.Random(20)

    def acked(*, without: set[Publication] = frozenset()) -> list[Publication]:  # type: ignore[assignment]
        return [p for p in cluster.publications if p not in without]

    # Practices published on three nodes reach all twenty.
    for i, member in enumerate(rng.sample(members, 3)):
        cluster.publish(member, f"first-{i}")
    took = cluster.wait_held(acked(), "the first publications did not reach every node",
                             timeout=SPREAD_S)
    note(f"three publications and {NODES} profiles held by every node after {took:.1f} s")

    # Four nodes killed, one right after publishing: what it acknowledged must not be lost.
    victims = rng.sample(members, KILLED)
    last_words = cluster.publish(victims[0], "last-words")
    for victim in victims:
        cluster.kill(victim)
    note(f"killed nodes {sorted(v.index for v in victims)} (node {victims[0].index} had just "
         "published)")
    for i, member in enumerate(rng.sample(cluster.live(), 2)):
        cluster.publish(member, f"after-kills-{i}")
    took = cluster.wait_held(acked(without={last_words}),
                             "publications after the kills did not reach every live node",
                             timeout=SPREAD_S)
    note(f"two publications after the kills held by every live node after {took:.1f} s")

    # The network cut in two halves: each half goes on working; healing joins them again.
    half = NODES // 2
    side_a = [m for m in cluster.live() if m.index <= half]
    side_b = [m for m in cluster.live() if m.index > half]
    net.partition([m.host for m in members if m.index > half])
    split_a = cluster.publish(rng.choice(side_a), "split-a")
    split_b = cluster.publish(rng.choice(side_b), "split-b")
    took_a = cluster.wait_held([split_a], "a half did not spread its publication within itself",
                               timeout=SPREAD_S, members=side_a)
    took_b = cluster.wait_held([split_b], "a half did not spread its publication within itself",
                               timeout=SPREAD_S, members=side_b)
    # The cut is real: neither half has the other's publication.
    assert all(cluster.lacking(m, [split_b]) == [split_b] for m in side_a)
    assert all(cluster.lacking(m, [split_a]) == [split_a] for m in side_b)
    note(f"partitioned: each half spread its own publication ({took_a:.1f} s, {took_b:.1f} s)")
    net.heal()
    took = cluster.wait_held(acked(without={last_words}),
                             "after the partition healed, the halves did not converge",
                             timeout=HEAL_S)
    note(f"healed: every live node holds both halves' publications after {took:.1f} s")

    # The killed nodes come back: everything acknowledged, theirs included, is everywhere.
    for victim in victims:
        cluster.start(victim)
    took = cluster.wait_held(acked(), "after the restarts, some node lacks a publication",
                             timeout=HEAL_S, members=members)
    note(f"restarted: every node holds every acknowledged publication after {took:.1f} s")

    def same() -> bool:
        return len({current_ids(m.data_dir) for m in members}) == 1

    deadline = time.monotonic() + SPREAD_S
    while not same():
        assert time.monotonic() < deadline, "the nodes do not hold the same current set: " \
            + str(sorted({len(current_ids(m.data_dir)) for m in members}))
        time.sleep(0.2)
    note(f"every node holds the same current set ({len(current_ids(members[0].data_dir))} "
         "entries)")

    for member in members:
        assert member.process is not None
        assert member.process.stop() == 0, member.process.errors()[-2000:]
        assert "Traceback" not in member.process.errors(), member.process.errors()[-3000:]
    assert {member.index: integrity(member.data_dir) for member in members} \
        == {member.index: "ok" for member in members}
    listings = [directory(m) for m in members]
    assert all(listing == listings[0] for listing in listings)
    shown = {(kind, node, key): version for kind, node, key, version in listings[0]}
    ids = {m.index: m.node_id for m in members}
    for publication in cluster.publications:
        assert shown.get((publication.kind, ids[publication.author], publication.key), -1) \
            >= publication.version, publication
    note(f"all stopped cleanly; databases sound; {len(cluster.publications)} acknowledged "
         "publications listed alike by every node")
