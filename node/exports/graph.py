"""The attribution graph: GraphML (Gephi, yEd) and a Kumu workbook.

Elements are **practices** and the **organisations** that run or credit
them; connections say who learned from whom, in the direction of the
signed claim:

* ``adapted from`` — adapting practice → the practice it names in
  ``adapted_from``;
* ``credited`` — crediting organisation → the practice its credit names;
* ``runs`` — organisation → its practice;
* ``suggested introduction`` (only in the export of the introductions view,
  ``--view introductions``) — organisation ↔ organisation: two groups on the
  same theme with nothing between them yet, with the theme and the reason.
  It is a link nobody signed, so it is told apart: every connection carries a
  ``style`` (``dashed`` for suggestions, ``solid`` for signed links) and a
  ``color``, for Gephi's and yEd's appearance settings.

Only links between practices this node holds are drawn (a reference to a
practice it does not hold has nothing to describe), and the exclusion rule
applies as in every view: no forked author's entries, no retracted
practice, no self-credit. With a practice given (``--view spread --node …
--key …``) the graph is that practice's lineage tree only.

With ``--view members`` the graph is the network's own lineage instead:
every member an organisation element, and an ``admitted`` connection from
each admitter to the member it admitted (:mod:`node.views.members`).

The Kumu workbook has the two sheets Kumu imports: ``Elements`` (``ID``,
``Label``, ``Type``, ``Tags`` and fields) and ``Connections`` (``From``,
``To``, ``Type``), connections naming elements by ID. With suggestions,
connections also have ``Direction`` (``undirected`` for a suggestion),
``Theme`` and ``Reason``, and a sheet Kumu does not import, ``Kumu view
(ignore)``, holds the decoration to paste into Kumu's Advanced Editor so that
suggestions are drawn dashed, in their own colour (a spreadsheet cannot carry
Kumu's styles).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from openpyxl import Workbook  # type: ignore[import-untyped]

from ..views.common import day_of_ms, forked_nodes, node_info, not_forked, practice_rows
from ..views.members import members
from ..views.spread import spread
from .tabular import cell, write_sheet

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["SUGGESTED", "Graph", "attribution_graph", "introductions_graph", "members_graph",
           "to_graphml", "to_kumu"]

GRAPHML_NS: Final = "http://graphml.graphdrawing.org/xmlns"
_ELEMENT_FIELDS: Final = ("type", "label", "node", "organisation", "key", "title", "area",
                          "level", "date", "themes")
_CONNECTION_FIELDS: Final = ("type", "date", "style", "color")
_SUGGESTION_FIELDS: Final = ("theme", "reason")
#: The connection type of a suggested introduction.
SUGGESTED: Final = "suggested introduction"
#: How each type of connection is drawn: (style, colour).
_LOOK: Final = {"adapted from": ("solid", "#1d6b3a"), "credited": ("solid", "#4a4a8a"),
                "runs": ("solid", "#8a8a8a"), SUGGESTED: ("dashed", "#b3267a")}
_KUMU_VIEW: Final = (
    f'connection["connection type"="{SUGGESTED}"] {{\n'
    f"  color: {_LOOK[SUGGESTED][1]};\n  dash: 6 4;\n}}")


@dataclass(frozen=True, slots=True)
class Graph:
    """Elements (``id`` + :data:`_ELEMENT_FIELDS`) and connections (``from``, ``to``, …)."""

    elements: list[dict[str, Any]]
    connections: list[dict[str, Any]]


def _tree_members(tree: dict[str, Any], out: set[tuple[str, str | None]]) -> None:
    out.add((tree["node"], tree["key"]))
    for child in tree["children"]:
        _tree_members(child, out)


def attribution_graph(db: sqlite_utils.Database,
                      practice: tuple[bytes, str] | None = None) -> Graph:
    """The attribution graph over an up-to-date index (of one lineage, if ``practice``)."""
    forked = forked_nodes(db)
    rows = db.conn.execute(
        "SELECT e.via, e.from_node, e.seq, e.to_node, t.seq, s.version "
        "FROM view_edges AS e JOIN view_entries AS s ON s.seq = e.seq "
        "JOIN view_entries AS t ON t.node = e.to_node AND t.key = e.to_key "
        "AND t.kind = 'practice' "
        "WHERE NOT (e.via = 'credit' AND e.from_node = e.to_node)" +
        not_forked(forked, "e.from_node") + not_forked(forked, "e.to_node") +
        " ORDER BY e.seq, t.seq").fetchall()
    seqs = sorted({r[2] for r in rows if r[0] == "adapted_from"} | {r[4] for r in rows})
    nodes = {r[1] for r in rows} | {r[3] for r in rows}
    info = node_info(db, nodes)
    practices = practice_rows(db, seqs, info)
    if practice is not None:
        members: set[tuple[str, str | None]] = set()
        _tree_members(spread(db, *practice)["tree"], members)
        keep_node = {node for node, _ in members}

        def kept(seq: int) -> bool:
            row = practices[seq]
            return (row["node"], row["key"]) in members

        rows = [r for r in rows if kept(r[4]) and (
            kept(r[2]) if r[0] == "adapted_from" else info[r[1]].id in keep_node)]
        seqs = sorted({r[2] for r in rows if r[0] == "adapted_from"} | {r[4] for r in rows})
    elements: dict[str, dict[str, Any]] = {}
    connections: list[dict[str, Any]] = []

    def organisation(node: int) -> str:
        node_id = info[node].id
        if node_id not in elements:
            elements[node_id] = {"id": node_id, "type": "organisation",
                                 "label": info[node].name or node_id, "node": node_id,
                                 "organisation": info[node].name, "key": None, "title": None,
                                 "area": info[node].area, "level": info[node].level,
                                 "date": None, "themes": []}
        return node_id

    def practice_element(seq: int) -> str:
        row = practices[seq]
        element_id = f"{row['node']}/{row['key']}"
        if element_id not in elements:
            elements[element_id] = {"id": element_id, "type": "practice", "label": row["title"],
                                    "node": row["node"], "organisation": row["node_name"],
                                    "key": row["key"], "title": row["title"],
                                    "area": row["area"], "level": row["level"],
                                    "date": row["updated"], "themes": row["themes"]}
        return element_id

    number_of = {i.id: n for n, i in info.items()}
    for seq in seqs:
        row = practices[seq]
        connections.append({"from": organisation(number_of[row["node"]]),
                            "to": practice_element(seq), "type": "runs",
                            "date": row["updated"]})
    for via, from_node, seq, _, target, version in rows:
        source = practice_element(seq) if via == "adapted_from" else organisation(from_node)
        connections.append({"from": source, "to": practice_element(target),
                            "type": "adapted from" if via == "adapted_from" else "credited",
                            "date": day_of_ms(version)})
    ordered = sorted(elements.values(), key=lambda e: (e["type"], e["id"]))
    return Graph(ordered, _styled(connections))


def _styled(connections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for connection in connections:
        connection["style"], connection["color"] = _LOOK[connection["type"]]
    return sorted(connections, key=lambda c: (c["type"], c["from"], c["to"],
                                              c.get("theme") or ""))


def introductions_graph(db: sqlite_utils.Database, result: dict[str, Any]) -> Graph:
    """The attribution graph with the suggested introductions of ``result`` beside it.

    ``result`` is an introductions view (node/views/introductions.py); each
    suggestion becomes one ``suggested introduction`` connection per theme.
    """
    graph = attribution_graph(db)
    elements = {element["id"]: element for element in graph.elements}
    connections = list(graph.connections)
    for theme in result["themes"]:
        for suggestion in theme["suggestions"]:
            for group in suggestion["groups"]:
                elements.setdefault(group["node"], {
                    "id": group["node"], "type": "organisation",
                    "label": group["name"] or group["node"], "node": group["node"],
                    "organisation": group["name"], "key": None, "title": None,
                    "area": group["area"], "level": group["level"], "date": None,
                    "themes": []})
            a, b = suggestion["groups"]
            connections.append({"from": a["node"], "to": b["node"], "type": SUGGESTED,
                                "date": None, "theme": theme["theme"],
                                "reason": suggestion["why"]})
    ordered = sorted(elements.values(), key=lambda e: (e["type"], e["id"]))
    return Graph(ordered, _styled(connections))


def members_graph(db: sqlite_utils.Database) -> Graph:
    """Who admitted whom: members as organisation elements, admissions as connections."""
    result = members(db)
    elements = [{"id": m["node"], "type": "organisation", "label": m["name"] or m["node"],
                 "node": m["node"], "organisation": m["name"], "key": None, "title": None,
                 "area": m["area"], "level": None, "date": m["admitted"], "themes": []}
                for m in result["members"]]
    connections = [{"from": m["admitted_by"], "to": m["node"], "type": "admitted",
                    "date": m["admitted"]}
                   for m in result["members"] if m["admitted_by"] is not None]
    elements.sort(key=lambda e: e["id"])
    connections.sort(key=lambda c: (c["from"], c["to"]))
    return Graph(elements, connections)


def _text(value: Any) -> str:
    return str(cell(value))


def to_graphml(graph: Graph) -> bytes:
    """GraphML 1.0 (directed), readable by Gephi, yEd and networkx."""
    ET.register_namespace("", GRAPHML_NS)
    root = ET.Element(f"{{{GRAPHML_NS}}}graphml")
    for name in _ELEMENT_FIELDS:
        ET.SubElement(root, f"{{{GRAPHML_NS}}}key", {
            "id": f"n_{name}", "for": "node", "attr.name": name, "attr.type": "string"})
    suggestions = any(c["type"] == SUGGESTED for c in graph.connections)
    edge_fields = (*_CONNECTION_FIELDS, *(_SUGGESTION_FIELDS if suggestions else ()))
    for name in edge_fields:
        ET.SubElement(root, f"{{{GRAPHML_NS}}}key", {
            "id": f"e_{name}", "for": "edge", "attr.name": name, "attr.type": "string"})
    body = ET.SubElement(root, f"{{{GRAPHML_NS}}}graph",
                         {"id": "hedgerow-attribution", "edgedefault": "directed"})
    for element in graph.elements:
        vertex = ET.SubElement(body, f"{{{GRAPHML_NS}}}node", {"id": element["id"]})
        for name in _ELEMENT_FIELDS:
            if element[name] not in (None, []):
                ET.SubElement(vertex, f"{{{GRAPHML_NS}}}data",
                              {"key": f"n_{name}"}).text = _text(element[name])
    for i, connection in enumerate(graph.connections):
        edge = ET.SubElement(body, f"{{{GRAPHML_NS}}}edge", {
            "id": f"e{i}", "source": connection["from"], "target": connection["to"]})
        for name in edge_fields:
            if connection.get(name) is not None:
                ET.SubElement(edge, f"{{{GRAPHML_NS}}}data",
                              {"key": f"e_{name}"}).text = _text(connection[name])
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def to_kumu(graph: Graph) -> bytes:
    """A Kumu workbook: an ``Elements`` sheet and a ``Connections`` sheet."""
    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    write_sheet(book, "Elements",
                ["ID", "Label", "Type", "Organisation", "Node", "Key", "Area", "Level", "Date",
                 "Tags"],
                [[e["id"], e["label"], e["type"], cell(e["organisation"]), e["node"],
                  cell(e["key"]), cell(e["area"]), cell(e["level"]), cell(e["date"]),
                  " | ".join(e["themes"])] for e in graph.elements])
    if any(c["type"] == SUGGESTED for c in graph.connections):
        write_sheet(book, "Connections",
                    ["From", "To", "Type", "Date", "Direction", "Theme", "Reason"],
                    [[c["from"], c["to"], c["type"], cell(c["date"]),
                      "undirected" if c["type"] == SUGGESTED else "directed",
                      cell(c.get("theme")), cell(c.get("reason"))] for c in graph.connections])
        write_sheet(book, "Kumu view (ignore)", ["Paste into Kumu's Advanced Editor"],
                    [[line] for line in _KUMU_VIEW.splitlines()])
    else:
        write_sheet(book, "Connections", ["From", "To", "Type", "Date"],
                    [[c["from"], c["to"], c["type"], c["date"]] for c in graph.connections])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
