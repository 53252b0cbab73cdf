"""Benchmark: a new node catches up with a big network, against ingesting the same entries.

Not a timed test: run it by hand and read the numbers.

    python tests/bench/bench_catchup.py [--entries 100000] [--authors 1000] [--json]

1. Signs ``--entries`` entries from ``--authors`` authors (bench_ingest.py's
   entries, in worker processes, to a file), all admitted members of one
   network (tests/members.py).
2. Ingests them from the file into a fresh node's store exactly as
   bench_ingest.py does (batches of 1,000, :meth:`node.Store.ingest`, with
   ``--in-flight`` batches under way: 2 by default, as a catching-up node
   keeps them, so that the ratio is what the network adds, not what
   pipelining saves; 1 is bench_ingest.py's default): that time is
   ``ingest_s``, the cost of verifying and storing alone. That node is then
   the full node.
3. Makes a second node, a member of the same network holding only the
   genesis and the two nodes' admissions, with the full node as its one peer.
4. Starts both as real ``hedgerow up`` processes on 127.0.0.1 with default
   settings (mDNS and nightly backups off, nothing else changed). The
   joining node syncs as soon as it starts; ``catchup_s`` runs from its
   "listening on" line to its "caught up with the network" line (the one
   line a completed catch-up logs), and the store is checked to hold every
   entry.
5. Reads the joining node's peak resident set (``VmHWM``), the bytes of
   reply bodies it received (its peer book) and the requests its sessions
   sent (the log line).

``--json`` prints ``{"entries", "catchup_s", "ingest_s", "ratio",
"round_trips", "bytes_down", "peak_rss_mb"}`` with ``ratio = catchup_s /
ingest_s``, plus ``entry_bytes`` (the entries' own signed bytes) and
``bytes_ratio = bytes_down / entry_bytes``. Targets (2 cores): ratio ≤ 1.3 at
100,000; 1,000,000 complete with peak_rss_mb ≤ 250; bytes_ratio ≤ 1.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from node import Store, init_node  # noqa: E402
from node.home import write_config_template  # noqa: E402
from node.store.datadir import database_path, open_node  # noqa: E402
from node.sync import peerbook  # noqa: E402
from tests.bench.bench_ingest import (  # noqa: E402
    BASE_VERSION,
    BENCH_NETWORK,
    NETWORK,
    RawVerify,
    generate,
    ingest_all,
)
from tests.bench.signed_files import read_entries  # noqa: E402

CAUGHT_UP = re.compile(r"caught up with the network: \+([\d,]+) entries .*?([\d,]+) requests")


def hedgerow_command() -> list[str]:
    script = Path(sys.executable).parent / "hedgerow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


ENV = {**os.environ, "HEDGEROW_MDNS": "false", "HEDGEROW_BACKUPS": "false",
       "PYTHONUNBUFFERED": "1"}


def start(data_dir: Path, log: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """``hedgerow up`` on a free loopback port; its stdout lines are collected as they come."""
    process = subprocess.Popen(
        [*hedgerow_command(), "up", "--data-dir", str(data_dir), "--host", "127.0.0.1",
         "--port", "0"], env=ENV, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    lines: list[str] = []

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=collect, daemon=True).start()
    return process, lines


def wait_for(lines: list[str], pattern: str, process: subprocess.Popen[str],
             timeout: float) -> tuple[str, float]:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        while seen < len(lines):
            line = lines[seen]
            seen += 1
            if pattern in line:
                return line, time.monotonic()
        if process.poll() is not None:
            raise SystemExit(f"the node stopped: {lines[-5:]}")
        time.sleep(0.01)
    raise SystemExit(f"no {pattern!r} within {timeout:.0f} s; last lines: {lines[-5:]}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=1_000)
    parser.add_argument("--in-flight", type=int, default=2,
                        help="batches under way at once in the ingest baseline")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds the catch-up may take before the run gives up")
    parser.add_argument("--logs", type=Path, default=None,
                        help="copy both nodes' logs (stdout and stderr) to this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    authors = min(args.authors, args.entries)
    with tempfile.TemporaryDirectory(prefix="hedgerow-bench-") as tmp:
        root = Path(tmp)
        entries_file = root / "entries.msgpack"
        generate(entries_file, args.entries, authors)
        entry_bytes = sum(e.size for batch in read_entries(entries_file, 10_000)
                          for e in batch)

        # The ingest baseline, which also fills the full node.
        full_dir = root / "full"
        init_node(full_dir, network=NETWORK, seed=os.urandom(32), now_ms=BASE_VERSION)
        raw = RawVerify(entries_file, 100)
        count, ingest_s, _, _ = asyncio.run(ingest_all(
            full_dir, entries_file, 1_000, args.in_flight, None, raw, 10**9, 10))

        join_dir = root / "joining"
        init_node(join_dir, network=NETWORK, seed=os.urandom(32), now_ms=BASE_VERSION)
        full_key, db = open_node(full_dir)
        db.close()
        join_key, db = open_node(join_dir)
        db.close()

        async def admit_both() -> None:
            admissions = BENCH_NETWORK.admissions(full_key.public, join_key.public)
            for data_dir, first in ((full_dir, []), (join_dir, BENCH_NETWORK.founding())):
                async with await Store.open(data_dir) as store:
                    await store.ingest([*first, *admissions])

        asyncio.run(admit_both())
        for data_dir in (full_dir, join_dir):
            write_config_template(data_dir)

        full, full_lines = start(full_dir, root / "full.log")
        try:
            line, _ = wait_for(full_lines, "listening on ", full, 60)
            full_url = line.split("listening on ", 1)[1].strip()
            _, db = open_node(join_dir)
            try:
                peerbook.add_peer(db, full_url, source="config", now_ms=time.time_ns() // 10**6)
            finally:
                db.close()
            joining, join_lines = start(join_dir, root / "joining.log")
            try:
                _, started = wait_for(join_lines, "listening on ", joining, 60)
                line, finished = wait_for(join_lines, "caught up with the network", joining,
                                          args.timeout)
                rss = peak_rss_mb(joining.pid)
                # The sync is booked (bytes in the peer book) just after: its own line.
                wait_for(join_lines, "synced with ", joining, 60)
            finally:
                stop(joining)
        finally:
            stop(full)
        match = CAUGHT_UP.search(line)
        requests = int(match.group(2).replace(",", "")) if match else 0
        conn = sqlite3.connect(database_path(join_dir))
        try:
            held = conn.execute("SELECT count(*) FROM entries WHERE kind NOT IN "
                                "('genesis', 'admit')").fetchone()[0]
            bytes_down = conn.execute("SELECT sum(bytes_down) FROM peers").fetchone()[0] or 0
        finally:
            conn.close()
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            for name, lines in (("full", full_lines), ("joining", join_lines)):
                (args.logs / f"{name}.out").write_text("\n".join(lines) + "\n")
                (args.logs / f"{name}.log").write_text((root / f"{name}.log").read_text())
        if held != count:
            raise SystemExit(f"the joining node holds {held} entries of {count}")
    catchup_s = finished - started
    result: dict[str, Any] = {
        "entries": count,
        "catchup_s": round(catchup_s, 2),
        "ingest_s": round(ingest_s, 2),
        "ratio": round(catchup_s / ingest_s, 3),
        "round_trips": requests,
        "bytes_down": bytes_down,
        "peak_rss_mb": round(rss, 1),
        "entry_bytes": entry_bytes,
        "bytes_ratio": round(bytes_down / entry_bytes, 3),
    }
    if args.json:
        print(json.dumps(result))
        return
    rows = [
        ("entries", f"{count:,} from {authors:,} authors"),
        ("catch-up, two `hedgerow up` on loopback", f"{catchup_s:.1f} s"),
        (f"ingest from a file, {args.in_flight} batches in flight", f"{ingest_s:.1f} s"),
        ("ratio (target ≤ 1.3 at 100,000)", f"{catchup_s / ingest_s:.2f}"),
        ("requests (round trips)", f"{requests:,}"),
        ("reply bytes received", f"{bytes_down:,} ({bytes_down / entry_bytes:.3f} × the "
                                 f"entries' {entry_bytes:,} bytes; target ≤ 1.1)"),
        ("joining node's peak RSS (target ≤ 250 MB)", f"{rss:.1f} MB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
