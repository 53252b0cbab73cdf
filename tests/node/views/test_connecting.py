"""Similar practices, introductions and where ideas travelled, over the fixture network.

Expected outputs come from an oracle written here in plain Python over the
fixture network's description (:mod:`.network`), independently of the SQL
and of the view code: links and lineages are rebuilt from the practices'
``adapted_from`` lists and the credits, words from the titles, the order of
groups from the rule as documented. Then the rules the views must keep:
introductions never look at every pair, a precomputed list equals a
computed one, pages join up, and nothing connected is ever suggested.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any

import pytest
import sqlite_utils

from node import NotFound
from node.views import compute_view, prepare
from node.views import introductions as introductions_module
from node.views.common import clear_memo, day_of_ms
from node.views.introductions import WINDOW
from node.views.similar import STOPWORDS
from protocol import id_to_text

from .network import AREAS, AT, Network, Practice

WORKING = ("active", "paused")


def node(net: Network, name: str) -> str:
    return id_to_text(net.keys[name].public)


# --- the oracle ----------------------------------------------------------------------

class Oracle:
    """Links, lineages and words of the fixture network, from its plain description."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.held = {(p.node, p.key): p for p in net.included()}
        self.retracted = {(p.node, p.key) for p in net.practices if p.retracted_at}
        # Direct ties: adaptations and credits, either way, not to a retracted
        # practice, not by or to the forked node, not to oneself.
        self.ties: dict[str, set[str]] = defaultdict(set)
        for (a, b, key) in self.links():
            if (b, key) not in self.retracted and a != b:
                self.ties[a].add(b)
                self.ties[b].add(a)

    def links(self) -> list[tuple[str, str, str]]:
        """(from node, to node, to practice key) of every current link, forked left out."""
        out = [(p.node, ref[0], ref[1]) for p in self.held.values() for ref in p.adapted_from]
        out += [(c.node, c.to, c.practice) for c in self.net.credits]
        return [(a, b, k) for a, b, k in out if self.net.forked not in (a, b)]

    def ancestors(self, pid: tuple[str, str]) -> set[tuple[str, str]]:
        """A held practice and every held practice it descends from."""
        seen, todo = {pid}, [pid]
        while todo:
            for ref in self.held[todo.pop()].adapted_from:
                if ref in self.held and ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
        return seen

    def level(self, name: str) -> str | None:
        profile = self.net.profiles.get(name)
        return profile.level if profile else None

    # --- similar -------------------------------------------------------------------

    def summary_tokens(self) -> list[set[str]]:
        """The words of every summary the node holds (practices, profiles, credits)."""
        def tokens(*texts: str) -> set[str]:
            return {w for t in texts for w in re.findall(r"[^\W_]+", t.lower())}
        out = [tokens(p.title, " ".join(p.themes), p.area) for p in self.net.practices
               if p.retracted_at is None]
        out.append(tokens("Same version, other entry"))  # the fork's second entry
        out += [tokens(f.name, f.area, *f.principles) for f in self.net.profiles.values()]
        out += [tokens(c.practice, c.note) for c in self.net.credits]
        return out

    def similar(self, name: str, key: str) -> list[dict[str, Any]]:
        p = self.held[(name, key)]
        summaries = self.summary_tokens()
        cap = max(50, len(summaries) // 50)
        theme_words = {w for t in p.themes for w in t.split()}
        words = []
        for word in re.findall(r"[^\W_]+", p.title.lower()):
            if len(word) >= 3 and not word.isdigit() and word not in STOPWORDS and \
                    word not in theme_words and word not in words:
                words.append(word)
        words = [w for w in words if sum(1 for s in summaries if w in s) <= cap]
        level = self.net.eff_level(p)
        ours = self.ancestors((name, key))
        rows = []
        for q in self.held.values():
            if q.node == name:
                continue
            text = set(re.findall(r"[^\W_]+", " ".join([q.title, *q.themes, q.area]).lower()))
            shared = sorted(set(p.themes) & set(q.themes))
            common = [w for w in words if w in text]
            if not shared and not common:
                continue
            same = level is not None and self.net.eff_level(q) == level
            rows.append({"node": node(self.net, q.node), "key": q.key,
                         "shared_themes": shared, "shared_words": common, "same_level": same,
                         "connected": q.node in self.ties[name] or
                         bool(ours & self.ancestors((q.node, q.key))),
                         "version": q.version})
        rows.sort(key=lambda r: (-len(r["shared_themes"]), -len(r["shared_words"]),
                                 not r["same_level"], -r["version"], r["node"], r["key"]))
        return rows

    # --- introductions -------------------------------------------------------------

    def working(self, level: str | None, area: str | None) -> list[Practice]:
        return [p for p in self.held.values() if p.status in WORKING
                and (level is None or self.net.eff_level(p) == level)
                and (area is None or self.net.eff_area(p).casefold() == area.casefold())]

    def order(self, theme: str, names: set[str]) -> list[str]:
        prime = 2**61 - 1
        digest = hashlib.sha256(b"hedgerow introductions\0" + theme.encode()).digest()
        a = int.from_bytes(digest[:8], "big") % (prime - 1) + 1
        b = int.from_bytes(digest[8:16], "big") % prime
        h = {n: int.from_bytes(self.net.keys[n].public[:8], "big") for n in names}
        return sorted(names, key=lambda n: ((a * h[n] + b) % prime, h[n]))

    def lineage(self, name: str, theme: str) -> set[tuple[str, str]]:
        """Ancestors of the group's practices with the theme, and of those it credited."""
        starts = [pid for pid, p in self.held.items() if p.node == name and theme in p.themes]
        starts += [(c.to, c.practice) for c in self.net.credits
                   if c.node == name and c.to != name and (c.to, c.practice) in self.held
                   and theme in self.held[(c.to, c.practice)].themes]
        return set().union(*(self.ancestors(s) for s in starts)) if starts else set()

    def introductions(self, level: str | None = None,
                      area: str | None = None) -> dict[str, tuple[int, list[Any]]]:
        """Theme → (groups, every suggestion as (group, group, shared themes, same level))."""
        practices = self.working(level, area)
        themes_of: dict[str, set[str]] = defaultdict(set)
        groups: dict[str, set[str]] = defaultdict(set)
        for p in practices:
            themes_of[p.node].update(p.themes)
            for theme in p.themes:
                groups[theme].add(p.node)
        out = {}
        for theme in sorted(groups):
            if len(groups[theme]) < 2:
                continue
            order = self.order(theme, groups[theme])
            lineage = {g: self.lineage(g, theme) for g in order}
            n, made, found = len(order), set(), []
            for i, a in enumerate(order):
                best = None
                for step in range(1, min(WINDOW, n - 1) + 1):
                    b = order[(i + step) % n]
                    if frozenset((a, b)) in made or b in self.ties[a] or lineage[a] & lineage[b]:
                        continue
                    same = self.level(a) is not None and self.level(a) == self.level(b)
                    rank = (-len(themes_of[a] & themes_of[b]), not same, step)
                    if best is None or rank < best[0]:
                        best = (rank, b, same)
                if best is not None:
                    made.add(frozenset((a, best[1])))
                    found.append((a, best[1], sorted(themes_of[a] & themes_of[best[1]]),
                                  best[2]))
            out[theme] = (n, found)
        return out

    # --- travelled -----------------------------------------------------------------

    def travelled(self, name: str) -> tuple[list[Any], int]:
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        retracted = 0
        for p in self.held.values():
            for ref in p.adapted_from:
                if ref[0] == name and p.node not in (name, self.net.forked):
                    if ref in self.retracted:
                        retracted += 1
                        continue
                    row = rows.setdefault((ref[1], p.node), {"adapted": [], "note": None,
                                                             "credited": False, "newest": 0})
                    row["adapted"].append(p.key)
                    row["newest"] = max(row["newest"], p.version)
        for c in self.net.credits:
            if c.to == name and c.node not in (name, self.net.forked):
                if (name, c.practice) in self.retracted:
                    retracted += 1
                    continue
                row = rows.setdefault((c.practice, c.node), {"adapted": [], "note": None,
                                                             "credited": False, "newest": 0})
                row["credited"], row["note"] = True, c.note or None
                row["newest"] = max(row["newest"], c.version)
        def name_of(n: str) -> str | None:
            profile = self.net.profiles.get(n)
            return profile.name if profile else None

        out = []
        for key in sorted({k for k, _ in rows},
                          key=lambda k: (self.held[(name, k)].title.casefold()
                                         if (name, k) in self.held else "\uffff", k)):
            who = sorted((n for k, n in rows if k == key),
                         key=lambda n: (-rows[(key, n)]["newest"],
                                        (name_of(n) or "").casefold(), node(self.net, n)))
            out.append((key, [(name_of(n), sorted(rows[(key, n)]["adapted"]),
                               rows[(key, n)]["credited"], rows[(key, n)]["note"],
                               day_of_ms(rows[(key, n)]["newest"])) for n in who]))
        return out, retracted


@pytest.fixture(scope="module")
def oracle(net: Network) -> Oracle:
    return Oracle(net)


# --- similar ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "key"), [
    ("L0", "repair-cafe"), ("L5", "mend-more"), ("L8", "swap-meet"), ("L10", "tool-library"),
    ("N03", "practice-1"), ("me", "own-practice")])
