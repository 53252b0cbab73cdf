"""Benchmark: the cost of membership — checking a session's signer, and working out members.

Not a timed test: run it by hand and read the numbers.

    python tests/bench/bench_membership.py [--members 10000] [--json]

1. Builds a node whose network has ``--members`` members (the genesis, the
   founder's admissions of a hundred, and theirs of the rest, through
   :meth:`node.Store.ingest`).
2. Times the sync server's door check of a request's signer
   (``SyncServer._is_member``: one read of the membership generation, then a
   set lookup), for members and for strangers, against the same read alone
   (``Database.read`` of nothing: the thread hop every read costs) in the
   same run.
3. Times working out the members from scratch (:func:`protocol.members_of`
   over every admission) and keeping them up to date for one more admission
   (:meth:`protocol.Membership.admit`).

Target (the membership issue): checking a session's signer against 10,000
members costs under 1 ms. ``--json`` prints one object: ``{"members",
"door_check_p50_ms", "door_check_p95_ms", "bare_read_p50_ms", "ratio",
"members_of_ms", "incremental_admit_ms"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from node import Store, init_node
from node.events import EventBus
from node.settings import Config
from node.store.reconciliation import ReconciliationSet
from node.sync.server import SyncServer
from protocol import Admission, Membership, NodeKey, members_of
from tests.members import MemberNetwork


def _p(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-p * len(ordered) // 100) - 1)]


async def measure(data_dir: Path, network: MemberNetwork, count: int,
                  repeat: int) -> dict[str, float]:
    store = await Store.open(data_dir)
    try:
        keys = [NodeKey.from_seed(hashlib.sha256(b"member %d" % i).digest())
                for i in range(count)]
        nodes = [k.public for k in keys]
        # Two levels, as a network grows: the founder admits the first hundred, and each
        # of them admits the next ones (no author holds more than its 10,000 entries).
        fanout = max(1, min(100, count))
        membership = network.membership(keys[:fanout])
        for i, key in enumerate(keys[fanout:]):
            membership.append(network.admission(key.public, by=keys[i % fanout]))
        for first in range(0, len(membership), 1000):
            await store.ingest(membership[first:first + 1000])
        server = SyncServer(store, Config(mdns=False), EventBus(),
                            recset=ReconciliationSet(store.db))
        stranger = hashlib.sha256(b"stranger").digest()
        assert await server._is_member(nodes[-1]) and not await server._is_member(stranger)
        checks, bare = [], []
        for i in range(repeat):
            node = nodes[i % count] if i % 2 else stranger
            start = time.perf_counter()
            await server._is_member(node)
            checks.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await store.db.read(lambda db: None)
            bare.append((time.perf_counter() - start) * 1000)
        admissions = [Admission(network.founder.public if i < fanout else nodes[i % fanout],
                                n, 2 + i) for i, n in enumerate(nodes)]
        start = time.perf_counter()
        members_of(network.founder.public, admissions)
        scratch_ms = (time.perf_counter() - start) * 1000
        live = Membership(network.founder.public, admissions)
        newcomer = hashlib.sha256(b"newcomer").digest()
        start = time.perf_counter()
        live.admit(Admission(nodes[0], newcomer, 10**9))
        incremental_ms = (time.perf_counter() - start) * 1000
    finally:
        await store.close()
    return {"door_check_p50_ms": round(_p(checks, 50), 3),
            "door_check_p95_ms": round(_p(checks, 95), 3),
            "bare_read_p50_ms": round(statistics.median(bare), 3),
            "ratio": round(statistics.median(checks) / statistics.median(bare), 2),
            "members_of_ms": round(scratch_ms, 1),
            "incremental_admit_ms": round(incremental_ms, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    network = MemberNetwork("membership bench")
    with tempfile.TemporaryDirectory(prefix="hedgerow-bench-") as tmp:
        data_dir = Path(tmp) / "node"
        init_node(data_dir, network=network.network, seed=os.urandom(32),
                  now_ms=time.time_ns() // 1_000_000)
        result = asyncio.run(measure(data_dir, network, args.members, args.repeat))
    if args.json:
        print(json.dumps({"members": args.members, **result}))
        return
    rows = [
        ("members", f"{args.members:,}"),
        ("door check of a signer, p50 / p95 (target < 1 ms)",
         f"{result['door_check_p50_ms']:.3f} / {result['door_check_p95_ms']:.3f} ms"),
        ("a bare database read, p50 (the baseline)", f"{result['bare_read_p50_ms']:.3f} ms"),
        ("door check / bare read", f"{result['ratio']:.2f}"),
        ("members worked out from scratch", f"{result['members_of_ms']:.1f} ms"),
        ("one more admission, incrementally", f"{result['incremental_admit_ms']:.3f} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
