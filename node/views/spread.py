"""Spread and lineage: how ideas moved from group to group, from the signed links.

Links come from two kinds of signed claim (DESIGN.md "Concepts"): a
practice's ``adapted_from`` references ("our practice Q is adapted from
node A's practice P") and ``credit`` entries ("we learned P from node A").
A credit names a node and a practice it learned, not which of its own
practices came of it.

**The lineage tree of a practice P** (:func:`spread`) is built breadth
first from P, each generation ordered by date (then node id, then key):

* a practice Q whose ``adapted_from`` names a practice already in the tree
  becomes that practice's child (``via: "adapted_from"``); it is marked
  ``credited`` when Q's node also credited the parent;
* a node B that credited a practice in the tree, and has no practice
  adapted from it, becomes a child with no practice (``via: "credit"``,
  ``credited``);
* each practice appears once, under the parent that reaches it first; a
  link back to one of its own ancestors is a **cycle** (signed claims can
  make one: A adapts from B while B adapts from A) and a link to a practice
  already placed elsewhere a **merge** — both are counted, not followed;
* a node crediting its own practice (a **self-credit**) does not count;
* practices of forked authors and retracted practices are never in a tree:
  a practice adapted *only* from a retracted one starts a lineage of its
  own (the retracted summary, and the links it carried, are withdrawn).

Figures of a tree: ``practices`` (including P), ``adopting_nodes``
(distinct nodes other than P's with a practice in the tree),
``crediting_nodes`` (the other nodes in it: they only credited),
``generations`` (depth),
``areas_reached`` (distinct areas of the tree's practices and crediting
nodes, P's included) and ``credits_received`` (non-self credits naming P).

**Roots** (:func:`roots`) are the practices that started a lineage: those
with at least one adopter and no held parent (for a cycle with no way in,
its earliest practice). They are ordered by the reach of the *idea* —
adopting nodes, then crediting nodes, then generations, then practices; ties
by date, node and key. **The lineage of a node** (:func:`lineage`) lists
who it learned from and who learned from it, grouped by node and ordered by
name: no ranking of organisations.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from protocol import decode

from ..errors import NotFound
from .common import (
    NodeInfo,
    day_of_ms,
    excluded,
    forked_nodes,
    memo,
    node_info,
    not_forked,
    practice_rows,
)
from .index import node_numbers
from .precomputed import cached

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["lineage", "roots", "spread"]

Pid = tuple[int, str]  # (node number, practice key)


class _Link(NamedTuple):
    """A claim that ``node`` (its practice ``key``, or a credit) came from a practice."""

    via: str
    node: int
    author: bytes  # the node's id: ties are broken by it, the same on every node
    key: str  # "" for a credit
    seq: int  # the claiming entry
    version: int
    area: str  # area key of the adapting practice, or of the crediting node


@dataclass(slots=True)
class _Vertex:
    node: int
    author: bytes
    key: str | None
    seq: int
    version: int
    area: str
    via: str
    generation: int
    parent: _Vertex | None = None
    credited: bool = False
    children: list[_Vertex] = field(default_factory=list)


@dataclass(slots=True)
class _Tree:
    root: _Vertex
    vertices: list[_Vertex]
    cycle_links: int = 0
    merge_links: int = 0
    self_credits: int = 0

    def release(self) -> None:
        """Break the parent ↔ child cycles, so the vertices are freed at once.

        Left to the cycle collector, a big tree's thousands of vertices make
        the next collection (on whichever request comes next) slow.
        """
        for vertex in self.vertices:
            vertex.parent = None
            vertex.children = []

    def figures(self, credits_received: int) -> dict[str, int]:
        practices = [v for v in self.vertices if v.key is not None]
        adopting = {v.node for v in practices} - {self.root.node}
        return {
            "practices": len(practices),
            # A node that only credited thanked the practice; it did not adopt it.
            "adopting_nodes": len(adopting),
            "crediting_nodes": len({v.node for v in self.vertices if v.key is None}
                                   - adopting - {self.root.node}),
            "generations": max(v.generation for v in self.vertices),
            "areas_reached": len({v.area for v in self.vertices if v.area}),
            "credits_received": credits_received,
        }


_LINKS = (
    "SELECT e.to_node, e.to_key, e.via, e.from_node, an.author, e.from_key, s.seq, s.version, "
    "CASE WHEN e.via = 'credit' THEN coalesce(pf.area_key, '') ELSE s.area_key END "
    "FROM view_edges AS e JOIN view_entries AS s ON s.seq = e.seq "
    "JOIN view_nodes AS an ON an.node = e.from_node "
    "LEFT JOIN view_entries AS pf ON pf.node = e.from_node AND pf.kind = 'profile' "
    "AND e.via = 'credit' ")


def _links_below(db: sqlite_utils.Database, forked: Sequence[int], root: Pid
                 ) -> tuple[Callable[[Pid], list[_Link]], dict[int, dict[str, Any]]]:
    """Every link into the practices reachable from ``root``, read in one query.

    The recursive query follows ``adapted_from`` links downwards (UNION
    drops repeats, so cycles end); the tree is then grown in memory. Also
    what the tree shows of each adapting practice (title, area, level), by
    seq, read in the same pass.
    """
    nf = not_forked(forked, "e.from_node")
    below: dict[Pid, list[_Link]] = {}
    shown: dict[int, dict[str, Any]] = {}
    for to_node, to_key, via, node, author, key, seq, version, area, title, level, label \
            in db.conn.execute(
            "WITH RECURSIVE reach(node, key) AS (SELECT ?, ? UNION "
            "SELECT e.from_node, e.from_key FROM view_edges AS e JOIN reach AS r "
            f"ON e.to_node = r.node AND e.to_key = r.key WHERE e.via = 'adapted_from'{nf}) " +
            _LINKS.replace("FROM view_edges AS e ",
                           ", s.title, s.eff_level, s.area_label FROM view_edges AS e ", 1) +
            "JOIN reach AS r ON e.to_node = r.node AND e.to_key = r.key WHERE 1" + nf,
            root):
        below.setdefault((to_node, to_key), []).append(
            _Link(via, node, author, key, seq, version, area))
        if via == "adapted_from":
            shown[seq] = {"title": title, "area": label or None, "level": level}
    return (lambda pid: below.get(pid, [])), shown


def _order(link: _Link) -> tuple[int, bytes, str]:
    return (link.version, link.author, link.key)


def _grow(root: _Vertex, children: Callable[[Pid], list[_Link]]) -> _Tree:
    tree = _Tree(root, [root])
    placed: dict[Pid, _Vertex] = {(root.node, root.key or ""): root}
    queue = deque([root])
    while queue:
        vertex = queue.popleft()
        assert vertex.key is not None
        links = sorted(children((vertex.node, vertex.key)), key=_order)
        credits = {link.node: link for link in links if link.via == "credit"}
        if vertex.node in credits:
            tree.self_credits += 1
            del credits[vertex.node]
        adapters = {link.node for link in links if link.via == "adapted_from"}
        for link in links:
            if link.via != "adapted_from":
                continue
            pid = (link.node, link.key)
            if pid in placed:
                if _is_ancestor(placed[pid], vertex):
                    tree.cycle_links += 1
                else:
                    tree.merge_links += 1
                continue
            child = _Vertex(link.node, link.author, link.key, link.seq, link.version,
                            link.area, "adapted_from", vertex.generation + 1, vertex,
                            credited=link.node in credits)
            placed[pid] = child
            vertex.children.append(child)
            tree.vertices.append(child)
            queue.append(child)
        for node, link in sorted(credits.items(), key=lambda item: _order(item[1])):
            if node in adapters:
                continue
            child = _Vertex(node, link.author, None, link.seq, link.version, link.area,
                            "credit", vertex.generation + 1, vertex, credited=True)
            vertex.children.append(child)
            tree.vertices.append(child)
        vertex.children.sort(key=lambda v: (v.version, v.author, v.key or ""))
    return tree


def _is_ancestor(candidate: _Vertex, vertex: _Vertex | None) -> bool:
    while vertex is not None:
        if vertex is candidate:
            return True
        vertex = vertex.parent
    return False


def _practice(db: sqlite_utils.Database, node: int, key: str) -> tuple[int, int, str] | None:
    row = db.conn.execute("SELECT seq, version, area_key FROM view_entries "
                          "WHERE node = ? AND kind = 'practice' AND key = ?",
                          (node, key)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def _vertex_dict(vertex: _Vertex, info: dict[int, NodeInfo],
                 practices: dict[int, dict[str, Any]]) -> dict[str, Any]:
    node = info[vertex.node]
    if vertex.key is not None:
        row = practices[vertex.seq]
        title, area, level = row["title"], row["area"], row["level"]
    else:
        title, area, level = None, node.area, node.level
    return {
        "node": node.id, "node_name": node.name, "key": vertex.key, "title": title,
        "area": area, "level": level, "date": day_of_ms(vertex.version),
        "generation": vertex.generation, "via": vertex.via, "credited": vertex.credited,
        "children": [_vertex_dict(child, info, practices) for child in vertex.children],
    }


def _credits_of(db: sqlite_utils.Database, pid: Pid,
                forked: Sequence[int]) -> list[tuple[int, int, int]]:
    """(crediting node, credit seq, version) of non-self credits naming ``pid``."""
    return db.conn.execute(
        "SELECT e.from_node, e.seq, s.version FROM view_edges AS e "
        "JOIN view_entries AS s ON s.seq = e.seq JOIN view_nodes AS n ON n.node = e.from_node "
        "WHERE e.via = 'credit' AND e.to_node = ? "
        "AND e.to_key = ? AND e.from_node != ?" + not_forked(forked, "e.from_node") +
        " ORDER BY s.version, n.author", (*pid, pid[0])).fetchall()


def spread(db: sqlite_utils.Database, author: bytes, key: str) -> dict[str, Any]:
    """The lineage tree of one practice, its figures and the credits it received."""
    forked = forked_nodes(db)
    number = node_numbers(db, [author]).get(author)
    found = None if number is None or number in forked else _practice(db, number, key)
    if number is None or found is None:
        raise NotFound("spread: this node holds no such practice (or it was retracted, or "
                       "its author is flagged for a fork)")
    seq, version, area = found
    kept: dict[str, Any] | None = cached(db, f"spread {seq}")
    if kept is not None:  # a big lineage, drawn when the index caught up
        return kept
    root = _Vertex(number, author, key, seq, version, area, "root", 0)
    children, practices = _links_below(db, forked, (number, key))
    tree = _grow(root, children)
    credits = _credits_of(db, (number, key), forked)
    info = node_info(db, [v.node for v in tree.vertices] + [c[0] for c in credits])
    # The practice in full; of the others, the tree shows title, area and level.
    practices.update(practice_rows(db, [seq], info))
    notes = _credit_notes(db, [c[1] for c in credits])
    drawn = _vertex_dict(root, info, practices)
    figures = tree.figures(len(credits))
    tree.release()
    return {
        "practice": practices[seq],
        "figures": figures,
        "tree": drawn,
        "credits": [{"node": info[node].id, "node_name": info[node].name,
                     "date": day_of_ms(when), "note": notes.get(cseq)}
                    for node, cseq, when in credits],
        "excluded": {**excluded(db, forked), "self_credits": tree.self_credits,
                     "cycle_links": tree.cycle_links, "merge_links": tree.merge_links},
    }


def _credit_notes(db: sqlite_utils.Database, seqs: Iterable[int]) -> dict[int, str | None]:
    wanted = list(seqs)
    out: dict[int, str | None] = dict.fromkeys(wanted)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for seq, payload in db.conn.execute(
                f"SELECT seq, payload FROM entries WHERE seq IN ({','.join('?' * len(chunk))})",
                chunk):
            out[seq] = decode(payload)["body"].get("note")
    return out


def roots(db: sqlite_utils.Database, *, limit: int, offset: int) -> dict[str, Any]:
    """Practices that started a lineage, by the reach of the idea, with their figures."""
    ranked, extra = memo(db, "lineage roots", lambda: cached(db, "roots") or all_roots(db),
                         copied=False)
    page = ranked[offset:offset + limit]
    practices = practice_rows(db, [seq for seq, _ in page])
    return {
        "total": len(ranked),
        "roots": [{**practices[seq], **found} for seq, found in page],
        "excluded": {**excluded(db, forked_nodes(db)), **extra},
    }


def all_roots(db: sqlite_utils.Database) -> tuple[list[tuple[int, dict[str, int]]],
                                                    dict[str, int]]:
    """Every root, ranked: (root seq, figures), and the links not followed."""
    ranked, extra, _ = roots_and_big(db)
    return ranked, extra


#: Lineages of at least this many vertices are big (:func:`roots_and_big`).
BIG_TREE: Final = 200


def roots_and_big(db: sqlite_utils.Database) -> tuple[
        list[tuple[int, dict[str, int]]], dict[str, int], list[tuple[int, bytes, str]]]:
    """:func:`all_roots`, and the roots of the big lineages (seq, author, key).

    Drawing a lineage of thousands of practices takes long; the precomputed
    views (:mod:`.precomputed`) keep the spread of each big root, what the
    list of roots leads to.
    """
    forked = forked_nodes(db)
    links: dict[Pid, list[_Link]] = {}
    targets: dict[Pid, tuple[int, int, str, bytes]] = {}
    has_parent: set[Pid] = set()
    # Every link, with its target practice: a pass over the links, looking up
    # each target (CROSS JOIN keeps that order; the planner would otherwise
    # scan every practice and look up its links, three times slower).
    sql = (_LINKS.replace("FROM view_edges AS e ",
                          ", t.seq, t.version, t.area_key, tn.author FROM view_edges AS e "
                          "CROSS JOIN view_entries AS t INDEXED BY view_entries_by_node "
                          "ON t.node = e.to_node AND t.key = e.to_key AND t.kind = 'practice' ")
           + "JOIN view_nodes AS tn ON tn.node = e.to_node WHERE 1" +
           not_forked(forked, "e.from_node") + not_forked(forked, "e.to_node"))
    for to_node, to_key, via, node, author, key, seq, version, area, tseq, tversion, tarea, \
            tauthor in db.conn.execute(sql):
        pid = (to_node, to_key)
        found = links.get(pid)
        if found is None:
            found = links[pid] = []
            targets[pid] = (tseq, tversion, tarea, tauthor)
        found.append(_Link(via, node, author, key, seq, version, area))
        if via == "adapted_from":
            has_parent.add((node, key))
    children: Callable[[Pid], list[_Link]] = lambda pid: links.get(pid, [])  # noqa: E731
    candidates = sorted(targets, key=lambda pid: (targets[pid][1], targets[pid][3], pid[1]))
    trees: list[_Tree] = []
    reached: set[Pid] = set()
    # Parentless practices first; then, for cycles nobody enters, the earliest practice.
    for pass_ in (0, 1):
        for pid in candidates:
            if pid in reached or (pass_ == 0 and pid in has_parent):
                continue
            seq, version, area, author = targets[pid]
            tree = _grow(_Vertex(pid[0], author, pid[1], seq, version, area, "root", 0),
                         children)
            reached.update((v.node, v.key) for v in tree.vertices if v.key is not None)
            if len(tree.vertices) > 1:
                trees.append(tree)
    figures = []
    big: list[tuple[int, bytes, str]] = []
    for tree in trees:
        root = tree.root
        credits = sum(1 for link in links[(root.node, root.key or "")]
                      if link.via == "credit" and link.node != root.node)
        figures.append((tree, tree.figures(credits)))
        if len(tree.vertices) >= BIG_TREE:
            big.append((root.seq, root.author, root.key or ""))
        tree.release()
    figures.sort(key=lambda item: (-item[1]["adopting_nodes"], -item[1]["crediting_nodes"],
                                   -item[1]["generations"],
                                   -item[1]["practices"], item[0].root.version,
                                   item[0].root.author, item[0].root.key or ""))
    return ([(tree.root.seq, found) for tree, found in figures],
            {"self_credits": sum(t.self_credits for t in trees),
             "cycle_links": sum(t.cycle_links for t in trees),
             "merge_links": sum(t.merge_links for t in trees)}, big)


def lineage(db: sqlite_utils.Database, author: bytes) -> dict[str, Any]:
    """Who ``author`` learned from, and who learned from it (by practice and credit)."""
    forked = forked_nodes(db)
    number = node_numbers(db, [author]).get(author)
    empty: dict[str, Any] = {"figures": {"learned_from_nodes": 0, "learned_by_nodes": 0,
                                         "links_from": 0, "links_by": 0},
                             "learned_from": [], "learned_by": []}
    if number is None:
        raise NotFound("lineage: this node has never heard of that node")
    info_me = node_info(db, [number])[number]
    if number in forked:
        return {"node": info_me.as_dict(), **empty,
                "excluded": {**excluded(db, forked), "links_to_retracted": 0}}
    columns = ("SELECT e.via, e.from_node, e.from_key, e.to_node, e.to_key, s.version, "
               "t.kind, t.seq, s.title, t.title FROM view_edges AS e "
               "JOIN view_entries AS s ON s.seq = e.seq "
               "LEFT JOIN view_entries AS t ON t.node = e.to_node AND t.key = e.to_key AND "
               "t.kind IN ('practice', 'retract') ")
    rows_from = db.conn.execute(columns + "WHERE e.from_node = ? AND e.to_node != ?" +
                                not_forked(forked, "e.to_node"), (number, number)).fetchall()
    rows_by = db.conn.execute(columns + "WHERE e.to_node = ? AND e.from_node != ?" +
                              not_forked(forked, "e.from_node"), (number, number)).fetchall()
    retracted = sum(1 for row in (*rows_from, *rows_by) if row[6] == "retract")
    rows_from = [row for row in rows_from if row[6] != "retract"]
    rows_by = [row for row in rows_by if row[6] != "retract"]
    others = {row[3] for row in rows_from} | {row[1] for row in rows_by}
    info = node_info(db, others)
    titles = {row[7]: row[9] for row in (*rows_from, *rows_by) if row[6] == "practice"}
    # Titles of the other side's adapting practices (learned_by, via adapted_from):
    # the entry claiming an adapted_from link is that practice.
    their = {(row[1], row[2]): row[8] for row in rows_by if row[0] == "adapted_from"}

    def group(rows: list[tuple[Any, ...]], *, outward: bool) -> list[dict[str, Any]]:
        by_node: dict[int, list[dict[str, Any]]] = {}
        for via, from_node, from_key, to_node, to_key, version, _, tseq, _, _ in rows:
            if outward:
                other = to_node
                link = {"via": via, "our_practice": from_key or None,
                        "their_practice": to_key, "their_title": titles.get(tseq),
                        "held": tseq is not None, "date": day_of_ms(version)}
            else:
                other = from_node
                link = {"via": via, "our_practice": to_key, "our_title": titles.get(tseq),
                        "their_practice": from_key or None,
                        "their_title": their.get((from_node, from_key)),
                        "held": tseq is not None, "date": day_of_ms(version)}
            by_node.setdefault(other, []).append(link)
        out = []
        for other, found in by_node.items():
            found.sort(key=lambda link: (link["their_practice"] or "",
                                         link["our_practice"] or "", link["via"]))
            out.append({**info[other].as_dict(), "links": found})
        out.sort(key=lambda item: (item["name"] is None, (item["name"] or "").casefold(),
                                   item["node"]))
        return out

    learned_from, learned_by = group(rows_from, outward=True), group(rows_by, outward=False)
    return {
        "node": info_me.as_dict(),
        "figures": {"learned_from_nodes": len(learned_from),
                    "learned_by_nodes": len(learned_by),
                    "links_from": len(rows_from), "links_by": len(rows_by)},
        "learned_from": learned_from,
        "learned_by": learned_by,
        "excluded": {**excluded(db, forked), "links_to_retracted": retracted},
    }
