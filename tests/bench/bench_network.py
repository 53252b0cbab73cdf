"""Benchmark: how fast a real network of nodes with default settings spreads what it publishes.

``--nodes`` real ``hedgerow up`` processes, each in a network namespace of
its own on one bridge (tests/netns.py; needs root), with *default* settings
(``sync_interval`` 300 s, default fanouts) and mDNS off, built with
invitations in a chain as the README says. Then ``--publications``
practices published from random nodes (one after another, as fast as the
command runs), ``--killed`` nodes killed with SIGKILL and as many practices
again from random live nodes, and the killed nodes restarted.

Measured (seconds from the moment ``hedgerow share publish`` returned):

* ``publish_to_all_s_p50/p95/max``: until every node holds the publication;
* ``after_kills_to_all_s_p95``: the same, to every live node, with nodes down;
* ``rejoin_catch_up_s_max``: from a killed node's restart until it holds
  every publication;
* ``idle_bytes_per_session``: bytes (both ways) of one anti-entropy session
  between two nodes that already agree, from the byte counts the peer book
  keeps per peer (the median of a few sessions the nodes ran on their own);
* ``peers_known_min``: the fewest live peers any node has in its peer book,
  once built and again with nodes down.

A publication that has not reached every node one ``sync_interval`` after
the last one was published counts as unreached (``null`` in a percentile
it would decide).

Targets: p95 publish-to-all ≤ 15 s, with and without the kills; every
publication everywhere within one ``sync_interval``; a restarted node caught
up in ≤ 15 s; every node knows at least ``sync_fanout`` + 2 live peers.

    python tests/bench/bench_network.py [--nodes 20] [--publications 20] [--killed 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from node.settings import Config
from protocol import id_to_text
from tests.netns import Cluster, Member, NetnsUnavailable, Network, Publication, read_db

DEFAULTS = Config()
TARGET_TO_ALL_P95_S = 15.0
TARGET_CATCH_UP_S = 15.0
_HOST_IP = re.compile(r"\Ahttps?://([0-9.]+)(?::\d+)?\Z")


class Spread:
    """Watches, on a thread, when every watched node holds each publication."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.pending: list[Publication] = []
        self.reached: dict[Publication, float] = {}
        #: When each node was first seen holding each publication (seconds after it).
        self.arrived: dict[Publication, dict[int, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Spread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def add(self, publication: Publication) -> None:
        with self._lock:
            self.pending.append(publication)

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            with self._lock:
                pending = list(self.pending)
            if not pending:
                continue
            live = self.cluster.live()
            lacking: set[Publication] = set()
            for member in live:
                missing = self.cluster.lacking(member, pending)
                lacking.update(missing)
                now = time.monotonic()
                for publication in pending:
                    if publication not in missing:
                        self.arrived.setdefault(publication, {}).setdefault(
                            member.index, now - publication.at)
            now = time.monotonic()
            with self._lock:
                for publication in pending:
                    if publication not in lacking:
                        self.reached[publication] = now - publication.at
                        self.pending.remove(publication)

    def late(self, publications: list[Publication], after_s: float) -> str:
        """How many (node, publication) arrivals took longer than ``after_s``."""
        times = [t for p in publications for t in self.arrived.get(p, {}).values()]
        slow = sum(1 for t in times if t > after_s)
        return f"{slow} of {len(times)} arrivals took over {after_s:.0f} s"

    def stragglers(self, publications: list[Publication]) -> str:
        """Which nodes were last to receive these publications, and how often."""
        last: dict[int, int] = {}
        for publication in publications:
            arrived = self.arrived.get(publication, {})
            if publication not in self.reached:
                continue
            slowest = max(arrived, key=lambda index: arrived[index], default=None)
            if slowest is not None:
                last[slowest] = last.get(slowest, 0) + 1
        ranked = sorted(last.items(), key=lambda item: -item[1])
        return ", ".join(f"node {index} ({count}x)" for index, count in ranked) or "none"

    def wait(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with self._lock:
                if not self.pending:
                    return
            time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; ``inf`` stands for a publication that never arrived."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def figure(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 2)


def live_peers_known(cluster: Cluster, member: Member) -> int:
    """How many other live nodes ``member``'s peer book points at (by node id or address)."""
    live = {m.index for m in cluster.live() if m is not member}
    by_id = {m.node_id: m.index for m in cluster.members}
    by_ip = {m.host.ip: m.index for m in cluster.members}
    known = set()
    for address, node_id in read_db(member.data_dir, "SELECT address, node_id FROM peers"):
        index = by_id.get(id_to_text(bytes(node_id))) if node_id else None
        if index is None:
            found = _HOST_IP.match(address)
            index = by_ip.get(found.group(1)) if found else None
        if index in live:
            known.add(index)
    return len(known)


def publish_and_watch(cluster: Cluster, spread: Spread, count: int, rng: random.Random,
                      tag: str, interval: int) -> list[Publication]:
    done = []
    for i in range(count):
        member = rng.choice(cluster.live())
        publication = cluster.publish(member, f"{tag}-{i}")
        spread.add(publication)
        done.append(publication)
    spread.wait(time.monotonic() + interval)
    return done


def idle_session_bytes(cluster: Cluster, *, timeout: float, sessions: int = 6) -> int | None:
    """Median bytes (both ways) of the nodes' own sessions that moved no entry.

    Read from the peer books: a row whose last sync changed while its entry
    counts did not had one session (or more: the window is short) that found
    nothing to send; its byte counters grew by that session's bytes.
    """
    def snapshot() -> dict[tuple[int, str], tuple[int, int, int, str]]:
        rows = {}
        for member in cluster.live():
            for address, last, up, down, e_in, e_out, outcome in read_db(
                    member.data_dir, "SELECT address, last_sync_ms, bytes_up, bytes_down, "
                                     "entries_in, entries_out, last_outcome FROM peers"):
                rows[(member.index, address)] = (last or 0, up + down, e_in + e_out,
                                                 outcome or "")
        return rows

    before = snapshot()
    sizes: dict[tuple[int, str], int] = {}
    deadline = time.monotonic() + timeout
    while len(sizes) < sessions and time.monotonic() < deadline:
        time.sleep(1)
        for key, (last, size, entries, outcome) in snapshot().items():
            was = before.get(key)
            if was is None or key in sizes or last == was[0]:
                continue
            if entries == was[2] and outcome == "ok":
                sizes[key] = size - was[1]
            else:
                before[key] = (last, size, entries, outcome)  # it moved entries: not idle
    return int(statistics.median(sizes.values())) if sizes else None


def bench(nodes: int, publications: int, killed: int, seed: int, workdir: Path,
          log: Any, interval: int = DEFAULTS.sync_interval) -> dict[str, Any]:
    rng = random.Random(seed)
    env = {"HEDGEROW_MDNS": "false"}
    if interval != DEFAULTS.sync_interval:
        env["HEDGEROW_SYNC_INTERVAL"] = str(interval)
    with Network(workdir) as net:
        hosts = net.add_hosts(nodes)
        cluster = Cluster(net, env=env)
        began = time.monotonic()
        cluster.build_chain(hosts)
        log(f"{nodes} nodes joined in a chain of invitations in {time.monotonic() - began:.0f} s")
        # Settle: every node holds every profile (bounded by one interval).
        try:
            settled = cluster.wait_held(list(cluster.publications), "profiles did not settle",
                                        timeout=interval)
            log(f"every node held every profile {settled:.1f} s after the last joined")
        except AssertionError as exc:
            log(str(exc))
        peers_known = [live_peers_known(cluster, m) for m in cluster.members]
        log("live peers known, by node: " + ", ".join(
            f"{m.index}: {n}" for m, n in zip(cluster.members, peers_known, strict=True)))

        with Spread(cluster) as spread:
            first = publish_and_watch(cluster, spread, publications, rng, "first", interval)
            before = [spread.reached.get(p, math.inf) for p in first]
            log(f"{publications} publications: {sum(map(math.isfinite, before))} reached "
                f"every node; {spread.late(first, TARGET_TO_ALL_P95_S)}; last to get them: "
                f"{spread.stragglers(first)}")

            victims = rng.sample(cluster.members, killed)
            for victim in victims:
                cluster.kill(victim)
            peers_known += [live_peers_known(cluster, m) for m in cluster.live()]
            log(f"killed nodes {sorted(v.index for v in victims)}")
            second = publish_and_watch(cluster, spread, publications, rng, "after-kills",
                                       interval)
            after = [spread.reached.get(p, math.inf) for p in second]
            log(f"{publications} publications after the kills: "
                f"{sum(map(math.isfinite, after))} reached every live node; "
                f"{spread.late(second, TARGET_TO_ALL_P95_S)}; last to get them: "
                f"{spread.stragglers(second)}")

        catch_up: dict[int, float] = {}
        for victim in victims:
            cluster.start(victim)
        wanted = list(cluster.publications)
        deadline = time.monotonic() + interval
        while len(catch_up) < len(victims) and time.monotonic() < deadline:
            for victim in victims:
                assert victim.process is not None
                if victim.index not in catch_up and not cluster.lacking(victim, wanted):
                    catch_up[victim.index] = time.monotonic() - victim.process.started_at
            time.sleep(0.1)
        log(f"restarted nodes caught up: {sorted(catch_up.items())}")
        # Idle sessions: once every node holds the same current set, the
        # sessions the nodes run on their own find nothing to move.
        same_by = time.monotonic() + interval
        while not cluster.same_sets() and time.monotonic() < same_by:
            time.sleep(0.5)
        idle = idle_session_bytes(cluster, timeout=interval)
        log(f"idle sessions: {idle} bytes (median)")
        for member in cluster.members:
            if member.process is not None and member.process.alive:
                member.process.stop()
    rejoin = [catch_up.get(v.index, math.inf) for v in victims]
    return {
        "nodes": nodes,
        "publish_to_all_s_p50": figure(percentile(before, 0.5)),
        "publish_to_all_s_p95": figure(percentile(before, 0.95)),
        "publish_to_all_s_max": figure(max(before)),
        "after_kills_to_all_s_p95": figure(percentile(after, 0.95)),
        "rejoin_catch_up_s_max": figure(max(rejoin)),
        "idle_bytes_per_session": idle,
        "peers_known_min": min(peers_known),
        "unreached": sum(not math.isfinite(v) for v in before + after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--publications", type=int, default=20)
    parser.add_argument("--killed", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sync-interval", type=int, default=DEFAULTS.sync_interval,
                        help="the nodes' sync_interval, and how long to wait for a publication "
                             "(default: the setting's default)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.nodes < args.killed + 2:
        parser.error("--nodes must leave at least two nodes alive")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="hedgerow-bench-network-"))
    try:
        result = bench(args.nodes, args.publications, args.killed, args.seed, workdir, log,
                       args.sync_interval)
    except NetnsUnavailable as exc:
        sys.exit(f"bench_network: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return
    fanout = DEFAULTS.sync_fanout
    rows = [
        ("publish to all, p50 (s)", result["publish_to_all_s_p50"], ""),
        ("publish to all, p95 (s)", result["publish_to_all_s_p95"], f"<= {TARGET_TO_ALL_P95_S}"),
        ("publish to all, max (s)", result["publish_to_all_s_max"],
         f"<= {args.sync_interval} (one sync_interval)"),
        (f"after {args.killed} kills, p95 (s)", result["after_kills_to_all_s_p95"],
         f"<= {TARGET_TO_ALL_P95_S}"),
        ("restart catch-up, max (s)", result["rejoin_catch_up_s_max"],
         f"<= {TARGET_CATCH_UP_S}"),
        ("idle session (bytes)", result["idle_bytes_per_session"], ""),
        ("live peers known, min", result["peers_known_min"], f">= {fanout + 2}"),
        ("publications unreached", result["unreached"], "0"),
    ]
    print(f"{args.nodes} nodes (sync_interval {args.sync_interval} s, "
          f"sync_fanout {fanout}, push_fanout {DEFAULTS.push_fanout}), mDNS off")
    print(f"{'measure':<32}{'value':>10}  target")
    for name, value, target in rows:
        shown = "never" if value is None else str(value)
        print(f"{name:<32}{shown:>10}  {target}")


if __name__ == "__main__":
    main()
