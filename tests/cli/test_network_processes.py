"""A network that finds itself, with real processes set up as the README says.

Three ``hedgerow up`` processes on 127.0.0.1 with the default sync interval
(five minutes: anti-entropy runs once, at start, within the test). Each
joins with a plain ``hedgerow invite`` from the one before — no address is
typed anywhere. Every node learns every other (the first one learns the
third, which it never heard of), and a publication reaches every node by
the relay alone, within seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .conftest import Process, chain_of_nodes, node_info, ok

pytestmark = pytest.mark.slow

DEFAULTS = {"HEDGEROW_SYNC_INTERVAL": "300"}


def status(data_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(ok("status", "--json", "--data-dir", str(data_dir)))
    return data


def peers_of(data_dir: Path) -> dict[str, str]:
    """node id -> source, for every peer in the book with a known node id."""
    return {p["node_id"]: p["source"] for p in status(data_dir)["peers"]  # type: ignore
            if p["node_id"]}


def wait_until(check: object, what: str, timeout: float) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, what
        time.sleep(0.2)
    return time.monotonic() - started


def practice_titles(data_dir: Path) -> set[str]:
    rows = json.loads(ok("view", "directory", "--json", "--data-dir", str(data_dir)))
    return {r["title"] for r in rows["results"] if r["kind"] == "practice"}


def test_three_groups_find_each_other_with_no_address_typed(
        tmp_path: Path, processes: list[Process]) -> None:
    network = chain_of_nodes(tmp_path, ["Leeds Play Out", "Easton Fridge",
                                        "Rusholme Tenants"], processes, env=DEFAULTS)
    dirs, running = network.dirs, network.running
    for made, inviter in zip(network.invite_notes, running, strict=False):
        # The address the running node listens on, port and all; and a word
        # that only this machine can reach it.
        assert f"reach this one at {inviter[1]} (where the running node listens)" in made
        assert "only this machine can reach it" in made and "public_url" in made
    ids = [node_info(d)["node_id"] for d in dirs]
    # Each node learns both others, the first included (it invited only the second).
    try:
        wait_until(lambda: all(set(peers_of(d)) >= set(ids) - {me} for d, me in zip(
            dirs, ids, strict=True)), "the nodes did not learn each other", timeout=60)
    except AssertionError:
        for d, (process, _) in zip(dirs, running, strict=True):
            print(d.name, status(d)["peers"], "\n".join(process.lines), process.stderr_text())
        raise
    learned = peers_of(dirs[0])
    assert learned[ids[1]] in ("inbound", "profile") and learned[ids[2]] in (
        "inbound", "profile")
    shown = ok("profile", "show", "--data-dir", str(dirs[2]))
    assert running[2][1] in shown and "loopback" in shown
    # A publication from the first node reaches the third by the relay: no
    # anti-entropy round falls within the wait.
    ok("record", "add", "--title", "Play street", "--data-dir", str(dirs[0]))
    ok("share", "publish", "play-street", "--data-dir", str(dirs[0]))
    took = wait_until(lambda: "Play street" in practice_titles(dirs[2]),
                      "the publication did not reach the third node", timeout=30)
    assert took < 30
