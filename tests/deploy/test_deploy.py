"""deploy/: the Pi script run against a temporary root, the container's command as it runs
in the image, and both linted (shellcheck, hadolint: from PyPI, in the test extras)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

from node.web.admin import AdminFile

from ..cli.conftest import Process

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: it comes with the test extras (pip install '.[test]')"
    return found


def test_shell_scripts_pass_shellcheck() -> None:
    done = subprocess.run([_tool("shellcheck"), "--severity=style",
                           str(DEPLOY / "install-pi.sh"), str(ROOT / ".ci" / "run")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_containerfile_passes_hadolint() -> None:
    done = subprocess.run([_tool("hadolint"), "--no-color", str(DEPLOY / "Containerfile")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_pi_script_installs_with_install_service(tmp_path: Path) -> None:
    """The script, run as written against a temporary root. Only what needs the internet or
    the real system is stood in for: ``python3 -m venv`` and ``pip`` (they would download
    Hedgerow's dependencies); the stand-in venv's ``hedgerow`` is this one."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "commands.log"
    (stubs / "python3").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "python3 $*" >> {log}
        [ "$1 $2" = "-m venv" ] || exit 3
        mkdir -p "$3/bin"
        printf '#!/bin/sh\\necho "pip $*" >> {log}\\n' > "$3/bin/pip"
        printf '#!/bin/sh\\nexec {sys.executable} -m cli "$@"\\n' > "$3/bin/hedgerow"
        chmod +x "$3/bin/pip" "$3/bin/hedgerow"
        """))
    (stubs / "python3").chmod(0o755)
    root = tmp_path / "root"
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "HEDGEROW_MDNS": "false"}
    done = subprocess.run(["bash", str(DEPLOY / "install-pi.sh"), "--root", str(root)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = log.read_text().splitlines()
    assert commands == [f"python3 -m venv {root}/opt/hedgerow/venv",
                        f"pip install --quiet --upgrade {ROOT}"]
    assert (root / "opt/hedgerow/README.md").exists()
    assert (root / "etc/systemd/system/hedgerow.service").exists()
    code = AdminFile(root / "var/lib/hedgerow").read().setup_code
    # It points the group to the web page, not to the terminal.
    assert code and f"type the setup code {code}" in done.stdout
    assert "open http" in done.stdout.lower()
    assert "hedgerow init" not in done.stdout
    bad = subprocess.run(["bash", str(DEPLOY / "install-pi.sh"), "--frobnicate"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown option" in bad.stderr


def _container_command() -> tuple[list[str], dict[str, str]]:
    """ENTRYPOINT + CMD and ENV of the Containerfile, as the image would run them."""
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", text, re.M):
        env.update(dict(pair.split("=", 1) for pair in line.split()))
    user = re.search(r"^USER (\d+):(\d+)$", text, re.M)
    assert user, "the image runs as a numeric non-root user"
    assert re.search(r'^VOLUME \["/data"\]$', text, re.M)
    assert re.search(r"^STOPSIGNAL SIGTERM$", text, re.M)
    return [*entry, *cmd], env


def test_the_containers_command_starts_the_first_run_and_stops_cleanly(tmp_path: Path) -> None:
    """The image's command and environment, run here (no container engine in CI). It runs
    as this user: the image's Python is its own, while this one lives under /root."""
    argv, env = _container_command()
    assert argv[:3] == ["hedgerow", "up", "--create"]
    # On this machine: loopback and a free port, the volume an empty folder the user owns.
    argv = [a for a in argv]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = "0"
    volume = tmp_path / "data"
    volume.mkdir(mode=0o700)  # an empty volume
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT),
                   **env, "HEDGEROW_DATA_DIR": str(volume)}
    popen = subprocess.Popen([sys.executable, "-m", "cli", *argv[1:]], cwd=ROOT,
                             env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    process = Process(popen)
    try:
        code = process.wait_for("first-run setup code: ").split(": ", 1)[1].split()[0]
        url = process.wait_for("listening on ").split("listening on ", 1)[1].strip()
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
            assert answer.status == 200
        assert (volume / "node.key").exists()
        assert AdminFile(volume).read().setup_code == code
        assert process.signal(15) == 0
        assert "stopped cleanly" in process.rest()
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=5)
