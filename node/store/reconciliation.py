"""The reconciliation sets: this node's current entries as sealed Negentropy storage.

Two sets are reconciled (protocol/messages.py): ``all`` current entries, and
the ``members`` set — the genesis and the admissions, current or withdrawn —
which a session reconciles first, so that it knows the members before it
takes in their entries (DESIGN.md "Membership").

Reading 100,000 (version, id) pairs and building prefix sums takes a good
part of a second, and every reconcile request — ours and every peer's —
needs the set. So the sealed storage is cached and rebuilt only when the
``entries_generation`` counter (bumped by the code that changes ``entries``,
in this process or another) says the set changed. The counter and the set
are read in one snapshot, so the cache can never label a set with a
generation it does not have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

from protocol import NegentropyStorage

from . import ingest
from .database import Database

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["READERS", "ReconciliationSet", "all_set", "members_set"]


def members_set(db: sqlite_utils.Database) -> Iterator[tuple[int, bytes]]:
    """The genesis and admissions (and their withdrawals) as (version, id), sorted.

    Read off the partial index ``entries_membership`` (migration m008), row by row.
    """
    return iter(db.conn.execute(
        "SELECT version, id FROM entries INDEXED BY entries_membership "
        "WHERE family IN ('genesis', 'admit') ORDER BY version, id"))


def all_set(db: sqlite_utils.Database) -> Iterator[tuple[int, bytes]]:
    """Every current entry as (version, id), sorted, row by row (off the covering index)."""
    return iter(db.conn.execute("SELECT version, id FROM entries ORDER BY version, id"))


#: Each set's rows, streamed: the storage is packed as they are read, so a million
#: entries never stand in memory as a million Python tuples (protocol/negentropy.py).
READERS = {"all": all_set, "members": members_set}


def _generation_and_storage(db: sqlite_utils.Database,
                            set_name: str) -> tuple[int, NegentropyStorage]:
    return ingest.entries_generation(db), NegentropyStorage.from_sorted(READERS[set_name](db))


class ReconciliationSet:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cached: dict[str, tuple[int, NegentropyStorage]] = {}
        self._lock = asyncio.Lock()

    async def storage(self, set_name: str = "all") -> NegentropyStorage:
        """One of the sets, sealed; cheap when nothing changed since the last call."""
        if set_name not in READERS:
            raise ValueError(f"no reconciliation set {set_name!r}")
        generation = await self._db.read(ingest.entries_generation)
        cached = self._cached.get(set_name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        async with self._lock:
            cached = self._cached.get(set_name)
            if cached is not None and cached[0] == generation:
                return cached[1]
            # The old copy goes first: while a node catches up its set changes at every
            # session, and two copies of a large set need not stand side by side.
            self._cached.pop(set_name, None)
            # Read and packed on the reader thread: off the event loop.
            generation, storage = await self._db.read(_generation_and_storage, set_name)
            self._cached[set_name] = (generation, storage)
            return storage