def test_similar_matches_the_oracle(view: Any, net: Network, oracle: Oracle, name: str,
                                    key: str) -> None:
    expected = oracle.similar(name, key)
    result = view("similar", node=node(net, name), key=key, limit=500)
    found = [{k: r[k] for k in ("node", "key", "shared_themes", "shared_words", "same_level",
                                "connected", "version")} for r in result["results"]]
    assert found == expected
    assert result["total"] == len(expected)
    assert result["practice"]["key"] == key and result["practice"]["node"] == node(net, name)
    # Never a practice of the same group, never the forked node, never a retracted one.
    assert all(r["node"] != node(net, name) for r in result["results"])
    assert node(net, net.forked) not in {r["node"] for r in result["results"]}
    # Each says why, in words.
    for r in result["results"]:
        if r["shared_themes"]:
            assert r["why"].startswith(f"{len(r['shared_themes'])} shared theme")
        assert ("already linked" in r["why"]) == r["connected"]


def test_similar_pages_join_up(view: Any, net: Network) -> None:
    whole = view("similar", node=node(net, "N03"), key="practice-1", limit=500)["results"]
    pages = [view("similar", node=node(net, "N03"), key="practice-1", limit=4,
                  offset=offset)["results"] for offset in range(0, len(whole) + 4, 4)]
    assert [r for page in pages for r in page] == whole
    assert view("similar", node=node(net, "N03"), key="practice-1")["params"]["limit"] == 10


