"""Benchmark: the network views over a large store. Not a timed test.

    python tests/bench/bench_views.py [--entries 100000] [--nodes 5000] [--json]

1. Signs ``--entries`` practice entries from ``--nodes`` nodes (plus one
   profile per node and a credit for about one adaptation in five) in
   worker processes. Lineages are realistic: about a third of practices are
   adapted from an earlier one, chosen with preferential attachment (ideas
   that spread keep spreading), often crossing areas.
2. Ingests everything into a fresh node through :meth:`node.Store.ingest`,
   then builds the views' derived index and the views it keeps precomputed
   (timed separately: it happens lazily, after a sync brings new entries).
3. Runs each view ``--repeat`` times through :func:`node.views.run_view`
   (the path the API and the CLI take) and reports p50/p95 latency, *cold*
   (the views' result memo cleared before each run, as after any change to
   the database: ``p50_ms``, ``p95_ms``) and *warm* (repeated while nothing
   changes: ``warm_p50_ms``, ``warm_p95_ms``).

Target: cold p95 ≤ 100 ms for every view, ``similar`` and ``introductions``
included. ``--json`` prints one object
``{"entries": …, "views": {"<name>": {"p50_ms", "p95_ms", "warm_p50_ms",
"warm_p95_ms"}, …}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from node import Store, init_node
from node.views import catch_up, run_view
from node.views.common import clear_memo
from protocol import LEVELS, Entry, NodeKey, credit_key, id_to_text, sign_entry
from tests.bench.signed_files import read_entries, write_signed
from tests.members import MemberNetwork

BENCH_NETWORK = MemberNetwork("hedgerow views bench")
NETWORK = BENCH_NETWORK.network
BASE = 1_600_000_000_000
THEMES = ["food", "repair", "children", "streets", "older people", "energy", "gardens",
          "money advice", "walking", "tenants", "housing", "youth", "arts", "health",
          "loneliness", "climate", "transport", "libraries", "music", "sport"]
PRINCIPLES = ["Community led", "Open to all", "Paid fairly", "Small is beautiful",
              "Share what works", "Nothing about us without us"]
WORDS = ["neighbours", "meet", "every", "week", "in", "the", "hall", "to", "share", "skills",
         "tools", "food", "and", "time", "volunteers", "keep", "a", "rota", "children", "play",
         "while", "parents", "talk", "council", "lends", "barriers", "repair", "café",
         "garden", "library", "walk", "count", "what", "community", "says", "matters"]
AUTHORITIES = ["Hackney", "Leeds", "Bristol", "Manchester", "Glasgow", "Cardiff", "Norwich",
               "Sheffield", "Newcastle", "Brighton and Hove", "Camden", "Lewisham"]


def _key(i: int) -> NodeKey:
    return NodeKey.from_seed(hashlib.sha256(f"views bench node {i}".encode()).digest())


def _area(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(AUTHORITIES)
    letters = rng.choice(["E", "N", "SW", "LS", "M", "BS", "G", "CF"])
    return f"{letters}{rng.randint(1, 20)} {rng.randint(1, 9)}{rng.choice('ABDEFG')}" \
           f"{rng.choice('HJLNPQ')}"


def plan(entries: int, nodes: int, seed: int = 6) -> list[tuple[int, int, int | None]]:
    """(node, practice number, parent practice id or None) for every practice, in order."""
    rng = random.Random(seed)
    out: list[tuple[int, int, int | None]] = []
    popular: list[int] = []  # practice ids, repeated by how often they were adapted
    for pid in range(entries):
        node, number = pid % nodes, pid // nodes
        parent = None
        if out and rng.random() < 0.33:
            parent = rng.choice(popular) if popular and rng.random() < 0.7 else \
                rng.randrange(len(out))
            if out[parent][0] == node:
                parent = None
            else:
                popular.append(parent)
        out.append((node, number, parent))
        if rng.random() < 0.02:
            popular.append(pid)
    return out


def _sign_nodes(first: int, count: int, entries: int, nodes: int) -> bytes:
    practices = plan(entries, nodes)
    rng = random.Random(first)
    out = []
    mine = [p for p in enumerate(practices) if first <= p[1][0] < first + count]
    for i in range(first, first + count):
        key = _key(i)
        body = {"area": _area(rng), "description": " ".join(rng.choices(WORDS, k=14)),
                "level": rng.choice(LEVELS), "name": f"Group {i}",
                "principles": sorted(rng.sample(PRINCIPLES, rng.randint(0, 3)))}
        if not body["principles"]:
            del body["principles"]
        out.append(sign_entry(key, Entry(NETWORK, key.public, "profile", "profile",
                                         BASE + i, body)).to_wire())
    for pid, (node, number, parent) in mine:
        key = _key(node)
        body: dict[str, Any] = {
            "description": " ".join(rng.choices(WORDS, k=rng.randint(10, 30))),
            "since": f"{rng.randint(2005, 2024)}-{rng.randint(1, 12):02d}",
            "status": rng.choice(["active", "active", "active", "paused", "ended"]),
            "themes": sorted(rng.sample(THEMES, rng.randint(1, 3))),
            "title": f"{rng.choice(['Repair', 'Play', 'Food', 'Tool', 'Walk', 'Grow'])} "
                     f"{rng.choice(['café', 'street', 'share', 'library', 'club'])} {pid}",
        }
        if rng.random() < 0.4:
            body["level"] = rng.choice(LEVELS)
        if rng.random() < 0.3:
            body["area"] = _area(rng)
        version = BASE + 10_000_000 + pid * 1000
        if parent is not None:
            pnode, pnumber, _ = practices[parent]
            body["adapted_from"] = [{"author": _key(pnode).public, "key": f"p-{pnumber}"}]
            if rng.random() < 0.2:
                to = _key(pnode).public
                out.append(sign_entry(key, Entry(
                    NETWORK, key.public, "credit", credit_key(to, f"p-{pnumber}"),
                    version + 1, {"note": "Thank you", "practice": f"p-{pnumber}", "to": to}
                )).to_wire())
        out.append(sign_entry(key, Entry(NETWORK, key.public, "practice", f"p-{number}",
                                         version, body)).to_wire())
    return b"".join(msgpack.packb(item, use_bin_type=True) for item in out)


def generate(path: Path, entries: int, nodes: int) -> None:
    chunk = max(1, nodes // 40)
    write_signed(path, _sign_nodes, [(first, min(chunk, nodes - first), entries, nodes)
                                     for first in range(0, nodes, chunk)])


def cases(entries: int, nodes: int) -> list[tuple[str, str, dict[str, Any]]]:
    practices = plan(entries, nodes)
    # The most adapted practice: the largest lineage to draw.
    counts: dict[int, int] = {}
    for _, _, parent in practices:
        if parent is not None:
            counts[parent] = counts.get(parent, 0) + 1
    top = max(counts, key=lambda p: counts[p]) if counts else 0
    node, number, _ = practices[top]
    busy = id_to_text(_key(node).public)
    # A practice like most: the last one signed, adapted from nothing in particular.
    last_node, last_number, _ = practices[-1]
    typical = id_to_text(_key(last_node).public)
    return [
        ("directory", "directory", {}),
        ("directory search", "directory", {"q": "repair café"}),
        ("directory filtered", "directory", {"theme": "food", "status": "active",
                                             "level": "local"}),
        ("themes", "themes", {}),
        ("themes filtered", "themes", {"status": "active", "area": "Hackney"}),
        ("levels", "levels", {}),
        ("principles", "principles", {}),
        ("areas", "areas", {}),
        ("timeline", "timeline", {}),
        ("spread roots", "spread", {}),
        ("spread of a practice", "spread", {"node": busy, "key": f"p-{number}"}),
        ("lineage of a node", "lineage", {"node": busy}),
        ("health", "health", {}),
        ("similar", "similar", {"node": typical, "key": f"p-{last_number}"}),
        ("similar to the most adapted", "similar", {"node": busy, "key": f"p-{number}"}),
        ("introductions", "introductions", {}),
        ("introductions of a theme", "introductions", {"theme": "food"}),
        ("introductions by level", "introductions", {"level": "local"}),
        ("introductions in an area", "introductions", {"area": "Hackney"}),
    ]


def _p(times: list[float], p: int) -> float:
    """Nearest-rank percentile, in milliseconds, rounded."""
    ordered = sorted(times)
    return round(ordered[max(0, -(-p * len(ordered) // 100) - 1)], 1)


async def measure(data_dir: Path, path: Path, entries: int, nodes: int,
                  repeat: int) -> dict[str, Any]:
    store = await Store.open(data_dir)
    try:
        # Every author is a member (tests/members.py): the genesis and their admissions
        # come first, untimed.
        authors = sorted({msgpack.unpackb(s.payload)["author"]
                          for batch in read_entries(path, 1_000) for s in batch})
        membership = BENCH_NETWORK.membership(authors)
        for first in range(0, len(membership), 1000):
            await store.ingest(membership[first:first + 1000])
        start = time.perf_counter()
        count = 0
        for batch in read_entries(path, 1000):
            count += sum(1 for o in await store.ingest(batch) if o.stored)
        ingest_s = time.perf_counter() - start
        start = time.perf_counter()
        await store.db.write(catch_up)
        index_s = time.perf_counter() - start
        views: dict[str, dict[str, float]] = {}
        for label, name, params in cases(entries, nodes):
            await run_view(store, name, params)  # warm SQLite's page cache
            cold, warm = [], []
            for _ in range(repeat):
                clear_memo()  # as after any change to the database
                begin = time.perf_counter()
                await run_view(store, name, params)
                cold.append((time.perf_counter() - begin) * 1000)
            for _ in range(repeat):
                begin = time.perf_counter()
                await run_view(store, name, params)
                warm.append((time.perf_counter() - begin) * 1000)
            views[label] = {"p50_ms": _p(cold, 50), "p95_ms": _p(cold, 95),
                            "warm_p50_ms": _p(warm, 50), "warm_p95_ms": _p(warm, 95)}
    finally:
        await store.close()
    return {"entries": count, "ingest_s": round(ingest_s, 1), "index_s": round(index_s, 1),
            "views": views}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000, help="practice entries")
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    nodes = min(args.nodes, args.entries)
    with tempfile.TemporaryDirectory(prefix="hedgerow-views-bench-") as tmp:
        tmp_path = Path(tmp)
        entries_file = tmp_path / "entries.msgpack"
        start = time.perf_counter()
        generate(entries_file, args.entries, nodes)
        signing_s = time.perf_counter() - start
        data_dir = tmp_path / "node"
        init_node(data_dir, network=NETWORK, seed=os.urandom(32), now_ms=BASE)
        result = asyncio.run(measure(data_dir, entries_file, args.entries, nodes,
                                     args.repeat))
    if args.json:
        print(json.dumps({"entries": result["entries"], "views": result["views"]}))
        return
    print(f"store: {result['entries']:,} entries ({args.entries:,} practices from {nodes:,} "
          f"nodes, with profiles and credits); signing {signing_s:.0f} s (not timed), "
          f"ingest {result['ingest_s']} s, building the views' index {result['index_s']} s")
    width = max(len(name) for name in result["views"])
    print(f"{'view':<{width}}  {'cold p50':>8}  {'cold p95':>8}  {'warm p50':>8}  "
          f"{'warm p95':>8}  (ms; target p95 ≤ 100 ms)")
    for name, n in result["views"].items():
        mark = "ok" if n["p95_ms"] <= 100 else "over (cold)"
        print(f"{name:<{width}}  {n['p50_ms']:>8}  {n['p95_ms']:>8}  {n['warm_p50_ms']:>8}  "
              f"{n['warm_p95_ms']:>8}  {mark}")


if __name__ == "__main__":
    main()
