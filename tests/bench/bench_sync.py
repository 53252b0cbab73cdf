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

With ``--real`` the same cases (and a large one, ``--big``, half each way) run
through the real thing instead: two nodes (real stores in a temporary
directory, members of one network) with the sync server listening on
127.0.0.1 and every production limit in force (the settings' defaults: the
request rates, the work allowance, the server's frame limit, the
reconciliation worker process), synced by the node's own client over HTTP.
Bytes are still reply and request bodies; ``wall_s`` includes signing,
verifying and storing.

    python tests/bench/bench_sync.py [--n 100000] [--json]
    python tests/bench/bench_sync.py --real [--n 20000] [--big 20000] [--json]
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
    NegentropyStorage,
    NodeKey,
    PushResult,
    SendRequest,
    SignedEntry,
    SyncSession,
    answer_reconcile,
    drive,
    encode,
    sign_entry,
)
from protocol.messages import (
    decode_fetch_request,
    decode_push_request,
    decode_reconcile_request,
    encode_fetch_reply,
    encode_push_reply,
)

NET = hashlib.sha256(b"bench sync network").digest()
DIFFS = (0, 10, 100, 1000)


AUTHORS = [NodeKey.from_seed(hashlib.sha256(b"sync bench author %d" % i).digest())
           for i in range(20)]


def signed_entries(count: int, seed: int, network: bytes = NET) -> list[SignedEntry]:
    keys = AUTHORS
    out = []
    for i in range(count):
        key = keys[i % len(keys)]
        out.append(sign_entry(key, Entry(network, key.public, "practice", f"p-{seed}-{i}",
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
            messages, frame = decode_reconcile_request(request.body)
            return answer_reconcile({name: self.storage for name in messages}, messages,
                                    frame_size_limit=frame)
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
    got: list[SignedEntry] = []

    def ingest(entries: tuple[SignedEntry, ...]) -> list[str]:
        got.extend(entries)
        return ["accepted"] * len(entries)

    stats = drive(SyncSession(client_store), server.handle, ingest,
                  lambda ids: [client_extra[i] for i in ids])
    wall = time.perf_counter() - started
    assert {e.id for e in got} == {e.id for e in server_only}
    assert set(server.received) == {e.id for e in client_only}
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


async def bench_real(n: int, big: int) -> dict[str, Any]:
    """The cases through two real nodes: stores, the sync server on loopback, production
    limits, the node's own client."""
    import tempfile

    from node import Store, init_node
    from node.service import NodeService
    from node.settings import Config
    from tests.members import MemberNetwork

    network = MemberNetwork("sync bench network")
    diffs = [*DIFFS, big] if big else list(DIFFS)
    common = signed_entries(n, seed=0, network=network.network)
    pool = signed_entries(max(diffs), seed=1, network=network.network)
    cases = []
    with tempfile.TemporaryDirectory(prefix="hedgerow-bench-") as tmp:
        for d in diffs:
            half = d // 2
            sides = {"client": pool[:half], "server": pool[half:d]}
            services: dict[str, NodeService] = {}
            stores: list[Store] = []
            try:
                for name in ("server", "client"):
                    data_dir = Path(tmp) / f"{name}-{d}"
                    key = init_node(data_dir, network=network.network,
                                    seed=hashlib.sha256(f"{name}".encode()).digest(),
                                    now_ms=1_767_225_600_000)
                    store = await Store.open(data_dir)
                    stores.append(store)
                    others = [NodeKey.from_seed(hashlib.sha256(other.encode()).digest())
                              for other in ("server", "client")]
                    await store.ingest(network.membership([*AUTHORS, *others, key]))
                    mine = common + sides[name]
                    for start in range(0, len(mine), 1000):
                        outcomes = await store.ingest(mine[start:start + 1000])
                        refused = [o for o in outcomes if not o.stored]
                        if refused:
                            raise SystemExit(f"the bench's entries were refused: {refused[0]}")
                    service = NodeService(store, Config(mdns=False))
                    await service.start(host="127.0.0.1", port=0, gossip=False, mdns=False)
                    services[name] = service
                client = services["client"].client
                assert client is not None
                started = time.perf_counter()
                report = await client.sync_with(services["server"].url)
                wall = time.perf_counter() - started
                server_ids = {i for _, i in await services["server"].store.current_set()}
                client_ids = {i for _, i in await services["client"].store.current_set()}
                assert server_ids == client_ids, "the two nodes did not converge"
            finally:
                for service in services.values():
                    await service.stop()
                for store in stores:
                    await store.close()
            stats = report.stats
            cases.append({"d": d, "round_trips": stats.requests, "bytes_up": stats.bytes_up,
                          "bytes_down": stats.bytes_down, "sessions": report.sessions,
                          "missing_entry_bytes": sum(e.size for e in pool[:d]),
                          "wall_s": round(wall, 4),
                          "naive_bytes": naive([(0, e.id) for e in common], pool[:half],
                                               pool[half:d])})
    return {"n": n, "real": True, "cases": cases,
            "http_bytes_per_round_trip": http_overhead_per_round_trip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None,
                        help="entries in common (default 100,000; 20,000 with --real)")
    parser.add_argument("--real", action="store_true",
                        help="two real nodes, the sync server on loopback, production limits")
    parser.add_argument("--big", type=int, default=20_000,
                        help="with --real, one more case with this difference (0: none)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.real:
        import asyncio

        result = asyncio.run(bench_real(20_000 if args.n is None else args.n, args.big))
    else:
        result = bench(100_000 if args.n is None else args.n)
    if args.json:
        print(json.dumps(result))
        return
    where = ("two real nodes over HTTP, production limits" if result.get("real") else
             "in memory, the protocol's bytes")
    print(f"n = {result['n']:,} entries in common; d = symmetric difference (half each way); "
          f"{where}")
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
