"""``install-service`` and ``uninstall-service`` into a temporary root; the unit systemd rates.

The real install path (``/``, starting the service) cannot run here; these
tests write the same files under ``--root`` with the real ``systemd-sysusers``
and ``systemctl --root``, and check the generated unit with
``systemd-analyze`` as CI does (.ci/run installs systemd's tools).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from node.install import InstallPlan, install_service, unit_text
from node.web.admin import AdminFile

from .conftest import Process, fails, ok, spawn

HAVE_SYSTEMD_TOOLS = bool(shutil.which("systemd-analyze") and shutil.which("systemctl")
                          and shutil.which("systemd-sysusers"))
needs_systemd_tools = pytest.mark.skipif(
    not HAVE_SYSTEMD_TOOLS and not os.environ.get("CI"),
    reason="systemd's tools are not installed (CI installs them: apt-get install systemd)")
#: The most `systemd-analyze security` may rate the unit's exposure (issue: at most 2.5).
MAX_EXPOSURE = 2.5


def _install(root: Path) -> str:
    return ok("install-service", "--root", str(root))


@needs_systemd_tools
def test_install_service_writes_everything_under_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = _install(root)
    plan = InstallPlan(root=root.resolve())
    unit = root / "etc/systemd/system/hedgerow.service"
    assert unit.read_text(encoding="utf-8") == unit_text(plan)
    assert oct(unit.stat().st_mode & 0o777) == "0o644"
    assert (root / "etc/systemd/system/multi-user.target.wants/hedgerow.service").is_symlink()
    passwd = (root / "etc/passwd").read_text(encoding="utf-8")
    [entry] = [line for line in passwd.splitlines() if line.startswith("hedgerow:")]
    uid = int(entry.split(":")[2])
    assert entry.endswith(":/var/lib/hedgerow:/usr/sbin/nologin")
    data = root / "var/lib/hedgerow"
    assert (data / "node.key").exists() and (data / "hedgerow.db").exists()
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    if os.geteuid() == 0:
        assert data.stat().st_uid == uid and (data / "node.key").stat().st_uid == uid
    code = AdminFile(data).read().setup_code
    assert code and f"type the setup code {code}" in out
    assert "not started" in out and ":8470" in out
    # Again: the node and its setup code are kept, the files rewritten.
    again = _install(root)
    assert "kept the node already in" in again and code in again


@needs_systemd_tools
def test_the_unit_passes_verify_and_rates_at_most_2_5(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _install(root)
    # systemd-analyze verify --root follows the unit's dependencies and ExecStart inside
    # the root: give it the system's own units and a program where the venv would be.
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
                    dirs_exist_ok=True, symlinks=True)
    program = root / "opt/hedgerow/venv/bin/hedgerow"
    program.parent.mkdir(parents=True)
    program.write_text(f"#!/bin/sh\nexec {sys.executable} -m cli \"$@\"\n")
    program.chmod(0o755)
    verify = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                             "hedgerow.service"], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr + verify.stdout
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={root}",
         f"--threshold={int(MAX_EXPOSURE * 10)}", "--no-pager", "hedgerow.service"],
        capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for hedgerow\.service: (\d+\.\d)", security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE
    assert security.returncode == 0


@needs_systemd_tools
def test_uninstall_service_keeps_the_data_unless_told(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _install(root)
    (root / "opt/hedgerow/venv").mkdir(parents=True)
    out = ok("uninstall-service", "--root", str(root))
    assert "kept the data" in out
    assert not (root / "etc/systemd/system/hedgerow.service").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/hedgerow.service"
                ).exists()
    assert not (root / "opt/hedgerow").exists()
    assert (root / "var/lib/hedgerow/node.key").exists()
    assert "hedgerow:" in (root / "etc/passwd").read_text(encoding="utf-8")
    out = ok("uninstall-service", "--root", str(root), "--remove-data", "--yes")
    assert not (root / "var/lib/hedgerow").exists()
    assert "hedgerow:" not in (root / "etc/passwd").read_text(encoding="utf-8")
    assert "no Hedgerow service installed" in fails("uninstall-service", "--root", str(root))


def test_the_service_gets_its_own_environment(tmp_path: Path) -> None:
    ran: list[list[str]] = []

    def record(argv: Sequence[str]) -> str:
        ran.append(list(argv))
        return ""

    plan = InstallPlan(root=tmp_path / "root")
    source = tmp_path / "clone"
    source.mkdir()
    (source / "README.md").write_text("# Hedgerow\n")
    report = install_service(plan, source=str(source), make_venv=True, run=record,
                             now_ms=1_700_000_000_000, python=sys.executable)
    venv = str(tmp_path / "root/opt/hedgerow/venv")
    assert ran[0] == [sys.executable, "-m", "venv", venv]
    assert ran[1] == [f"{venv}/bin/pip", "install", "--quiet", "--upgrade", str(source)]
    assert (tmp_path / "root/opt/hedgerow/README.md").exists()
    assert ran[-1] == ["systemctl", f"--root={plan.root}", "enable", "hedgerow.service"]
    assert report.node_created and report.setup_code


def test_the_service_python_is_not_under_home_or_root() -> None:
    from node.install import service_python

    chosen = os.path.realpath(service_python())
    assert not chosen.startswith(("/home/", "/root/"))


def test_a_real_install_needs_root_and_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "needs root" in fails("install-service")
    assert "needs root" in fails("uninstall-service")


def test_up_create_starts_a_new_node_for_the_first_run_page(
        tmp_path: Path, processes: list[Process]) -> None:
    data = tmp_path / "empty"
    data.mkdir()
    (data / "hedgerow.toml").write_text("backups = false\n")
    up = spawn("up", "--create", "--data-dir", str(data), "--host", "127.0.0.1",
               "--port", "0")
    processes.append(up)
    assert f"created a new node in {data}" in up.wait_for("created a new node")
    code = up.wait_for("first-run setup code: ").split("first-run setup code: ")[1].split()[0]
    assert AdminFile(data).read().setup_code == code
    up.signal(2)
    # Started again, it keeps that node.
    again = spawn("up", "--create", "--data-dir", str(data), "--host", "127.0.0.1",
                  "--port", "0")
    processes.append(again)
    again.wait_for("is up")
    assert not any("created a new node" in line for line in again.lines)
    again.signal(2)
