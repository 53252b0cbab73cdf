"""``peer``, ``sync`` (failures), ``status``, ``backup``, ``restore`` and ``caught-up``."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

from node.home import run_lock
from node.store.node_state import CATCH_UP_MESSAGE
from protocol import id_to_text

from .conftest import fails, invoke, join_with_invitation, node_info, ok


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_peer_add_list_remove(node_dir: Path) -> None:
    assert ok("peer", "list", "--data-dir", str(node_dir)).startswith("no peers yet")
    assert ok("peer", "add", "192.168.1.20:8470", "--data-dir", str(node_dir)).strip() == \
        "added peer http://192.168.1.20:8470"
    assert "already a peer" in ok("peer", "add", "http://192.168.1.20:8470/",
                                  "--data-dir", str(node_dir))
    lines = ok("peer", "list", "--data-dir", str(node_dir)).splitlines()
    assert lines[0].split()[:3] == ["address", "node", "source"]
    assert lines[1].split()[:5] == ["http://192.168.1.20:8470", "?", "manual", "never", "0/0"]
    data = json.loads(ok("peer", "list", "--json", "--data-dir", str(node_dir)))
    assert data["peers"][0]["address"] == "http://192.168.1.20:8470"
    ok("peer", "remove", "http://192.168.1.20:8470", "--data-dir", str(node_dir))
    assert "no peer with the address" in fails("peer", "remove", "http://192.168.1.20:8470",
                                               "--data-dir", str(node_dir))
    assert "looks like http://host:port" in fails("peer", "add", "ftp://x/y",
                                                  "--data-dir", str(node_dir))


def test_peer_block_and_unblock(node_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    join_with_invitation(node_dir, other)
    them = node_info(other)["node_id"]
    assert ok("peer", "block", them, "--note", "spam", "--data-dir", str(node_dir)) \
        .startswith(f"blocked {them[:7]}")
    assert json.loads(ok("peer", "list", "--json", "--data-dir", str(node_dir)))[
        "blocked"] == [them]
    assert json.loads(ok("status", "--json", "--data-dir", str(node_dir)))["blocked"] == 1
    assert "cannot block itself" in fails("peer", "block", node_info(node_dir)["node_id"],
                                          "--data-dir", str(node_dir))
    stranger = id_to_text(bytes(range(32)))
    assert "an id has 56" in fails("peer", "block", stranger[:-1], "--data-dir", str(node_dir))
    assert "no node known here has an id starting 54TXMKB" in fails(
        "peer", "block", "54TXMKB", "--data-dir", str(node_dir))
    # The short form that `peer list` shows is enough for a node this one knows.
    assert ok("peer", "unblock", them[:7].lower(), "--data-dir", str(node_dir)) == \
        f"unblocked {them[:7]}\n"
    assert "not blocked" in fails("peer", "unblock", them, "--data-dir", str(node_dir))


def test_sync_failures(node_dir: Path) -> None:
    assert "knows no peers yet" in fails("sync", "--data-dir", str(node_dir))
    dead = f"http://127.0.0.1:{closed_port()}"
    done = invoke("sync", dead, "--data-dir", str(node_dir))
    assert done.code == 1
    assert f"{dead}: unreachable (" in done.out
    assert done.err.strip() == f"error: could not sync with {dead}"
    # A one-off sync of an address that is not a peer leaves no peer behind (a typo
    # would otherwise show as a failing peer for good), and says so.
    assert f"not remembered as a peer: {dead} was not added" in done.out
    assert json.loads(ok("status", "--json", "--data-dir", str(node_dir)))["peers"] == []
    assert json.loads(invoke("sync", dead, "--json", "--data-dir", str(node_dir)).out)[0][
        "remembered"] is False
    # With --remember it is kept, and its failure is booked and shows in the status.
    done = invoke("sync", dead, "--remember", "--data-dir", str(node_dir))
    assert done.code == 1 and f"remembered {dead} as a peer" in done.out
    assert "--remember needs a PEER" in fails("sync", "--remember", "--data-dir",
                                              str(node_dir), code=2)
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["peers"][0]["address"] == dead
    assert status["peers"][0]["last_outcome"] == "failed" and status["peers"][0]["failures"]
    done = invoke("sync", "--json", "--data-dir", str(node_dir))
    assert done.code == 1 and json.loads(done.out)[0]["ok"] is False
    assert "looks like http://host:port" in fails("sync", "not a url", "--data-dir",
                                                  str(node_dir))


def test_status_text(node_dir: Path) -> None:
    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    ok("share", "publish", "repair-cafe", "--data-dir", str(node_dir))
    ok("peer", "add", "http://10.0.0.2:8470", "--data-dir", str(node_dir))
    out = ok("status", "--data-dir", str(node_dir))
    info = node_info(node_dir)
    assert f"node          {info['node_id']}  ({info['short_id']})" in out
    assert "organisation  Headingley Repair Café  (neighbourhood, LS6)" in out
    assert f"network       {info['network']}" in out
    assert "membership    member of 1 (this node founded the network)" in out
    assert "running       no" in out
    assert "records       1 practice (private)" in out
    assert "published     1 practice" in out
    assert "entries held  1 from 1 node: 1 practice" in out
    assert "forks         none" in out
    assert "http://10.0.0.2:8470" in out and "never" in out


def test_status_says_when_a_node_runs(node_dir: Path) -> None:
    with run_lock(node_dir):
        data = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
        assert data["running_pid"] is not None
        assert "running on" in fails("restore", "x.db", "--yes", "--data-dir", str(node_dir))


def test_backup_restore_and_catch_up(node_dir: Path, tmp_path: Path) -> None:
    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    backup = tmp_path / "backup.db"
    out = ok("backup", str(backup), "--data-dir", str(node_dir))
    assert out.startswith(f"backed up to {backup} (") and "keys export" in out
    ok("record", "add", "--title", "Play street", "--data-dir", str(node_dir))
    out = ok("restore", str(backup), "--yes", "--data-dir", str(node_dir))
    assert "catch up" in out
    keys = [r["key"] for r in json.loads(ok("record", "list", "--json", "--data-dir",
                                            str(node_dir)))]
    assert keys == ["repair-cafe"]
    status = ok("status", "--data-dir", str(node_dir))
    assert f"catch-up      needed: {CATCH_UP_MESSAGE}" in status
    assert fails("share", "publish", "repair-cafe", "--data-dir", str(node_dir)) == \
        f"error: {CATCH_UP_MESSAGE}"
    declined = invoke("caught-up", "--data-dir", str(node_dir), input="n\n")
    assert declined.code == 1
    assert "marked as caught up" in ok("caught-up", "--yes", "--data-dir", str(node_dir))
    ok("share", "publish", "repair-cafe", "--data-dir", str(node_dir))
    assert "does not need to catch up" in ok("caught-up", "--data-dir", str(node_dir))


def test_backup_and_restore_failures(node_dir: Path, tmp_path: Path) -> None:
    assert "does not exist" in fails("backup", str(tmp_path / "no" / "such" / "b.db"),
                                     "--data-dir", str(node_dir))
    assert "no backup file" in fails("restore", str(tmp_path / "missing.db"), "--yes",
                                     "--data-dir", str(node_dir))
    other = tmp_path / "other"
    ok("init", "--data-dir", str(other), "--new-network")
    ok("backup", str(tmp_path / "other.db"), "--data-dir", str(other))
    assert "another node" in fails("restore", str(tmp_path / "other.db"), "--yes",
                                   "--data-dir", str(node_dir))
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    assert "damaged" in fails("restore", str(tmp_path / "junk.db"), "--yes",
                              "--data-dir", str(node_dir))
    assert "no node key" in fails("restore", str(tmp_path / "other.db"), "--yes",
                                        "--data-dir", str(tmp_path / "nowhere"))


def test_a_damaged_database_points_to_restore(node_dir: Path, tmp_path: Path) -> None:
    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    backup = tmp_path / "good.db"
    ok("backup", str(backup), "--data-dir", str(node_dir))
    path = node_dir / "hedgerow.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[:100] = b"\0" * 100  # the header is gone
    path.write_bytes(bytes(data))
    line = fails("status", "--data-dir", str(node_dir))
    assert "damaged" in line or "not a database" in line
    ok("restore", str(backup), "--yes", "--data-dir", str(node_dir))
    assert "repair-cafe" in ok("record", "list", "--data-dir", str(node_dir))
