"""The README's commands run as written, the way a new user runs them.

Every command line of the README's ``sh`` blocks runs, in order, in a
temporary copy of "the clone": a directory whose ``.venv`` is this test
run's virtual environment, with ``hedgerow`` *not* on the ``PATH`` (a new
user has not activated anything). Not run: the install (``python3 -m venv``,
``pip install``, ``sudo apt install``: done already), the install as a
system service (``sudo hedgerow install-service``: it changes the machine),
the test suite itself (``pytest``) and the benchmarks (``tests/bench``: run
by hand, for minutes).

* A block that runs ``init`` starts a new machine (its own ``$HOME``, so the
  default data directory); the next blocks run on the latest machine. Each
  machine listens on loopback on a port of its own (``$HEDGEROW_PORT``,
  ``$HEDGEROW_PUBLIC_URL``), as two machines would on their own addresses.
* ``up`` and ``demo`` are started, checked, left running while the next
  lines run (``invite`` "in another terminal"), and stopped with Ctrl-C.
  The demo's own "try it" lines are run too, from another directory.
* Other commands run on a pseudo-terminal, as typed by a person with
  ``$EDITOR`` set (an editor that fills in a title), and must exit 0.
* Placeholders: ``HR1-…`` (any version) is the invitation code printed last; a short node
  id of the form ``54TXMKB`` is another machine's. A credit names a practice
  of that machine: it publishes one by that key first, and this machine syncs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import ROOT, Process, in_terminal

pytestmark = pytest.mark.slow

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_INVITATION = re.compile(r"HR[0-9]+-[0-9A-Z-]{8,}")
_INVITATION_PLACEHOLDER = re.compile(r"HR[0-9]+-…")
_SHORT_ID = re.compile(r"[0-9A-Z]{7}")
#: Fills in the title of the record template, as a person would in their editor.
EDITOR = "sed -i -e 's/^title = \"\"/title = \"Community fridge\"/'"


def readme_commands() -> list[list[list[str]]]:
    """The README's ``sh`` blocks: each a list of commands (argv), ``&&`` split."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        commands: list[list[str]] = []
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(words[:cut])
                words = words[cut + 1:]
        blocks.append(commands)
    return blocks


def not_run(argv: list[str]) -> str | None:
    """Why a command is not run here, or None."""
    text = " ".join(argv)
    if argv[0] == "sudo":
        # Installing packages, or the node as a system service, changes the machine
        # itself (tests/cli/test_service_cli.py tries the service in a sandbox).
        rest = argv[1:]
        if any(word.startswith("tests/bench/") for word in rest):
            return "a benchmark"  # the network benchmark makes network namespaces
        if rest[:2] == ["apt", "install"] or rest[:2] == ["apt-get", "install"]:
            return "the install"
        if Path(rest[0]).name == "hedgerow" and rest[1:2] in (["install-service"],
                                                              ["uninstall-service"]):
            return "the install as a service"
        raise AssertionError(f"the README runs {text!r} as root: teach this test about it")
    if argv[:3] == ["python3", "-m", "venv"] or "pip" in Path(argv[0]).name:
        return "the install"
    if "-m" in argv and "pytest" in argv:
        return "the test suite"
    if any(word.startswith("tests/bench/") for word in argv):
        return "a benchmark"
    if Path(argv[0]).name == "hedgerow" and argv[1:2] == ["simulate"]:
        return "a benchmark (tests/node/test_simulation.py runs the simulator)"
    if Path(argv[0]).name != "hedgerow" and argv[0] != "curl":
        raise AssertionError(f"the README runs {text!r}: teach this test about it")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Machine:
    """A new user's machine: a home of its own, a port of its own."""

    home: Path
    port: int
    joining: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / ".local" / "share" / "hedgerow"


