"""The node's own state: identity, network, its hybrid logical clock, catch-up.

One row in ``node_state``. The clock's memory is ``highest_own_version``:
the highest version this node has used *or seen of itself* (own entries
that come back from peers count too), so :func:`protocol.next_version`
never issues a version the node has used before, even when the wall clock
runs behind (DESIGN.md "Entry identity and versions").

A restore from a backup cannot know what the node published after the
backup was taken, so it sets ``needs_catch_up``: publishing is refused
until the node has fetched its own entries back from a peer (the sync layer
records each completed session with :func:`record_catch_up_session`, which
releases the node once enough peers answered — see :func:`catch_up_release`)
or a person says explicitly that nothing newer exists.

The row also keeps what the running node announces in its profile
(:class:`Announced`): the CLI, which runs in another process, reads it for
``hedgerow invite`` and ``hedgerow profile show``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..errors import InvalidInput, NeedsCatchUp, NotInitialised, WrongNode
from .connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "CATCH_UP_MESSAGE",
    "CATCH_UP_PEERS",
    "Announced",
    "CatchUp",
    "NodeState",
    "adopt_network",
    "catch_up_release",
    "create_node_state",
    "mark_caught_up",
    "mark_needs_catch_up",
    "raise_highest_own_version",
    "read_announced",
    "read_catch_up",
    "read_node_state",
    "record_catch_up_session",
    "refuse_if_needs_catch_up",
    "write_announced",
]

#: Distinct peers a restored node completes sessions with before it may publish
#: (fewer when it knows fewer), unless one of them held its own entries.
CATCH_UP_PEERS: Final = 3

CATCH_UP_MESSAGE = (
    "this node was restored from a backup and may have published entries the backup does "
    "not hold; before it publishes again it must catch up on its own entries from a peer. "
    "Sync with a peer (`hedgerow sync`), or, if you are sure this node never published "
    "after the backup was made, run `hedgerow caught-up`"
)


@dataclass(frozen=True, slots=True)
class NodeState:
    node_id: bytes
    network: bytes
    created_ms: int
    highest_own_version: int
    needs_catch_up: bool
    restored_ms: int | None
    #: How the last catch-up ended ("" if the node never needed one).
    caught_up_why: str = ""


def read_node_state(db: sqlite_utils.Database) -> NodeState:
    row = db.conn.execute(
        "SELECT node_id, network, created_ms, highest_own_version, needs_catch_up, "
        "restored_ms, caught_up_why FROM node_state").fetchone()
    if row is None:
        raise NotInitialised("the database holds no node; create one with `hedgerow init`")
    return NodeState(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6])


def create_node_state(db: sqlite_utils.Database, *, node_id: bytes, network: bytes,
                      now_ms: int) -> NodeState:
    with write_transaction(db) as conn:
        if conn.execute("SELECT 1 FROM node_state").fetchone() is not None:
            raise WrongNode("this database already belongs to a node")
        conn.execute("INSERT INTO node_state (only_row, node_id, network, created_ms) "
                     "VALUES (1, ?, ?, ?)", (node_id, network, now_ms))
        conn.execute("INSERT INTO organisation (only_row) VALUES (1)")
    return read_node_state(db)


def raise_highest_own_version(conn: sqlite3.Connection, version: int) -> None:
    """Remember that the node has used or seen ``version`` of itself (call inside a write)."""
    conn.execute("UPDATE node_state SET highest_own_version = max(highest_own_version, ?)",
                 (version,))


def refuse_if_needs_catch_up(state: NodeState) -> None:
    if state.needs_catch_up:
        raise NeedsCatchUp(CATCH_UP_MESSAGE)


def mark_needs_catch_up(db: sqlite_utils.Database, *, highest_known: int, now_ms: int) -> None:
    """After a restore: refuse to publish until caught up; keep the clock's memory.

    ``highest_known`` is the highest own version known before the restore
    (0 if the old database was lost); the clock keeps the larger of it, of
    the restored row, and of the own entries the restored database holds.
    """
    with write_transaction(db) as conn:
        conn.execute("DELETE FROM catch_up_sessions")
        conn.execute(
            "UPDATE node_state SET needs_catch_up = 1, restored_ms = ?, caught_up_why = '', "
            "highest_own_version = max(highest_own_version, ?, "
            "  coalesce((SELECT max(version) FROM entries WHERE author = node_state.node_id), 0))",
            (now_ms, highest_known),
        )


def mark_caught_up(db: sqlite_utils.Database, why: str = "a person said so") -> None:
    """The node holds its own latest entries again: allow publishing."""
    with write_transaction(db) as conn:
        conn.execute("UPDATE node_state SET needs_catch_up = 0, caught_up_why = ? "
                     "WHERE needs_catch_up = 1", (why,))
        conn.execute("DELETE FROM catch_up_sessions")


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A restored node's progress: the peers it completed sessions with since."""

    peers: int  # distinct peers
    held_own: int  # of those, how many held at least one of its own entries


