"""``hedgerow up`` as systemd runs it: ready, watchdog, stopping; and its first backup."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from .conftest import Process, start_node


def _messages(sock: socket.socket, until: str, *, timeout: float = 15.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if any(until in m for m in got):
            return got
    raise AssertionError(f"no {until!r} from the node; got {got}")


def test_up_notifies_systemd_and_takes_its_first_backup(
        node_dir: Path, tmp_path: Path, processes: list[Process]) -> None:
    address = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        process, _ = start_node(node_dir, processes, env={
            "NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "400000"})
        first = _messages(sock, "READY=1")
        assert any(m.startswith("READY=1") and "STATUS=node" in m for m in first)
        assert "WATCHDOG=1" in _messages(sock, "WATCHDOG=1")
        # A new node has no backup yet: it takes one at once, checked, and says so.
        line = process.wait_for("backed up to ")
        assert str(node_dir / "backups") in line
        assert len(list((node_dir / "backups").glob("hedgerow-*Z.db"))) == 1
        assert process.signal(signal.SIGTERM) == 0
        assert any("STOPPING=1" in m for m in _messages(sock, "STOPPING=1"))
    assert "stopped cleanly" in process.rest()
