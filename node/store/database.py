"""The async facade over the node database: one writer thread, one reader thread.

All SQL lives in synchronous functions that take a sqlite-utils
:class:`sqlite_utils.Database` (datasette's pattern, DESIGN.md "node/ keeps
SQL in one place"). This facade runs them off the event loop:

* ``await db.write(fn, *args)`` runs ``fn(writer_db, *args)`` on the single
  writer thread, which owns the only writing connection. Writes queue up
  behind each other in the thread's FIFO, and each takes ``BEGIN
  IMMEDIATE`` (:func:`node.store.connection.write_transaction`), so concurrent
  callers never see "database is locked" — and a second process (the CLI
  beside a running node) waits out ``busy_timeout`` instead.
* ``await db.read(fn, *args)`` runs ``fn(reader_db, *args)`` on a reader
  thread with its own ``query_only`` connection inside one read
  transaction: a consistent snapshot, never blocked by the writer (WAL).

The executors belong to this object and are shut down by :meth:`close`;
the facade starts no task that nobody awaits.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from ..errors import LocalProblem
from .connection import connect, database_problem, open_database, read_snapshot

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["Database"]

P = ParamSpec("P")
T = TypeVar("T")


def _open_reader(path: Path) -> sqlite_utils.Database:
    db = connect(path)
    # A read function that tries to write fails loudly instead of bypassing
    # the single writer.
    db.conn.execute("PRAGMA query_only = ON")
    return db


def _run_read(fn: Callable[..., T], db: sqlite_utils.Database, *args: object,
              **kwargs: object) -> T:
    with read_snapshot(db):
        return fn(db, *args, **kwargs)


class Database:
    """One node database, written by one thread and read by another."""

    def __init__(self, path: Path, writer: ThreadPoolExecutor, writer_db: sqlite_utils.Database,
                 reader: ThreadPoolExecutor, reader_db: sqlite_utils.Database) -> None:
        self.path = path
        self._writer, self._writer_db = writer, writer_db
        self._reader, self._reader_db = reader, reader_db
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open, check and migrate the database at ``path`` (see :func:`open_database`)."""
        loop = asyncio.get_running_loop()
        writer = ThreadPoolExecutor(1, thread_name_prefix="hedgerow-db-writer")
        reader = ThreadPoolExecutor(1, thread_name_prefix="hedgerow-db-reader")
        writer_db: sqlite_utils.Database | None = None
        try:
            writer_db = await loop.run_in_executor(writer, open_database, path)
            reader_db = await loop.run_in_executor(reader, _open_reader, path)
        except BaseException:
            if writer_db is not None:
                await loop.run_in_executor(writer, writer_db.close)
            writer.shutdown()
            reader.shutdown()
            raise
        return cls(path, writer, writer_db, reader, reader_db)

    def _check_open(self) -> None:
        if self._closed:
            raise LocalProblem("the database has been closed")

    async def write(self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], /,
                    *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(db, *args, **kwargs)`` on the writer thread and return its result.

        A full disk, a permission or a damaged file becomes a
        :class:`LocalProblem` that says so (the transaction is rolled back).
        """
        self._check_open()
        call = functools.partial(fn, self._writer_db, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, call)
        except sqlite3.Error as exc:
            raise self._problem(exc) from exc

    async def read(self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], /,
                   *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(db, *args, **kwargs)`` on the reader thread, in one read snapshot."""
        self._check_open()
        call = functools.partial(_run_read, fn, self._reader_db, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader, call)
        except sqlite3.Error as exc:
            # A read that writes hits the reader's query_only: a bug, kept as it is.
            raise self._problem(exc, reading=True) from exc

    def _problem(self, exc: sqlite3.Error, *, reading: bool = False) -> BaseException:
        """The error to raise for ``exc``: what it means for a person, or itself (a bug)."""
        if reading and getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY:
            return exc
        return database_problem(self.path, exc) or exc

    async def close(self) -> None:
        """Finish queued work, close both connections and stop both threads."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._writer_db.close)
            await loop.run_in_executor(self._reader, self._reader_db.close)
        finally:
            self._writer.shutdown()
            self._reader.shutdown()
