"""Introductions a convenor can make: groups on the same theme with nothing between them yet.

For each theme, :func:`introductions` suggests pairs of groups that both
**work on it** (an active or paused practice with the theme, passing the
``level`` and ``area`` filters) and are **not connected** (:mod:`.ties`): no
credit or adaptation between them, either way, and no practice of one in
the theme sharing a lineage with a practice of the other in the theme (a
practice either credited counts as its). Each suggestion says why, and
gives both groups' contacts where they publish one.

Pairs grow with the square of the groups, so the suggestions of a theme
are never found by looking at every pair. The groups of the theme are
taken in an order that favours nobody — by a hash of the theme and the
node id (:func:`group_order`), the same on every node, not by name, size,
age or figures — and each group in turn is paired with the most alike
group, among the next :data:`WINDOW` in that order (wrapping round), that
it is not connected to and not already suggested with: the most themes in
common (themes of their practices under the same filters), then the same
level, then the nearest in the order. So each group leads at most one
suggestion, a theme of *n* groups costs at most *n* × :data:`WINDOW`
comparisons, and finding the first *k* suggestions looks at about
*k* + :data:`WINDOW` groups. Up to ``WINDOW + 1`` groups, each group is
compared with every other.

Without ``theme``, the themes with at least two groups are listed in
alphabetical order, paged by ``limit`` and ``offset``, each with its first
``per_theme`` suggestions (``more`` says whether there are others). With
``theme``, ``limit`` and ``offset`` page through that theme's suggestions.
Without any filter, the list is kept precomputed (:mod:`.precomputed`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .common import excluded, forked_nodes, node_info, not_forked
from .index import authors_of
from .params import PARAMS, Filters
from .precomputed import cached
from .ties import contacts_of, group_dict, reach, ties_of

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["MAX_PER_THEME", "WINDOW", "WORKING", "all_themes", "group_order",
           "introductions", "node_hashes"]

#: Each group is compared with this many groups after it in the theme's order.
WINDOW: Final = 16
#: Most suggestions per theme in the list of themes (the ``per_theme`` parameter's maximum).
MAX_PER_THEME: Final = PARAMS["per_theme"].maximum or 20
#: Practices of these statuses count as work on a theme.
WORKING: Final = ("active", "paused")
_WORKING_SQL: Final = "('active', 'paused')"
#: Groups whose facts are read in one go.
_BLOCK: Final = 48


_PRIME: Final = 2**61 - 1


def node_hashes(authors: dict[int, bytes]) -> dict[int, int]:
    """Each node's ``h`` for :func:`group_order`: the first eight bytes of its id."""
    return {node: int.from_bytes(author[:8], "big") for node, author in authors.items()}


def group_order(theme: str, hashes: dict[int, int]) -> list[int]:
    """The theme's groups in an order that favours nobody, different for each theme.

    Node ids are Ed25519 public keys, as good as random; each is ordered by
    ``(a * h + b) mod (2**61 - 1)``, ``h`` its first eight bytes
    (:func:`node_hashes`), with ``a`` and ``b`` from the SHA-256 of the
    theme: an independent-looking order per theme, the same on every node, at
    the cost of an integer product. Ties (practically never) go to ``h``.
    """
    digest = hashlib.sha256(b"hedgerow introductions\0" + theme.encode()).digest()
    a = int.from_bytes(digest[:8], "big") % (_PRIME - 1) + 1
    b = int.from_bytes(digest[8:16], "big") % _PRIME
    keyed = [((a * h + b) % _PRIME, h, node) for node, h in hashes.items()]
    keyed.sort()
    return [node for _, _, node in keyed]


def _filter_sql(level: str | None, area: str | None, alias: str) -> tuple[str, list[Any]]:
    return Filters(level=level, area=area).sql(
        seq=f"{alias}.seq", node=f"{alias}.node", status=f"{alias}.status",
        level=f"{alias}.eff_level", area=f"{alias}.area_key", since=f"{alias}.since",
        version=f"{alias}.version")