def test_similar_words_are_distinctive_and_said(view: Any, net: Network) -> None:
    result = view("similar", node=node(net, "L0"), key="repair-cafe")
    # "Repair cafe too" shares the theme and the word "cafe"; "repair" is a theme, so it
    # counts once, as a theme.
    first = result["results"][0]
    assert (first["title"], first["shared_words"]) == ("Repair cafe too", ["cafe"])
    assert first["why"] == ("1 shared theme: repair; 1 word in common: cafe; already "
                            "linked by a credit, an adaptation or a lineage")
    # "Practice 3 of 7": "practice" is in nearly every title, so says nothing.
    found = view("similar", node=node(net, "N03"), key="practice-1", limit=500)["results"]
    assert all("practice" not in r["shared_words"] for r in found)


def test_similar_refuses_what_it_cannot_see(view: Any, net: Network) -> None:
    for name, key in (("L7", "swap"), ("F", "repair-cafe"), ("L0", "nope")):
        with pytest.raises(NotFound, match="no summary of that practice"):
            view("similar", node=node(net, name), key=key)


# --- introductions ---------------------------------------------------------------------

def _found(result: dict[str, Any], net: Network) -> dict[str, tuple[int, list[Any]]]:
    names = {node(net, n): n for n in net.keys}
    return {t["theme"]: (t["groups"], [(names[s["groups"][0]["node"]],
                                        names[s["groups"][1]["node"]], s["shared_themes"],
                                        s["same_level"]) for s in t["suggestions"]])
            for t in result["themes"]}


