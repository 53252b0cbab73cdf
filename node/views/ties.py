"""What already connects groups: contacts they publish, links between them, shared lineages.

Three views help groups find each other (:mod:`.similar`,
:mod:`.introductions`, :mod:`.travelled`); they share these facts:

* a group's **contact** is the ``contact`` its current profile publishes
  (an email or web address; protocol/bodies.py), shown as "get in touch";
* two groups are **tied** when a credit or an ``adapted_from`` reference of
  one names a practice of the other (either way round; links to a retracted
  practice are withdrawn with it, as in the lineage view);
* practices **share a lineage** when one descends from the other, or both
  from a common practice, following ``adapted_from`` links between practices
  this node holds (:func:`reach`: the practices themselves and all their
  ancestors, by local entry number; two such sets that meet share a lineage). A group that credited
  a practice takes part in that practice's lineage.

The exclusion rule holds: entries of forked authors are never followed
(:func:`.common.forked_nodes`), and retracted practices are not held.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from protocol import HedgerowError, decode, id_from_text

from .common import NodeInfo, not_forked
from .index import node_numbers

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["contacts_by_id", "contacts_of", "group_dict", "reach", "ties_of"]


def contacts_of(db: sqlite_utils.Database, nodes: Iterable[int]) -> dict[int, str | None]:
    """The contact each node's current profile publishes (None: none, or no profile)."""
    wanted = sorted(set(nodes))
    out: dict[int, str | None] = dict.fromkeys(wanted)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        # Ordered by seq: with two profiles (a fork proof) the later one wins,
        # as in node_info; forked nodes are left out of views anyway.
        for node, payload in db.conn.execute(
                "SELECT v.node, e.payload FROM view_entries AS v JOIN entries AS e "
                f"ON e.seq = v.seq WHERE v.kind = 'profile' AND v.node IN "
                f"({','.join('?' * len(chunk))}) ORDER BY v.seq", chunk):
            contact = decode(payload)["body"].get("contact")
            out[node] = contact if isinstance(contact, str) else None
    return out


def contacts_by_id(db: sqlite_utils.Database, ids: Iterable[str]) -> dict[str, str]:
    """The contacts published by the nodes named by ``ids`` (text form), those that have one."""
    authors: dict[bytes, str] = {}
    for text in set(ids):
        try:
            authors[id_from_text(text)] = text
        except HedgerowError:
            continue  # not a node id: nothing to find
    numbers = node_numbers(db, authors)
    contacts = contacts_of(db, numbers.values())
    return {authors[author]: contact for author, number in numbers.items()
            if (contact := contacts[number]) is not None}


def group_dict(info: NodeInfo, contact: str | None) -> dict[str, Any]:
    """A group as these views show it: id, name, level, area, contact."""
    return {**info.as_dict(), "contact": contact}


def ties_of(db: sqlite_utils.Database, nodes: Iterable[int],
            forked: Sequence[int]) -> dict[int, set[int]]:
    """For each of ``nodes``, the other nodes a credit or adaptation ties it to."""
    wanted = sorted(set(nodes))
    out: dict[int, set[int]] = {node: set() for node in wanted}
    nf = not_forked(forked, "e.from_node") + not_forked(forked, "e.to_node")
    # A link to a retracted practice is withdrawn with it (as in spread.lineage).
    retracted = ("NOT EXISTS (SELECT 1 FROM view_entries AS r WHERE r.node = e.to_node "
                 "AND r.key = e.to_key AND r.kind = 'retract')")
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        # Links out (view_edges_out) and links in (view_edges_into), in one statement.
        for from_node, to_node in db.conn.execute(
                " UNION ALL ".join(
                    f"SELECT e.from_node, e.to_node FROM view_edges AS e WHERE e.{column} IN "
                    f"({marks}) AND e.from_node != e.to_node AND {retracted}{nf}"
                    for column in ("from_node", "to_node")), (*chunk, *chunk)):
            if from_node in out:
                out[from_node].add(to_node)
            if to_node in out:
                out[to_node].add(from_node)
    return out


def reach(db: sqlite_utils.Database, starts: Iterable[tuple[int, int]],
          forked: Sequence[int]) -> dict[int, set[int]]:
    """For each label, its starting practices and all their held ancestors (by seq).

    ``starts`` are (label, seq) of practice entries this node holds; the
    label says whose they are (a group, a practice). Two labels whose sets
    meet have practices in one lineage.
    """
    rows = [[label, seq] for label, seq in starts]
    out: dict[int, set[int]] = {}
    if not rows:
        return out
    # Up the adapted_from links, in SQL (UNION drops repeats, so cycles end):
    # a practice's links are the view_edges rows of its own entry (their
    # primary key starts with its seq), each step to a practice this node
    # holds, never to a forked author's.
    for label, seq in db.conn.execute(
            "WITH RECURSIVE up(label, seq) AS ("
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) "
            "UNION SELECT u.label, t.seq FROM up AS u "
            "JOIN view_edges AS x ON x.seq = u.seq AND x.via = 'adapted_from' "
            "JOIN view_entries AS t INDEXED BY view_entries_by_node ON t.node = x.to_node "
            f"AND t.kind = 'practice' AND t.key = x.to_key WHERE 1"
            f"{not_forked(forked, 'x.to_node')}) SELECT label, seq FROM up",
            (json.dumps(rows),)):
        out.setdefault(label, set()).add(seq)
    return out
