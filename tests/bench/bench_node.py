"""Benchmark: how fast ``hedgerow up`` answers, and how much memory an idle node holds.

* **startup** — from starting ``hedgerow up`` (a new process) to its first
  answer of ``GET /.well-known/hedgerow``; the median of a few runs after
  one that compiles the bytecode (as ``pip install`` does; the bytecode goes
  to a temporary ``PYTHONPYCACHEPREFIX``, never into the source tree). The
  first, cold, start is shown too. Target ≤ 1.5 s.
* **idle memory** — the resident set size of a node that has run for 30 s
  with 3 peers (each a ``hedgerow up`` of its own), syncing with them every
  10 s so that the sync client, server and scheduler have all done their
  work. Target ≤ 64 MB; the floor of Python + aiohttp + apscheduler +
  cryptography is about 52 MB, measured here too, in the same way.

Everything runs on 127.0.0.1 with free ports and mDNS as configured
(``--no-mdns`` to switch it off). Not a timed test: run it by hand.

    python tests/bench/bench_node.py [--idle 30] [--runs 3] [--no-mdns] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from node.home import create_home, write_config_template  # noqa: E402
from node.store.datadir import init_node, open_node  # noqa: E402
from node.sync import peerbook  # noqa: E402
from tests.members import admit_offline  # noqa: E402

FLOOR = ("import asyncio, aiohttp.web, apscheduler.schedulers.asyncio, "
         "cryptography.hazmat.primitives.asymmetric.ed25519, sys; "
         "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()")


def hedgerow_command() -> list[str]:
    script = Path(sys.executable).parent / "hedgerow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def make_node(root: Path, name: str, founder: Path | None = None) -> Path:
    """A node that founds a network, or (``founder``) a member of that node's network."""
    data_dir = root / name
    now_ms = time.time_ns() // 1_000_000
    if founder is None:
        create_home(data_dir, invitation=None, nonce=os.urandom(16), seed=os.urandom(32),
                    now_ms=now_ms, name=name, level="local")
        return data_dir
    _, db = open_node(founder)
    network = db.conn.execute("SELECT network FROM node_state").fetchone()[0]
    db.close()
    init_node(data_dir, network=network, seed=os.urandom(32), now_ms=now_ms)
    write_config_template(data_dir)
    admit_offline(founder, data_dir, now_ms=now_ms)
    return data_dir


@contextlib.contextmanager
def running(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str,
                                                                   float]]:
    """``hedgerow up`` on a free port: (process, url, seconds to the first answer)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [*hedgerow_command(), "up", "--data-dir", str(data_dir), "--host", "127.0.0.1",
         "--port", "0"], env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                break
        if not url:
            raise RuntimeError(f"{data_dir.name}: `hedgerow up` did not start")
        while True:
            try:
                with urllib.request.urlopen(f"{url}/.well-known/hedgerow", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.005)
        yield process, url, time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def floor_rss_mb(idle: float) -> float:
    process = subprocess.Popen([sys.executable, "-c", FLOOR], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        process.stdout.readline()
        time.sleep(min(idle, 2.0))
        return float(psutil.Process(process.pid).memory_info().rss / 1e6)
    finally:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=30.0, help="seconds the node idles")
    parser.add_argument("--runs", type=int, default=3, help="startups to take the median of")
    parser.add_argument("--no-mdns", action="store_true", help="switch mDNS off")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hedgerow-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        env = {"HEDGEROW_MDNS": "false" if args.no_mdns else "true",
               "HEDGEROW_SYNC_INTERVAL": "10", "HEDGEROW_LOG_LEVEL": "warning",
               "PYTHONPYCACHEPREFIX": str(root / "pycache")}
        node = make_node(root, "measured")
        peers = [stack.enter_context(running(make_node(root, f"peer{i}", node), env))[1]
                 for i in range(3)]
        _, db = open_node(node)
        try:
            for url in peers:
                peerbook.add_peer(db, url, source="config", now_ms=time.time_ns() // 10**6)
        finally:
            db.close()
        with running(node, env) as (_, _, cold_s):
            pass
        startups = []
        for _ in range(max(1, args.runs)):
            with running(node, env) as (_, _, seconds):
                startups.append(seconds)
        with running(node, env) as (process, _, _):
            time.sleep(args.idle)
            idle_rss_mb = psutil.Process(process.pid).memory_info().rss / 1e6
    startup_s = statistics.median(startups)
    if args.json:
        print(json.dumps({"startup_s": round(startup_s, 3),
                          "idle_rss_mb": round(idle_rss_mb, 1)}))
        return
    floor = floor_rss_mb(args.idle)
    print(f"{'measure':44} {'value':>9} {'target':>9}")
    print(f"{'startup to first answer (median of ' + str(len(startups)) + ')':44} "
          f"{startup_s:>8.3f}s {'1.5s':>9}")
    print(f"{'the first, cold start (compiling bytecode)':44} {cold_s:>8.3f}s")
    print(f"{f'idle RSS after {args.idle:g} s, 3 peers':44} {idle_rss_mb:>7.1f}MB "
          f"{'64MB':>9}")
    print(f"{'floor: python + aiohttp + apscheduler + crypto':44} {floor:>7.1f}MB")


if __name__ == "__main__":
    main()
