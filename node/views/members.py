"""The network's own lineage: who admitted whom, and when (DESIGN.md "Membership").

A convenor sees how the network grew, not only how practices spread: the
founder at the root, and under each member the nodes it admitted, each
placed by its shortest chain of admissions (protocol.membership rule 4).
Read from the ``members`` table, which the store derives from the genesis
and admission entries it holds, so the view is the same on every node that
holds the same entries. Nothing is ranked: members are listed by when they
were admitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol import id_to_text

from .common import day_of_ms, excluded, forked_nodes

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["member_graph_rows", "members"]


def _profiles(db: sqlite_utils.Database) -> dict[bytes, tuple[str | None, str | None]]:
    """Each member's name and area, from its current profile (via the views' index)."""
    out: dict[bytes, tuple[str | None, str | None]] = {}
    for author, name, area in db.conn.execute(
            "SELECT n.author, v.title, v.area FROM view_entries AS v "
            "JOIN view_nodes AS n ON n.node = v.node WHERE v.kind = 'profile' ORDER BY v.seq"):
        out[author] = (name, area or None)
    return out


def member_graph_rows(db: sqlite_utils.Database) -> list[tuple[bytes, bytes | None, int, int]]:
    """Every member as (node, admitted by, admission version, depth), in admission order."""
    return db.conn.execute("SELECT node_id, admitted_by, version, depth FROM members "
                           "ORDER BY depth, version, node_id").fetchall()


def members(db: sqlite_utils.Database) -> dict[str, Any]:
    """The members as a tree from the founder, and as a flat list."""
    rows = member_graph_rows(db)
    profiles = _profiles(db)
    flat: list[dict[str, Any]] = []
    vertices: dict[bytes, dict[str, Any]] = {}
    root: dict[str, Any] | None = None
    for node, by, version, depth in rows:
        name, area = profiles.get(node, (None, None))
        by_name = profiles.get(by, (None, None))[0] if by is not None else None
        row = {"node": id_to_text(node), "name": name, "area": area,
               "admitted_by": id_to_text(by) if by is not None else None,
               "admitted_by_name": by_name,
               "admitted": day_of_ms(version) if by is not None else None,
               "depth": depth}
        flat.append(row)
        vertex: dict[str, Any] = {**row, "children": []}
        vertices[node] = vertex
        if by is None:
            root = vertex
        else:
            # Breadth-first order: a member's admitter is listed before it.
            vertices[by]["children"].append(vertex)
    return {"count": len(flat), "founder": root["node"] if root else None, "tree": root,
            "members": flat, "excluded": excluded(db, forked_nodes(db))}
