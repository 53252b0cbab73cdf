"""The reconciliation set: this node's current entries as sealed Negentropy storage.

Reading 100,000 (version, id) pairs and building prefix sums takes a good
part of a second, and every reconcile request — ours and every peer's —
needs the set. So the sealed storage is cached and rebuilt only when the
``entries_generation`` counter (bumped by triggers on every change to
``entries``, in this process or another) says the set changed. The counter
and the set are read in one snapshot, so the cache can never label a set
with a generation it does not have.
"""

from __future__ import annotations

import asyncio

import sqlite_utils

from protocol import NegentropyStorage

from . import ingest
from .database import Database

__all__ = ["ReconciliationSet"]


def _generation_and_set(db: sqlite_utils.Database) -> tuple[int, list[tuple[int, bytes]]]:
    return ingest.entries_generation(db), ingest.current_set(db)


class ReconciliationSet:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cached: tuple[int, NegentropyStorage] | None = None
        self._lock = asyncio.Lock()

    async def storage(self) -> NegentropyStorage:
        """The current set, sealed; cheap when nothing changed since the last call."""
        generation = await self._db.read(ingest.entries_generation)
        cached = self._cached
        if cached is not None and cached[0] == generation:
            return cached[1]
        async with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == generation:
                return cached[1]
            generation, items = await self._db.read(_generation_and_set)
            # Building prefix sums is CPU work: keep it off the event loop.
            storage = await asyncio.to_thread(NegentropyStorage.from_sorted, items)
            self._cached = (generation, storage)
            return storage
