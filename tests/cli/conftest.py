"""Fixtures for the CLI tests: click's runner, fresh nodes, and `hedgerow` subprocesses.

Every test gets ``HEDGEROW_DATA_DIR`` pointing into its own temporary
directory, so nothing ever touches a real node's data. Subprocesses run
``python -m cli`` from the source tree, on 127.0.0.1, with port 0 and mDNS
off; they are waited for by polling their output with a deadline, never by
sleeping. :func:`in_terminal` runs a command on a pseudo-terminal, for what
only happens when a person is at the keyboard (questions, the editor).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pty
import queue
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import hedgerow

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Invoked:
    code: int
    out: str
    err: str
    result: Result


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Invoked:
    """Run ``hedgerow ARGS`` in this process through click's runner."""
    result = CliRunner().invoke(hedgerow, list(args), input=input, env=env,
                                catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # an unexpected failure: show its traceback
    return Invoked(result.exit_code, result.stdout, result.stderr, result)


def ok(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``hedgerow ARGS``, expect success, return stdout."""
    done = invoke(*args, input=input, env=env)
    assert done.code == 0, f"hedgerow {' '.join(args)} failed ({done.code}): {done.err}"
    return done.out


def fails(*args: str, code: int = 1, input: str | None = None) -> str:
    """Run ``hedgerow ARGS``, expect exit ``code``, return the one error line (stderr)."""
    done = invoke(*args, input=input)
    assert done.code == code, (f"hedgerow {' '.join(args)} exited {done.code}, not {code}: "
                               f"{done.out}{done.err}")
    assert "Traceback" not in done.out + done.err
    if code == 1:
        lines = done.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.err
        return lines[0]
    return done.err


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A data directory of the test's own, no mDNS, and logging left as it was."""
    monkeypatch.setenv("HEDGEROW_DATA_DIR", str(tmp_path / "default-node"))
    monkeypatch.setenv("HEDGEROW_MDNS", "false")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    """An initialised node with a name and level, on a new network."""
    path = tmp_path / "node"
    ok("init", "--data-dir", str(path), "--name", "Headingley Repair Café", "--area", "LS6",
       "--level", "neighbourhood", "--new-network")
    return path


def join_with_invitation(inviter: Path, new: Path) -> dict[str, str]:
    """A second node made with an invitation from ``inviter``, as the README says.

    It joins (and is admitted) on its first sync; until then it is a node of
    the network that holds nothing.
    """
    code = json.loads(ok("invite", "--json", "--address", "http://127.0.0.1:9",
                         "--data-dir", str(inviter)))["invitation"]
    ok("init", "--data-dir", str(new), "--join", code)
    return node_info(new)


def node_info(data_dir: Path) -> dict[str, str]:
    info: dict[str, str] = json.loads(ok("keys", "show", "--json", "--data-dir", str(data_dir)))
    return info


# --- subprocesses ----------------------------------------------------------------------

@dataclass
class Process:
    """A ``hedgerow`` subprocess whose stdout is read line by line on a thread."""

    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read_errors(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:  # drained, so a chatty process never blocks
            self.errors.append(line)

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, needle: str, *, timeout: float = 15.0) -> str:
        """The first line (from now on, or already read) containing ``needle``."""
        for line in self.lines:
            if needle in line:
                return line
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {needle!r} within {timeout} s; got:\n"
                                     + "\n".join(self.lines) + self.stderr_text())
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if item is None:
                raise AssertionError(f"the process ended before printing {needle!r}:\n"
                                     + "\n".join(self.lines) + self.stderr_text())
            self.lines.append(item)
            if needle in item:
                return item

    def stderr_text(self) -> str:
        return "\nstderr:\n" + "".join(self.errors) if self.errors else ""

    def signal(self, signum: int, *, timeout: float = 5.0) -> int:
        """Send ``signum`` and wait for the exit code (fails after ``timeout`` seconds)."""
        self.popen.send_signal(signum)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise AssertionError(f"still running {timeout} s after signal {signum}") from None

    def interrupt(self, *, timeout: float = 10.0) -> int:
        """Ctrl-C at the terminal: SIGINT to the whole process group (spawned with
        ``terminal_group``), then the exit code."""
        os.killpg(self.popen.pid, signal.SIGINT)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise AssertionError(f"still running {timeout} s after Ctrl-C") from None

    def rest(self) -> str:
        """Everything printed (stdout), once the process has ended."""
        self.popen.wait(timeout=5)
        while True:
            line = self._queue.get(timeout=5)
            if line is None:
                return "\n".join(self.lines)
            self.lines.append(line)


def spawn(*args: str, env: dict[str, str] | None = None, terminal_group: bool = False
          ) -> Process:
    """``hedgerow ARGS``; ``terminal_group``: in a process group of its own, as a shell
    starts a command, so that :meth:`Process.interrupt` is a Ctrl-C at the terminal."""
    environment = {**os.environ, "HEDGEROW_MDNS": "false", "PYTHONUNBUFFERED": "1",
                   **(env or {})}
    popen = subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=ROOT, env=environment,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             process_group=0 if terminal_group else None)
    return Process(popen)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Subprocesses started by a test: killed at the end if it left them running."""
    started: list[Process] = []
    yield started
    for process in started:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGKILL)
            process.popen.wait(timeout=5)


def start_node(data_dir: Path, processes: list[Process],
               env: dict[str, str] | None = None) -> tuple[Process, str]:
    """``hedgerow up`` on 127.0.0.1 and a free port; returns the process and its URL."""
    process = spawn("up", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", "0",
                    env=env)
    processes.append(process)
    line = process.wait_for("listening on ")
    return process, line.split("listening on ", 1)[1].strip()


@dataclass
class ChainedNetwork:
    """Nodes joined as the README says, each with an invitation from the one before."""

    dirs: list[Path]
    running: list[tuple[Process, str]]
    #: The invitation codes, and what each ``hedgerow invite`` printed on stderr.
    codes: list[str]
    invite_notes: list[str]


def chain_of_nodes(root: Path, names: list[str], processes: list[Process], *,
                   env: dict[str, str] | None = None,
                   typed_address: bool = False) -> ChainedNetwork:
    """``init --new-network`` the first, then ``invite`` / ``init --join`` / ``up`` /
    ``profile publish`` for each next one; ``typed_address``: pass the running URL to
    ``invite --address`` instead of letting it choose."""
    dirs = [root / name.lower().replace(" ", "-") for name in names]
    ok("init", "--new-network", "--name", names[0], "--level", "local",
       "--data-dir", str(dirs[0]))
    ok("profile", "publish", "--data-dir", str(dirs[0]))
    network = ChainedNetwork(dirs, [start_node(dirs[0], processes, env=env)], [], [])
    for new in range(1, len(names)):
        previous = new - 1
        address = ["--address", network.running[previous][1]] if typed_address else []
        made = invoke("invite", *address, "--data-dir", str(dirs[previous]))
        assert made.code == 0, made.err
        network.codes.append(made.out.strip())
        network.invite_notes.append(made.err)
        ok("init", "--join", made.out.strip(), "--name", names[new], "--level",
           "neighbourhood", "--data-dir", str(dirs[new]))
        process, url = start_node(dirs[new], processes, env=env)
        process.wait_for("joined the network", timeout=20)
        network.running.append((process, url))
        ok("profile", "publish", "--data-dir", str(dirs[new]))
    return network


# --- a terminal ------------------------------------------------------------------------

def in_terminal(argv: list[str], *, input: str = "", env: dict[str, str] | None = None,
                cwd: Path | None = None, timeout: float = 30.0,
                columns: int = 80) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal (``columns`` wide) as stdin, stdout and stderr.

    ``env`` is the whole environment (default: this one, without mDNS).
    ``input`` is typed ahead (the terminal holds it until the program reads).
    Returns the exit code and everything the terminal showed (``\\r\\n`` as
    ``\\n``). Fails after ``timeout`` seconds, killing the process.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environment = env if env is not None else {**os.environ, "HEDGEROW_MDNS": "false"}
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                               env=environment, start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    try:
        if input:
            os.write(master, input.encode())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                process.kill()
                raise AssertionError(f"{argv} still running after {timeout} s:\n"
                                     + b"".join(chunks).decode(errors="replace"))
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def hedgerow_in_terminal(*args: str, input: str = "", env: dict[str, str] | None = None,
                         columns: int = 80) -> tuple[int, str]:
    """``hedgerow ARGS`` (``python -m cli`` from the source tree) on a pseudo-terminal."""
    environment = {**os.environ, "HEDGEROW_MDNS": "false", **(env or {})}
    return in_terminal([sys.executable, "-m", "cli", *args], input=input, env=environment,
                       cwd=ROOT, columns=columns)
