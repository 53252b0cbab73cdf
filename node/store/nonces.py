"""The nonces of accepted request signatures, kept across restarts (table ``seen_nonces``).

A signed sync request stays fresh for a few minutes; within them, only its
nonce tells a replay from the original. The sync layer keeps the nonces in
memory for speed (:mod:`node.sync.nonces`) and writes each here before it
acts on the request, so a node restarted within those minutes still knows
them. Each row is kept until its signature could no longer pass anyway
(``expires``), and pruned after that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["live_nonces", "remember_nonces"]


def remember_nonces(db: sqlite_utils.Database, nonces: Sequence[tuple[str, int]], *,
                    now_s: int) -> None:
    """Store ``(nonce, expires)`` pairs, and forget those expired before ``now_s``."""
    with write_transaction(db) as conn:
        conn.executemany("INSERT OR IGNORE INTO seen_nonces (nonce, expires) VALUES (?, ?)",
                         nonces)
        conn.execute("DELETE FROM seen_nonces WHERE expires < ?", (now_s,))


def live_nonces(db: sqlite_utils.Database, *, now_s: int) -> list[tuple[str, int]]:
    """The nonces whose signatures could still pass at ``now_s``."""
    return [(str(n), int(e)) for n, e in db.execute(
        "SELECT nonce, expires FROM seen_nonces WHERE expires >= ? ORDER BY expires",
        (now_s,))]