@dataclass
class Run:
    clone: Path
    path: str
    machines: list[Machine] = field(default_factory=list)
    background: list[tuple[Process, str]] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)

    def env(self, machine: Machine | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HEDGEROW_") and k not in ("XDG_DATA_HOME", "VIRTUAL_ENV")}
        env.update({"PATH": self.path, "EDITOR": EDITOR, "HEDGEROW_MDNS": "false",
                    "PYTHONUNBUFFERED": "1"})
        env.pop("VISUAL", None)
        if machine is not None:
            env.update({"HOME": str(machine.home), "HEDGEROW_HOST": "127.0.0.1",
                        "HEDGEROW_PORT": str(machine.port),
                        "HEDGEROW_PUBLIC_URL": machine.url})
        return env

    def machine(self) -> Machine:
        assert self.machines, "the README runs a command before any `init`"
        return self.machines[-1]

    def other(self) -> Machine:
        others = [m for m in self.machines if m is not self.machine()]
        assert others, "the README names another node, but only one was created"
        return others[0]


def _executable(argv: list[str], cwd: Path, path: str) -> list[str]:
    """``argv`` with its program found as a shell would (relative to ``cwd``, or on ``path``)."""
    program = argv[0]
    if "/" in program:
        found = cwd / program
        assert found.exists(), f"{program} does not exist in {cwd}"
        return [str(found), *argv[1:]]
    located = shutil.which(program, path=path)
    assert located is not None, (f"`{' '.join(argv)}`: {program} is not on the PATH of a "
                                 "new user (the install put it in .venv/bin)")
    return [located, *argv[1:]]


def run_in_terminal(run: Run, argv: list[str], cwd: Path, machine: Machine | None) -> str:
    if argv[0] == "curl" and shutil.which("curl", path=run.path) is None:
        with urllib.request.urlopen(argv[-1], timeout=10) as reply:  # curl URL, no curl here
            assert reply.status == 200
            return str(reply.read().decode())
    code, out = in_terminal(_executable(argv, cwd, run.path), env=run.env(machine), cwd=cwd,
                            timeout=90)
    out = _ANSI.sub("", out)
    assert code == 0, f"`{shlex.join(argv)}` exited {code}:\n{out}"
    return out


def start(run: Run, argv: list[str], cwd: Path, machine: Machine | None, ready: str) -> Process:
    popen = subprocess.Popen(_executable(argv, cwd, run.path), cwd=cwd, env=run.env(machine),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    process = Process(popen)
    run.background.append((process, shlex.join(argv)))
    process.wait_for(ready, timeout=60)
    return process


def stop(process: Process, what: str, last_words: str) -> None:
    assert process.signal(signal.SIGINT, timeout=20) == 0, f"{what} did not stop cleanly"
    assert last_words in process.rest(), f"{what}:\n" + "\n".join(process.lines)
    assert "Traceback" not in "".join(process.errors), process.stderr_text()


def try_demo_lines(run: Run, demo: Process, elsewhere: Path) -> int:
    """Run the demo's "try it" lines, as printed, from another directory."""
    demo.wait_for("Press Ctrl-C", timeout=60)
    lines = [line.strip() for line in demo.lines]
    tried = lines[lines.index(next(x for x in lines if x.startswith("Try it"))) + 1:]
    count = 0
    for line in tried:
        if line.startswith("Press Ctrl-C"):
            break
        run_in_terminal(run, shlex.split(line, comments=True), elsewhere, None)
        count += 1
    return count


def prepare_credit(run: Run, argv: list[str]) -> None:
    """The credited node publishes the practice named, and this machine syncs with it."""
    other, key = run.other(), argv[argv.index("credit") + 2]
    hedgerow = [".venv/bin/hedgerow", "--data-dir", str(other.data_dir)]
    title = key.replace("-", " ").capitalize()
    run_in_terminal(run, [*hedgerow, "record", "add", "--title", title, "--key", key],
                    run.clone, other)
    run_in_terminal(run, [*hedgerow, "share", "publish", key], run.clone, other)
    run_in_terminal(run, [".venv/bin/hedgerow", "sync"], run.clone, run.machine())


def fill_placeholders(run: Run, argv: list[str]) -> list[str]:
    out = []
    for word in argv:
        if _INVITATION_PLACEHOLDER.fullmatch(word):
            codes = _INVITATION.findall("\n".join(run.printed))
            assert codes, "the README uses an invitation code before any was printed"
            word = codes[-1]
        elif "credit" in argv and _SHORT_ID.fullmatch(word) and word != argv[0]:
            word = short_id_of(run, run.other())
        assert "…" not in word, f"the README's {word!r} is a placeholder this test cannot fill"
        out.append(word)
    return out


def short_id_of(run: Run, machine: Machine) -> str:
    out = run_in_terminal(run, [".venv/bin/hedgerow", "keys", "show"], run.clone, machine)
    found = re.search(r"\(([0-9A-Z]{7})\)", out)
    assert found, out
    return found.group(1)


@pytest.fixture
def readme_run(tmp_path: Path) -> Iterator[Run]:
    venv_hedgerow = Path(sys.prefix) / "bin" / "hedgerow"
    if not venv_hedgerow.exists():
        pytest.skip(f"these tests do not run in the virtual environment the README makes "
                    f"({venv_hedgerow} is missing)")
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    # A new user's PATH: whatever they have, but no `hedgerow` yet.
    path = os.pathsep.join(d for d in os.environ.get("PATH", os.defpath).split(os.pathsep)
                           if d and not (Path(d) / "hedgerow").exists())
    run = Run(clone, path)
    try:
        yield run
    finally:
        for process, _ in run.background:
            if process.popen.poll() is None:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=10)


def test_the_readme_commands_run_as_written(readme_run: Run, tmp_path: Path) -> None:
    run = readme_run
    elsewhere = tmp_path / "another-terminal"
    elsewhere.mkdir()
    ran: list[str] = []
    skipped: set[str] = set()
    for block in readme_commands():
        if any(len(argv) > 1 and argv[1] == "init" for argv in block):
            home = tmp_path / f"machine{len(run.machines) + 1}"
            home.mkdir()
            run.machines.append(Machine(home, free_port()))
        for argv in block:
            why = not_run(argv)
            if why is not None:
                skipped.add(why)
                continue
            argv = fill_placeholders(run, argv)
            command = argv[1] if len(argv) > 1 else ""
            machine = run.machine() if command != "demo" else None
            if command == "demo":
                demo = start(run, argv, run.clone, None, "data in ")
                assert try_demo_lines(run, demo, elsewhere) >= 4
                stop(demo, "the demo", "Stopped")
            elif command == "up":
                process = start(run, argv, run.clone, machine, "is up; press Ctrl-C")
                if machine is not None and machine.joining:
                    # A person waits for this line before going on ("once it has joined").
                    process.wait_for("joined the network", timeout=60)
                run.printed.extend(process.lines)
            else:
                if command == "init" and machine is not None and "--join" in argv:
                    machine.joining = True
                if command == "credit":
                    prepare_credit(run, argv)
                run.printed.append(run_in_terminal(run, argv, run.clone, machine))
            ran.append(shlex.join(argv))
    assert {"the install", "the test suite", "a benchmark"} <= skipped
    assert len(ran) >= 10, ran
    for process, what in run.background:
        if process.popen.poll() is None:
            stop(process, what, "stopped cleanly")
    # The README's nodes made one network: the last one credited a practice that it
    # received from another.
    assert len(run.machines) >= 2
    status = run_in_terminal(run, [".venv/bin/hedgerow", "status", "--json"], run.clone,
                             run.machine())
    data = json.loads(status[status.index("{"):])
    assert data["own_entries"].get("credit") == 1 and data["entries"].get("practice", 0) >= 2
