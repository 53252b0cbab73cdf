"""The API, /healthz and /metrics of real `hedgerow up` processes on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from node.web.admin import AdminFile, hash_password

from .conftest import Process, ok, start_node


def _call(url: str, token: str | None = None, body: Any = None,
          method: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_api_sync_health_and_metrics_of_running_nodes(
        node_dir: Path, tmp_path: Path, processes: list[Process]) -> None:
    (node_dir / "hedgerow.toml").write_text("metrics = true\nbackups = false\n")
    admin = AdminFile(node_dir)
    admin.set_password(hash_password("a long enough password"))
    _, token = admin.create_api_token("scripts", "write", now_ms=1)
    _, a_url = start_node(node_dir, processes)
    code = ok("invite", "--address", a_url, "--data-dir", str(node_dir)).strip()
    other = tmp_path / "other"
    ok("init", "--join", code, "--data-dir", str(other))
    (other / "hedgerow.toml").write_text("backups = false\n")
    b, b_url = start_node(other, processes, env={"HEDGEROW_SYNC_INTERVAL": "1"})
    b.wait_for("joined the network", timeout=20)
    ok("record", "add", "--title", "Play street", "--data-dir", str(other))
    ok("share", "publish", "play-street", "--data-dir", str(other))

    status, body = _call(f"{a_url}/healthz")
    assert status == 200 and json.loads(body)["database"] == "ok"
    assert _call(f"{a_url}/api/v1/status")[0] == 401
    status, body = _call(f"{a_url}/api/v1/peers", token, {"address": b_url})
    assert status in (200, 201), body
    status, body = _call(f"{a_url}/api/v1/sync", token, {"peer": b_url})
    assert status == 200, body
    [outcome] = json.loads(body)["outcomes"]
    assert outcome["ok"], outcome
    status, body = _call(f"{a_url}/api/v1/status", token)
    assert json.loads(body)["entries"].get("practice") == 1
    assert json.loads(_call(f"{a_url}/healthz")[1])["last_sync_ms"] is not None
    status, body = _call(f"{a_url}/metrics", token)
    assert status == 200
    text = body.decode()
    sessions = [line for line in text.splitlines()
                if line.startswith('hedgerow_sync_sessions_total{outcome="ok"}')]
    assert sessions and float(sessions[0].split()[-1]) >= 1  # ours, and any by gossip
    assert 'hedgerow_peers{state="live"}' in text
    assert _call(f"{a_url}/metrics")[0] == 401
    assert _call(f"{b_url}/metrics")[0] == 404  # off by default