@dataclass(slots=True)
class _Theme:
    """One theme's groups in order, and what is known of them, read as needed."""

    db: sqlite_utils.Database
    theme: str
    level: str | None
    area: str | None
    forked: Sequence[int]
    order: list[int]
    wanted: int
    themes: dict[int, frozenset[str]] = field(default_factory=dict)
    lineage: dict[int, set[int]] = field(default_factory=dict)
    ties: dict[int, set[int]] = field(default_factory=dict)
    group_level: dict[int, str | None] = field(default_factory=dict)

    def load(self, position: int) -> None:
        """Read the facts of the groups from ``position`` on, a block at a time."""
        n = len(self.order)
        # About two groups per suggestion still wanted, and the window after them.
        size = min(n, min(_BLOCK, 2 * self.wanted) + WINDOW)
        block = [self.order[(position + i) % n] for i in range(size)]
        block = sorted({node for node in block if node not in self.group_level})
        if not block:
            return
        db, marks = self.db, ",".join("?" * len(block))
        where, args = _filter_sql(self.level, self.area, "e")
        # The themes compared: those of the groups' working practices under the
        # filters, gathered in SQLite (themes hold no commas). The practices
        # drive (CROSS JOIN; view_entries_by_kind carries the filter columns),
        # each looking up its tags: the planner would otherwise read every
        # practice with a theme.
        found = dict(db.conn.execute(
            "SELECT e.node, group_concat(DISTINCT t.value) FROM view_entries AS e "
            "INDEXED BY view_entries_by_kind CROSS JOIN view_tags AS t ON t.seq = e.seq "
            f"AND t.facet = 'theme' WHERE e.kind = 'practice' AND e.node IN ({marks}) "
            f"AND e.status IN {_WORKING_SQL}{where} GROUP BY e.node", (*block, *args)))
        # Lineages in this theme start at the group's practices with it (any
        # status: past work connects too) and at the ones with it that it credited.
        starts = db.conn.execute(
            "SELECT e.node, e.seq FROM view_entries AS e INDEXED BY view_entries_by_node "
            "CROSS JOIN view_tags AS t ON t.seq = e.seq AND t.facet = 'theme' AND t.value = ? "
            f"WHERE e.node IN ({marks}) AND e.kind = 'practice' "
            "UNION ALL SELECT c.from_node, p.seq FROM view_edges AS c INDEXED BY "
            "view_edges_out CROSS JOIN view_entries AS p INDEXED BY view_entries_by_node "
            "ON p.node = c.to_node AND p.key = c.to_key AND p.kind = 'practice' "
            "CROSS JOIN view_tags AS pt ON pt.seq = p.seq AND pt.facet = 'theme' "
            f"AND pt.value = ? WHERE c.from_node IN ({marks}) AND c.via = 'credit' "
            f"AND c.from_node != c.to_node{not_forked(self.forked, 'p.node')}",
            (self.theme, *block, self.theme, *block)).fetchall()
        lineage = reach(db, starts, self.forked)
        ties = ties_of(db, block, self.forked)
        # Ordered by seq: with two profiles (a fork proof) the later one wins, as in node_info.
        levels = dict(db.conn.execute(
            f"SELECT node, level FROM view_entries WHERE kind = 'profile' AND node IN ({marks}) "
            "ORDER BY seq", block).fetchall())
        for node in block:
            self.themes[node] = frozenset(found[node].split(",")) if node in found \
                else frozenset()
            self.lineage[node] = lineage.get(node, set())
            self.ties[node] = ties[node]
            self.group_level[node] = levels.get(node)

    def connected(self, a: int, b: int) -> bool:
        return b in self.ties[a] or a in self.ties[b] or \
            not self.lineage[a].isdisjoint(self.lineage[b])

    def suggestions(self) -> list[tuple[int, int]]:
        """The first ``wanted`` suggestions, as (leading group, its match)."""
        wanted, n = self.wanted, len(self.order)
        out: list[tuple[int, int]] = []
        made: set[frozenset[int]] = set()
        span = min(WINDOW, n - 1)
        for i, a in enumerate(self.order):
            if len(out) >= wanted:
                break
            if a not in self.group_level or self.order[(i + span) % n] not in self.group_level:
                self.load(i)
            best: tuple[tuple[int, bool, int], int] | None = None
            for step in range(1, span + 1):
                b = self.order[(i + step) % n]
                if frozenset((a, b)) in made or self.connected(a, b):
                    continue
                same = self.group_level[a] is not None and \
                    self.group_level[a] == self.group_level[b]
                rank = (-len(self.themes[a] & self.themes[b]), not same, step)
                if best is None or rank < best[0]:
                    best = (rank, b)
            if best is not None:
                out.append((a, best[1]))
                made.add(frozenset((a, best[1])))
        return out


def _groups(db: sqlite_utils.Database, theme: str | None, level: str | None,
            area: str | None, forked: Sequence[int]) -> dict[str, str]:
    """The groups working on each theme (or on ``theme``): their node numbers, as
    comma-separated text (only the page's themes need them as numbers)."""
    where, args = _filter_sql(level, area, "t")
    one = "" if theme is None else " AND t.value = ?"
    if area is not None and theme is None:
        # Few practices are in one area: they drive (view_entries_by_area holds
        # them, and their seq), each looking up its theme tags, which carry the
        # status and level: no pass over every theme tag, no lookup in the table.
        area_where, area_args = _filter_sql(None, area, "e")
        level_where, level_args = _filter_sql(level, None, "t")
        pairs = ("SELECT t.value AS value, e.node AS node FROM view_entries AS e INDEXED BY "
                 "view_entries_by_area CROSS JOIN view_tags AS t ON t.seq = e.seq "
                 f"AND t.facet = 'theme' WHERE e.kind = 'practice'{area_where} "
                 f"AND t.status IN {_WORKING_SQL}{not_forked(forked, 'e.node')}{level_where}")
        args = [*area_args, *level_args]
    else:  # one pass over the theme tags' index, in (theme, node) order
        pairs = ("SELECT t.value AS value, t.node AS node FROM view_tags AS t "
                 f"WHERE t.facet = 'theme'{one} AND t.status IN {_WORKING_SQL}"
                 f"{not_forked(forked, 't.node')}{where}")
        args = ([theme] if theme is not None else []) + args
    # Grouped in SQLite: one row per theme, however many tags it has.
    return dict(db.conn.execute(
        f"SELECT value, group_concat(DISTINCT node) FROM ({pairs}) GROUP BY value", args))


