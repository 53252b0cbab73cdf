"""Telling systemd how the node is: ready, stopping, and alive (``Type=notify`` with a watchdog).

The notification protocol is a datagram of ``KEY=VALUE`` lines sent to the
Unix socket named by ``$NOTIFY_SOCKET`` (sd_notify(3)); an address that
starts with ``@`` is in the abstract namespace. It is a few lines, so it is
written here rather than taken from a library: the pure-Python packages
for it are unmaintained, and the binding to libsystemd needs a compiler and
the library's headers on the Pi.

* ``READY=1`` once the node listens (systemd then counts it as started);
* ``STOPPING=1`` when it begins to stop;
* ``WATCHDOG=1`` every half ``$WATCHDOG_USEC``, but only while the node is
  healthy: the event loop runs (the ping is sent from it) and the database
  answers a read within the interval. A node that hangs stops pinging, and
  systemd restarts it (``WatchdogSec=`` in the unit, ``Restart=on-failure``).

Outside systemd (no ``$NOTIFY_SOCKET``) all of this does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["Watchdog", "notify", "watchdog_interval_s"]

log = logging.getLogger(__name__)


def notify(message: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` to systemd; False when not run by systemd (or it cannot be told)."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("could not notify systemd: %s", exc.strerror or exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or None if there is none."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None  # the watchdog is meant for another process
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class Watchdog:
    """Pings systemd's watchdog while ``healthy()`` says so, from a task it owns."""

    def __init__(self, healthy: Callable[[], Awaitable[bool]], interval_s: float, *,
                 environ: Mapping[str, str] | None = None) -> None:
        self.healthy, self.interval_s, self.environ = healthy, interval_s, environ
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="hedgerow-watchdog")

    async def _loop(self) -> None:
        while True:
            try:
                ok = await asyncio.wait_for(self.healthy(), self.interval_s)
            except Exception:  # a check that fails or hangs is a missed ping, not a crash
                ok = False
            if ok:
                notify("WATCHDOG=1", environ=self.environ)
            else:
                log.warning("the node is not healthy: not pinging systemd's watchdog")
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
