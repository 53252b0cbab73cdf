"""Benchmark: the pages' latency under a reconcile flood, as a ratio against an idle node.

A real ``hedgerow up`` holding 5,000 entries. First, ``GET /login`` one
after another for a few seconds with nothing else going on (the baseline);
then the same while four members each send ten ~200 KiB reconcile frames at
once, over and over, from another process (tests/hostile/flood.py). Reported:
the median and 95th percentile latency of each, the ratio of the p95s, the
flood's answers by status, and the CPU the node and its reconciliation
worker used. Target: p95 under the flood ≤ 100 ms (the hostile suite checks
it too).

    python tests/bench/bench_flood.py [--seconds 5] [--json]
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
from pathlib import Path

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.hostile.flood import p95, prepare_node, probe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of each probe")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hedgerow-bench-") as tmp:
        data_dir = prepare_node(Path(tmp))
        node = subprocess.Popen(
            [sys.executable, "-m", "cli", "up", "--data-dir", str(data_dir), "--host",
             "127.0.0.1", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert node.stdout is not None
            url = ""
            for line in node.stdout:
                if "listening on " in line:
                    url = line.split("listening on ", 1)[1].strip()
                    break
            probe(url, 0.5)
            idle = probe(url, args.seconds)
            process = psutil.Process(node.pid)
            cpu_before = process.cpu_times()
            flood = subprocess.Popen(
                [sys.executable, "-m", "tests.hostile.flood", url, str(args.seconds + 2)],
                cwd=ROOT, stdout=subprocess.PIPE, text=True)
            probe(url, 1.0)
            flooded = probe(url, args.seconds)
            workers = process.children()
            worker_cpu = sum(sum(w.cpu_times()[:2]) for w in workers if w.is_running())
            out, _ = flood.communicate(timeout=120)
            cpu_after = process.cpu_times()
            time.sleep(0.1)
        finally:
            node.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(timeout=10)
            if node.poll() is None:
                node.kill()
    counts = json.loads(out)
    result = {
        "idle_median_ms": round(statistics.median(idle) * 1000, 1),
        "idle_p95_ms": round(p95(idle) * 1000, 1),
        "flood_median_ms": round(statistics.median(flooded) * 1000, 1),
        "flood_p95_ms": round(p95(flooded) * 1000, 1),
        "p95_ratio": round(p95(flooded) / p95(idle), 1),
        "flood_answers": counts,
        "node_cpu_s": round(sum(cpu_after[:2]) - sum(cpu_before[:2]), 2),
        "worker_cpu_s": round(worker_cpu, 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'GET /login':28} {'median':>9} {'p95':>9}")
    print(f"{'idle':28} {result['idle_median_ms']:>7}ms {result['idle_p95_ms']:>7}ms")
    print(f"{'under the reconcile flood':28} {result['flood_median_ms']:>7}ms "
          f"{result['flood_p95_ms']:>7}ms")
    print(f"p95 ratio flood/idle: {result['p95_ratio']}x (target: flood p95 ≤ 100 ms)")
    print(f"flood answers by status: {counts}")
    print(f"CPU during the flood: node {result['node_cpu_s']} s, "
          f"reconciliation worker {result['worker_cpu_s']} s")


if __name__ == "__main__":
    main()
