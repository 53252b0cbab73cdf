"""Benchmark: decoding + verifying entries against raw Ed25519 verification.

Signature verification is the physical limit of ingest; this measures how
much Hedgerow's own work (decode, canonical check, schema validation, entry
id) adds on top, as a ratio against raw verifications of the same payloads
timed in the same run. Entries are verified in blocks of 250 with
``protocol.verify_entries``, as the node's ingest verifies the chunks of a
batch. Target: ratio ≥ 0.85.

    python tests/bench/bench_protocol.py [--entries N] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from protocol import (
    Entry,
    NodeKey,
    VerifiedEntry,
    credit_key,
    public_key,
    sign_entry,
    verify_entries,
    verify_entry,
)
from protocol.entries import SIGNATURE_PREFIX

NET = hashlib.sha256(b"bench network").digest()


def make_entries(n: int, authors: int = 50) -> list:
    keys = [NodeKey.from_seed(hashlib.sha256(b"author %d" % i).digest()) for i in range(authors)]
    out = []
    for i in range(n):
        key = keys[i % authors]
        other = keys[(i + 1) % authors].public
        if i % 10 == 9:
            entry = Entry(NET, key.public, "credit", credit_key(other, f"practice-{i}"),
                          1_767_225_600_000 + i,
                          {"to": other, "practice": f"practice-{i}", "note": "Thank you."})
        else:
            entry = Entry(NET, key.public, "practice", f"practice-{i}", 1_767_225_600_000 + i, {
                "title": f"Community fridge {i}", "status": "active",
                "description": "Surplus food from local shops, shared with neighbours. " * 6,
                "themes": ["food", "waste", "mutual aid"], "level": "neighbourhood",
                "area": "LS6", "since": "2021-03",
                "measures": [{"name": "visits", "value": 120 + i % 50, "period": "2025",
                              "defined_by": "community"}, {"name": "volunteers", "value": "<5"}],
                "lessons": ["Agree a cleaning rota before opening.",
                            "Talk to environmental health early."],
                "adapted_from": [{"author": other, "key": "community-fridge"}],
            })
        out.append(sign_entry(key, entry))
    return out


def bench(n: int, repeats: int = 5) -> dict[str, float]:
    entries = make_entries(n)
    raw_inputs = []
    for s in entries:
        author = verify_entry(s, NET).entry.author
        raw_inputs.append((public_key(author), s.sig, SIGNATURE_PREFIX + NET + s.payload))
    # Interleave the two measurements in short blocks, many times, and keep
    # each block's best: noise from other work on a shared machine then hits
    # both sides alike instead of one whole measurement. Blocks are timed on
    # this thread's CPU clock, so time spent descheduled counts for neither.
    block = 250
    best_raw = [float("inf")] * -(-n // block)
    best_ours = list(best_raw)
    for _ in range(repeats):
        for b, start in enumerate(range(0, n, block)):
            t0 = time.thread_time()
            for pub, sig, msg in raw_inputs[start:start + block]:
                pub.verify(sig, msg)
            t1 = time.thread_time()
            verified = verify_entries(entries[start:start + block], NET)
            t2 = time.thread_time()
            assert all(isinstance(v, VerifiedEntry) for v in verified)
            best_raw[b] = min(best_raw[b], t1 - t0)
            best_ours[b] = min(best_ours[b], t2 - t1)
    entries_per_s = n / sum(best_ours)
    raw_per_s = n / sum(best_raw)
    return {"entries_per_s": round(entries_per_s, 1), "raw_verify_per_s": round(raw_per_s, 1),
            "ratio": round(entries_per_s / raw_per_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = bench(args.entries)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'measure':<28}{'value':>14}")
    print(f"{'entries decoded+verified/s':<28}{result['entries_per_s']:>14,.0f}")
    print(f"{'raw Ed25519 verify/s':<28}{result['raw_verify_per_s']:>14,.0f}")
    print(f"{'ratio (target >= 0.85)':<28}{result['ratio']:>14.3f}")


if __name__ == "__main__":
    main()
