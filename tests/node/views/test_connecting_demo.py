"""The demo network's sample groups: similar practices, introductions and where ideas
travelled, worked out by hand from node/samples.py and compared with the views.

The demo's five nodes (Chapeltown Play Out, Headingley Repair Café, Easton
Community Fridge, Moss Side Tenants' Union, Walthamstow Men's Shed) run as
``hedgerow demo`` runs them, the live practice ("Play street kit library",
Walthamstow, adapted from Chapeltown's play street, with a credit) spread to
all of them. Links: Walthamstow adapted and credited Headingley's repair
café and Chapeltown's play street; nothing else links any two groups.

**Similar** (likeness: shared themes, then distinctive words in common, then
the same level; ties newest first — the samples are seeded in the order
above, Walthamstow's live practice last). Words come from each practice's
title, description and lessons, less common English words, its own themes
and words under three letters, one per stem (porter: "volunteering" and
"volunteers" are one word); they are found in the other summaries' titles,
descriptions, lessons, themes and measure names. With five groups every
word is distinctive (fewer than 50 summaries). Worked for play-street:

* its words: monthly, sunday, month, close, traffic, 5pm, council, temporary,
  order, stewards, end, residents, cars, walking, pace, chalk, bikes,
  skipping, ropes, knock, door, fortnight, form, easy, real, permission, vis,
  vest, five, minute, briefing, training, boring, regular, life (play,
  children, street(s), neighbours are its themes);
* the kit library shares play and streets, and chalk, knock ("door-knocking"),
  door, vis ("hi-vis"), vest ("vests"); Moss Side shares neighbours, and knock
  and door ("door-knock"); Headingley shares no theme but month, bikes, door
  and training ("PAT-trained"); the shed's repair café only month, the men's
  shed only bikes ("bike"), Easton only door.

The other practices are worked the same way in ``EXPECTED_SIMILAR`` below.

**Introductions**: themes with two groups or more — neighbours (Chapeltown,
Moss Side), play and streets (Chapeltown, Walthamstow), repair, reuse and
skills (Headingley, Walthamstow), waste (Headingley, Easton). Walthamstow is
tied to Chapeltown and Headingley by its adaptations, so only two
introductions: Chapeltown and Moss Side on neighbours (their only shared
theme; neighbourhood and local levels), Easton and Headingley on waste (only
waste in common; both neighbourhood).

**Where ideas travelled**: Chapeltown's play street to Walthamstow (adapted as
the kit library, credited with its note); Headingley's repair café to
Walthamstow (adapted as the repair café at the shed, credited); nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from node.demo import DemoNetwork
from node.samples import LIVE_PRACTICE, SAMPLE_ORGANISATIONS
from node.views import run_view
from protocol import id_to_text

CHAPELTOWN, HEADINGLEY, EASTON, MOSS_SIDE, WALTHAMSTOW = (
    s.name for s in SAMPLE_ORGANISATIONS[:5])

#: (group, practice) → [(group, practice, shared themes, words in common, same level,
#: already connected)], most alike first.
EXPECTED_SIMILAR: dict[tuple[str, str], list[tuple[str, str, list[str], list[str], bool,
                                                    bool]]] = {
    (CHAPELTOWN, "play-street"): [
        (WALTHAMSTOW, "play-street-kit", ["play", "streets"],
         ["chalk", "knock", "door", "vis", "vest"], True, True),
        (MOSS_SIDE, "repairs-campaign", ["neighbours"], ["knock", "door"], False, False),
        (HEADINGLEY, "repair-cafe", [], ["month", "bikes", "door", "training"], True, False),
        (WALTHAMSTOW, "repair-cafe", [], ["month"], True, True),
        (WALTHAMSTOW, "mens-shed", [], ["bikes"], True, True),
        (EASTON, "community-fridge", [], ["door"], True, False),
    ],
    # Words: cafe, second, saturday, month, volunteer, fixers, sit, visitors, mend,
    # lamps, toasters, clothes, bikes, laptops, together, drops, owner, learns, fix,
    # tea, cake, donation, pat, trained, test, electrical, item, goes, home, greeter,
    # door, sign, sheet, queue, calm, fair.
    (HEADINGLEY, "repair-cafe"): [
        (WALTHAMSTOW, "repair-cafe", ["repair", "reuse", "skills"],
         ["cafe", "month", "volunteer", "fixers", "sit", "owner", "learns", "fix"],
         True, True),
        (WALTHAMSTOW, "mens-shed", ["skills"], ["bikes", "tea"], True, True),
        (EASTON, "community-fridge", ["waste"], ["volunteer", "door"], True, False),
        (CHAPELTOWN, "play-street", [], ["month", "bikes", "trained", "door"], True, False),
        (WALTHAMSTOW, "play-street-kit", [], ["door", "sign"], True, True),
        (MOSS_SIDE, "repairs-campaign", [], ["together", "door"], False, False),
    ],
    # Words: community, fridge, volunteers, collect, surplus, local, shops, allotments,
    # six, week, stock, larder, questions, checks, temperatures, dates, shift, level,
    # hygiene, certificate, log, clipboard, door, mean, dignity, people.
    (EASTON, "community-fridge"): [
        (HEADINGLEY, "repair-cafe", ["waste"], ["volunteers", "door"], True, False),
        (MOSS_SIDE, "repairs-campaign", [], ["collect", "dates", "door", "people"], False,
         False),
        (WALTHAMSTOW, "play-street-kit", [], ["door"], True, False),
        (WALTHAMSTOW, "repair-cafe", [], ["volunteers"], True, False),
        (WALTHAMSTOW, "mens-shed", [], ["week"], True, False),
        (CHAPELTOWN, "play-street", [], ["door"], True, False),
    ],
    # Words: block, repairs, campaign, door, knock, list, ignored, send, landlord,
    # collective, letter, deadline, happens, together, start, people, share, damp,
    # usually, win, builds, membership, dated, record, report, emails, strongest,
    # evidence. Moss Side works at local level, every other practice at neighbourhood.
    (MOSS_SIDE, "repairs-campaign"): [
        (CHAPELTOWN, "play-street", ["neighbours"], ["door", "knock"], False, False),
        (WALTHAMSTOW, "play-street-kit", [], ["door", "knock", "letter", "share"], False,
         False),
        (EASTON, "community-fridge", [], ["door", "collective", "people", "dated"], False,
         False),
        (HEADINGLEY, "repair-cafe", [], ["repairs", "door", "together"], False, False),
        (WALTHAMSTOW, "repair-cafe", [], ["repairs"], False, False),
        (WALTHAMSTOW, "mens-shed", [], ["happens"], False, False),
    ],
    # Words: men, shed, workshop, three, mornings, week, open, woodwork, bike,
    # maintenance, whatever, members, talk, happens, workbench, table, tea, break,
    # session, programme.
    (WALTHAMSTOW, "mens-shed"): [
        (HEADINGLEY, "repair-cafe", ["skills"], ["bike", "tea"], True, True),
        (EASTON, "community-fridge", [], ["week"], True, False),
        (CHAPELTOWN, "play-street", [], ["bike"], True, True),
        (MOSS_SIDE, "repairs-campaign", [], ["happens"], False, False),
    ],
    # Words: cafe, shed, month, members, open, neighbours, fix, headingley, owner,
    # sits, fixer, learns, shy, volunteering, happy.
    (WALTHAMSTOW, "repair-cafe"): [
        (HEADINGLEY, "repair-cafe", ["repair", "reuse", "skills"],
         ["cafe", "month", "fix", "owner", "sits", "fixer", "learns", "volunteering"],
         True, True),
        (CHAPELTOWN, "play-street", [], ["month", "neighbours"], True, True),
        (EASTON, "community-fridge", [], ["volunteering"], True, False),
        (MOSS_SIDE, "repairs-campaign", [], ["neighbours"], False, False),
    ],
    # Words: kit, library, road, closure, signs, cones, chalk, vis, vests, nearby,
    # wants, hold, letter, checklist, chapeltown, shared, door, knocking, help.
    (WALTHAMSTOW, "play-street-kit"): [
        (CHAPELTOWN, "play-street", ["play", "streets"],
         ["chalk", "vis", "vests", "door", "knocking"], True, True),
        (MOSS_SIDE, "repairs-campaign", [], ["letter", "shared", "door", "knocking"], False,
         False),
        (HEADINGLEY, "repair-cafe", [], ["signs", "door"], True, True),
        (EASTON, "community-fridge", [], ["door"], True, False),
    ],
}

#: Themes of two groups or more → the introductions (as unordered pairs) and their reason.
EXPECTED_INTRODUCTIONS: dict[str, list[tuple[frozenset[str], str]]] = {
    "neighbours": [(frozenset({CHAPELTOWN, MOSS_SIDE}),
                    "both work on neighbours; 1 shared theme: neighbours; no credit, "
                    "adaptation or shared lineage between them yet")],
    "play": [], "repair": [], "reuse": [], "skills": [], "streets": [],
    "waste": [(frozenset({EASTON, HEADINGLEY}),
               "both work on waste; 1 shared theme: waste; both at neighbourhood level; "
               "no credit, adaptation or shared lineage between them yet")],
}

#: Group → [(its practice, who, adapted as, their note)].
EXPECTED_TRAVELLED: dict[str, list[tuple[str, str, list[str], str | None]]] = {
    CHAPELTOWN: [("play-street", WALTHAMSTOW, ["play-street-kit"],
                  LIVE_PRACTICE.adapted_from[0].thanks)],
    HEADINGLEY: [("repair-cafe", WALTHAMSTOW, ["repair-cafe"],
                  SAMPLE_ORGANISATIONS[4].practices[1].adapted_from[0].thanks)],
    EASTON: [], MOSS_SIDE: [], WALTHAMSTOW: [],
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    net = DemoNetwork(tmp_path_factory.mktemp("demo"), nodes=5, port_base=0,
                      sync_interval=3600)
    await net.start()
    try:
        await net.settle()
        await net.publish_live()
        for _ in range(20):
            if (await net.spread_round()).everywhere:
                break
        yield net
    finally:
        await net.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_similar_practices_are_those_worked_out_by_hand(demo: DemoNetwork) -> None:
    names = {id_to_text(node.node_id): node.name for node in demo.nodes}
    ids = {node.name: id_to_text(node.node_id) for node in demo.nodes}
    for viewer in (demo.nodes[0], demo.nodes[3]):  # any node holding everything answers alike
        for (group, key), expected in EXPECTED_SIMILAR.items():
            result = await run_view(viewer.store, "similar",
                                    {"node": ids[group], "key": key})
            found = [(names[r["node"]], r["key"], r["shared_themes"], r["shared_words"],
                      r["same_level"], r["connected"]) for r in result["results"]]
            assert found == expected, (group, key)
            assert result["total"] == len(expected)
            contacts = {r["node"]: r["contact"] for r in result["results"]}
            for node, contact in contacts.items():
                assert contact == (next(s.contact for s in SAMPLE_ORGANISATIONS
                                        if s.name == names[node]) or None)


@pytest.mark.asyncio(loop_scope="module")
async def test_introductions_are_those_worked_out_by_hand(demo: DemoNetwork) -> None:
    result = await run_view(demo.nodes[2].store, "introductions", {"per_theme": 20})
    assert result["total"] == len(EXPECTED_INTRODUCTIONS)
    found = {theme["theme"]: [(frozenset(g["name"] for g in s["groups"]), s["why"])
                              for s in theme["suggestions"]] for theme in result["themes"]}
    assert found == EXPECTED_INTRODUCTIONS
    assert all(theme["groups"] == 2 and not theme["more"] for theme in result["themes"])
    by_name = {s.name: s for s in SAMPLE_ORGANISATIONS}
    for theme in result["themes"]:
        for suggestion in theme["suggestions"]:
            for group in suggestion["groups"]:  # both groups' contacts, where published
                assert group["contact"] == (by_name[group["name"]].contact or None)


@pytest.mark.asyncio(loop_scope="module")
async def test_where_ideas_travelled_is_worked_out_by_hand(demo: DemoNetwork) -> None:
    viewer = demo.nodes[1].store
    for node in demo.nodes:
        result = await run_view(viewer, "travelled", {"node": id_to_text(node.node_id)})
        found = [(p["key"], g["name"], [a["key"] for a in g["adapted_as"]], g["note"])
                 for p in result["practices"] for g in p["groups"]]
        assert found == EXPECTED_TRAVELLED[node.name], node.name
        assert all(g["credited"] for p in result["practices"] for g in p["groups"])
