"""Finding 2: a flood of large reconcile frames must not stall the node's other answers.

A real ``hedgerow up`` process holding 5,000 entries; a flood of ~200 KiB
reconcile frames from four members, ten at once each, from another process;
meanwhile a person loads the login page. Its 95th percentile latency must
stay within 100 ms (the ratio against an idle node is in
tests/bench/bench_flood.py). Before the fix, frames were answered on the
event loop and the login page waited seconds behind them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from ..cli.conftest import ROOT, Process, start_node
from .flood import p95, prepare_node, probe

pytestmark = pytest.mark.slow


@pytest.fixture
def processes() -> list[Process]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait(timeout=5)


def test_login_stays_fast_under_a_reconcile_flood(tmp_path: Path,
                                                  processes: list[Process]) -> None:
    node, url = start_node(prepare_node(tmp_path), processes)
    node_process = psutil.Process(node.popen.pid)
    probe(url, 0.5)  # warm up: the first pages compile their templates
    assert node_process.children() == [], "an idle node runs no worker process"
    flood = subprocess.Popen([sys.executable, "-m", "tests.hostile.flood", url, "6"],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        probe(url, 1.0)  # the flood ramps up
        latencies = probe(url, 4.0)
        assert node_process.children(), "frames are answered by a worker process"
    finally:
        out, _ = flood.communicate(timeout=60)
    counts = {int(k): v for k, v in json.loads(out).items()}
    assert counts.get(200, 0) >= 20, f"the flood did not reach the node: {counts}"
    assert len(latencies) >= 50
    assert p95(latencies) <= 0.100, (
        f"p95 of GET /login under the flood: {p95(latencies) * 1000:.0f} ms; "
        f"flood answers {counts}")
    assert "Traceback" not in "".join(node.errors)
