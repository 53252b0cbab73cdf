"""An idle node holds only what it uses: the pages, the views and Jinja2 load on first use.

A real ``hedgerow up`` runs through a few lines of wrapper that, when a line
arrives on its stdin, prints the names of the modules the process has
imported. While the node only answers sync-side requests, none of the
heavy modules an idle node does not need may be among them (sqlite-utils
included: node/store/connection.py's LazyDatabase loads it only for what
a running node does not do); the first request for the JSON views and for
a page load what those need, and they answer as always. (The memory this saves is measured by
tests/bench/bench_node.py; this guards the cause without timing anything.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from node.web.admin import AdminFile, hash_password

from .conftest import ROOT, Process

pytestmark = pytest.mark.slow

#: ``hedgerow ARGS``, printing ``modules [...]`` for each line read on stdin.
_WRAPPER = """
import json, sys, threading

def report():
    for _ in sys.stdin:
        print("modules " + json.dumps(sorted(sys.modules)), flush=True)

threading.Thread(target=report, daemon=True).start()
from cli.main import main
sys.argv[0] = "hedgerow"
main()
"""

#: Never needed by a node that only syncs (mDNS is off in these tests).
IDLE_NEVER: tuple[str, ...] = (
    "jinja2", "aiohttp_jinja2", "markupsafe",  # the pages' templates
    "node.views", "node.exports", "openpyxl",  # the network views and exports
    "node.web.setup", "node.web.login", "node.web.practices", "node.web.share",
    "node.web.network", "node.web.live", "node.web.peers", "node.web.settings",
    "node.web.doctor", "node.web.charts",  # the page modules
    "node.web.api_members", "node.web.api_node", "node.web.api_ops",
    "node.web.api_records",  # the JSON API
    "cli.backups",  # only for `hedgerow status`
    "sqlite_utils", "dateutil", "pluggy",  # only to apply migrations, and for exports
    "platformdirs",  # only to find the default data directory
    "prometheus_client",  # only with the metrics setting
    "zeroconf",  # only with mDNS
    "rich",
)
#: The pages' login and response headers: loaded by the first request that is not a sync one.
NOT_BY_SYNC: tuple[str, ...] = ("node.web.auth", "node.web.guard", "node.web.render")


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted({name for name in names for module in modules
                   if module == name or module.startswith(name + ".")})


def _get(url: str, token: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status, reply.headers.get_content_type(), reply.read().decode()


def _modules(process: Process) -> list[str]:
    assert process.popen.stdin is not None
    process.lines.clear()  # the next report, not an earlier one
    process.popen.stdin.write("\n")
    process.popen.stdin.flush()
    modules: list[str] = json.loads(process.wait_for("modules ").split(" ", 1)[1])
    return modules


def test_an_idle_node_loads_the_pages_views_and_templates_only_when_asked(
        node_dir: Path, processes: list[Process]) -> None:
    admin = AdminFile(node_dir)
    admin.set_password(hash_password("correct horse battery"))
    admin.set_public_pages(frozenset({"network"}))
    _, token = admin.create_api_token("reader", "read", now_ms=time.time_ns() // 1_000_000)
    popen = subprocess.Popen(
        [sys.executable, "-c", _WRAPPER, "up", "--data-dir", str(node_dir), "--host",
         "127.0.0.1", "--port", "0"], cwd=ROOT,
        env={**os.environ, "HEDGEROW_MDNS": "false", "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process = Process(popen)
    processes.append(process)
    url = process.wait_for("listening on ").split("listening on ", 1)[1].strip()

    # What peers ask of an idle node: its identity (the sync endpoints' side).
    assert _get(f"{url}/.well-known/hedgerow")[0] == 200
    assert _loaded(_modules(process), IDLE_NEVER + NOT_BY_SYNC) == []
    # A monitor's health check: the pages' response headers load, nothing else.
    status, _, body = _get(f"{url}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert _loaded(_modules(process), IDLE_NEVER) == []

    # The JSON API loads what each request needs, and no templates.
    status, kind, body = _get(f"{url}/api/v1/status", token)
    assert (status, kind) == (200, "application/json")
    assert json.loads(body)["name"] == "Headingley Repair Café"
    loaded = _modules(process)
    assert "node.web.api_node" in loaded and _loaded(loaded, ("node.views", "jinja2")) == []
    status, kind, body = _get(f"{url}/api/v1/views/directory", token)
    assert (status, kind) == (200, "application/json")
    assert json.loads(body)["view"] == "directory"
    loaded = _modules(process)
    assert "node.views" in loaded and _loaded(loaded, ("jinja2", "node.web.network")) == []

    # A page (public here) loads its module and the templates, and renders as always.
    status, kind, body = _get(f"{url}/network/directory")
    assert (status, kind) == (200, "text/html")
    assert 'action="/network/directory"' in body and "0 results." in body
    assert {"jinja2", "node.web.network"} <= set(_modules(process))

    assert process.signal(signal.SIGTERM, timeout=10) == 0
    assert "Traceback" not in "".join(process.errors)
