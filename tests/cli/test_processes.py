"""Real processes: ``hedgerow up`` serving and stopping, two nodes joined by an invitation
syncing a practice, and ``hedgerow demo`` running until the practice is everywhere.

Everything listens on 127.0.0.1 with port 0 (or ``--port-base 0``); waiting is
by polling output or HTTP against a deadline.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import socket
import sqlite3
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import (
    Process,
    fails,
    hedgerow_in_terminal,
    invoke,
    node_info,
    ok,
    spawn,
    start_node,
)

pytestmark = pytest.mark.slow


def well_known(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/.well-known/hedgerow", timeout=5) as reply:
        data: dict[str, object] = json.loads(reply.read())
        return data


def integrity(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "hedgerow.db") as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_up_serves_and_stops_cleanly_on_sigterm(node_dir: Path,
                                                processes: list[Process]) -> None:
    process, url = start_node(node_dir, processes)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert well_known(url)["node_id"] == node_info(node_dir)["node_id"]
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["running_pid"] == process.popen.pid
    started = time.monotonic()
    assert process.signal(signal.SIGTERM, timeout=5) == 0
    assert time.monotonic() - started < 5
    out = process.rest()
    assert "started" in out.splitlines()[0] and out.splitlines()[-1] == "stopped cleanly"
    assert "Traceback" not in "".join(process.errors)
    assert integrity(node_dir) == "ok"
    assert json.loads(ok("status", "--json", "--data-dir", str(node_dir)))[
        "running_pid"] is None


def test_up_stops_on_sigint_too(node_dir: Path, processes: list[Process]) -> None:
    process, _ = start_node(node_dir, processes)
    assert process.signal(signal.SIGINT, timeout=5) == 0
    assert integrity(node_dir) == "ok"


def test_up_refuses_a_port_in_use_and_a_second_node(node_dir: Path,
                                                    processes: list[Process]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = fails("up", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                     str(node_dir))
        assert f"port {port} is already in use" in line and "--port" in line
    process, _ = start_node(node_dir, processes)
    assert "already running on" in fails("up", "--port", "0", "--data-dir", str(node_dir))
    assert process.signal(signal.SIGTERM) == 0


def test_up_failures_before_starting(tmp_path: Path, node_dir: Path) -> None:
    assert "hedgerow init" in fails("up", "--data-dir", str(tmp_path / "none"))
    assert "cannot listen on 203.0.113.9" in fails("up", "--host", "203.0.113.9", "--port",
                                                   "0", "--data-dir", str(node_dir))
    (node_dir / "hedgerow.toml").write_text("log_level = 'loud'\n")
    assert "log_level (hedgerow.toml): must be one of" in fails("up", "--data-dir",
                                                               str(node_dir))
    assert invoke("up", "--port", "70000", "--data-dir", str(node_dir)).code == 2


def test_two_nodes_joined_by_an_invitation_sync_a_practice(tmp_path: Path, node_dir: Path,
                                                           processes: list[Process]) -> None:
    first, first_url = start_node(node_dir, processes)
    code = ok("invite", "--address", first_url, "--data-dir", str(node_dir)).strip()
    second_dir = tmp_path / "second"
    ok("init", "--join", code, "--name", "Splott Community Growers", "--level",
       "neighbourhood", "--data-dir", str(second_dir))
    second, second_url = start_node(second_dir, processes,
                                    env={"HEDGEROW_SYNC_INTERVAL": "1"})
    ok("record", "add", "--title", "Repair café", "--themes", "repair",
       "--data-dir", str(node_dir))
    ok("share", "publish", "repair-cafe", "--fields", "themes", "--data-dir", str(node_dir))
    # The second node's anti-entropy rounds (every second or so) fetch it.
    second.wait_for("joined the network", timeout=20)
    second.wait_for("received 1 entry", timeout=20)
    status = json.loads(ok("status", "--json", "--data-dir", str(second_dir)))
    # It joined with the invitation: the genesis and its admission came first.
    assert status["entries"] == {"genesis": 1, "admit": 1, "practice": 1}
    assert status["membership"]["member"] and status["membership"]["members"] == 2
    assert status["peers"][0]["node_id"] == node_info(node_dir)["node_id"]
    # And the other way, with `hedgerow sync` while both run: the second's profile.
    ok("profile", "publish", "--data-dir", str(second_dir))
    out = ok("sync", first_url, "--data-dir", str(second_dir))
    assert re.search(r": (received 0 entries, sent 1|already in step)", out)
    deadline = time.monotonic() + 10
    while json.loads(ok("status", "--json", "--data-dir", str(node_dir)))["entries"] \
            .get("profile") != 1:
        assert time.monotonic() < deadline, "the profile did not reach the first node"
        time.sleep(0.1)
    # A one-off sync with an address that is not a peer: done, and not remembered ...
    out = ok("sync", second_url, "--data-dir", str(node_dir))
    assert "not remembered as a peer (a one-off sync)" in out
    assert second_url not in ok("peer", "list", "--data-dir", str(node_dir))
    # ... unless the person says so when asked, at a terminal ...
    code, shown = hedgerow_in_terminal("sync", second_url, "--data-dir", str(node_dir),
                                       input="y\n")
    assert code == 0 and f"Remember {second_url} as a peer" in shown
    assert f"remembered {second_url} as a peer" in shown
    peers = json.loads(ok("peer", "list", "--json", "--data-dir", str(node_dir)))["peers"]
    assert [p["node_id"] for p in peers if p["address"] == second_url] == [
        node_info(second_dir)["node_id"]]
    ok("peer", "remove", second_url, "--data-dir", str(node_dir))
    # ... or gives --remember.
    assert f"remembered {second_url} as a peer" in ok("sync", second_url, "--remember",
                                                       "--data-dir", str(node_dir))
    assert second_url in ok("peer", "list", "--data-dir", str(node_dir))
    # The second credits the first (by the short id lists show), then withdraws the
    # credit: the withdrawal spreads like the credit did.
    first_short = node_info(node_dir)["short_id"]

    def first_holds(kind: str, count: int) -> None:
        deadline = time.monotonic() + 15
        while json.loads(ok("status", "--json", "--data-dir", str(node_dir)))["entries"] \
                .get(kind, 0) != count:
            assert time.monotonic() < deadline, f"the first node never held {count} {kind}"
            time.sleep(0.1)

    ok("credit", first_short, "repair-cafe", "--data-dir", str(second_dir))
    first_holds("credit", 1)
    ok("credit", "withdraw", first_short, "repair-cafe", "--data-dir", str(second_dir))
    first_holds("credit", 0)
    first_holds("retract", 1)
    for process in (first, second):
        assert process.signal(signal.SIGTERM) == 0
    assert integrity(node_dir) == integrity(second_dir) == "ok"


def test_demo_runs_until_the_practice_is_everywhere(processes: list[Process]) -> None:
    demo = spawn("demo", "--nodes", "3", "--port-base", "0", "--round-delay", "0",
                 terminal_group=True)
    processes.append(demo)
    header = demo.wait_for("data in ", timeout=20)
    root = Path(header.split("data in ", 1)[1].strip())
    assert root.is_dir()
    demo.wait_for("The practice is on all 3 nodes", timeout=30)
    url = demo.wait_for("curl ").split("curl ", 1)[1].split("/.well-known")[0]
    assert well_known(url)["software"]
    similar_line = demo.wait_for(" view similar ")
    introductions_line = demo.wait_for(" view introductions")
    demo.wait_for("Press Ctrl-C")
    # Another process can look at a demo node while the demo runs.
    status = json.loads(ok("status", "--json", "--data-dir", str(root / "node1")))
    assert status["entries"]["practice"] >= 2 and status["running_pid"] == demo.popen.pid
    # The "try it" lines work as printed (their words up to the two-space comment).
    for line, check in ((similar_line, "1. Community fridge (active) — Easton Community "
                                       "Fridge"),
                        (introductions_line, "\nwaste (2 groups)\n")):
        command = shlex.split(line.strip(), comments=True)
        assert command[0].endswith("hedgerow")
        assert check in ok(*command[1:])
    # Ctrl-C reaches the whole process group, reconciliation workers included: the
    # demo stops cleanly, and nothing prints a traceback.
    assert demo.interrupt() == 0
    assert f"removed {root}" in demo.rest()
    assert not root.exists()
    assert "Traceback" not in "".join(demo.errors), "".join(demo.errors)


def test_two_running_nodes_find_each_other_and_see_where_ideas_travelled(
        tmp_path: Path, node_dir: Path, processes: list[Process]) -> None:
    first, first_url = start_node(node_dir, processes, env={"HEDGEROW_SYNC_INTERVAL": "1"})
    at_first = ("--data-dir", str(node_dir))
    ok("profile", "set", "--contact", "hello@repair.example.org", *at_first)
    ok("profile", "publish", *at_first)
    ok("record", "add", "--title", "Repair café", "--themes", "repair,reuse",
       "--lesson", "Test every kettle.", *at_first)
    ok("share", "publish", "repair-cafe", "--fields", "themes,lessons", *at_first)
    code = ok("invite", "--address", first_url, *at_first).strip()
    second_dir = tmp_path / "second"
    at_second = ("--data-dir", str(second_dir))
    ok("init", "--join", code, "--name", "Splott Fixers", "--level", "neighbourhood",
       *at_second)
    second, _ = start_node(second_dir, processes, env={"HEDGEROW_SYNC_INTERVAL": "1"})
    second.wait_for("joined the network", timeout=20)  # a member publishes
    ok("profile", "set", "--contact", "https://fixers.splott.example", *at_second)
    ok("profile", "publish", *at_second)
    ok("record", "add", "--title", "Fix-it evenings", "--themes", "repair", *at_second)
    ok("share", "publish", "fix-it-evenings", "--fields", "themes", *at_second)

    def holds(data_dir: Path, kind: str, count: int) -> bool:
        entries = json.loads(ok("status", "--json", "--data-dir", str(data_dir)))["entries"]
        return entries.get(kind, 0) >= count

    def until(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 20
        while not done():
            assert time.monotonic() < deadline, "the two nodes did not exchange their entries"
            time.sleep(0.2)

    until(lambda: holds(second_dir, "practice", 2))  # the first's practice arrived: credit it
    ok("credit", node_info(node_dir)["node_id"], "repair-cafe", "--note",
       "Your kettle test saved us.", *at_second)
    until(lambda: holds(node_dir, "credit", 1) and holds(node_dir, "profile", 2)
          and holds(second_dir, "profile", 2))
    # On the second node: the first's practice is on the same journey, with its contact.
    similar = json.loads(ok("view", "similar", "fix-it-evenings", "--json", *at_second))
    (found,) = similar["results"]
    assert (found["title"], found["node_name"], found["contact"]) == (
        "Repair café", "Headingley Repair Café", "hello@repair.example.org")
    assert found["shared_themes"] == ["repair"] and found["connected"]  # the credit
    # Connected by the credit: no introduction to make between them.
    introductions = json.loads(ok("view", "introductions", "--json", *at_first))
    assert [(t["theme"], t["groups"], t["suggestions"]) for t in introductions["themes"]] == [
        ("repair", 2, [])]
    # On the first node: where its idea travelled, new the first time only.
    out = ok("status", *at_first)
    assert "(1 new since you last looked)" in out
    assert "new Splott Fixers (neighbourhood); get in touch: https://fixers.splott.example" \
           " — credited it: “Your kettle test saved us.”" in out
    assert "new since" not in ok("status", *at_first)
    for process in (first, second):
        assert process.signal(signal.SIGTERM) == 0
    assert integrity(node_dir) == integrity(second_dir) == "ok"