def _working(groups: dict[str, str]) -> list[tuple[str, str]]:
    """The themes with two groups or more, in alphabetical order."""
    return [(name, nodes) for name, nodes in sorted(groups.items()) if "," in nodes]


def _with_ids(db: sqlite_utils.Database,
              themes: list[tuple[str, str]]) -> list[tuple[str, dict[int, int]]]:
    """The themes' groups with the hashes of their ids (what their order is made of)."""
    numbers = [(name, [int(n) for n in nodes.split(",")] if nodes else [])
               for name, nodes in themes]
    hashes = node_hashes(dict(authors_of(db, {n for _, nodes in numbers for n in nodes})))
    return [(name, {n: hashes[n] for n in nodes}) for name, nodes in numbers]


def _theme_entries(db: sqlite_utils.Database, themes: list[tuple[str, dict[int, int]]],
                   level: str | None, area: str | None, forked: Sequence[int],
                   wanted: int) -> list[dict[str, Any]]:
    """Themes, each with its number of groups and first ``wanted`` suggestions, as output."""
    found: list[tuple[str, int, list[tuple[int, int, list[str], str | None]]]] = []
    for theme, groups in themes:
        pairs: list[tuple[int, int, list[str], str | None]] = []
        if len(groups) >= 2:
            context = _Theme(db, theme, level, area, forked, group_order(theme, groups),
                             wanted)
            for a, b in context.suggestions():
                level_a, level_b = context.group_level[a], context.group_level[b]
                pairs.append((a, b, sorted(context.themes[a] & context.themes[b]),
                              level_a if level_a is not None and level_a == level_b
                              else None))
        found.append((theme, len(groups), pairs))
    # The groups shown, described once for the whole page.
    shown = {node for _, _, pairs in found for a, b, _, _ in pairs for node in (a, b)}
    contacts, info = contacts_of(db, shown), node_info(db, shown)
    return [{"theme": theme, "groups": count, "suggestions": [
        {"groups": [group_dict(info[a], contacts[a]), group_dict(info[b], contacts[b])],
         "shared_themes": shared, "same_level": same is not None,
         "why": _why(theme, shared, same)} for a, b, shared, same in pairs]}
        for theme, count, pairs in found]


def _why(theme: str, shared: list[str], level: str | None) -> str:
    count = len(shared)
    text = f"both work on {theme}; {count} shared theme{'' if count == 1 else 's'}: " \
           f"{', '.join(shared)}"
    if level is not None:
        text += f"; both at {level} level"
    return text + "; no credit, adaptation or shared lineage between them yet"


def all_themes(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every theme without filters, each with up to ``MAX_PER_THEME + 1`` suggestions.

    What :mod:`.precomputed` keeps: every page of the unfiltered list is a
    slice of it.
    """
    forked = forked_nodes(db)
    working = _working(_groups(db, None, None, None, forked))
    return _theme_entries(db, _with_ids(db, working), None, None, forked, MAX_PER_THEME + 1)


def introductions(db: sqlite_utils.Database, *, theme: str | None, level: str | None,
                  area: str | None, per_theme: int, limit: int,
                  offset: int) -> dict[str, Any]:
    """Suggested introductions, grouped by theme (see the module's description)."""
    forked = forked_nodes(db)
    if theme is not None:
        (entry,) = _theme_entries(db, _with_ids(db, [(theme, _groups(
            db, theme, level, area, forked).get(theme, ""))]), level, area, forked,
            offset + limit + 1)
        listed = entry["suggestions"]
        entry["suggestions"], entry["more"] = listed[offset:offset + limit], \
            len(listed) > offset + limit
        return {"total": 1, "themes": [entry], "excluded": excluded(db, forked)}
    every: list[dict[str, Any]] | None = None
    if level is None and area is None:
        every = cached(db, "introductions")
    if every is not None:
        total, page = len(every), every[offset:offset + limit]
    else:
        working = _working(_groups(db, None, level, area, forked))
        page = _theme_entries(db, _with_ids(db, working[offset:offset + limit]), level, area,
                              forked, per_theme + 1)
        total = len(working)
    themes = []
    for entry in page:
        listed = entry["suggestions"]
        themes.append({**entry, "suggestions": listed[:per_theme],
                       "more": len(listed) > per_theme})
    return {"total": total, "themes": themes, "excluded": excluded(db, forked)}
