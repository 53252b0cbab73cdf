"""Answering reconcile frames in a worker process, so that they never stall the event loop.

A reconcile frame from a peer may hold thousands of ranges; answering it
is pure-Python CPU work (tens of milliseconds for a 200 KiB frame). On the
event loop that delays every other request; on a thread it still holds the
GIL most of the time. So the server hands the frame to a separate Python
process (:class:`ReconcileWorker`), which reads this node's current set
from the database itself (read-only, cached by the ``entries_generation``
counter, like :class:`node.store.reconciliation.ReconciliationSet`), answers,
and reports the CPU time the answer cost (the server charges it to the peer:
:class:`node.sync.limits.WorkBudget`).

The worker runs at a lower scheduling priority (``nice`` 10), so that on a
busy machine the node's own process goes first. It exists only while there
is work: it is started by the first frame, answers frames one at a time
over pipes (a 4-byte length, then a msgpack message each way), and exits by
itself after :data:`IDLE_S` seconds without a frame, so an idle node has no
worker process. If it dies, the
frame in hand is answered 503 and the next frame starts a new one.

Run as ``python -m node.sync.reconcile_worker DATABASE FRAME_LIMIT IDLE_S``
(only :class:`ReconcileWorker` does that).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import struct
import sys
import time
from pathlib import Path
from typing import Final

import msgpack

from protocol import PeerError, ReconcileError, answer_reconcile
from protocol.messages import MAX_REPLY_FRAME, MAX_REQUEST_BYTES, RECONCILE_SETS

from ..errors import LocalProblem

__all__ = ["IDLE_S", "ReconcileWorker", "WorkerGone"]

#: A worker with no frame for this long exits (and the next frame starts another).
IDLE_S: Final = 20.0
#: A frame's answer that takes longer than this means the worker is stuck: it is killed.
ANSWER_TIMEOUT_S: Final = 30.0
_LENGTH: Final = struct.Struct(">I")
#: The largest answer: a full frame for each set, and the framing around them.
_MAX_REPLY: Final = len(RECONCILE_SETS) * MAX_REPLY_FRAME + 64 * 1024


class WorkerGone(LocalProblem):
    """The worker process ended or stalled while answering (the server answers 503)."""


class ReconcileWorker:
    """The node side: start the worker when needed, send it frames, read its answers."""

    def __init__(self, database: Path, *, frame_size_limit: int, idle_s: float = IDLE_S) -> None:
        self.database, self.frame_size_limit, self.idle_s = database, frame_size_limit, idle_s
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self.started = 0  # how many worker processes this node has started

    @property
    def pid(self) -> int | None:
        """The running worker's process id, or None when there is none."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def answer(self, body: bytes) -> tuple[bytes, float]:
        """The reply to a reconcile request body, and the CPU seconds it cost.

        Raises :class:`protocol.PeerError` for a bad frame, :class:`WorkerGone`
        if the worker could not answer.
        """
        async with self._lock:  # one frame at a time: one core for reconciliation
            for attempt in (1, 2):
                process = await self._running()
                try:
                    return await self._exchange(process, body)
                except (ConnectionError, asyncio.IncompleteReadError, BrokenPipeError):
                    # It may have just exited for being idle: start another, once.
                    await self._reap()
                    if attempt == 2:
                        raise WorkerGone("the reconciliation worker ended unexpectedly") \
                            from None
                except TimeoutError:
                    await self._kill()
                    raise WorkerGone("the reconciliation worker took too long") from None
        raise AssertionError("unreachable")

    async def _exchange(self, process: asyncio.subprocess.Process,
                        body: bytes) -> tuple[bytes, float]:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(_LENGTH.pack(len(body)) + body)
        await process.stdin.drain()
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            (size,) = _LENGTH.unpack(await process.stdout.readexactly(_LENGTH.size))
            if size > _MAX_REPLY:
                raise ConnectionError("an answer larger than any reply")
            answer = msgpack.unpackb(await process.stdout.readexactly(size), raw=False)
        status, payload, cpu = answer
        if status == "ok":
            return bytes(payload), float(cpu)
        code, message = payload
        raise ReconcileError(str(message), code=str(code))

    async def _running(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is not None and process.returncode is None:
            return process
        await self._reap()
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "node.sync.reconcile_worker", str(self.database),
            str(self.frame_size_limit), str(self.idle_s),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            # A process group of its own: Ctrl-C in the terminal is for the node,
            # which ends its worker itself (closing its input, or killing it); the
            # worker neither sees the interrupt nor prints a traceback of it.
            process_group=0)
        self.started += 1
        return self._process

    async def _reap(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await process.wait()
                return
        await self._kill_process(process)

    async def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            await self._kill_process(process)

    @staticmethod
    async def _kill_process(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def close(self) -> None:
        """End the worker, if there is one (closing its input makes it exit)."""
        async with self._lock:
            await self._reap()


# --- the worker process ------------------------------------------------------------------


def _read_exact(fd: int, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def serve(database: Path, frame_size_limit: int, idle_s: float) -> None:
    """The worker's loop: frames in on stdin, answers out on stdout, until idle or closed."""
    # Imported here: the node process never needs them for this module.
    from protocol import NegentropyStorage
    from protocol.messages import decode_reconcile_request

    from ..store.connection import connect, read_snapshot
    from ..store.ingest import entries_generation
    from ..store.reconciliation import READERS as readers

    # Background work: when the machine is busy, the node's own process (its pages,
    # its other peers) goes first. A Pi has few cores to share.
    with contextlib.suppress(OSError):
        os.nice(10)
    db = connect(database)
    db.conn.execute("PRAGMA query_only = ON")
    # Each set (node/store/reconciliation.py), as of the generation it was read at.
    cached: dict[str, tuple[int, NegentropyStorage]] = {}
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    try:
        while True:
            ready, _, _ = select.select([stdin], [], [], idle_s)
            if not ready:
                return  # idle: exit, so that an idle node has no worker
            head = _read_exact(stdin, _LENGTH.size)
            if head is None:
                return  # the node closed the pipe
            (size,) = _LENGTH.unpack(head)
            body = _read_exact(stdin, size) if size <= MAX_REQUEST_BYTES else None
            if body is None:
                return
            try:
                # The client asks for the frame it wants; this node's own limit caps it
                # (protocol/messages.py: frames are negotiated in each request).
                messages, frame = decode_reconcile_request(body)
                with read_snapshot(db):
                    generation = entries_generation(db)
                    for name in messages:
                        held = cached.get(name)
                        if held is None or held[0] != generation:
                            cached.pop(name, None)  # one copy of a large set at a time
                            cached[name] = (generation,
                                            NegentropyStorage.from_sorted(readers[name](db)))
                # The peer pays for its frames, not for this node's sets having changed.
                started = time.process_time()
                storages = {name: cached[name][1] for name in messages}
                reply: list[object] = ["ok", answer_reconcile(
                    storages, messages, frame_size_limit=min(frame, frame_size_limit))]
            except PeerError as exc:
                started = time.process_time()
                reply = ["error", [exc.code, exc.message]]
            answer = msgpack.packb([*reply, time.process_time() - started], use_bin_type=True)
            _write_all(stdout, _LENGTH.pack(len(answer)) + answer)
    finally:
        db.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