@pytest.mark.parametrize("filters", [{}, {"level": "regional"}, {"area": "hackney"},
                                     {"level": "national", "area": "E8"}])
def test_introductions_match_the_oracle(view: Any, net: Network, oracle: Oracle,
                                        filters: dict[str, str]) -> None:
    expected = oracle.introductions(filters.get("level"), filters.get("area"))
    result = view("introductions", per_theme=20, limit=500, **filters)
    assert result["total"] == len(expected)
    # Twenty suggestions a theme at most in the list of themes…
    assert _found(result, net) == {t: (n, s[:20]) for t, (n, s) in expected.items()}
    assert [t["more"] for t in result["themes"]] == [len(s) > 20 for _, s in expected.values()]
    # …and every one, a theme at a time.
    for theme, (groups, suggestions) in expected.items():
        one = view("introductions", theme=theme, limit=500, **filters)
        assert one["total"] == 1 and _found(one, net) == {theme: (groups, suggestions)}
    assert any(s for _, s in expected.values())


def test_nothing_connected_is_ever_suggested(view: Any, net: Network, oracle: Oracle) -> None:
    names = {node(net, n): n for n in net.keys}
    result = view("introductions", per_theme=20, limit=500)
    for theme in result["themes"]:
        for suggestion in theme["suggestions"]:
            a, b = (names[g["node"]] for g in suggestion["groups"])
            assert b not in oracle.ties[a]
            assert not oracle.lineage(a, theme["theme"]) & oracle.lineage(b, theme["theme"])
            assert theme["theme"] in suggestion["shared_themes"]
            assert suggestion["why"].startswith(f"both work on {theme['theme']}; ")
    # The repair café's lineage (L0, L1, L2, L4, L5 on "repair") is never introduced to itself.
    lineage = {node(net, n) for n in ("L0", "L1", "L2", "L4", "L5")}
    repair = next(t for t in result["themes"] if t["theme"] == "repair")
    assert not any({g["node"] for g in s["groups"]} <= lineage for s in repair["suggestions"])


def test_introductions_page_through_themes_and_through_a_theme(view: Any) -> None:
    whole = view("introductions", limit=500)
    pages = [view("introductions", limit=3, offset=o)["themes"]
             for o in range(0, whole["total"], 3)]
    assert [t for page in pages for t in page] == whole["themes"]
    assert whole["params"]["per_theme"] == 3
    assert view("introductions")["params"]["limit"] == 10
    theme = max(whole["themes"], key=lambda t: t["groups"])["theme"]
    every = view("introductions", theme=theme, limit=500)["themes"][0]["suggestions"]
    pages = [view("introductions", theme=theme, limit=2, offset=o)["themes"][0]
             for o in range(0, len(every), 2)]
    assert [s for page in pages for s in page["suggestions"]] == every
    assert [page["more"] for page in pages] == [True] * (len(pages) - 1) + [False]


