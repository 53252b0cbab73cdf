"""Benchmark: ingest signed entries from many authors into a fresh node store.

Not a timed test: run it by hand and read the numbers.

    python tests/bench/bench_ingest.py [--entries 100000] [--authors 1000] [--json]

1. Signs ``--entries`` entries from ``--authors`` authors (profiles, credits
   and practice summaries of realistic size) in worker processes, streaming
   them to a temporary file, so generating them does not count towards this
   process's memory.
2. Ingests everything into a fresh store through :meth:`node.Store.ingest`,
   in batches, exactly as the sync layer will. Within a batch, storing
   overlaps verifying (the store hands verified chunks to the writer as they
   are ready); ``--in-flight 2`` also overlaps one batch's verification with
   the previous batch's commit, as a sync session receiving its next message
   does. The ingest's time is everything from handing over a batch to its
   outcomes (verifying, storing, committing), and reading the next batch.
3. Measures raw Ed25519 verification (``cryptography``, one thread, on a
   sample of the same entries), the ceiling ingest is compared against, in
   short blocks interleaved with the ingest: a block of ``--raw-block``
   verifications before the first batch, after every ``--raw-every``
   batches and after the last, each at a point where no batch is in flight
   (with ``--in-flight 2`` the batches in flight are finished first). The
   blocks' time is left out of the ingest's; the raw rate is all their
   verifications over all their time. The machine's CPUs are shared and
   their speed drifts, so the baseline is taken over the same stretch of
   time as the ingest, and load from elsewhere weighs on both alike.
4. Reads the current set for reconciliation, and reports peak RSS and the
   database size.

The node and the authors are members of one network (tests/members.py): the
store holds the genesis and the authors' admissions before the timed ingest,
and checks every entry's author against them as it would in a real network.

Targets (issue 3): entries/s ≥ 0.8 × raw verify/s, peak RSS ≤ 150 MB,
current-set read ≤ 0.5 s for 100,000 entries. ``--json`` prints one object:
``{"entries", "entries_per_s", "raw_verify_per_s", "ratio", "peak_rss_mb",
"db_mb", "current_set_read_s"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from node import IngestStatus, Outcome, Store, init_node
from node.store.datadir import database_path
from protocol import (
    SIGNATURE_PREFIX,
    Entry,
    NodeKey,
    credit_key,
    public_key,
    sign_entry,
)
from tests.bench.signed_files import read_entries, write_signed
from tests.members import MemberNetwork

BENCH_NETWORK = MemberNetwork("hedgerow ingest bench")
NETWORK = BENCH_NETWORK.network
BASE_VERSION = 1_700_000_000_000
THEMES = ["food", "repair", "children", "streets", "older people", "energy", "gardens",
          "money advice", "walking", "tenants"]
WORDS = ["neighbours", "meet", "every", "week", "in", "the", "hall", "to", "share", "skills",
         "tools", "food", "and", "time", "volunteers", "keep", "a", "rota", "children", "play",
         "while", "parents", "talk", "council", "lends", "barriers", "funders", "ask", "for",
         "numbers", "we", "count", "what", "community", "says", "matters"]


def _author(i: int) -> NodeKey:
    return NodeKey.from_seed(hashlib.sha256(f"bench author {i}".encode()).digest())


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _body(rng: random.Random, j: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": " ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(3)),
        "level": rng.choice(["neighbourhood", "local", "regional"]),
        "since": f"{rng.randint(2005, 2024)}-{rng.randint(1, 12):02d}",
        "status": rng.choice(["active", "active", "paused"]),
        "themes": sorted(rng.sample(THEMES, rng.randint(1, 3))),
        "title": f"{_sentence(rng, 3)[:-1]} {j}",
    }
    if rng.random() < 0.6:
        body["measures"] = [{"defined_by": "community", "name": "people taking part",
                             "period": "2024, total", "unit": "people",
                             "value": rng.choice([rng.randint(5, 900), "<5"])}]
    if rng.random() < 0.5:
        body["lessons"] = [_sentence(rng, rng.randint(6, 14))]
    return body


def _sign_chunk(first_author: int, authors: int, per_author: int, seed: int) -> bytes:
    """Sign the entries of ``authors`` authors; return them as concatenated msgpack."""
    rng = random.Random(seed)
    out = []
    for a in range(first_author, first_author + authors):
        key = _author(a)
        for j in range(per_author):
            version = BASE_VERSION + a * 1000 + j
            if j == 0:
                entry = Entry(NETWORK, key.public, "profile", "profile", version,
                              {"level": "local", "name": f"Group {a}",
                               "description": _sentence(rng, 12)})
            elif j % 25 == 0:
                to = _author(a + 1_000_000).public  # someone outside the bench
                entry = Entry(NETWORK, key.public, "credit", credit_key(to, f"practice-{j}"),
                              version, {"note": _sentence(rng, 8), "practice": f"practice-{j}",
                                        "to": to})
            else:
                entry = Entry(NETWORK, key.public, "practice", f"practice-{j}", version,
                              _body(rng, j))
            out.append(sign_entry(key, entry).to_wire())
    rng.shuffle(out)
    return b"".join(msgpack.packb(item, use_bin_type=True) for item in out)


def generate(path: Path, entries: int, authors: int) -> None:
    per_author = entries // authors
    chunk = max(1, authors // 40)
    write_signed(path, _sign_chunk, [(first, min(chunk, authors - first), per_author, first)
                                     for first in range(0, authors, chunk)])


class RawVerify:
    """Raw Ed25519 verification, one thread, over entries of this very run, in blocks."""

    def __init__(self, path: Path, sample: int) -> None:
        self.items: list[tuple[Ed25519PublicKey, bytes, bytes]] = []
        for batch in read_entries(path, sample):
            for signed in batch:
                author = msgpack.unpackb(signed.payload)["author"]
                self.items.append((public_key(author), signed.sig,
                                   SIGNATURE_PREFIX + NETWORK + signed.payload))
            break
        self.next = 0
        self.count = 0
        self.seconds = 0.0
        self.block_rates: list[float] = []

    def block(self, n: int) -> None:
        """Verify ``n`` sample entries (the next ones, round the sample) and time them."""
        items, first = self.items, self.next
        block = [items[(first + i) % len(items)] for i in range(n)]
        self.next = (first + n) % len(items)
        start = time.perf_counter()
        for key, sig, message in block:
            key.verify(sig, message)
        seconds = time.perf_counter() - start
        self.count += n
        self.seconds += seconds
        self.block_rates.append(n / seconds)

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def ingest_all(data_dir: Path, path: Path, batch: int, in_flight: int,
                     verify_workers: int | None, raw: RawVerify, raw_every: int,
                     raw_block: int) -> tuple[int, float, float, int]:
    """Ingest every entry, keeping up to ``in_flight`` batches in progress.

    With two in flight (as a sync session receiving its next message would),
    one batch's signatures are verified while the previous batch is stored.
    Every ``raw_every`` batches, once none is in flight, ``raw`` times a
    block of ``raw_block`` verifications; that time is not the ingest's.
    """
    store = await Store.open(data_dir, verify_workers=verify_workers)
    try:
        # The network's membership first (not timed): the genesis, every author admitted.
        authors = sorted({msgpack.unpackb(s.payload)["author"]
                          for batch_ in read_entries(path, 1_000) for s in batch_})
        membership = BENCH_NETWORK.membership(authors)
        for start_ in range(0, len(membership), 1000):
            await store.ingest(membership[start_:start_ + 1000])
        admitted = len(await store.current_set())
        count = 0
        pending: set[asyncio.Task[list[Outcome]]] = set()

        def check(done: set[asyncio.Task[list[Outcome]]]) -> int:
            stored = 0
            for task in done:
                outcomes = task.result()
                bad = [o for o in outcomes if o.status is not IngestStatus.ACCEPTED]
                if bad:
                    raise SystemExit(f"unexpected outcome: {bad[0]}")
                stored += len(outcomes)
            return stored

        elapsed = 0.0
        start = time.perf_counter()
        for i, entries in enumerate(read_entries(path, batch)):
            if i % raw_every == 0:
                if pending:
                    done, pending = await asyncio.wait(pending)
                    count += check(done)
                elapsed += time.perf_counter() - start
                raw.block(raw_block)
                start = time.perf_counter()
            if len(pending) >= in_flight:
                done, pending = await asyncio.wait(pending,
                                                   return_when=asyncio.FIRST_COMPLETED)
                count += check(done)
            pending.add(asyncio.create_task(store.ingest(entries)))
        if pending:
            done, _ = await asyncio.wait(pending)
            count += check(done)
        elapsed += time.perf_counter() - start
        raw.block(raw_block)
        reads = []
        for _ in range(3):
            start = time.perf_counter()
            items = await store.current_set()
            reads.append(time.perf_counter() - start)
        if len(items) != count + admitted:
            raise SystemExit(f"current set holds {len(items)}, expected {count + admitted}")
        workers = store.verify_workers
    finally:
        await store.close()
    return count, elapsed, statistics.median(reads), workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--in-flight", type=int, default=1,
                        help="batches being ingested at once (1: strictly one after another)")
    parser.add_argument("--verify-workers", type=int, default=None,
                        help="signature-verifying threads (default: the store's own choice)")
    parser.add_argument("--raw-every", type=int, default=2,
                        help="batches between two blocks of raw verification")
    parser.add_argument("--raw-block", type=int, default=250,
                        help="raw verifications in one block")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    authors = min(args.authors, args.entries)

    with tempfile.TemporaryDirectory(prefix="hedgerow-bench-") as tmp:
        tmp_path = Path(tmp)
        entries_file = tmp_path / "entries.msgpack"
        start = time.perf_counter()
        generate(entries_file, args.entries, authors)
        signing_s = time.perf_counter() - start
        raw = RawVerify(entries_file, min(5_000, args.entries))
        data_dir = tmp_path / "node"
        init_node(data_dir, network=NETWORK, seed=os.urandom(32), now_ms=BASE_VERSION)
        count, elapsed, read_s, workers = asyncio.run(
            ingest_all(data_dir, entries_file, args.batch, args.in_flight,
                       args.verify_workers, raw, max(1, args.raw_every), args.raw_block))
        db_mb = database_path(data_dir).stat().st_size / 1e6
    rate = count / elapsed
    result = {
        "entries": count,
        "entries_per_s": round(rate, 1),
        "raw_verify_per_s": round(raw.per_s, 1),
        "ratio": round(rate / raw.per_s, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "db_mb": round(db_mb, 1),
        "current_set_read_s": round(read_s, 4),
    }
    if args.json:
        print(json.dumps(result))
        return
    rows = [
        ("entries ingested", f"{count:,} from {authors:,} authors, batches of {args.batch:,}, "
                             f"{args.in_flight} in flight"),
        ("ingest", f"{rate:,.0f} entries/s ({elapsed:.1f} s)"),
        ("raw Ed25519 verify, 1 thread", f"{raw.per_s:,.0f} /s ({len(raw.block_rates)} blocks "
                                         f"of {args.raw_block} between batches, "
                                         f"{min(raw.block_rates):,.0f}–"
                                         f"{max(raw.block_rates):,.0f})"),
        ("ratio (target ≥ 0.8)", f"{rate / raw.per_s:.2f}"),
        ("verification threads", f"{workers} (on {os.cpu_count()} CPUs)"),
        ("peak RSS (target ≤ 150 MB)", f"{result['peak_rss_mb']} MB"),
        ("database size", f"{result['db_mb']} MB"),
        ("current set read (target ≤ 0.5 s)", f"{read_s:.3f} s (median of 3)"),
        ("signing the input (not timed)", f"{signing_s:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
