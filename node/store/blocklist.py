"""The blocklist: nodes whose requests get 403 and whose entries are neither stored nor relayed.

Blocking is local to each node (DESIGN.md "Membership"). The table
(``blocked``, migration ``m004_peers``) belongs to the store because the
store drops a blocked node's entries and refuses new ones; the sync layer
reads it to refuse the node's requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import NotFound
from .connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["block_node", "blocked_nodes", "is_blocked", "unblock_node"]


def block_node(db: sqlite_utils.Database, node_id: bytes, *, now_ms: int,
               note: str = "") -> None:
    """Block a node: its requests get 403; its entries are removed and refused."""
    with write_transaction(db) as conn:
        conn.execute("INSERT OR REPLACE INTO blocked (node_id, blocked_ms, note) "
                     "VALUES (?, ?, ?)", (node_id, now_ms, note[:200]))
        conn.execute("DELETE FROM peers WHERE node_id = ? AND pinned = 0", (node_id,))


def unblock_node(db: sqlite_utils.Database, node_id: bytes) -> None:
    with write_transaction(db) as conn:
        if conn.execute("DELETE FROM blocked WHERE node_id = ?", (node_id,)).rowcount == 0:
            raise NotFound("that node is not blocked")


def blocked_nodes(db: sqlite_utils.Database) -> list[bytes]:
    return [r[0] for r in db.execute("SELECT node_id FROM blocked ORDER BY blocked_ms")]


def is_blocked(db: sqlite_utils.Database, node_ids: Iterable[bytes]) -> set[bytes]:
    ids = list(set(node_ids))
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    return {r[0] for r in db.execute(f"SELECT node_id FROM blocked WHERE node_id IN ({marks})",
                                     ids)}
