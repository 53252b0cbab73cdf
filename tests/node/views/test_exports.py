"""Exports: CSV/JSON/Excel round trips, GraphML with a real reader, Kumu, Open Referral UK."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import networkx as nx
import openpyxl
import pytest
import sqlite_utils
from jsonschema import Draft202012Validator, FormatChecker

from node.exports import export_bytes
from node.exports.tabular import cell, csv_cell
from node.views import VIEWS, prepare, table
from node.views.params import Filters
from protocol import id_to_text

from ...conftest import SHARED
from .network import AT, Network

SCHEMAS = SHARED / "schemas" / "openreferral-uk"


def export(db: sqlite_utils.Database, fmt: str, view: str, **params: Any) -> bytes:
    prepared = prepare(view, params, me=b"\0" * 32, now_ms=AT)
    return export_bytes(db, fmt, view, prepared)


def params_for(net: Network, name: str) -> dict[str, Any]:
    if name in ("spread", "similar"):
        return {"node": id_to_text(net.keys["L0"].public), "key": "repair-cafe"}
    if name == "travelled":
        return {"node": id_to_text(net.keys["L0"].public)}
    if name == "lineage":
        return {"node": id_to_text(net.keys["L2"].public)}
    if name == "directory":
        return {"limit": 500}
    return {}


@pytest.mark.parametrize("name", list(VIEWS))
def test_csv_and_json_parse_back_to_the_same_rows(vdb: sqlite_utils.Database, view: Any,
                                                  net: Network, name: str) -> None:
    params = params_for(net, name)
    result = view(name, **params)
    columns, rows = table(result)
    parsed = list(csv.reader(io.StringIO(export(vdb, "csv", name, **params).decode())))
    assert parsed[0] == columns
    assert parsed[1:] == [[str(csv_cell(row[c])) for c in columns] for row in rows]
    assert len(parsed) - 1 == len(rows) > 0
    assert json.loads(export(vdb, "json", name, **params)) == result


@pytest.mark.parametrize("name", ["themes", "spread", "health"])
def test_excel_holds_the_rows_and_what_was_left_out(vdb: sqlite_utils.Database, view: Any,
                                                    net: Network, name: str) -> None:
    params = params_for(net, name)
    columns, rows = table(view(name, **params))
    book = openpyxl.load_workbook(io.BytesIO(export(vdb, "xlsx", name, **params)))
    assert book.sheetnames == [name, "about"]
    sheet = [list(r) for r in book[name].iter_rows(values_only=True)]
    assert sheet[0] == columns
    assert sheet[1:] == [[cell(row[c]) if cell(row[c]) != "" else None for c in columns]
                         for row in rows]
    about = dict(book["about"].iter_rows(min_row=2, values_only=True))
    assert about["excluded.forked_authors"] == 1
    assert about["excluded.retracted_practices"] == 11


def test_formula_like_text_is_never_a_formula() -> None:
    from node.exports.tabular import to_csv, to_xlsx
    result = {"view": "themes", "params": {}, "rows": [
        {"theme": "=HYPERLINK(\"http://x\")", "practices": 5, "nodes": -1}],
        "totals": {"practices": 5, "nodes": 1}, "excluded": {}}
    assert to_csv(result).splitlines()[1] == '"\'=HYPERLINK(""http://x"")",5,-1'
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(result)))["themes"]
    assert sheet["A2"].data_type == "s" and sheet["A2"].value.startswith("=HYPERLINK")


def test_graphml_reads_back_with_networkx(vdb: sqlite_utils.Database, net: Network) -> None:
    graph = nx.read_graphml(io.BytesIO(export(vdb, "graphml", "spread")))
    assert graph.is_directed()
    alpha = id_to_text(net.keys["L0"].public)
    r = f"{alpha}/repair-cafe"
    assert graph.nodes[r]["type"] == "practice"
    assert graph.nodes[r]["area"] == "E8"
    assert graph.nodes[alpha]["label"] == "Alpha"
    l1 = id_to_text(net.keys["L1"].public)
    assert graph.edges[f"{l1}/repair-cafe", r]["type"] == "adapted from"
    assert graph.edges[l1, r]["type"] == "credited"
    assert graph.edges[alpha, r]["type"] == "runs"
    # No self-credit, nothing of the forked node, nothing retracted.
    assert not graph.has_edge(alpha, r) or graph.edges[alpha, r]["type"] == "runs"
    forked = id_to_text(net.keys["F"].public)
    assert forked not in graph and f"{forked}/repair-cafe" not in graph
    assert f"{id_to_text(net.keys['L7'].public)}/swap" not in graph
    adapted = [e for e in graph.edges(data=True) if e[2]["type"] == "adapted from"]
    # Links between held practices: R←B, R←C, B←E, E←G, E←M, C←M, Z←W, P←Q, Q←P, P←S.
    assert len(adapted) == 10
    # One lineage only:
    lineage = nx.read_graphml(io.BytesIO(export(
        vdb, "graphml", "spread", node=alpha, key="repair-cafe")))
    practices = sorted(n for n, d in lineage.nodes(data=True) if d["type"] == "practice")
    assert len(practices) == 6
    assert all(d["type"] != "adapted from" or lineage.has_node(u)
               for u, _, d in lineage.edges(data=True))


def test_kumu_workbook_has_elements_and_connections(vdb: sqlite_utils.Database) -> None:
    book = openpyxl.load_workbook(io.BytesIO(export(vdb, "kumu", "spread")))
    assert book.sheetnames == ["Elements", "Connections"]
    elements = list(book["Elements"].iter_rows(values_only=True))
    connections = list(book["Connections"].iter_rows(values_only=True))
    assert elements[0][:3] == ("ID", "Label", "Type")
    assert connections[0] == ("From", "To", "Type", "Date")
    ids = {row[0] for row in elements[1:]}
    assert all(row[0] in ids and row[1] in ids for row in connections[1:])
    assert {row[2] for row in connections[1:]} == {"runs", "adapted from", "credited"}


def _validator(name: str) -> Draft202012Validator:
    path = SCHEMAS / f"{name}.json"
    assert path.exists(), (f"the Open Referral UK schema {path} is missing: it ships in "
                           "../shared/schemas/openreferral-uk (see its SOURCE.md)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


def test_openreferral_uk_output_validates_against_the_profile(
        vdb: sqlite_utils.Database, net: Network) -> None:
    doc = json.loads(export(vdb, "openreferral", "directory"))
    service, organization = _validator("service"), _validator("organization")
    assert len(doc["services"]) == len(net.included())
    assert len(doc["organizations"]) == len({p.node for p in net.included()})
    for item in doc["services"]:
        errors = sorted(service.iter_errors(item), key=str)
        assert not errors, errors[0]
    for item in doc["organizations"]:
        errors = sorted(organization.iter_errors(item), key=str)
        assert not errors, errors[0]
    repair = next(s for s in doc["services"] if s["name"] == "Repair cafe")
    assert repair["status"] == "active"
    assert repair["service_areas"][0]["name"] == "E8"
    assert repair["hedgerow_practice_key"] == "repair-cafe"
    assert [a["taxonomy_term"]["name"] for a in repair["attributes"]] == ["repair"]
    assert {s["status"] for s in doc["services"]} <= {"active", "temporarily closed",
                                                      "defunct"}
    assert doc["openreferral_uk"]["excluded"]["forked_authors"] == 1
    again = json.loads(export(vdb, "openreferral", "directory"))
    assert [s["id"] for s in again["services"]] == [s["id"] for s in doc["services"]]


def test_the_format_checker_is_really_checking() -> None:
    """Guard: a bad uuid or date must fail, or the validation above proves nothing."""
    service = _validator("service")
    good = {"id": "ac148810-d857-441c-9679-408f346de14b", "name": "x", "status": "active"}
    assert service.is_valid(good)
    assert not service.is_valid({**good, "id": "not-a-uuid"})
    assert not service.is_valid({**good, "last_modified": "yesterday"})


def test_openreferral_filters(vdb: sqlite_utils.Database, net: Network) -> None:
    doc = json.loads(export(vdb, "openreferral", "directory", theme="food"))
    assert len(doc["services"]) == len(net.included(lambda p: "food" in p.themes))
    assert Filters.of({"theme": "food"}).any


def test_shared_schemas_are_read_from_beside_the_project() -> None:
    assert Path(SCHEMAS).resolve().parent.parent == SHARED.resolve()


def test_introductions_graph_has_suggested_links_drawn_apart(
        vdb: sqlite_utils.Database, view: Any, net: Network) -> None:
    suggestions = view("introductions", per_theme=20, limit=500)
    expected = {(s["groups"][0]["node"], s["groups"][1]["node"], t["theme"])
                for t in suggestions["themes"] for s in t["suggestions"]}
    assert expected
    prepared = prepare("introductions", {"per_theme": 20, "limit": 500}, me=b"\0" * 32,
                       now_ms=AT)
    # One suggestion per theme: two groups may be suggested on several themes.
    multi = nx.read_graphml(io.BytesIO(export_bytes(vdb, "graphml", "introductions", prepared)),
                            force_multigraph=True)
    assert multi.is_directed()
    found = {(u, v, d["theme"]) for u, v, d in multi.edges(data=True)
             if d["type"] == "suggested introduction"}
    assert found == expected
    styles = {d["type"]: (d["style"], d["color"]) for _, _, d in multi.edges(data=True)}
    assert styles["suggested introduction"][0] == "dashed"
    assert {styles[t][0] for t in ("adapted from", "credited", "runs")} == {"solid"}
    assert len({c for _, c in styles.values()}) == 4  # each type its own colour
    # Beside the signed links, not instead of them; suggested groups are organisations.
    assert {d["type"] for _, _, d in multi.edges(data=True)} == {
        "adapted from", "credited", "runs", "suggested introduction"}
    for u, v, _ in found:
        assert multi.nodes[u]["type"] == multi.nodes[v]["type"] == "organisation"
    reasons = [d["reason"] for _, _, d in multi.edges(data=True)
               if d["type"] == "suggested introduction"]
    assert all(r.startswith("both work on ") for r in reasons)


def test_introductions_kumu_workbook(vdb: sqlite_utils.Database) -> None:
    prepared = prepare("introductions", {"per_theme": 20, "limit": 500}, me=b"\0" * 32,
                       now_ms=AT)
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(vdb, "kumu", "introductions",
                                                          prepared)))
    assert book.sheetnames == ["Elements", "Connections", "Kumu view (ignore)"]
    rows = list(book["Connections"].iter_rows(values_only=True))
    assert rows[0] == ("From", "To", "Type", "Date", "Direction", "Theme", "Reason")
    suggested = [r for r in rows[1:] if r[2] == "suggested introduction"]
    assert suggested and all(r[4] == "undirected" and r[5] and r[6] for r in suggested)
    assert all(r[4] == "directed" for r in rows[1:] if r[2] != "suggested introduction")
    ids = {row[0] for row in book["Elements"].iter_rows(min_row=2, values_only=True)}
    assert all(row[0] in ids and row[1] in ids for row in rows[1:])
    view_lines = [r[0] for r in book["Kumu view (ignore)"].iter_rows(min_row=2,
                                                                     values_only=True)]
    assert view_lines[0] == 'connection["connection type"="suggested introduction"] {'
    assert "  dash: 6 4;" in view_lines


def test_openreferral_carries_the_contact() -> None:
    from node.exports.openreferral import _organization

    organization = _validator("organization")
    for contact, field in (("hello@x.example.org", "email"),
                           ("https://x.example.org/contact", "website")):
        out = _organization(b"\1" * 32, {"name": "X", "level": "local", "contact": contact})
        assert out[field] == contact
        assert not list(organization.iter_errors(out))
