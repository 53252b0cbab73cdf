"""Installing a node as a systemd service, and removing it again.

``sudo hedgerow install-service`` (:func:`install_service`) does, in order:

1. **its own virtual environment** in ``/opt/hedgerow/venv``, with Hedgerow
   installed from wherever the running one came from (a clone: PEP 610's
   ``direct_url.json``), or from ``--source``. A hardened unit cannot run
   a program under ``/home`` or ``/root`` (``ProtectHome=yes``), so the
   service never runs the person's own install;
2. **the ``hedgerow`` system user**, declared in
   ``/usr/lib/sysusers.d/hedgerow.conf`` and created by ``systemd-sysusers``;
3. **the data directory** ``/var/lib/hedgerow`` (mode 0700) with a node in
   it, unless one is there already, and its first-run setup code;
4. **the unit** ``/etc/systemd/system/hedgerow.service`` (:func:`unit_text`):
   ``Type=notify`` with a watchdog, hardened so that ``systemd-analyze
   security`` rates it well below 2.5;
5. ``systemctl enable --now``, then the address of the first-run page and
   the setup code to type there.

``--root DIR`` writes the same files under ``DIR`` (for tests and packagers):
no venv unless asked, the user created by ``systemd-sysusers --root``,
the unit enabled with ``systemctl --root`` (a symlink), nothing started.

``uninstall-service`` (:func:`uninstall_service`) stops and disables the
unit and removes the unit, the sysusers file and ``/opt/hedgerow``; the data
directory and the user stay unless ``remove_data`` is given.

External commands run through a :data:`Runner` (tests record them); their
failures become one-line :class:`LocalProblem` errors.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlparse

from .errors import InvalidInput, LocalProblem

__all__ = [
    "DATA_DIR",
    "PREFIX",
    "SERVICE_NAME",
    "InstallPlan",
    "InstallReport",
    "Runner",
    "install_service",
    "install_source",
    "run_command",
    "service_python",
    "sysusers_text",
    "uninstall_service",
    "unit_text",
]

SERVICE_NAME: Final = "hedgerow.service"
PREFIX: Final = "/opt/hedgerow"
DATA_DIR: Final = "/var/lib/hedgerow"
USER: Final = "hedgerow"
#: Seconds between the watchdog pings systemd expects (the node pings twice as often).
WATCHDOG_S: Final = 60

Runner = Callable[[Sequence[str]], str]


def run_command(argv: Sequence[str]) -> str:
    """Run ``argv``; its output, or :class:`LocalProblem` with the last line of its errors."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                              timeout=900)
    except FileNotFoundError:
        raise LocalProblem(f"{argv[0]} is not installed on this machine") from None
    except subprocess.TimeoutExpired:
        raise LocalProblem(f"{' '.join(argv[:3])} took too long") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise LocalProblem(f"{' '.join(argv[:4])} failed: "
                           f"{lines[-1] if lines else f'exit code {done.returncode}'}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """Where everything goes. ``root`` is ``/`` for a real install."""

    root: Path = Path("/")
    prefix: str = PREFIX
    data_dir: str = DATA_DIR
    user: str = USER
    port: int = 8470

    def under_root(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def venv(self) -> str:
        return f"{self.prefix}/venv"

    @property
    def unit_path(self) -> Path:
        return self.under_root(f"/etc/systemd/system/{SERVICE_NAME}")

    @property
    def sysusers_path(self) -> Path:
        return self.under_root("/usr/lib/sysusers.d/hedgerow.conf")

    @property
    def real(self) -> bool:
        return self.root == Path("/")


def unit_text(plan: InstallPlan) -> str:
    """The systemd unit: ``hedgerow up`` as the ``hedgerow`` user, hardened.

    Each restriction is one the node does without: it needs its data
    directory, the network (IPv4/IPv6 for sync and the pages, Unix sockets
    for systemd's notifications, netlink to list the machine's addresses for
    mDNS), and nothing else. ``/media`` and ``/mnt`` stay writable for the
    second backup place (``backup_copy_dir``) on a USB stick or a share.
    """
    return f"""\
# The Hedgerow node, installed by `hedgerow install-service`.
# Remove it with `hedgerow uninstall-service` (the data stays unless told otherwise).
[Unit]
Description=Hedgerow node
Documentation=file://{plan.prefix}/README.md
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
NotifyAccess=main
WatchdogSec={WATCHDOG_S}
User={plan.user}
Group={plan.user}
Environment=HEDGEROW_DATA_DIR={plan.data_dir} PYTHONUNBUFFERED=1
# --create: a new data directory gets a node, set up on the first-run web page.
ExecStart={plan.venv}/bin/hedgerow up --create
# SIGTERM: the node finishes what it is writing and stops cleanly.
KillSignal=SIGTERM
# An upgrade may migrate (and first back up) the database before it is ready.
TimeoutStartSec=600
TimeoutStopSec=30
Restart=on-failure
RestartSec=5
StateDirectory={Path(plan.data_dir).name}
StateDirectoryMode=0700
UMask=0077
ReadWritePaths=-/media -/mnt
MemoryMax=512M

# What the node can do without: systemd-analyze security rates this about 1.1.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
PrivateMounts=yes
DevicePolicy=closed
ProtectSystem=strict
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
KeyringMode=private
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""


def sysusers_text(plan: InstallPlan) -> str:
    """The ``hedgerow`` system user, for ``systemd-sysusers`` (sysusers.d(5))."""
    return (f"# The Hedgerow node's user (hedgerow install-service).\n"
            f'u {plan.user} - "Hedgerow node" {plan.data_dir} /usr/sbin/nologin\n')


_HIDDEN_FROM_SERVICES: Final = ("/home/", "/root/", "/run/user/")


def _usable_python(candidate: str) -> bool:
    real = os.path.realpath(candidate)
    if not os.access(real, os.X_OK) or real.startswith(_HIDDEN_FROM_SERVICES):
        return False
    try:
        done = subprocess.run([candidate, "-c", "import sys, venv; "
                               "sys.exit(0 if sys.version_info >= (3, 11) else 1)"],
                              capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def service_python() -> str:
    """The Python the service's environment is made from.

    Not one under /home or /root (a pyenv, say): the hardened service cannot
    reach those (``ProtectHome=yes``), and the hedgerow user may not read them.
    The system's own Python 3.11+ first, else the one running now.
    """
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3",
                      getattr(sys, "_base_executable", sys.executable)):
        if _usable_python(candidate):
            return candidate
    raise LocalProblem("the service needs Python 3.11 or newer, with venv, outside /home and "
                       "/root (a hardened service cannot reach those): install the system's "
                       "(sudo apt install python3 python3-venv)")


def install_source() -> str | None:
    """Where the running Hedgerow was installed from: a folder (a clone) or a URL, if known."""
    try:
        raw = distribution("hedgerow").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    url = str(data.get("url", ""))
    if url.startswith("file://"):
        return unquote(urlparse(url).path)
    if "vcs_info" in data and url:
        return f"{data['vcs_info'].get('vcs', 'git')}+{url}"
    return url or None


@dataclass(slots=True)
class InstallReport:
    plan: InstallPlan
    steps: list[str] = field(default_factory=list)
    setup_code: str | None = None
    node_created: bool = False
    started: bool = False


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def _uid_gid(plan: InstallPlan) -> tuple[int, int] | None:
    """The user's ids, from the root's /etc/passwd (None when it is not there)."""
    if plan.real:
        try:
            entry = pwd.getpwnam(plan.user)
        except KeyError:
            return None
        return entry.pw_uid, entry.pw_gid
    passwd = plan.under_root("/etc/passwd")
    if not passwd.exists():
        return None
    for line in passwd.read_text(encoding="utf-8").splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[0] == plan.user:
            return int(parts[2]), int(parts[3])
    return None


def _chown_tree(path: Path, ids: tuple[int, int]) -> None:
    if os.geteuid() != 0:
        return  # only root can give files away (an unprivileged --root run)
    for here, dirs, files in os.walk(path):
        os.chown(here, *ids)
        for name in [*dirs, *files]:
            os.chown(os.path.join(here, name), *ids, follow_symlinks=False)


def _systemd_running(plan: InstallPlan) -> bool:
    return plan.real and Path("/run/systemd/system").is_dir()


def install_service(plan: InstallPlan, *, source: str | None, make_venv: bool,
                    run: Runner = run_command, now_ms: int, python: str | None = None,
                    log: Callable[[str], None] = lambda line: None) -> InstallReport:
    """Install the node as a service (see the module's docstring). Idempotent."""
    from .home import create_home
    from .store.datadir import DATABASE_FILE, KEY_FILE
    from .web.admin import AdminFile

    if plan.real and os.geteuid() != 0:
        raise LocalProblem("installing a service needs root: run `sudo hedgerow "
                           "install-service` (or give --root DIR to write the files there)")
    if plan.real and not shutil.which("systemctl"):
        raise LocalProblem("this machine has no systemd (systemctl is missing); run the node "
                           "with `hedgerow up`, or in a container (deploy/Containerfile)")
    report = InstallReport(plan)

    def step(text: str) -> None:
        report.steps.append(text)
        log(text)

    venv = plan.under_root(plan.venv)
    running_from_it = Path(sys.prefix).resolve() == venv.resolve()
    if make_venv and not running_from_it:
        where = source or install_source()
        if not where:
            raise InvalidInput("cannot tell where this Hedgerow was installed from: give "
                               "--source with the folder of its clone", field="source")
        plan.under_root(plan.prefix).mkdir(mode=0o755, parents=True, exist_ok=True)
        run([python or service_python(), "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "--quiet", "--upgrade", where])
        readme = Path(where) / "README.md"
        if readme.is_file():  # the unit's Documentation=
            shutil.copyfile(readme, plan.under_root(f"{plan.prefix}/README.md"))
        step(f"installed Hedgerow from {where} into {venv}")

    _write(plan.sysusers_path, sysusers_text(plan), 0o644)
    if shutil.which("systemd-sysusers"):
        if plan.real:
            run(["systemd-sysusers", str(plan.sysusers_path)])
        else:
            plan.under_root("/etc").mkdir(parents=True, exist_ok=True)
            run(["systemd-sysusers", f"--root={plan.root}", str(plan.sysusers_path)])
    elif plan.real and _uid_gid(plan) is None:
        run(["useradd", "--system", "--home-dir", plan.data_dir, "--shell",
             "/usr/sbin/nologin", plan.user])
    step(f"the {plan.user} system user")

    data_dir = plan.under_root(plan.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if not (data_dir / KEY_FILE).exists() and not (data_dir / DATABASE_FILE).exists():
        create_home(data_dir, invitation=None, nonce=os.urandom(16), seed=os.urandom(32),
                    now_ms=now_ms)
        report.node_created = True
        step(f"a new node in {data_dir}")
    else:
        step(f"kept the node already in {data_dir}")
    state = AdminFile(data_dir).ensure_setup_code()
    report.setup_code = None if state.claimed else state.setup_code
    ids = _uid_gid(plan)
    if ids is not None:
        _chown_tree(data_dir, ids)

    _write(plan.unit_path, unit_text(plan), 0o644)
    step(f"the unit {plan.unit_path}")
    if plan.real:
        if not _systemd_running(plan):
            raise LocalProblem(f"the files are installed, but systemd is not running on this "
                               f"machine, so the service cannot start; start the node by hand: "
                               f"sudo -u {plan.user} HEDGEROW_DATA_DIR={plan.data_dir} "
                               f"{plan.venv}/bin/hedgerow up")
        run(["systemctl", "daemon-reload"])
        run(["systemctl", "enable", "--now", SERVICE_NAME])
        report.started = True
        step("enabled and started it")
    else:
        run(["systemctl", f"--root={plan.root}", "enable", SERVICE_NAME])
        step("enabled it (not started: --root)")
    return report


def uninstall_service(plan: InstallPlan, *, remove_data: bool, run: Runner = run_command,
                      log: Callable[[str], None] = lambda line: None) -> list[str]:
    """Stop, disable and remove the service; the data (and its user) stay unless asked."""
    if plan.real and os.geteuid() != 0:
        raise LocalProblem("removing a service needs root: run `sudo hedgerow "
                           "uninstall-service`")
    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(text)
        log(text)

    if plan.unit_path.exists():
        if _systemd_running(plan):
            run(["systemctl", "disable", "--now", SERVICE_NAME])
            done = "stopped, disabled and removed"
        elif not plan.real:
            run(["systemctl", f"--root={plan.root}", "disable", SERVICE_NAME])
            done = "disabled and removed"
        else:
            done = "removed (systemd is not running here)"
        plan.unit_path.unlink()
        if _systemd_running(plan):
            run(["systemctl", "daemon-reload"])
        step(f"{done} {plan.unit_path}")
    prefix = plan.under_root(plan.prefix)
    if prefix.exists():
        shutil.rmtree(prefix)
        step(f"removed {prefix}")
    data_dir = plan.under_root(plan.data_dir)
    if remove_data:
        if data_dir.exists():
            shutil.rmtree(data_dir)
            step(f"removed the data in {data_dir}")
        plan.sysusers_path.unlink(missing_ok=True)
        if _uid_gid(plan) is not None:
            run(["userdel", *(["--prefix", str(plan.root)] if not plan.real else []),
                 plan.user])
            step(f"removed the {plan.user} user")
    elif data_dir.exists():
        step(f"kept the data in {data_dir} (and the {plan.user} user that owns it)")
    return steps
