"""Crash safety: a node killed with SIGKILL at random moments loses nothing it reported.

A subprocess (tests/node/store/crash_driver.py) ingests and publishes, printing a
line per entry once its transaction has committed. The parent kills it
after a random (seeded) number of lines plus a short random delay, so kills
land between and inside transactions. After each kill the database must
pass ``PRAGMA integrity_check``, and every reported entry must be held —
or have been replaced by a newer version in its slot, as the rules demand.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node import open_node

ROOT = Path(__file__).resolve().parents[3]


def reported_is_held(conn: sqlite3.Connection, line: str) -> bool:
    """The reported entry is held, or a newer version replaced it in its slot."""
    _, eid, author, family, key, version = line.split()
    if conn.execute("SELECT 1 FROM entries WHERE id = ?", (bytes.fromhex(eid),)).fetchone():
        return True
    newer = conn.execute(
        "SELECT 1 FROM entries WHERE author = ? AND family = ? AND key = ? AND version > ?",
        (bytes.fromhex(author), family, key, int(version))).fetchone()
    return newer is not None


def kill_and_check(data_dir: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    reported: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.node.store.crash_driver", str(data_dir),
             str(seed * 1000 + round_)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            wanted = rng.randint(0, 30)
            seen = 0
            while seen <= wanted:
                line = proc.stdout.readline()
                if not line:
                    raise AssertionError(f"driver stopped early: {proc.stderr.read()}")
                if line.startswith("stored "):
                    reported.append(line.strip())
                    seen += 1
                elif line.startswith("ready"):
                    seen += 1
            # Let it run on a little, so the kill lands at an arbitrary point.
            time.sleep(rng.random() * 0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            rest, _ = proc.communicate()
        # Lines already written before the kill were reported too.
        reported += [ln.strip() for ln in rest.splitlines() if ln.startswith("stored ")]
        _, db = open_node(data_dir)  # runs quick_check and migrations
        try:
            assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            missing = [ln for ln in reported if not reported_is_held(db.conn, ln)]
            assert not missing, f"round {round_}: {len(missing)} reported entries lost"
        finally:
            db.close()
    assert len(reported) > kills


def test_killed_node_keeps_everything_it_reported(data_dir: Path) -> None:
    kill_and_check(data_dir, kills=20, seed=1)


@pytest.mark.slow
def test_killed_node_keeps_everything_it_reported_many_times(
        data_dir: Path, request: pytest.FixtureRequest) -> None:
    # About a minute: it runs when slow tests are asked for (`pytest -m slow`),
    # while the 20-kill test above keeps the ordinary run fast.
    if "slow" not in str(request.config.getoption("markexpr", "")):
        pytest.skip("150 kills: run with -m slow")
    kill_and_check(data_dir, kills=150, seed=2)
