"""How far the node has got catching up with the network, as the store keeps it.

One row in ``catch_up`` (migration ``m060_catch_up``), written by the running
node's sync client (node/sync/progress.py) every few seconds while it
catches up and once when it is done, and read by ``hedgerow status`` and the
pages, which may run in another process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["CatchUpState", "read_catch_up", "record_catch_up"]


@dataclass(frozen=True, slots=True)
class CatchUpState:
    """The last (or current) catch-up: entries held and expected, and how fast."""

    state: str  # "catching_up" | "caught_up"
    started_ms: int
    updated_ms: int
    finished_ms: int | None
    held: int  # entries this node holds
    expected: int  # entries the peers hold, as far as it knows
    received: int  # entries taken in since the catch-up began
    per_s: float  # entries a second, over the catch-up so far
    peers: int  # peers it fetched from

    @property
    def catching_up(self) -> bool:
        return self.state == "catching_up"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def record_catch_up(db: sqlite_utils.Database, state: CatchUpState) -> None:
    with write_transaction(db) as conn:
        conn.execute("INSERT OR REPLACE INTO catch_up (only_row, state, started_ms, updated_ms, "
                     "finished_ms, held, expected, received, per_s, peers) "
                     "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (state.state, state.started_ms, state.updated_ms, state.finished_ms,
                      state.held, state.expected, state.received, state.per_s, state.peers))


def read_catch_up(db: sqlite_utils.Database) -> CatchUpState | None:
    row = db.conn.execute("SELECT state, started_ms, updated_ms, finished_ms, held, expected, "
                          "received, per_s, peers FROM catch_up").fetchone()
    return CatchUpState(*row) if row else None
