"""The charts' texts stay inside their boxes, measured with a real font.

The pages use the browser's sans-serif face; on Linux that is usually
DejaVu Sans, one of the widest. Each text of a lineage box must be drawn
within the box (10 px in from each side) in DejaVu Sans at the sizes of
style.css: 14 px bold for the title, 13 px for the other lines.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageFont

from node.web.charts import bar_chart, lineage_tree

FONTS = Path("/usr/share/fonts/truetype/dejavu")
BOX_TEXT_W = 190 - 20


def font(name: str, size: int) -> Any:
    path = FONTS / name
    if not path.exists():
        pytest.skip(f"the widths are measured with {name}, which is not installed")
    return ImageFont.truetype(str(path), size)


def texts(svg: str, cls: str) -> list[str]:
    return [unescape(t) for t in re.findall(rf'<text class="{cls}"[^>]*>([^<]*)</text>', svg)]


def vertex(name: str, key: str | None, title: str | None, *, via: str = "adapted_from",
           credited: bool = False, children: list[dict[str, Any]] | None = None,
           ) -> dict[str, Any]:
    return {"node": "SMJBFE0-CDDXV3A-M5B3DCC-PPMQAXP-YGJWY93-SJ1FH9E-M266RT5-W2GTGDZ",
            "node_name": name, "key": key, "title": title, "date": "2026-12-06",
            "via": via, "credited": credited, "children": children or []}


def test_every_text_of_a_lineage_box_fits_inside_it() -> None:
    tree = vertex("Chapeltown Play Out", "play-street", "Monthly play street", via="root",
                  children=[
                      vertex("Headingley Repair Café", None, None, via="credit", credited=True),
                      vertex("Easton Community Fridge and Food Sharing Network", "kit",
                             "Play street kit library for every street in the city",
                             credited=True),
                      vertex("WWWWWWWWWWWWWWWWWWWWWWWWWWWWWW", "w", "MMMMMMMMMMMMMMMMMMMMMMMMMM"),
                      vertex("Ysgol Gymraeg — Caerdydd", "y", "Ŵyl ‘Chwarae’ — haf 2025 ☀☀☀"),
                  ])
    svg = str(lineage_tree(tree, title="Lineage", description="A test"))
    bold, regular = font("DejaVuSans-Bold.ttf", 14), font("DejaVuSans.ttf", 13)
    titles = texts(svg, "tree-title")
    assert "credited it" in titles  # the credit-only box, said briefly
    for text in titles:
        assert bold.getlength(text) <= BOX_TEXT_W, text
    for text in texts(svg, "tree-who") + texts(svg, "tree-when"):
        assert regular.getlength(text) <= BOX_TEXT_W, text
    # Cut texts end in an ellipsis; the whole text is in the box's tooltip.
    assert any(t.endswith("…") for t in titles)
    assert "Play street kit library for every street in the city" in unescape(svg)


def test_bar_labels_fit_left_of_the_bars() -> None:
    svg = str(bar_chart([("Neighbourhood food and mutual aid across the whole city", 3),
                         ("WWWWWWWWWWWWWWWWWWWWWWWWWW", 2), ("food", 1)],
                        title="Themes", description="A test"))
    regular = font("DejaVuSans.ttf", 14)
    labels = texts(svg, "bar-label")
    assert labels[2] == "food"
    for label in labels:
        assert regular.getlength(label) <= 190 - 8 - 4, label
