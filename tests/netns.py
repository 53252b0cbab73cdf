"""Real networks on one machine: network namespaces, a bridge, and ``hedgerow`` inside them.

A helper for whole-network tests and benchmarks (not a test file). Each host
is a network namespace of its own, with one veth pair whose other end is
attached to a Linux bridge in the root namespace, an address from a /24 and a
default route out of that interface, so a node sees a LAN as it would on a
real machine (``0.0.0.0`` binds its LAN address; every node can use port
8470). :class:`Network` creates them, runs ``hedgerow`` commands and ``hedgerow
up`` processes inside them (``ip netns exec``), kills (``SIGKILL`` by process
id) and restarts nodes, loses packets, cuts the network in two and heals it,
and removes everything when it closes — also when the test fails, and
(through :data:`PR_SET_PDEATHSIG` and a sweep at start) after a run that was
itself killed.

Every name carries the prefix ``hrt<pid><letter>``: runs in parallel never
meet (each has its own bridges, so the same addresses can be used by every
run), and a later run removes what a dead run left. Every command is bounded
in time.

Loss and delay: ``tc … netem`` when the kernel has it; otherwise loss is an
nftables rule in each namespace (``numgen random mod 1000 < N drop`` on
input) and delay cannot be emulated — :meth:`Network.impair` says so in its
:class:`Impairment`, which callers print.

Needs Linux, root and iproute2 (and nftables without netem); when any is
missing, :func:`require` raises :class:`NetnsUnavailable` with one line that
says which, and tests fail with it (they never skip).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from protocol import id_from_text

ROOT: Final = Path(__file__).resolve().parents[1]
#: Seconds any one ``ip``/``tc``/``nft`` command may take.
COMMAND_TIMEOUT_S: Final = 15.0
#: Seconds any one short ``hedgerow`` command may take.
HEDGEROW_TIMEOUT_S: Final = 60.0
PR_SET_PDEATHSIG: Final = 1
_PREFIX_RE: Final = re.compile(r"\Ahrt(\d+)[a-z]")
_instances = itertools.count()


class NetnsUnavailable(Exception):
    """Network namespaces cannot be used here; the message says why, in one line."""


class CommandFailed(AssertionError):
    """A command run by the harness failed (an AssertionError, so pytest shows it plainly)."""


def _run(argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT_S, check: bool = True,
         input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              input=input, check=False)
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"`{' '.join(argv)}` took more than {timeout:.0f} s") from None
    except FileNotFoundError:
        raise CommandFailed(f"`{argv[0]}` is not installed") from None
    if check and done.returncode != 0:
        raise CommandFailed(f"`{' '.join(argv)}` failed ({done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[:500]}")
    return done


def require(*, loss: bool = False) -> None:
    """Raise :class:`NetnsUnavailable` unless this process can make namespaces (and loss)."""
    if sys.platform != "linux":
        raise NetnsUnavailable(f"network namespaces need Linux (this is {sys.platform})")
    if os.geteuid() != 0:
        raise NetnsUnavailable(f"network namespaces need root (this runs as uid {os.geteuid()})")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed")
    probe = f"hrt{os.getpid()}z"
    done = _run(["ip", "netns", "add", probe], check=False)
    if done.returncode != 0:
        raise NetnsUnavailable("cannot create a network namespace: "
                               + (done.stderr.strip().splitlines() or ["no reason given"])[0])
    _run(["ip", "netns", "del", probe], check=False)
    if loss and shutil.which("tc") is None and shutil.which("nft") is None:
        raise NetnsUnavailable("neither tc (iproute2) nor nft (apt-get install nftables) is "
                               "installed to emulate packet loss")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Remove namespaces and bridges that runs which are no longer alive left behind."""
    removed = []
    names = _run(["ip", "netns", "list"], check=False).stdout.split("\n")
    for line in names:
        name = line.split(" ", 1)[0].strip()
        found = _PREFIX_RE.match(name)
        if found and not _pid_alive(int(found.group(1))):
            _run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    links = _run(["ip", "-o", "link", "show"], check=False).stdout.split("\n")
    for line in links:
        parts = line.split(": ", 2)
        if len(parts) < 2:
            continue
        name = parts[1].split("@", 1)[0]
        found = _PREFIX_RE.match(name)
        if found and not _pid_alive(int(found.group(1))):
            _run(["ip", "link", "del", name], check=False)
            removed.append(name)
    return removed


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # The node is killed if the test process dies (even by SIGKILL); `ip netns
    # exec` execs the command, so the setting reaches the node itself.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass(frozen=True)