def test_precomputed_introductions_are_the_computed_ones(
        vdb: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    me = vdb.conn.execute("SELECT node_id FROM node_state").fetchone()[0]

    def run(**params: Any) -> dict[str, Any]:
        clear_memo()
        return compute_view(vdb, "introductions",
                            prepare("introductions", params, me=me, now_ms=AT))

    kept = [run(per_theme=n, limit=4, offset=o) for n in (1, 20) for o in (0, 2)]
    monkeypatch.setattr(introductions_module, "cached", lambda db, name: None)
    assert [run(per_theme=n, limit=4, offset=o) for n in (1, 20) for o in (0, 2)] == kept


def test_a_big_theme_is_never_read_whole(vdb: sqlite_utils.Database, net: Network,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding k suggestions reads the facts of about k + WINDOW groups, not every pair."""
    loaded: list[int] = []
    original = introductions_module._Theme.load

    def counting(self: Any, position: int) -> None:
        before = len(self.group_level)
        original(self, position)
        loaded.append(len(self.group_level) - before)

    monkeypatch.setattr(introductions_module._Theme, "load", counting)
    compared: list[int] = []
    connected = introductions_module._Theme.connected

    def counting_connected(self: Any, a: int, b: int) -> bool:
        compared.append(1)
        return connected(self, a, b)

    monkeypatch.setattr(introductions_module._Theme, "connected", counting_connected)
    me = vdb.conn.execute("SELECT node_id FROM node_state").fetchone()[0]
    clear_memo()
    result = compute_view(vdb, "introductions", prepare("introductions", {
        "theme": "food", "limit": 1}, me=me, now_ms=AT))
    groups = result["themes"][0]["groups"]
    assert groups > 2 * WINDOW // 2 + 2
    assert sum(loaded) <= 2 * 2 + WINDOW + 1 < groups * (groups - 1) // 2
    assert len(compared) <= 2 * WINDOW


# --- where ideas travelled -------------------------------------------------------------

@pytest.mark.parametrize("name", ["L0", "L1", "L4", "L6", "L7", "L10", "N03", "me"])
def test_travelled_matches_the_oracle(view: Any, net: Network, oracle: Oracle,
                                      name: str) -> None:
    expected, retracted = oracle.travelled(name)
    result = view("travelled", node=node(net, name))
    found = [(p["key"], [(g["name"], [a["key"] for a in g["adapted_as"]], g["credited"],
                          g["note"], g["date"]) for g in p["groups"]])
             for p in result["practices"]]
    assert found == expected
    assert result["excluded"]["links_to_retracted"] == retracted
    assert result["node"]["node"] == node(net, name)
    for practice in result["practices"]:
        held = (name, practice["key"]) in oracle.held
        assert practice["held"] == held
        assert practice["title"] == (oracle.held[(name, practice["key"])].title if held
                                     else None)


def test_travelled_of_the_repair_cafe(view: Any, net: Network) -> None:
    # L1 adapted it and credited it, L2 adapted it, L3 credited it; L0's own credit and
    # the forked node's copy and credit are left out.
    (practice,) = view("travelled", node=node(net, "L0"))["practices"]
    assert practice["key"] == "repair-cafe"
    rows = {g["name"]: g for g in practice["groups"]}
    assert sorted(rows) == ["Group L1", "Group L2", "Group L3"]
    assert rows["Group L1"]["adapted_as"][0]["title"] == "Repair cafe too"
    assert rows["Group L1"]["note"] == "Thank you, Alpha" and rows["Group L1"]["credited"]
    assert rows["Group L2"]["adapted_as"][0]["area"] == "Leeds"
    assert not rows["Group L2"]["credited"] and rows["Group L2"]["note"] is None
    assert rows["Group L3"]["adapted_as"] == [] and rows["Group L3"]["note"] == "We learned a lot"
    assert AREAS["E8 3PB"] == "E8"


def test_travelled_of_a_node_never_heard_of(view: Any) -> None:
    with pytest.raises(NotFound, match="never heard of"):
        view("travelled", node=id_to_text(bytes(range(32))))
