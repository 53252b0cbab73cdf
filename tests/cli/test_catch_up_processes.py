"""Real processes: a node catching up is killed with SIGKILL halfway, and finishes after
a restart with its database intact; ``hedgerow sync`` and ``status`` show the catch-up.

Everything listens on 127.0.0.1 with port 0; waiting is by polling output or the
database against a deadline.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from node.home import write_config_template
from node.store.datadir import init_node, open_node
from node.store.feed import publish_admission
from node.store.ingest import ingest_batch
from node.sync import peerbook
from protocol import Entry, NodeKey, SignedEntry, sign_entry
from tests.members import admit_offline

from .conftest import Process, ok, start_node

pytestmark = pytest.mark.slow

ENTRIES = 8_000


def count(data_dir: Path) -> int:
    """Practice summaries held (read-only, beside the running node)."""
    with sqlite3.connect(f"file:{data_dir / 'hedgerow.db'}?mode=ro", uri=True,
                         timeout=5) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM entries WHERE kind = 'practice'").fetchone()[0])


def integrity(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "hedgerow.db") as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def fill(founder: Path, entries: int) -> None:
    """The founder admits 20 authors and holds ``entries`` practice summaries of theirs."""
    key, db = open_node(founder)
    try:
        network = db.conn.execute("SELECT network FROM node_state").fetchone()[0]
        now_ms = time.time_ns() // 1_000_000
        authors = [NodeKey.from_seed(hashlib.sha256(b"catch-up author %d" % i).digest())
                   for i in range(20)]
        for author in authors:
            publish_admission(db, key, author.public, now_ms=now_ms)
        batch: list[SignedEntry] = []
        for i in range(entries):
            author = authors[i % len(authors)]
            batch.append(sign_entry(author, Entry(
                network, author.public, "practice", f"practice-{i}", now_ms - 10**7 + i,
                {"status": "active", "title": f"Practice {i}",
                 "description": "Neighbours share tools and time. " * 6})))
            if len(batch) == 1000:
                ingest_batch(db, batch, now_ms=now_ms)
                batch = []
        if batch:
            ingest_batch(db, batch, now_ms=now_ms)
    finally:
        db.close()


def joining_node(founder: Path, path: Path, founder_url: str) -> Path:
    """A member of the founder's network that holds nothing yet, with the founder as peer."""
    _, db = open_node(founder)
    network = db.conn.execute("SELECT network FROM node_state").fetchone()[0]
    db.close()
    now_ms = time.time_ns() // 1_000_000
    init_node(path, network=network, seed=os.urandom(32), now_ms=now_ms)
    write_config_template(path)
    admit_offline(founder, path, now_ms=now_ms)
    _, db = open_node(path)
    try:
        peerbook.add_peer(db, founder_url, source="config", now_ms=now_ms)
    finally:
        db.close()
    return path


def wait_until(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.01)


def test_a_catch_up_killed_halfway_finishes_after_a_restart(
        tmp_path: Path, node_dir: Path, processes: list[Process]) -> None:
    fill(node_dir, ENTRIES)
    _, founder_url = start_node(node_dir, processes)
    joining = joining_node(node_dir, tmp_path / "joining", founder_url)
    first, _ = start_node(joining, processes)
    wait_until(lambda: count(joining) >= 1000, "the catch-up started")
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(timeout=5)
    halfway = count(joining)
    assert 0 < halfway < ENTRIES, "the kill came after the catch-up had finished"
    assert integrity(joining) == "ok"
    # The row the pages and status read still says a catch-up is under way.
    status = json.loads(ok("status", "--json", "--data-dir", str(joining)))
    assert status["network_catch_up"] is None or \
        status["network_catch_up"]["state"] == "catching_up"
    second, _ = start_node(joining, processes)
    wait_until(lambda: count(joining) == ENTRIES, "the restarted node caught up")
    assert second.signal(signal.SIGTERM, timeout=10) == 0
    assert integrity(joining) == "ok"
    status = json.loads(ok("status", "--json", "--data-dir", str(joining)))
    assert status["entries"]["practice"] == ENTRIES
    assert "Traceback" not in "".join(second.errors)


def test_sync_catches_up_in_one_command_and_status_says_so(
        tmp_path: Path, node_dir: Path, processes: list[Process]) -> None:
    fill(node_dir, 3_000)
    _, founder_url = start_node(node_dir, processes)
    joining = joining_node(node_dir, tmp_path / "joining", founder_url)
    out = ok("sync", "--data-dir", str(joining))
    # The 20 admissions and the 3,000 practices, in one command.
    assert f"{founder_url}: received 3020 entries" in out
    assert count(joining) == 3_000
    status = json.loads(ok("status", "--json", "--data-dir", str(joining)))
    catch_up = status["network_catch_up"]
    assert catch_up["state"] == "caught_up" and not catch_up["active"]
    assert catch_up["held"] >= 3_000 and catch_up["received"] >= 3_000
    text = ok("status", "--data-dir", str(joining))
    assert "caught up" in text and "entries in" in text
