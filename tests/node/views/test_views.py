"""Every view over the fixture network, against exact expected outputs.

Count views are checked against the oracle in :mod:`.network` (plain
Python over the network's description); lineage views against trees
written out by hand from the lineages the fixture was built with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlite_utils

from node import InvalidInput, NotFound
from node.views import VIEWS, compute_view, prepare
from node.views.common import EXCLUSION_NOTE, clear_memo
from protocol import decode, id_to_text

from ...members import TEST_NETWORK
from .network import AT, DAY, Network

FACETS = {"themes": "theme", "levels": "level", "areas": "area"}


def node(net: Network, name: str) -> str:
    return id_to_text(net.keys[name].public)


@pytest.mark.parametrize("name", ["themes", "levels", "areas"])
def test_counts_match_the_oracle(view: Any, net: Network, name: str) -> None:
    result = view(name)
    assert result["rows"] == net.expected_counts(FACETS[name])
    included = net.included()
    assert result["totals"] == {"practices": len(included),
                                "nodes": len({p.node for p in included})}
    assert result["excluded"] == net.expected_excluded()


def test_principles_match_the_oracle(view: Any, net: Network) -> None:
    assert view("principles")["rows"] == net.expected_principles()


def test_timeline_matches_the_oracle(view: Any, net: Network) -> None:
    result = view("timeline")
    rows, undated = net.expected_timeline()
    assert result["rows"] == rows
    assert result["new_without_month"] == undated
    assert rows[0]["month"] == "2019-05"  # the repair café, since 2019-05
    assert sum(r["retracted"] for r in rows) == net.expected_excluded()["retracted_practices"]


FILTERS: list[tuple[dict[str, str], Any]] = [
    ({"status": "active"}, lambda net, p: p.status == "active"),
    ({"level": "regional"}, lambda net, p: net.eff_level(p) == "regional"),
    ({"area": "e8"}, lambda net, p: net.eff_area(p).casefold() == "e8"),
    ({"area": "HACKNEY"}, lambda net, p: net.eff_area(p).casefold() == "hackney"),
    ({"theme": "food"}, lambda net, p: "food" in p.themes),
    ({"since": "2020-03"}, lambda net, p: p.since is not None and p.since >= "2020-03"),
    ({"updated_since": "2023-07-22"}, lambda net, p: p.version >= 1_689_984_000_000),
    ({"principle": "community LED"}, lambda net, p: p.node in {
        pr.node for pr in net.profiles.values()
        if "community led" in {x.casefold() for x in pr.principles}}),
    ({"status": "paused", "theme": "repair"},
     lambda net, p: p.status == "paused" and "repair" in p.themes),
]


@pytest.mark.parametrize(("params", "keep"), FILTERS, ids=[str(f[0]) for f in FILTERS])
@pytest.mark.parametrize("name", ["themes", "levels", "areas"])
def test_filters_match_the_oracle(view: Any, net: Network, name: str,
                                  params: dict[str, str], keep: Any) -> None:
    expected = net.expected_counts(FACETS[name], lambda p: keep(net, p))
    assert view(name, **params)["rows"] == expected
    assert expected, "each filter keeps something in the fixture"


def test_the_directory_searches_and_filters(view: Any, net: Network) -> None:
    everything = view("directory", limit=500)
    included = net.included()
    profiles = [p for p in net.profiles.values() if p.node != net.forked]
    assert everything["total"] == len(included) + len(profiles)
    titles = [row["title"] for row in everything["results"]]
    assert titles == sorted(titles)
    assert "Forked one" not in titles and "Copy" not in titles      # the forked node
    assert "Swap" not in titles                                       # retracted
    assert not any(t.endswith("(old)") for t in titles)              # superseded
    practices = view("directory", kind="practice", status="ended", limit=500)
    assert practices["total"] == sum(1 for p in included if p.status == "ended")
    assert {r["kind"] for r in practices["results"]} == {"practice"}
    # Full-text search: ranked, and only what matches.
    found = view("directory", q="swap", limit=10)
    assert {r["title"] for r in found["results"]} == {"Swap shop", "Swap meet", "Swap day",
                                                     "Tool swap"}
    assert found["total"] == 4
    assert all(isinstance(r["snippet"], str) for r in found["results"])
    # Paging is stable and complete.
    pages = [view("directory", limit=40, offset=o)["results"] for o in range(0, 400, 40)]
    assert [r for page in pages for r in page] == everything["results"]


def test_the_directory_shows_areas_no_finer_than_a_district(view: Any) -> None:
    found = view("directory", q="repair", limit=50)
    repair_cafe = next(r for r in found["results"] if r["title"] == "Repair cafe")
    assert repair_cafe["area"] == "E8"
    assert "3PB" not in repair_cafe["snippet"]


def test_spread_of_a_practice_is_the_expected_tree(view: Any, net: Network) -> None:
    result = view("spread", node=node(net, "L0"), key="repair-cafe")

    def shape(vertex: dict[str, Any]) -> Any:
        return (vertex["node_name"], vertex["key"], vertex["generation"], vertex["via"],
                vertex["credited"], [shape(c) for c in vertex["children"]])

    assert shape(result["tree"]) == (
        "Alpha", "repair-cafe", 0, "root", False, [
            ("Group L1", "repair-cafe", 1, "adapted_from", True, [
                ("Group L4", "repair-cafe", 2, "adapted_from", False, [
                    ("Group L5", "mend", 3, "adapted_from", False, [])])]),
            ("Group L2", "fix-it", 1, "adapted_from", False, [
                ("Group L5", "mend-more", 2, "adapted_from", False, [])]),
            # L3 only credited: it credited (yes), and did not adopt.
            ("Group L3", None, 1, "credit", True, []),
        ])
    # Areas: R in E8 (own), L1 in its profile's E8, L2 Leeds, L4 LS6, L5 its profile's
    # Leeds, L3 (credit only) its profile's Hackney.
    assert result["figures"] == {"practices": 6, "adopting_nodes": 4, "crediting_nodes": 1,
                                 "generations": 3, "areas_reached": 4, "credits_received": 2}
    assert [(c["node_name"], c["note"]) for c in result["credits"]] == [
        ("Group L1", "Thank you, Alpha"), ("Group L3", "We learned a lot")]
    assert result["excluded"] == {**net.expected_excluded(), "self_credits": 1,
                                  "cycle_links": 0, "merge_links": 1}
    assert result["tree"]["area"] == "E8" and result["tree"]["date"] == "2023-07-22"


def test_roots_are_ordered_by_reach(view: Any, net: Network) -> None:
    result = view("spread")
    assert [(r["node_name"], r["key"], r["practices"], r["adopting_nodes"],
             r["crediting_nodes"], r["generations"], r["areas_reached"],
             r["credits_received"]) for r in result["roots"]] == [
        ("Alpha", "repair-cafe", 6, 4, 1, 3, 4, 2),
        # The cycle nobody enters starts at its earliest practice.
        ("Group L10", "tool-library", 3, 2, 0, 1, 1, 0),
        # Adapted only from a retracted practice: a lineage of its own.
        ("Group L8", "swap-meet", 2, 1, 0, 1, 1, 0),
    ]
    assert result["total"] == 3
    assert result["excluded"]["cycle_links"] == 1
    assert result["excluded"]["self_credits"] == 1


def test_a_cycle_is_cut_and_counted(view: Any, net: Network) -> None:
    result = view("spread", node=node(net, "L11"), key="tool-share")
    assert [(c["node_name"], c["key"]) for c in result["tree"]["children"]] == [
        ("Group L10", "tool-library")]
    grandchildren = result["tree"]["children"][0]["children"]
    # L12 has published no profile: no name.
    assert [(c["node_name"], c["key"]) for c in grandchildren] == [(None, "tool-swap")]
    assert result["excluded"]["cycle_links"] == 1


def test_spread_refuses_retracted_and_forked_practices(view: Any, net: Network) -> None:
    with pytest.raises(NotFound):
        view("spread", node=node(net, "L7"), key="swap")
    with pytest.raises(NotFound):
        view("spread", node=node(net, "F"), key="repair-cafe")
    with pytest.raises(InvalidInput) as err:
        view("spread", node=node(net, "L0"))
    assert err.value.field == "key"


def _links(side: list[dict[str, Any]]) -> list[Any]:
    return [(other["name"], [(link["via"], link["our_practice"], link["their_practice"],
                              link["held"]) for link in other["links"]]) for other in side]


def test_lineage_of_nodes(view: Any, net: Network) -> None:
    alpha = view("lineage", node=node(net, "L0"))
    assert _links(alpha["learned_from"]) == []
    assert _links(alpha["learned_by"]) == [
        ("Group L1", [("credit", "repair-cafe", None, True),
                      ("adapted_from", "repair-cafe", "repair-cafe", True)]),
        ("Group L2", [("adapted_from", "repair-cafe", "fix-it", True)]),
        ("Group L3", [("credit", "repair-cafe", None, True)]),
    ]
    assert alpha["figures"] == {"learned_from_nodes": 0, "learned_by_nodes": 3,
                                "links_from": 0, "links_by": 4}
    l2 = view("lineage", node=node(net, "L2"))
    assert _links(l2["learned_from"]) == [
        ("Alpha", [("adapted_from", "fix-it", "repair-cafe", True)]),
        ("Group L9", [("adapted_from", "fix-it", "never-published", False)]),
    ]
    assert _links(l2["learned_by"]) == [
        ("Group L5", [("adapted_from", "fix-it", "mend-more", True)])]
    l8 = view("lineage", node=node(net, "L8"))
    assert _links(l8["learned_from"]) == []   # its source was retracted
    assert l8["excluded"]["links_to_retracted"] == 1


def test_lineage_defaults_to_this_node(view: Any, net: Network) -> None:
    assert view("lineage")["node"]["node"] == node(net, "me")


def test_health(view: Any, net: Network) -> None:
    result = view("health", at=str(AT))
    newest = net.newest_versions()
    delays = net.delays()
    referenced = set(newest)
    assert result["figures"] == {
        "nodes_known": len(newest),
        "heard_from_last_day": sum(1 for v in newest.values() if v >= AT - DAY),
        "heard_from_last_week": sum(1 for v in newest.values() if v >= AT - 7 * DAY),
        "profiles_held": len([p for p in net.profiles if p != net.forked]),
        "nodes_referenced": len(referenced),
        "coverage": round(len([p for p in net.profiles if p != net.forked]) /
                          len(referenced), 4),
        "forked_nodes": 1,
        "fork_proofs": 1,
        "entries_held": {
            "total": len(net.included()) + 11 + 3 + 42 + len(net.keys) + 1, "credit": 3,
            "practice": len(net.included()), "profile": 42, "retract": 11,
            # The membership: the genesis and the founder's admission of every node.
            "admit": len(net.keys), "genesis": 1, "withdrawal": 0},
        "freshness": {"entries_received": len(delays),
                      "median_delay_ms": net.nearest_rank(delays, 50),
                      "p90_delay_ms": net.nearest_rank(delays, 90),
                      "signed_after_arrival": 0},
    }
    assert result["params"] == {"at": "2023-08-17T04:26:40.000Z"}


def test_every_view_says_what_it_left_out(view: Any, net: Network) -> None:
    for name in VIEWS:
        params = {"node": node(net, "L0"), "key": "repair-cafe"} \
            if name in ("spread", "similar") else {}
        excluded = view(name, **params)["excluded"]
        assert excluded["forked_authors"] == 1, name
        assert excluded["retracted_practices"] == 11, name
        assert excluded["note"] == EXCLUSION_NOTE


@pytest.mark.parametrize(("name", "params", "field"), [
    ("themes", {"level": "galactic"}, "level"),
    ("themes", {"since": "2020-13"}, "since"),
    ("themes", {"updated_since": "yesterday"}, "updated_since"),
    ("themes", {"q": "food"}, "q"),
    ("directory", {"limit": "0"}, "limit"),
    ("directory", {"limit": "many"}, "limit"),
    ("directory", {"q": "   "}, "q"),
    ("spread", {"node": "not-a-node", "key": "x"}, "node"),
    ("spread", {"node": id_to_text(b"\1" * 32), "key": "Not A Key"}, "key"),
    ("health", {"at": "soon"}, "at"),
])
def test_bad_parameters_name_the_parameter(vdb: sqlite_utils.Database, name: str,
                                           params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        compute_view(vdb, name, prepare(name, params, me=b"\0" * 32, now_ms=AT))
    assert err.value.field == field
    assert err.value.message.startswith(f"{field}: ")


PRIVATE_TABLES = {"practices", "measures", "observations", "voices", "lessons", "adaptations",
                  "share_policies", "shared_lessons", "shared_measures", "organisation",
                  "practices_fts"}


def test_views_never_read_private_records(vdb: sqlite_utils.Database, view: Any,
                                          net: Network) -> None:
    """DESIGN.md privacy rule 1: views read only the signed summaries."""
    import sqlite3
    read: set[str] = set()

    def authorizer(action: int, table: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_READ and table:
            read.add(table)
        return sqlite3.SQLITE_OK

    clear_memo()  # remembered results would hide the reads
    vdb.conn.set_authorizer(authorizer)
    try:
        for name in VIEWS:
            if name != "similar":
                view(name)
        view("spread", node=node(net, "L0"), key="repair-cafe")
        view("similar", node=node(net, "L0"), key="repair-cafe")
        view("introductions", level="local")  # computed, not precomputed
        view("directory", q="repair")
    finally:
        vdb.conn.set_authorizer(None)
    assert read and not read & PRIVATE_TABLES


def test_members_shows_who_admitted_whom(view: Any, net: Network) -> None:
    result = view("members")
    founder = id_to_text(TEST_NETWORK.founder.public)
    assert result["founder"] == founder and result["count"] == len(net.keys) + 1
    tree = result["tree"]
    assert (tree["node"], tree["admitted_by"], tree["depth"]) == (founder, None, 0)
    # Every fixture node was admitted by the founder (tests/members.py), on
    # the day its admission's version names.
    children = {child["node"]: child for child in tree["children"]}
    assert set(children) == {id_to_text(k.public) for k in net.keys.values()}
    for name, key in net.keys.items():
        child = children[id_to_text(key.public)]
        assert child["admitted_by"] == founder and child["depth"] == 1
        version = decode(TEST_NETWORK.admission(key.public).payload)["version"]
        assert child["admitted"] == datetime.fromtimestamp(version / 1000, UTC).strftime(
            "%Y-%m-%d")
        profile = net.profiles.get(name)
        assert child["name"] == (profile.name if profile else None)
    assert result["members"][0]["node"] == founder
