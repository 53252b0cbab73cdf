"""Benchmark: sync cost against the size of the difference, and against a naive baseline.

Two nodes hold n current entries in common and differ by d entries (d/2
that only the client holds, d/2 that only the server holds, so both
directions are exercised). One full sync session (Negentropy V1
reconciliation, then fetch and push) runs through the real protocol code —
:class:`protocol.SyncSession` on the client, the same reply functions the
node's server uses — exchanging message bodies in memory, so the figures
are the protocol's bytes, not the machine's network. HTTP framing and the
RFC 9421 signature headers add a fixed amount per request, reported
separately.

The naive baseline, measured in the same run: the client sends its full id
list, the server answers with the ids the client lacks and their entries,
and the client pushes what the server lacks.

Targets: d = 0 costs one round trip and ≤ 1 KiB; overhead beyond the missing
entries ≤ 64 KiB for d ≤ 1,000; ≥ 50× fewer bytes than naive at d = 10.

    python tests/bench/bench_sync.py [--n 100000] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from protocol import (
    Entry,
    Finished,
    IngestEntries,
    LoadEntries,
    NegentropyStorage,
    NodeKey,
    PushResult,
    SendRequest,
    SignedEntry,
    SyncSession,
    answer_reconcile,
    encode,
    sign_entry,
)
from protocol.messages import (
    decode_fetch_request,
    decode_push_request,
    decode_reconcile,
    encode_fetch_reply,
    encode_push_reply,
)

NET = hashlib.sha256(b"bench sync network").digest()
DIFFS = (0, 10, 100, 1000)


def signed_entries(count: int, seed: int) -> list[SignedEntry]:
    keys = [NodeKey.from_seed(hashlib.sha256(b"sync bench author %d" % i).digest())
            for i in range(20)]
    out = []
    for i in range(count):
        key = keys[i % len(keys)]
        out.append(sign_entry(key, Entry(NET, key.public, "practice", f"p-{seed}-{i}",
                                         1_767_225_600_000 + seed * 10_000_000 + i, {
            "title": f"Community fridge {i}", "status": "active",
            "description": "Surplus food from local shops, shared with neighbours. " * 4,
            "themes": ["food", "waste"], "area": "LS6", "since": "2021-03"})))
    return out


def version_of(entry: SignedEntry) -> int:
    from protocol import decode

    return int(decode(entry.payload)["version"])


class MemoryServer:
    def __init__(self, storage: NegentropyStorage, extra: dict[bytes, SignedEntry]) -> None:
        self.storage, self.extra = storage, extra
        self.received: dict[bytes, SignedEntry] = {}

    def handle(self, request: SendRequest) -> bytes:
        if request.endpoint == "reconcile":
            messages = decode_reconcile(request.body)
            return answer_reconcile({name: self.storage for name in messages}, messages)
        if request.endpoint == "fetch":
            wanted = decode_fetch_request(request.body)
            return encode_fetch_reply(wanted, [self.extra[i] for i in wanted if i in self.extra])
        pushed = decode_push_request(request.body)
        self.received.update((e.id, e) for e in pushed)
        return encode_push_reply([PushResult(e.id, "accepted") for e in pushed])


def run_case(common: list[tuple[int, bytes]], client_only: list[SignedEntry],
             server_only: list[SignedEntry]) -> dict[str, Any]:
    def storage(extra: list[SignedEntry]) -> NegentropyStorage:
        return NegentropyStorage.from_sorted(sorted(common + [(version_of(e), e.id)
                                                              for e in extra]))

    client_store = storage(client_only)
    server = MemoryServer(storage(server_only), {e.id: e for e in server_only})
    client_extra = {e.id: e for e in client_only}
    started = time.perf_counter()
    session = SyncSession(client_store)
    action = session.start()
    got: list[SignedEntry] = []
    while not isinstance(action, Finished):
        if isinstance(action, SendRequest):
            action = session.receive(server.handle(action))
        elif isinstance(action, IngestEntries):
            got.extend(action.entries)
            action = session.ingested(["accepted"] * len(action.entries))
        else:
            assert isinstance(action, LoadEntries)
            action = session.loaded([client_extra[i] for i in action.ids])
    wall = time.perf_counter() - started
    assert {e.id for e in got} == {e.id for e in server_only}
    assert set(server.received) == {e.id for e in client_only}
    stats = action.stats
    missing = sum(e.size for e in client_only + server_only)
    return {"round_trips": stats.requests, "bytes_up": stats.bytes_up,
            "bytes_down": stats.bytes_down, "missing_entry_bytes": missing,
            "wall_s": round(wall, 4)}


def naive(common: list[tuple[int, bytes]], client_only: list[SignedEntry],
          server_only: list[SignedEntry]) -> int:
    """Bytes of the naive exchange: full id list up, missing ids and entries down, push up."""
    client_ids = [i for _, i in common] + [e.id for e in client_only]
    up = len(encode({"ids": client_ids}))
    down = len(encode({"entries": [e.to_wire() for e in server_only],
                       "missing": [e.id for e in client_only]}))
    push = len(encode({"entries": [e.to_wire() for e in client_only]}))
    return up + down + push


def http_overhead_per_round_trip() -> int:
    """Header bytes one signed request and its signed reply add (aiohttp's usual fields)."""
    from protocol import HttpMessage, sign_hedgerow

    key = NodeKey.from_seed(hashlib.sha256(b"sync bench header key").digest())
    ct = "application/vnd.hedgerow.sync+msgpack"
    body = b"\x81\xa3neg\xc4\x01a"
    request = HttpMessage.for_request("POST", "http://192.0.2.10:8470/sync/v2/reconcile",
                                      {"content-type": ct}, body)
    req_fields = sign_hedgerow(request, key=key.private_key, keyid=key.node_id,
                               network_id=NET, now=1_767_225_600, nonce="x" * 24)
    reply = HttpMessage({"content-type": ct}, status=200,
                        request=request.with_headers(req_fields), body=body)
    reply_fields = sign_hedgerow(reply, key=key.private_key, keyid=key.node_id,
                                 network_id=NET, now=1_767_225_600, nonce="y" * 24)
    usual = {"Host": "192.0.2.10:8470", "Content-Type": ct, "Content-Length": "9",
             "Accept": "*/*", "Accept-Encoding": "gzip, deflate", "User-Agent": "hedgerow/0.1.0"}
    lines = [f"{k}: {v}\r\n" for k, v in {**usual, **req_fields}.items()]
    lines += [f"{k}: {v}\r\n" for k, v in {**reply_fields, "Content-Type": ct,
                                             "Content-Length": "9", "Server": "aiohttp",
                                             "Date": "Fri, 27 Nov 2026 02:00:00 GMT"}.items()]
    start_lines = len("POST /sync/v2/reconcile HTTP/1.1\r\n\r\n") + len("HTTP/1.1 200 OK\r\n\r\n")
    return sum(len(line) for line in lines) + start_lines


def bench(n: int) -> dict[str, Any]:
    rng = random.Random(7)
    base = 1_700_000_000_000
    common = sorted((base + rng.randrange(10**9), rng.randbytes(32)) for _ in range(n))
    pool = signed_entries(max(DIFFS), seed=1)
    cases = []
    for d in DIFFS:
        half = d // 2
        client_only, server_only = pool[:half], pool[half:d]
        result = run_case(common, client_only, server_only)
        cases.append({"d": d, **result, "naive_bytes": naive(common, client_only, server_only)})
    return {"n": n, "cases": cases, "http_bytes_per_round_trip": http_overhead_per_round_trip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = bench(args.n)
    if args.json:
        print(json.dumps(result))
        return
    print(f"n = {result['n']:,} entries in common; d = symmetric difference (half each way)")
    head = (f"{'d':>6}{'trips':>7}{'up B':>10}{'down B':>10}{'missing B':>11}"
            f"{'overhead B':>12}{'naive B':>12}{'naive/ours':>11}{'wall s':>8}")
    print(head)
    for c in result["cases"]:
        total = c["bytes_up"] + c["bytes_down"]
        overhead = total - c["missing_entry_bytes"]
        print(f"{c['d']:>6}{c['round_trips']:>7}{c['bytes_up']:>10,}{c['bytes_down']:>10,}"
              f"{c['missing_entry_bytes']:>11,}{overhead:>12,}{c['naive_bytes']:>12,}"
              f"{c['naive_bytes'] / total:>11.1f}{c['wall_s']:>8.3f}")
    print(f"HTTP framing and RFC 9421 signature headers add about "
          f"{result['http_bytes_per_round_trip']:,} bytes per round trip on top of these bodies.")


if __name__ == "__main__":
    main()
