"""A reconcile flood and a latency probe, for the hostile suite and tests/bench/bench_flood.py.

* :func:`flood` — several members of the node's network, each sending many
  large reconcile frames at once (about 200 KiB, 10,000 fingerprint ranges:
  the most work a frame can ask for), for a bounded time and count. Run it in
  its own process (``python -m tests.hostile.flood URL SECONDS``) so that the
  probe's timings are the node's, not the flood's.
* :func:`probe` — ``GET /login`` over and over on one keep-alive connection:
  the latencies a person at the node's pages would see.
* :func:`prepare_node` — a claimed node whose set holds some thousands of
  entries (so that each frame costs real work), limits raised so the flood
  reaches the reconciliation and is not simply refused at the door.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from node import Store
from protocol import HttpMessage, NodeKey, sign_hedgerow
from protocol.messages import encode_reconcile
from protocol.negentropy import encode_varint

from ..members import TEST_NETWORK
from ..node.peer_entries import NETWORK, practice
from .harness import SYNC_TYPE, make_node_dir

START_MS = 1_700_000_000_000


def big_frame(seed: int, ranges: int = 10_000) -> bytes:
    """A reconcile request body of ``ranges`` fingerprint ranges (~200 KiB at 10,000)."""
    rng = random.Random(seed)
    out = bytearray(b"\x61")
    for i in range(ranges):
        out += encode_varint(1 + START_MS if i == 0 else 1 + rng.randrange(1, 20_000))
        out += b"\x00\x01" + rng.randbytes(16)
    return encode_reconcile({"all": bytes(out)})


async def _member(url: str, key: NodeKey, body: bytes, concurrency: int, until: float,
                  max_requests: int, counts: Counter[int]) -> None:
    target = f"{url}/sync/v2/reconcile"
    nonce = random.Random(key.node_id)
    timeout = aiohttp.ClientTimeout(total=30)

    async def one_after_another(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < until and sum(counts.values()) < max_requests:
            msg = HttpMessage.for_request("POST", target, {"content-type": SYNC_TYPE}, body)
            fields = sign_hedgerow(msg, key=key.private_key, keyid=key.node_id,
                                   network_id=NETWORK, now=int(time.time()),
                                   nonce=f"{nonce.getrandbits(96):024x}")
            try:
                async with http.post(target, data=body,
                                     headers={"Content-Type": SYNC_TYPE, **fields}) as resp:
                    await resp.read()
                    counts[resp.status] += 1
                    if resp.status == 429:
                        await asyncio.sleep(0.05)
            except (aiohttp.ClientError, TimeoutError):
                counts[0] += 1

    async with aiohttp.ClientSession(timeout=timeout) as http:
        await asyncio.gather(*(one_after_another(http) for _ in range(concurrency)))


async def flood(url: str, seconds: float, *, members: int = 4, concurrency: int = 10,
                max_requests: int = 5000) -> Counter[int]:
    """Statuses of a flood of big reconcile frames from ``members`` keys at once."""
    counts: Counter[int] = Counter()
    until = time.monotonic() + seconds
    keys = flooding_members(members)
    await asyncio.gather(*(_member(url, key, big_frame(i), concurrency, until, max_requests,
                                   counts) for i, key in enumerate(keys)))
    return counts


def flooding_members(count: int = 4) -> list[NodeKey]:
    return [NodeKey.from_seed(hashlib.sha256(b"flooding member %d" % i).digest())
            for i in range(count)]


def probe(url: str, seconds: float, *, interval: float = 0.02) -> list[float]:
    """Latencies (seconds) of ``GET /login``, one after another, for ``seconds``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    latencies = []
    until = time.monotonic() + seconds
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            conn.request("GET", "/login")
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            assert response.status == 200, response.status
            time.sleep(interval)
    finally:
        conn.close()
    return latencies


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def _fill(data_dir: Path, entries: int) -> None:
    store = await Store.open(data_dir, clock=lambda: int(time.time() * 1000))
    try:
        authors = [NodeKey.from_seed(hashlib.sha256(b"author %d" % i).digest())
                   for i in range(20)]
        # The authors and the flooding peers are members (tests/members.py).
        await store.ingest(TEST_NETWORK.admissions(*authors, *flooding_members(8)))
        batch = []
        for i in range(entries):
            batch.append(practice(authors[i % 20], f"p-{i}", START_MS + i * 997,
                                  title=f"Practice {i}"))
            if len(batch) == 500:
                await store.ingest(batch)
                batch = []
        if batch:
            await store.ingest(batch)
    finally:
        await store.close()


def prepare_node(root: Path, *, entries: int = 5000) -> Path:
    """A claimed node of the flood's network holding ``entries`` entries, limits raised."""
    data_dir = make_node_dir(root, "flooded")
    asyncio.run(_fill(data_dir, entries))
    (data_dir / "hedgerow.toml").write_text(
        "rate_limit_per_peer = 10000\nrate_limit_per_ip = 10000\nmdns = false\n"
        "sync_interval = 86400\n")
    return data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    counts = asyncio.run(flood(args.url, args.seconds, members=args.members,
                               concurrency=args.concurrency))
    json.dump({str(k): v for k, v in counts.items()}, sys.stdout)


if __name__ == "__main__":
    main()