class Host:
    """One namespace: ``name`` (the namespace), its address, and its veth's root-side end."""

    index: int
    name: str
    ip: str
    veth: str  # the root-namespace end, attached to a bridge ("" for a direct pair)
    interface: str = "eth0"  # the end inside the namespace

    def url(self, port: int = 8470) -> str:
        return f"http://{self.ip}:{port}"


@dataclass(frozen=True)
class Impairment:
    """How loss and delay were emulated: ``method`` is ``netem`` or ``nft``."""

    method: str
    loss_percent: float
    delay_ms: int  # the delay actually emulated (0 when it could not be)
    note: str

    def describe(self) -> str:
        return self.note


@dataclass
class Node:
    """A ``hedgerow up`` process in a namespace; its output goes to two files."""

    host: Host
    data_dir: Path
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    started_at: float = field(default_factory=time.monotonic)
    _offset: int = 0  # where this run's output starts in stdout_path
    _err_offset: int = 0  # and in stderr_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        """What this run printed on stdout so far."""
        with self.stdout_path.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode("utf-8", "replace")

    def errors(self) -> str:
        """What this run logged on stderr so far."""
        with self.stderr_path.open("rb") as f:
            f.seek(self._err_offset)
            return f.read().decode("utf-8", "replace")

    def wait_for(self, needle: str, *, timeout: float = 20.0, log: bool = False) -> str:
        """The first line of this run's output containing ``needle`` (polled, with a deadline).

        ``log``: look in the node's log (stderr) instead of its event lines (stdout).
        """
        deadline = time.monotonic() + timeout
        while True:
            for line in (self.errors() if log else self.output()).splitlines():
                if needle in line:
                    return line
            if not self.alive:
                raise AssertionError(f"node {self.host.index} ended ({self.popen.returncode}) "
                                     f"before printing {needle!r}:\n{self.output()[-2000:]}\n"
                                     f"stderr:\n{self.errors()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"node {self.host.index} printed no {needle!r} within "
                                     f"{timeout:.0f} s:\n{self.output()[-2000:]}\n"
                                     f"stderr:\n{self.errors()[-2000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """``kill -9`` by process id, and reap it."""
        if self.alive:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=COMMAND_TIMEOUT_S)

    def stop(self, *, timeout: float = 15.0) -> int:
        """SIGTERM and wait for a clean exit; the exit code (SIGKILL after ``timeout``)."""
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"node {self.host.index} still ran {timeout:.0f} s after "
                                 "SIGTERM") from None


def wait_until(check: Callable[[], bool], what: str, *, timeout: float,
               interval: float = 0.2) -> float:
    """Poll ``check`` until it holds; the seconds it took (AssertionError at the deadline)."""
    started = time.monotonic()
    deadline = started + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {timeout:.0f} s)")
        time.sleep(interval)
    return time.monotonic() - started


class Network:
    """Namespaces on bridges (or one direct veth pair), and the nodes running in them.

    Use as a context manager: everything it made is removed on exit, whatever
    happened. ``workdir`` holds the nodes' output files.
    """

    def __init__(self, workdir: Path, *, subnet: str = "10.77.0.0/24",
                 env: dict[str, str] | None = None) -> None:
        require()
        sweep_stale()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prefix = f"hrt{os.getpid()}{'abcdefghijklmnopqrstuvwxy'[next(_instances) % 25]}"
        self.subnet = ipaddress.ip_network(subnet)
        self.env = {"HEDGEROW_MDNS": "false", **(env or {})}
        self.hosts: list[Host] = []
        self.nodes: list[Node] = []
        self._spawned: list[subprocess.Popen[bytes]] = []
        self._bridges: list[str] = []
        self._namespaces: list[str] = []
        self._links: list[str] = []
        self._closed = False
        atexit.register(self.close)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- topology ---------------------------------------------------------------------

    def _address(self, index: int) -> str:
        return str(self.subnet.network_address + index)

    def _namespace(self, index: int) -> str:
        name = f"{self.prefix}-n{index}"
        _run(["ip", "netns", "add", name])
        self._namespaces.append(name)
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def _bridge(self, number: int) -> str:
        name = f"{self.prefix}b{number}"
        if name not in self._bridges:
            _run(["ip", "link", "add", name, "type", "bridge"])
            self._bridges.append(name)
            # No STP and no forwarding delay: ports forward as soon as they are up.
            _run(["ip", "link", "set", name, "type", "bridge", "stp_state", "0",
                  "forward_delay", "0"])
            _run(["ip", "link", "set", name, "up"])
        return name

    def _configure(self, namespace: str, interface: str, ip: str) -> None:
        length = self.subnet.prefixlen
        _run(["ip", "-n", namespace, "addr", "add", f"{ip}/{length}", "dev", interface])
        _run(["ip", "-n", namespace, "link", "set", interface, "up"])
        # A default route out of the LAN interface, as a real machine has: the
        # node's "which address is mine" probes and multicast need one.
        _run(["ip", "-n", namespace, "route", "add", "default", "dev", interface])

    def add_hosts(self, count: int) -> list[Host]:
        """``count`` more namespaces, each on the network's bridge."""
        bridge = self._bridge(0)
        added = []
        for _ in range(count):
            index = len(self.hosts) + 1
            if index >= self.subnet.num_addresses - 1:
                raise CommandFailed(f"{self.subnet} has no address left for host {index}")
            namespace = self._namespace(index)
            veth = f"{self.prefix}v{index}"
            _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                  "netns", namespace])
            self._links.append(veth)
            _run(["ip", "link", "set", veth, "master", bridge, "up"])
            host = Host(index, namespace, self._address(index), veth)
            self._configure(namespace, "eth0", host.ip)
            self.hosts.append(host)
            added.append(host)
        return added

    def add_pair(self) -> tuple[Host, Host]:
        """Two namespaces joined by one veth pair, end to end (no bridge)."""
        first, second = len(self.hosts) + 1, len(self.hosts) + 2
        a, b = self._namespace(first), self._namespace(second)
        _run(["ip", "link", "add", "eth0", "netns", a, "type", "veth", "peer", "name", "eth0",
              "netns", b])
        hosts = (Host(first, a, self._address(first), ""),
                 Host(second, b, self._address(second), ""))
        for host in hosts:
            self._configure(host.name, "eth0", host.ip)
            self.hosts.append(host)
        return hosts

    def partition(self, side: Sequence[Host]) -> None:
        """Cut ``side`` off from the rest: its veths move to a second bridge."""
        other = self._bridge(1)
        for host in side:
            _run(["ip", "link", "set", host.veth, "master", other])

    def heal(self) -> None:
        """Every host back on the first bridge."""
        main = self._bridge(0)
        for host in self.hosts:
            if host.veth:
                _run(["ip", "link", "set", host.veth, "master", main])

    def impair(self, *, loss_percent: float, delay_ms: int = 0) -> Impairment:
        """Lose ``loss_percent`` of the packets each host receives (and delay them, if possible).

        netem on each namespace's interface when the kernel has it; else an
        nftables rule dropping at random on input in each namespace (each
        packet is received by one namespace, so it is lost with that
        probability once), and no delay.
        """
        netem_error = ""
        if shutil.which("tc") is not None:
            for number, host in enumerate(self.hosts):
                args = ["loss", f"{loss_percent}%"]
                if delay_ms:
                    args = ["delay", f"{delay_ms}ms", *args]
                done = self.run(host, ["tc", "qdisc", "replace", "dev", host.interface, "root",
                                       "netem", *args], check=False)
                if done.returncode != 0:
                    if number:
                        raise CommandFailed(f"netem worked on one host and not on host "
                                            f"{host.index}: {done.stderr.strip()}")
                    netem_error = (done.stderr.strip().splitlines() or ["failed"])[0]
                    break
            else:
                return Impairment("netem", loss_percent, delay_ms,
                                  f"netem: loss {loss_percent}% and delay {delay_ms} ms on "
                                  "every host's interface")
        else:
            netem_error = "tc is not installed"
        if shutil.which("nft") is None:
            raise CommandFailed(f"cannot emulate loss: netem is unavailable ({netem_error}) and "
                                "nft is not installed (apt-get install nftables)")
        permille = round(loss_percent * 10)
        for host in self.hosts:
            rules = (
                "table inet hedgerow_loss {\n"
                "  chain input {\n"
                "    type filter hook input priority 0; policy accept;\n"
                f'    iifname "{host.interface}" numgen random mod 1000 < {permille} drop\n'
                "  }\n"
                "}\n")
            self.run(host, ["nft", "-f", "-"], input=rules)
        return Impairment("nft", loss_percent, 0,
                          f"loss {loss_percent}% by an nftables rule in every namespace; "
                          + (f"delay of {delay_ms} ms NOT emulated: " if delay_ms else
                             "no delay asked; ")
                          + f"netem is unavailable here ({netem_error})")

    # --- commands and nodes -------------------------------------------------------------

    def run(self, host: Host, argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT_S,
            check: bool = True, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``ip netns exec HOST argv``, bounded by ``timeout``."""
        command = ["ip", "netns", "exec", host.name, *argv]
        if env is None:
            return _run(command, timeout=timeout, check=check, input=input)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  input=input, check=False, cwd=ROOT,
                                  env={**os.environ, **env})
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"`{' '.join(command)}` took more than {timeout:.0f} s") from None
        if check and done.returncode != 0:
            raise CommandFailed(f"`{' '.join(command)}` failed ({done.returncode}): "
                                f"{(done.stderr or done.stdout).strip()[:1000]}")
        return done

    def hedgerow(self, host: Host, data_dir: Path, *args: str,
                 timeout: float = HEDGEROW_TIMEOUT_S, env: dict[str, str] | None = None,
                 input: str | None = None) -> str:
        """``hedgerow ARGS --data-dir DATA_DIR`` in ``host``; expects success, returns stdout."""
        done = self.run(host, [sys.executable, "-m", "cli", *args, "--data-dir", str(data_dir)],
                        timeout=timeout, input=input,
                        env={**self.env, "PYTHONUNBUFFERED": "1", **(env or {})})
        if "Traceback" in done.stderr:
            raise CommandFailed(f"`hedgerow {' '.join(args)}` on host {host.index} printed a "
                                f"traceback:\n{done.stderr[-3000:]}")
        return done.stdout

    def hedgerow_json(self, host: Host, data_dir: Path, *args: str, **kw: Any) -> Any:
        return json.loads(self.hedgerow(host, data_dir, *args, "--json", **kw))

    def spawn(self, host: Host, argv: Sequence[str], *, stdout: Any = subprocess.DEVNULL,
              stderr: Any = subprocess.DEVNULL,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``host`` (killed by :meth:`close`, or if this process dies)."""
        popen = subprocess.Popen(["ip", "netns", "exec", host.name, *argv], cwd=ROOT,
                                 stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                 env={**os.environ, **(env or {})},
                                 preexec_fn=_die_with_parent)
        self._spawned.append(popen)
        return popen

    def reachable(self, source: Host, target: Host, port: int, *,
                  timeout: float = 2.0) -> bool:
        """Whether a TCP connection from ``source`` to ``target``:``port`` opens."""
        probe = ("import socket, sys\n"
                 "try:\n"
                 f"    socket.create_connection(({target.ip!r}, {port}), timeout={timeout})\n"
                 "except OSError:\n"
                 "    sys.exit(1)\n")
        done = self.run(source, [sys.executable, "-c", probe], timeout=timeout + 10,
                        check=False)
        return done.returncode == 0

    def start_node(self, host: Host, data_dir: Path, *args: str,
                   env: dict[str, str] | None = None, ready: str = "is up;",
                   timeout: float = 30.0) -> Node:
        """``hedgerow up --data-dir DATA_DIR ARGS`` inside ``host``, once it says it is up.

        Its stdout and stderr are appended to ``workdir/node-N.out|.err`` (a
        restart keeps the earlier run's lines before its own).
        """
        out = self.workdir / f"node-{host.index}.out"
        err = self.workdir / f"node-{host.index}.err"
        offset = out.stat().st_size if out.exists() else 0
        err_offset = err.stat().st_size if err.exists() else 0
        with out.open("ab") as stdout, err.open("ab") as stderr:
            popen = self.spawn(host, [sys.executable, "-m", "cli", "up", "--data-dir",
                                      str(data_dir), *args], stdout=stdout, stderr=stderr,
                               env={**self.env, "PYTHONUNBUFFERED": "1", **(env or {})})
        node = Node(host, data_dir, popen, out, err, _offset=offset, _err_offset=err_offset)
        self.nodes.append(node)
        if ready:
            node.wait_for(ready, timeout=timeout)
        return node

    # --- the end ------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every node, delete every namespace, veth and bridge made here."""
        if self._closed:
            return
        self._closed = True
        for popen in self._spawned:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                if popen.poll() is None:
                    os.kill(popen.pid, signal.SIGKILL)
                popen.wait(timeout=COMMAND_TIMEOUT_S)
        problems = []
        for name in self._namespaces:
            done = _run(["ip", "netns", "del", name], check=False)
            if done.returncode != 0 and "No such file" not in done.stderr:
                problems.append(f"namespace {name}: {done.stderr.strip()}")
        existing = _run(["ip", "-o", "link", "show"], check=False).stdout
        for name in [*self._links, *self._bridges]:
            if f": {name}:" in existing or f": {name}@" in existing:
                done = _run(["ip", "link", "del", name], check=False)
                if done.returncode != 0 and "Cannot find" not in done.stderr:
                    problems.append(f"link {name}: {done.stderr.strip()}")
        atexit.unregister(self.close)
        if problems:
            print("netns: could not remove: " + "; ".join(problems), file=sys.stderr)

    def leftovers(self) -> list[str]:
        """Names made here that still exist (empty after :meth:`close`)."""
        names = _run(["ip", "netns", "list"], check=False).stdout
        links = _run(["ip", "-o", "link", "show"], check=False).stdout
        return [n for n in self._namespaces if n in names.split()] + [
            n for n in [*self._links, *self._bridges]
            if f": {n}:" in links or f": {n}@" in links]


@contextlib.contextmanager
def network(workdir: Path, **kw: Any) -> Iterator[Network]:
    """A :class:`Network`, closed at the end whatever happens."""
    net = Network(workdir, **kw)
    try:
        yield net
    finally:
        net.close()


# --- a Hedgerow network on the namespaces ----------------------------------------------------

def read_db(data_dir: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows from a node's database, read-only (fine while the node runs: WAL).

    Polling this costs next to nothing; a ``hedgerow`` process per poll and
    node would cost the machine more than the nodes themselves.
    """
    conn = sqlite3.connect(f"file:{data_dir / 'hedgerow.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def current_ids(data_dir: Path) -> frozenset[bytes]:
    """The ids of the entries a node holds: its current set."""
    return frozenset(bytes(row[0]) for row in read_db(data_dir, "SELECT id FROM entries"))


def integrity(data_dir: Path) -> str:
    """``PRAGMA integrity_check`` of a node's database (``ok`` when sound)."""
    return "; ".join(str(row[0]) for row in read_db(data_dir, "PRAGMA integrity_check"))


@dataclass
class Member:
    """A node of the network under test: its namespace, data directory and process."""

    host: Host
    data_dir: Path
    node_id: str = ""
    process: Node | None = None

    @property
    def index(self) -> int:
        return self.host.index

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.alive


@dataclass(frozen=True)
class Publication:
    """Something a ``hedgerow`` command reported as published: the entry it signed."""

    author: int  # the member's index
    kind: str
    key: str
    version: int
    entry_id: bytes
    at: float  # time.monotonic() when the command returned


class Cluster:
    """A Hedgerow network on a :class:`Network`: one member per host, built as the README says.

    ``env``: settings for every ``hedgerow up`` (``HEDGEROW_…`` variables).
    """

    def __init__(self, net: Network, *, env: dict[str, str] | None = None) -> None:
        self.net = net
        self.env = env or {}
        self.members: list[Member] = []
        self.publications: list[Publication] = []

    def _ack(self, member: Member, signed: dict[str, Any]) -> Publication:
        publication = Publication(member.index, signed["kind"], signed["key"],
                                  int(signed["version"]), bytes.fromhex(signed["entry_id"]),
                                  time.monotonic())
        self.publications.append(publication)
        return publication

    def start(self, member: Member, *, timeout: float = 30.0) -> Node:
        member.process = self.net.start_node(member.host, member.data_dir, env=self.env,
                                             timeout=timeout)
        return member.process

    def build_chain(self, hosts: Sequence[Host], *, on_joined: Callable[[Member], None] | None
                    = None) -> list[Member]:
        """The README's steps: the first founds the network; each next joins with an
        invitation from the one before (``invite`` → ``init --join`` → ``up`` → ``profile
        publish`` once it has joined)."""
        def publish_profile(member: Member) -> None:
            self._ack(member, self.net.hedgerow_json(member.host, member.data_dir, "profile",
                                                     "publish"))

        # Each profile is published while the next node joins (on two cores,
        # that is a third of the time it takes to build the chain).
        with ThreadPoolExecutor(max_workers=1) as background:
            profiles: list[Future[None]] = []
            for host in hosts:
                member = Member(host, self.net.workdir / f"node-{host.index}")
                name = f"Group {host.index}"
                if not self.members:
                    done = self.net.hedgerow_json(host, member.data_dir, "init",
                                                  "--new-network", "--name", name,
                                                  "--level", "local")
                    member.node_id = done["node_id"]
                    publish_profile(member)
                    self.members.append(member)
                    self.start(member)
                else:
                    inviter = self.members[-1]
                    code = self.net.hedgerow_json(inviter.host, inviter.data_dir,
                                                  "invite")["invitation"]
                    done = self.net.hedgerow_json(host, member.data_dir, "init", "--join", code,
                                                  "--name", name, "--level", "neighbourhood")
                    member.node_id = done["node_id"]
                    self.members.append(member)
                    process = self.start(member)
                    process.wait_for("joined the network", timeout=30)
                    profiles.append(background.submit(publish_profile, member))
                if on_joined is not None:
                    on_joined(member)
            for future in profiles:
                future.result(timeout=HEDGEROW_TIMEOUT_S)
        return self.members

    def publish(self, member: Member, key: str) -> Publication:
        """A new practice, shared: ``record add`` and ``share publish``."""
        self.net.hedgerow(member.host, member.data_dir, "record", "add", "--key", key,
                          "--title", key.replace("-", " ").capitalize())
        return self._ack(member, self.net.hedgerow_json(member.host, member.data_dir, "share",
                                                        "publish", key))

    def kill(self, member: Member) -> None:
        assert member.process is not None
        member.process.kill()

    def live(self) -> list[Member]:
        return [m for m in self.members if m.running]

    def lacking(self, member: Member, publications: Sequence[Publication]) -> list[Publication]:
        """The publications ``member`` holds neither in the version published nor a newer one.

        A newer version of the same slot (the author's own later profile, for
        one) supersedes an entry: that is not a loss.
        """
        held = {(bytes(author), kind, key): int(version) for author, kind, key, version in
                read_db(member.data_dir, "SELECT author, kind, key, max(version) FROM entries "
                                         "GROUP BY author, kind, key")}
        ids = {m.index: id_from_text(m.node_id) for m in self.members}
        return [p for p in publications
                if held.get((ids[p.author], p.kind, p.key), -1) < p.version]

    def missing(self, publications: Sequence[Publication],
                members: Sequence[Member] | None = None) -> dict[int, int]:
        """Member index → how many of ``publications`` it lacks (only those lacking any)."""
        out = {}
        for member in self.live() if members is None else members:
            lacking = len(self.lacking(member, publications))
            if lacking:
                out[member.index] = lacking
        return out

    def wait_held(self, publications: Sequence[Publication], what: str, *,
                  timeout: float, members: Sequence[Member] | None = None) -> float:
        """Seconds until every member (default: the live ones) holds ``publications``."""
        last: dict[int, int] = {}

        def check() -> bool:
            last.clear()
            last.update(self.missing(publications, members))
            return not last

        try:
            return wait_until(check, what, timeout=timeout)
        except AssertionError as exc:
            by_index = {m.index: m for m in self.members}
            peers = {i: self.peer_count(by_index[i]) for i in last}
            raise AssertionError(f"{exc}; still lacking (node: entries): {last}; the peers "
                                 f"those nodes know (node: rows, of which synced ok): {peers}"
                                 ) from None

    def peer_count(self, member: Member) -> tuple[int, int]:
        """(rows in the member's peer book, rows whose last session went well)."""
        rows = read_db(member.data_dir, "SELECT last_outcome FROM peers")
        return len(rows), sum(1 for (outcome,) in rows if outcome == "ok")

    def same_sets(self, members: Sequence[Member] | None = None) -> bool:
        return len({current_ids(m.data_dir) for m in
                    (self.live() if members is None else members)}) == 1
