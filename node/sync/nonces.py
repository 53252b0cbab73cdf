"""Replay protection that survives a restart: nonces in memory, written through to SQLite.

Signature verification (:func:`protocol.verify_hedgerow`) is synchronous
and asks one question per request: has this nonce been seen? The answer
comes from memory (:class:`protocol.NonceCache`, bounded, pruned by expiry),
which :meth:`PersistentNonces.load` fills from the database when the node
starts. Every nonce newly accepted is also queued for the database;
:meth:`PersistentNonces.persist` writes the queue and returns once this
request's nonce is on disk, and the server calls it before acting on the
request. Concurrent requests share one write (group commit): a request
waits at most for the write in progress and then the one carrying its nonce.
"""

from __future__ import annotations

import asyncio
import contextlib

from protocol import NonceCache

from ..store import nonces as nonce_table
from ..store.database import Database

__all__ = ["PersistentNonces"]


class PersistentNonces:
    """A :class:`protocol.NonceCache` whose nonces are also kept in the node's database."""

    def __init__(self, db: Database, *, max_entries: int = 16384) -> None:
        self._db = db
        self._memory = NonceCache(max_entries)
        self._pending: list[tuple[str, int]] = []
        self._now_s = 0
        self._writing: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._memory)

    async def load(self, now_s: int) -> None:
        """Remember the nonces still live in the database (call once, at start)."""
        for nonce, expires in await self._db.read(nonce_table.live_nonces, now_s=now_s):
            self._memory.seen_or_add(nonce, expires, now_s)

    def seen_or_add(self, nonce: str, expires: int, now: int) -> bool:
        """For :func:`protocol.verify_hedgerow`: True if seen; else remember it."""
        seen = self._memory.seen_or_add(nonce, expires, now)
        if not seen and expires >= now:
            self._pending.append((nonce, expires))
            self._now_s = max(self._now_s, now)
        return seen

    async def persist(self) -> None:
        """Return once every nonce accepted so far is in the database."""
        while self._pending or self._writing is not None:
            if self._writing is not None:
                # A write is under way; ours may not be in it: wait, then look again
                # (a failed write left its nonces queued for the next try).
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._writing)
                continue
            batch, self._pending = self._pending, []
            writing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._writing = writing
            try:
                await self._db.write(nonce_table.remember_nonces, batch, now_s=self._now_s)
            except BaseException as exc:
                self._pending[:0] = batch  # not written: the next caller tries again
                writing.set_exception(exc)
                writing.exception()  # retrieved here: waiters get it from their own await
                raise
            finally:
                self._writing = None
                if not writing.done():
                    writing.set_result(None)
            return
