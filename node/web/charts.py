"""Charts drawn on the server as SVG: bar charts for counts, a layered tree for lineage.

No JavaScript and no chart library: each function returns SVG markup,
every text in it escaped. Each chart is an ``img`` to assistive technology
with a ``<title>`` and a ``<desc>`` that say what it shows; the pages put
the same figures in a table (counts) or a nested list (lineage) next to it.
Colours come from the stylesheet through class names (the Content Security
Policy allows no inline styles); shapes carry only geometry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

from markupsafe import Markup, escape

__all__ = ["bar_chart", "lineage_tree"]

_BAR_ROW: Final = 30
_LABEL_WIDTH: Final = 190
_CHART_WIDTH: Final = 640
_BAR_MAX: Final = 380
#: A lineage diagram draws at most this many practices (the list beside it has all).
MAX_TREE_VERTICES: Final = 120
_BOX_W: Final = 190
_BOX_H: Final = 66
_SLOT_W: Final = 210
_LAYER_H: Final = 110
#: Room for text in a box (10 px in from each side), and the type sizes of
#: style.css (.tree-title, .tree-who and .tree-when, .bar-label).
_TEXT_W: Final = _BOX_W - 20
_TITLE_PX: Final = 14
_SMALL_PX: Final = 13
_LABEL_PX: Final = 14


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


# Advance widths in em, by kind of character, at least those of DejaVu Sans
# Bold (a wide face, the usual fallback on Linux): an estimate of how wide
# a text is drawn that errs on the wide side, so that what fits here fits
# on the page whatever sans-serif face the browser picks.
_NARROW_EM: Final = dict.fromkeys("ijlI!|.,:;'`", 0.46)
_SMALL_EM: Final = dict.fromkeys("frt()[]{}-/\\ ", 0.5)
_WIDE_EM: Final = dict.fromkeys("mwMW@%", 1.11)


def _em(ch: str) -> float:
    for table in (_NARROW_EM, _SMALL_EM, _WIDE_EM):
        if ch in table:
            return table[ch]
    if ch.isdigit() and ch.isascii():
        return 0.7
    if ch.isascii() and ch.isupper():
        return 0.85
    if ch.isascii() and ch.islower():
        return 0.72
    return 1.0  # accents, dashes, other scripts: as wide as the widest


def _fit(text: str, width_px: float, font_px: float) -> str:
    """``text``, cut (with "…") so that it is drawn within ``width_px`` at ``font_px``."""
    room = width_px / font_px
    if sum(_em(ch) for ch in text) <= room:
        return text
    room -= _em("…")
    used = 0.0
    for end, ch in enumerate(text):
        used += _em(ch)
        if used > room:
            return text[:end].rstrip() + "…"
    return text  # pragma: no cover - the whole text was found too wide above


def bar_chart(rows: Sequence[tuple[str, int]], *, title: str, description: str,
              unit: str = "practices") -> Markup:
    """Horizontal bars, one per row, longest scaled to the chart; labels and values as text."""
    ident = _slug(title)
    height = max(1, len(rows)) * _BAR_ROW + 16
    biggest = max((value for _, value in rows), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {_CHART_WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    if not rows:
        parts.append(f'<text class="chart-empty" x="10" y="{_BAR_ROW - 8}">Nothing to show '
                     'yet.</text>')
    for i, (label, value) in enumerate(rows):
        y = 8 + i * _BAR_ROW
        width = max(2, round(_BAR_MAX * value / biggest)) if value else 0
        parts.append(
            f'<g class="bar-row"><text class="bar-label" x="{_LABEL_WIDTH - 8}" y="{y + 17}" '
            f'text-anchor="end">{escape(_fit(label, _LABEL_WIDTH - 12, _LABEL_PX))}</text>'
            f'<rect class="bar" x="{_LABEL_WIDTH}" y="{y + 3}" width="{width}" height="20">'
            f'<title>{escape(label)}: {value} {escape(unit)}</title></rect>'
            f'<text class="bar-value" x="{_LABEL_WIDTH + width + 6}" y="{y + 17}">{value}'
            '</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(slots=True)
class _Box:
    data: dict[str, Any]
    depth: int
    children: list[_Box] = field(default_factory=list)
    x: float = 0.0


def _build(vertex: dict[str, Any], depth: int, budget: list[int]) -> _Box:
    box = _Box(vertex, depth)
    budget[0] -= 1
    for child in vertex.get("children", []):
        if budget[0] <= 0:
            break
        box.children.append(_build(child, depth + 1, budget))
    return box


def _place(box: _Box, next_slot: list[int]) -> None:
    """Leaves take the next free slot left to right; a parent sits over its children."""
    if not box.children:
        box.x = next_slot[0] * _SLOT_W
        next_slot[0] += 1
        return
    for child in box.children:
        _place(child, next_slot)
    box.x = (box.children[0].x + box.children[-1].x) / 2


def _walk(box: _Box) -> list[_Box]:
    out = [box]
    for child in box.children:
        out.extend(_walk(child))
    return out


def practice_href(node: str, key: str) -> str:
    return "/network/practice?" + urlencode({"node": node, "key": key})


def _box_svg(box: _Box, highlight: tuple[str, str] | None) -> str:
    v = box.data
    x, y = box.x + 10, 10 + box.depth * _LAYER_H
    is_credit = v.get("key") is None
    classes = ["tree-box"]
    if is_credit:
        classes.append("tree-credit")
    if highlight is not None and (v.get("node"), v.get("key")) == highlight:
        classes.append("tree-here")
    # A node that only credited has no practice of its own here: it credited it.
    title = "credited it" if is_credit else str(v.get("title") or v.get("key"))
    who = str(v.get("node_name") or str(v.get("node", ""))[:7])
    when = str(v.get("date") or "")
    if v.get("credited"):
        when += " · credited"
    full = f"{title} — {who}, {when}"
    inner = (f'<rect class="{" ".join(classes)}" x="{x}" y="{y}" width="{_BOX_W}" '
             f'height="{_BOX_H}" rx="6"/>'
             f'<text class="tree-title" x="{x + 10}" y="{y + 22}">'
             f'{escape(_fit(title, _TEXT_W, _TITLE_PX))}'
             f'</text><text class="tree-who" x="{x + 10}" y="{y + 41}">'
             f'{escape(_fit(who, _TEXT_W, _SMALL_PX))}</text>'
             f'<text class="tree-when" x="{x + 10}" y="{y + 58}">'
             f'{escape(_fit(when, _TEXT_W, _SMALL_PX))}</text>'
             f'<title>{escape(full)}</title>')
    if is_credit:
        return f"<g>{inner}</g>"
    href = escape(practice_href(str(v["node"]), str(v["key"])))
    return f'<a href="{href}" aria-label="{escape(full)}">{inner}</a>'


def lineage_tree(tree: dict[str, Any], *, title: str, description: str,
                 highlight: tuple[str, str] | None = None) -> Markup:
    """A layered tree: generation 0 at the top, each adaptation or credit a box below."""
    budget = [MAX_TREE_VERTICES]
    root = _build(tree, 0, budget)
    _place(root, [0])
    boxes = _walk(root)
    width = int(max(b.x for b in boxes)) + _SLOT_W
    depth = max(b.depth for b in boxes)
    height = (depth + 1) * _LAYER_H
    ident = _slug(title)
    parts = [
        f'<svg class="chart tree" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    for box in boxes:
        for child in box.children:
            x1, y1 = box.x + 10 + _BOX_W / 2, 10 + box.depth * _LAYER_H + _BOX_H
            x2, y2 = child.x + 10 + _BOX_W / 2, 10 + child.depth * _LAYER_H
            mid = (y1 + y2) / 2
            dashed = " tree-link-credit" if child.data.get("key") is None else ""
            parts.append(f'<path class="tree-link{dashed}" d="M{x1:.0f},{y1:.0f} '
                         f'C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}"/>')
    parts.extend(_box_svg(box, highlight) for box in boxes)
    parts.append("</svg>")
    return Markup("".join(parts))
