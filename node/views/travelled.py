"""Where our ideas travelled: which of a group's practices others adapted or credited.

The group's feedback loop (it sees what it gave, not a score): for each of
its practices that another group adapted (an ``adapted_from`` reference in
their practice) or credited (a signed ``credit``), who did, where (the area
at the grain groups share it), how to get in touch, what they called their
adaptation, and the note they signed with their credit. One row per other
group and practice; groups newest first (by the date of their newest link),
practices by title. No totals, no ranking.

As in the lineage view, self-credits do not count, links from forked
authors are left out, and links to a practice the group has retracted are
withdrawn with it (counted in ``excluded.links_to_retracted``). A credit or
adaptation naming a practice the node does not hold (never published, say)
is listed with ``held: false``.

:func:`link_name` names each row by signed values only, so that the places
showing this list can highlight the rows new since their last look
(node/store/ideas_seen.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol import decode

from ..errors import NotFound
from .common import day_of_ms, excluded, forked_nodes, node_info, not_forked
from .index import node_numbers
from .ties import contacts_of, group_dict

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["link_name", "travelled"]


def link_name(practice_key: str, group: dict[str, Any]) -> str:
    """A row of the view named by what was signed: our practice, them, what they did."""
    adapted = ",".join(sorted(a["key"] for a in group["adapted_as"]))
    return f"{practice_key}|{group['node']}|{adapted}|{'credited' if group['credited'] else ''}"


def travelled(db: sqlite_utils.Database, author: bytes) -> dict[str, Any]:
    """Where ``author``'s practices travelled: who adapted or credited each, and how."""
    forked = forked_nodes(db)
    number = node_numbers(db, [author]).get(author)
    if number is None:
        raise NotFound("travelled: this node has never heard of that node")
    me = node_info(db, [number])[number]
    if number in forked:
        return {"node": me.as_dict(), "practices": [],
                "excluded": {**excluded(db, forked), "links_to_retracted": 0}}
    rows = db.conn.execute(
        "SELECT e.via, e.from_node, e.from_key, e.to_key, s.seq, s.version, s.title, "
        "s.area_label, t.kind, t.title FROM view_edges AS e "
        "JOIN view_entries AS s ON s.seq = e.seq "
        "LEFT JOIN view_entries AS t ON t.node = e.to_node AND t.key = e.to_key "
        "AND t.kind IN ('practice', 'retract') "
        "WHERE e.to_node = ? AND e.from_node != ?" + not_forked(forked, "e.from_node"),
        (number, number)).fetchall()
    retracted = sum(1 for row in rows if row[8] == "retract")
    rows = [row for row in rows if row[8] != "retract"]
    others = {row[1] for row in rows}
    info = node_info(db, others)
    contacts = contacts_of(db, others)
    notes = _notes(db, [row[4] for row in rows if row[0] == "credit"])
    practices: dict[str, dict[str, Any]] = {}
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    newest: dict[tuple[str, int], int] = {}
    for via, node, their_key, our_key, seq, version, title, area, kind, our_title in rows:
        practice = practices.setdefault(our_key, {"key": our_key, "title": our_title,
                                                  "held": kind == "practice", "groups": []})
        group = groups.get((our_key, node))
        if group is None:
            group = groups[(our_key, node)] = {
                **group_dict(info[node], contacts[node]), "adapted_as": [],
                "credited": False, "note": None, "date": ""}
            practice["groups"].append((node, group))
        if via == "adapted_from":
            group["adapted_as"].append({"key": their_key, "title": title, "area": area or None,
                                        "date": day_of_ms(version)})
        else:
            group["credited"], group["note"] = True, notes.get(seq)
        newest[(our_key, node)] = max(newest.get((our_key, node), 0), version)
    for (our_key, node), version in newest.items():
        groups[(our_key, node)]["date"] = day_of_ms(version)
    for practice in practices.values():
        key = practice["key"]
        pairs = sorted(practice["groups"], key=lambda pair: (
            -newest[(key, pair[0])], (pair[1]["name"] or "").casefold(), pair[1]["node"]))
        practice["groups"] = [group for _, group in pairs]
        for group in practice["groups"]:
            group["adapted_as"].sort(key=lambda a: a["key"])
    ordered = sorted(practices.values(), key=lambda p: (p["title"] is None,
                                                        (p["title"] or "").casefold(),
                                                        p["key"]))
    return {"node": me.as_dict(), "practices": ordered,
            "excluded": {**excluded(db, forked), "links_to_retracted": retracted}}


def _notes(db: sqlite_utils.Database, seqs: list[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for start in range(0, len(seqs), 500):
        chunk = seqs[start:start + 500]
        for seq, payload in db.conn.execute(
                f"SELECT seq, payload FROM entries WHERE seq IN ({','.join('?' * len(chunk))})",
                chunk):
            note = decode(payload)["body"].get("note")
            out[seq] = note or None
    return out
