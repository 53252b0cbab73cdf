"""A fixture network of a few hundred signed entries with known lineages.

Everything is deterministic (seeded keys, a seeded ``random.Random``), and
the plain description kept here (:class:`Network`) is the *oracle*: tests
compute the expected figures from it with ordinary Python, independently of
the SQL under test.

Hand-made lineages (node letters as in the docs, ``T`` = :data:`BASE`):

* **repair café** R = (L0 Alpha, ``repair-cafe``): B = (L1, ``repair-cafe``)
  adapted from R, and L1 credits R; C = (L2, ``fix-it``) adapted from R and
  from a practice of L9 nobody holds; L3 credits R only; E = (L4) adapted
  from B; G = (L5, ``mend``) adapted from E; M = (L5, ``mend-more``) adapted
  from E *and* C (a merge); L0 credits its own R (a self-credit); the forked
  node adapts R and credits it (left out).
* **retracted middle**: X = (L6, ``swap-shop``); Y = (L7, ``swap``) adapted
  from X, then retracted; Z = (L8, ``swap-meet``) adapted from Y; W = (L9,
  ``swap-day``) adapted from Z.
* **cycle**: P = (L10, ``tool-library``) adapted from Q = (L11,
  ``tool-share``), Q adapted from P; S = (L12, ``tool-swap``) adapted from P.
* **fork**: the forked node signs two different practices with one version.

Bulk practices (no lineage) fill the count views: themes, levels, areas
(postcodes of several grains, case variants), statuses, since dates; some
are published twice (the older version superseded) and some retracted.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from protocol import LEVELS, Entry, NodeKey, SignedEntry, credit_key, retract_key, sign_entry

from ..conftest import NODE_SEED
from ..peer_entries import NETWORK

BASE = 1_690_000_000_000  # 2023-07-22
DAY = 86_400_000
#: The "now" of health figures in these tests.
AT = BASE + 26 * DAY
THEMES = ["children", "energy", "food", "gardens", "older people", "repair", "streets",
          "tenants"]
#: Area as a group typed it → the grain views show (postcode district or authority).
AREAS = {"E8 3PB": "E8", "e8 4qt": "E8", "E8": "E8", "Hackney": "Hackney",
         "hackney": "hackney", "Leeds": "Leeds", "LS6 2": "LS6", "SW1A 1AA": "SW1A",
         "Bristol BS1 4DJ": "Bristol BS1", "": ""}
PRINCIPLES = ["Community led", "Open to all", "Paid fairly", "community led"]


def key_of(name: str) -> NodeKey:
    return NodeKey.from_seed(hashlib.sha256(f"views fixture {name}".encode()).digest())


@dataclass
class Practice:
    node: str
    key: str
    version: int
    title: str
    status: str = "active"
    themes: list[str] = field(default_factory=list)
    level: str | None = None
    area: str = ""
    since: str | None = None
    adapted_from: list[tuple[str, str]] = field(default_factory=list)
    retracted_at: int | None = None  # version of the retraction, if retracted
    received: int = 0

    def body(self, keys: dict[str, NodeKey]) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "title": self.title}
        if self.themes:
            body["themes"] = sorted(self.themes)
        if self.level:
            body["level"] = self.level
        if self.area:
            body["area"] = self.area
        if self.since:
            body["since"] = self.since
        if self.adapted_from:
            body["adapted_from"] = [{"author": keys[n].public, "key": k}
                                    for n, k in self.adapted_from]
        return body


@dataclass
class Profile:
    node: str
    name: str
    level: str
    area: str
    principles: list[str]
    version: int
    received: int = 0


@dataclass
class Credit:
    node: str
    to: str
    practice: str
    version: int
    note: str = ""
    received: int = 0


@dataclass
class Network:
    keys: dict[str, NodeKey]
    profiles: dict[str, Profile]
    practices: list[Practice]
    credits: list[Credit]
    forked: str
    batches: list[tuple[int, list[SignedEntry]]]

    @property
    def entry_count(self) -> int:
        return sum(len(batch) for _, batch in self.batches)

    # --- the oracle -----------------------------------------------------------------

    def included(self, keep: Any = None) -> list[Practice]:
        """Current practices, not retracted, not by the forked node (and passing ``keep``)."""
        return [p for p in self.practices if p.retracted_at is None and p.node != self.forked
                and (keep is None or keep(p))]

    def eff_level(self, p: Practice) -> str | None:
        profile = self.profiles.get(p.node)
        return p.level or (profile.level if profile else None)

    def eff_area(self, p: Practice) -> str:
        profile = self.profiles.get(p.node)
        return AREAS[p.area] if p.area else (AREAS[profile.area] if profile else "")

    def expected_counts(self, facet: str, keep: Any = None) -> list[dict[str, Any]]:
        practices: Counter[Any] = Counter()
        nodes: dict[Any, set[str]] = defaultdict(set)
        labels: dict[str, set[str]] = defaultdict(set)
        for p in self.included(keep):
            if facet == "theme":
                values: list[Any] = p.themes
            elif facet == "level":
                values = [self.eff_level(p)]
            else:
                area = self.eff_area(p)
                labels[area.casefold()].add(area)
                values = [area.casefold()]
            for value in values:
                practices[value] += 1
                nodes[value].add(p.node)
        if facet == "theme":
            return [{"theme": t, "practices": practices[t], "nodes": len(nodes[t])}
                    for t in sorted(practices)]
        if facet == "level":
            return [{"level": lv, "practices": practices[lv], "nodes": len(nodes[lv])}
                    for lv in [*LEVELS, None] if lv in practices]
        rows = [{"area": min(labels[a]), "practices": practices[a], "nodes": len(nodes[a])}
                for a in sorted(practices) if a]
        if "" in practices:
            rows.append({"area": None, "practices": practices[""], "nodes": len(nodes[""])})
        return rows

    def expected_principles(self) -> list[dict[str, Any]]:
        holders: dict[str, set[str]] = defaultdict(set)
        labels: dict[str, set[str]] = defaultdict(set)
        for profile in self.profiles.values():
            if profile.node == self.forked:
                continue
            for principle in profile.principles:
                holders[principle.casefold()].add(profile.node)
                labels[principle.casefold()].add(principle)
        per_node = Counter(p.node for p in self.included())
        return [{"principle": min(labels[k]), "profiles": len(holders[k]),
                 "practices": sum(per_node[n] for n in holders[k]),
                 "nodes": sum(1 for n in holders[k] if per_node[n])}
                for k in sorted(holders)]

    def expected_timeline(self) -> tuple[list[dict[str, Any]], int]:
        from node.views.index import month_of_ms
        new = Counter(p.since[:7] for p in self.included() if p.since and len(p.since) >= 7)
        undated = sum(1 for p in self.included() if not p.since or len(p.since) < 7)
        retracted = Counter(month_of_ms(p.retracted_at) for p in self.practices
                            if p.retracted_at is not None and p.node != self.forked)
        months = sorted(new.keys() | retracted.keys())
        out = []
        year, month = int(months[0][:4]), int(months[0][5:])
        while f"{year:04d}-{month:02d}" <= months[-1]:
            m = f"{year:04d}-{month:02d}"
            out.append({"month": m, "new": new[m], "retracted": retracted[m]})
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out, undated

    def expected_excluded(self) -> dict[str, Any]:
        from node.views.common import EXCLUSION_NOTE
        forked_entries = (sum(1 for p in self.practices if p.node == self.forked)
                          + sum(1 for c in self.credits if c.node == self.forked)
                          + (1 if self.forked in self.profiles else 0)
                          + 1)  # the second entry of the fork
        return {"forked_authors": 1, "entries_of_forked_authors": forked_entries,
                "retracted_practices": sum(1 for p in self.practices
                                           if p.retracted_at is not None
                                           and p.node != self.forked),
                "note": EXCLUSION_NOTE}

    def delays(self) -> list[int]:
        """Arrival delays of the current entries of other nodes (not forked)."""
        out = []
        for p in self.practices:
            if p.node != self.forked and p.node != "me":
                out.append(p.received - (p.retracted_at or p.version))
        for c in self.credits:
            if c.node != self.forked:
                out.append(c.received - c.version)
        for profile in self.profiles.values():
            if profile.node not in (self.forked, "me"):
                out.append(profile.received - profile.version)
        return sorted(out)

    @staticmethod
    def nearest_rank(values: list[int], p: int) -> int:
        import math
        return values[max(1, math.ceil(p * len(values) / 100)) - 1]

    def newest_versions(self) -> dict[str, int]:
        """The newest version each node (not forked) signed among current entries."""
        newest: dict[str, int] = {}
        versions = [(p.node, p.retracted_at or p.version) for p in self.practices]
        versions += [(c.node, c.version) for c in self.credits]
        versions += [(pr.node, pr.version) for pr in self.profiles.values()]
        for node, version in versions:
            if node != self.forked:
                newest[node] = max(newest.get(node, 0), version)
        return newest


def _lineage_practices() -> tuple[list[Practice], list[Credit]]:
    t = BASE
    practices = [
        Practice("L0", "repair-cafe", t + 100, "Repair cafe", themes=["repair"], area="E8 3PB",
                 since="2019-05"),
        Practice("L1", "repair-cafe", t + 200, "Repair cafe too", themes=["repair"],
                 adapted_from=[("L0", "repair-cafe")]),
        Practice("L2", "fix-it", t + 300, "Fix it", themes=["repair"], area="Leeds",
                 adapted_from=[("L0", "repair-cafe"), ("L9", "never-published")]),
        Practice("L4", "repair-cafe", t + 400, "Repair evenings", themes=["repair"],
                 area="LS6 2", adapted_from=[("L1", "repair-cafe")]),
        Practice("L5", "mend", t + 500, "Mend", themes=["repair"],
                 adapted_from=[("L4", "repair-cafe")]),
        Practice("L5", "mend-more", t + 600, "Mend more", themes=["repair"],
                 adapted_from=[("L4", "repair-cafe"), ("L2", "fix-it")]),
        Practice("F", "repair-cafe", t + 650, "Copy", themes=["repair"],
                 adapted_from=[("L0", "repair-cafe")]),
        Practice("L6", "swap-shop", t + 700, "Swap shop", themes=["food"]),
        Practice("L7", "swap", t + 710, "Swap", themes=["food"],
                 adapted_from=[("L6", "swap-shop")], retracted_at=t + 720),
        Practice("L8", "swap-meet", t + 730, "Swap meet", themes=["food"],
                 adapted_from=[("L7", "swap")]),
        Practice("L9", "swap-day", t + 740, "Swap day", themes=["food"],
                 adapted_from=[("L8", "swap-meet")]),
        Practice("L10", "tool-library", t + 800, "Tool library", themes=["repair"],
                 adapted_from=[("L11", "tool-share")]),
        Practice("L11", "tool-share", t + 810, "Tool share", themes=["repair"],
                 adapted_from=[("L10", "tool-library")]),
        Practice("L12", "tool-swap", t + 820, "Tool swap", themes=["repair"],
                 adapted_from=[("L10", "tool-library")]),
    ]
    credits = [
        Credit("L1", "L0", "repair-cafe", t + 210, note="Thank you, Alpha"),
        Credit("L3", "L0", "repair-cafe", t + 350, note="We learned a lot"),
        Credit("L0", "L0", "repair-cafe", t + 360, note="Ourselves"),
        Credit("F", "L0", "repair-cafe", t + 660),
    ]
    return practices, credits


def build() -> Network:
    rng = random.Random(6)
    names = [f"N{i:02d}" for i in range(30)] + [f"L{i}" for i in range(13)] + ["F", "me"]
    keys = {name: key_of(name) for name in names}
    keys["me"] = NodeKey.from_seed(NODE_SEED)
    profiles: dict[str, Profile] = {}
    area_choices = list(AREAS)
    for i, name in enumerate(names):
        if name in ("N29", "L12"):  # known only from their practices: coverage < 1
            continue
        profiles[name] = Profile(
            name, "Alpha" if name == "L0" else f"Group {name}", LEVELS[i % 4],
            area_choices[i % len(area_choices)],
            sorted(set(rng.sample(PRINCIPLES, rng.randint(0, 2)))), BASE + i)
    practices, credits = _lineage_practices()
    for i in range(30):
        for j in range(rng.randint(3, 12)):
            since = rng.choice([None, "2018", "2020-03", "2020-03-15", "2021-11", "2022-01"])
            practices.append(Practice(
                f"N{i:02d}", f"practice-{j}", BASE + 10_000 + i * 100 + j,
                f"Practice {j} of {i}", status=rng.choice(["active", "active", "paused",
                                                           "ended"]),
                themes=rng.sample(THEMES, rng.randint(0, 3)),
                level=rng.choice([None, None, *LEVELS]),
                area=rng.choice(["", "", *area_choices]), since=since,
                retracted_at=(BASE + 20 * DAY + i * 100 + j) if rng.random() < 0.08 else None))
    practices.append(Practice("me", "own-practice", BASE + 30 * DAY, "Our own",
                              themes=["gardens"]))
    practices.append(Practice("F", "forked-practice", BASE + 5 * DAY, "Forked one",
                              themes=["streets"]))
    return _sign(keys, profiles, practices, credits, rng)


def _sign(keys: dict[str, NodeKey], profiles: dict[str, Profile], practices: list[Practice],
          credits: list[Credit], rng: random.Random) -> Network:
    def sign(name: str, kind: str, key: str, version: int, body: dict[str, Any]) -> SignedEntry:
        k = keys[name]
        return sign_entry(k, Entry(NETWORK, k.public, kind, key, version, body))

    superseded: list[SignedEntry] = []
    # Groups arrive together: a practice with its retraction, so the
    # retraction's arrival is the practice's.
    groups: list[tuple[Any, list[SignedEntry]]] = []
    for profile in profiles.values():
        body: dict[str, Any] = {"level": profile.level, "name": profile.name}
        if profile.area:
            body["area"] = profile.area
        if profile.principles:
            body["principles"] = profile.principles
        groups.append((profile, [sign(profile.node, "profile", "profile", profile.version,
                                      body)]))
    for n, p in enumerate(practices):
        if n % 7 == 3:  # an older version, superseded when the current one arrives
            older = Practice(p.node, p.key, p.version - 30, p.title + " (old)",
                             themes=["tenants"], area="SW1A 1AA")
            superseded.append(sign(p.node, "practice", p.key, older.version, older.body(keys)))
        group = [sign(p.node, "practice", p.key, p.version, p.body(keys))]
        if p.retracted_at is not None:
            group.append(sign(p.node, "retract", retract_key("practice", p.key),
                              p.retracted_at, {}))
        groups.append((p, group))
    for c in credits:
        body = {"practice": c.practice, "to": keys[c.to].public}
        if c.note:
            body["note"] = c.note
        groups.append((c, [sign(c.node, "credit", credit_key(keys[c.to].public, c.practice),
                                c.version, body)]))
    rng.shuffle(groups)
    batches: list[tuple[int, list[SignedEntry]]] = [(BASE + 9 * DAY, superseded)]
    batch: list[SignedEntry] = []
    received = BASE + 21 * DAY
    for item, signed in groups:
        item.received = received
        batch.extend(signed)
        if len(batch) >= 60:
            batches.append((received, batch))
            batch, received = [], received + 3_600_000 + len(batches) * 7_919
    if batch:
        batches.append((received, batch))
    # The fork: a second, different entry with the version of F's profile.
    fork = sign("F", "practice", "fork-proof", profiles["F"].version,
                {"status": "active", "title": "Same version, other entry"})
    batches.append((BASE + 39 * DAY, [fork]))
    return Network(keys, profiles, practices, credits, "F", batches)