def read_catch_up(db: sqlite_utils.Database) -> CatchUp:
    peers, held = db.conn.execute(
        "SELECT count(*), coalesce(sum(held_own > 0), 0) FROM catch_up_sessions").fetchone()
    return CatchUp(peers, held)


def catch_up_release(progress: CatchUp, peers_known: int, *, held_by: str = "") -> str | None:
    """Why a restored node may publish again, or None while it may not.

    A peer that held any of the node's own entries has synced with it since
    the backup was made, so it holds its latest ones as well as anyone; else
    the node waits for sessions with :data:`CATCH_UP_PEERS` distinct peers
    (or every peer it knows, if fewer), so that one peer that never heard of
    it cannot release it.
    """
    if progress.held_own:
        return f"{held_by or 'a peer'} held this node's own entries"
    needed = max(1, min(CATCH_UP_PEERS, peers_known))
    if progress.peers >= needed:
        plural = "s" if progress.peers != 1 else ""
        return f"completed sessions with {progress.peers} distinct peer{plural}"
    return None


def record_catch_up_session(db: sqlite_utils.Database, peer: str, *, held_own: bool,
                            peers_known: int, now_ms: int) -> str | None:
    """Count a completed session towards catch-up; release the node when it has enough.

    Returns why the node was released, or None (still catching up, or it
    never needed to).
    """
    with write_transaction(db) as conn:
        if not conn.execute("SELECT needs_catch_up FROM node_state").fetchone()[0]:
            return None
        conn.execute(
            "INSERT INTO catch_up_sessions (peer, held_own, at_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (peer) DO UPDATE SET held_own = max(held_own, excluded.held_own), "
            "at_ms = excluded.at_ms", (peer, int(held_own), now_ms))
        why = catch_up_release(read_catch_up(db), peers_known,
                               held_by=peer if held_own else "")
        if why is not None:
            conn.execute("UPDATE node_state SET needs_catch_up = 0, caught_up_why = ?", (why,))
            conn.execute("DELETE FROM catch_up_sessions")
        return why


@dataclass(frozen=True, slots=True)
class Announced:
    """The addresses this node puts in its profile, why, and where it last listened."""

    addresses: tuple[str, ...] = ()
    why: str = ""
    listening: tuple[str, ...] = field(default=())


def read_announced(db: sqlite_utils.Database) -> Announced:
    row = db.conn.execute(
        "SELECT announced, announced_why, listening FROM node_state").fetchone()
    if row is None:
        return Announced()
    return Announced(tuple(json.loads(row[0])), row[1], tuple(json.loads(row[2])))


def write_announced(db: sqlite_utils.Database, addresses: Sequence[str], why: str,
                    listening: Sequence[str]) -> bool:
    """Remember what the running node announces; True if the addresses changed."""
    with write_transaction(db) as conn:
        before = conn.execute("SELECT announced FROM node_state").fetchone()
        conn.execute("UPDATE node_state SET announced = ?, announced_why = ?, listening = ?",
                     (json.dumps(list(addresses)), why, json.dumps(list(listening))))
    return before is None or tuple(json.loads(before[0])) != tuple(addresses)


def adopt_network(db: sqlite_utils.Database, network: bytes) -> None:
    """Move a node that has published nothing but its own genesis into ``network``.

    A node belongs to exactly one network, but until it has published or
    received anything beyond founding its own, nothing depends on which: so
    the first-run page can let a group that made its node with
    ``--new-network`` join a network by invitation instead. The unused
    network it founded is dropped with its genesis (and any invitation to
    it). Refused once the node holds any other entry.
    """
    if len(network) != 32:
        raise InvalidInput("network: must be a 32-byte network id", field="network")
    with write_transaction(db) as conn:
        held = conn.execute(
            "SELECT count(*) FROM entries WHERE NOT (kind = 'genesis' AND "
            "author = (SELECT node_id FROM node_state))").fetchone()[0]
        if held:
            raise InvalidInput(
                "invitation code: it is for another network than this node's, and this node "
                "already holds entries of its own network; a node belongs to exactly one "
                "network. To join that one, create a node for it: run `hedgerow init --join "
                "CODE` with a new data directory.", field="invitation")
        conn.execute("DELETE FROM entries")
        conn.execute("DELETE FROM author_usage")
        conn.execute("DELETE FROM members")
        conn.execute("DELETE FROM invitations")
        conn.execute("UPDATE membership_state SET generation = generation + 1")
        conn.execute("UPDATE entries_generation SET value = value + 1")
        conn.execute("UPDATE node_state SET network = ?", (network,))
        conn.execute("DELETE FROM peers")
