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
from typing import TYPE_CHECKING

from protocol import NegentropyStorage

from . import ingest
from .database import Database

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["ReconciliationSet", "members_set"]


def members_set(db: sqlite_utils.Database) -> list[tuple[int, bytes]]:
    """The genesis and admissions (and their withdrawals) as (version, id), sorted.

    Read off the partial index ``entries_membership`` (migration m008).
    """
    return db.conn.execute(
        "SELECT version, id FROM entries INDEXED BY entries_membership "
        "WHERE family IN ('genesis', 'admit') ORDER BY version, id").fetchall()


_READERS = {"all": ingest.current_set, "members": members_set}


def _generation_and_set(db: sqlite_utils.Database,
                        set_name: str) -> tuple[int, list[tuple[int, bytes]]]:
    return ingest.entries_generation(db), _READERS[set_name](db)


class ReconciliationSet:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cached: dict[str, tuple[int, NegentropyStorage]] = {}
        self._lock = asyncio.Lock()

    async def storage(self, set_name: str = "all") -> NegentropyStorage:
        """One of the sets, sealed; cheap when nothing changed since the last call."""
        if set_name not in _READERS:
            raise ValueError(f"no reconciliation set {set_name!r}")
        generation = await self._db.read(ingest.entries_generation)
        cached = self._cached.get(set_name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        async with self._lock:
            cached = self._cached.get(set_name)
            if cached is not None and cached[0] == generation:
                return cached[1]
            generation, items = await self._db.read(_generation_and_set, set_name)
            # Building prefix sums is CPU work: keep it off the event loop.
            storage = await asyncio.to_thread(NegentropyStorage.from_sorted, items)
            self._cached[set_name] = (generation, storage)
            return storage
