"""Printing: rich tables and colour on a terminal, plain text otherwise, JSON on request.

Nothing here decides anything; it only shows what node/ returned. Plain
text (stdout is not a terminal) has no colour codes and no box drawing:
tables are columns separated by two spaces under a header line, so scripts
and logs can read them. ``--json`` output is one JSON document, with bytes
written as id text (32-byte node ids) or hex.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from node.logview import format_duration
from protocol import Entry, id_to_text

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "ago",
    "console",
    "echo_json",
    "entry_json",
    "escape",
    "group_line",
    "is_terminal",
    "jsonable",
    "one_line",
    "print_table",
    "size",
    "travel_line",
]


def is_terminal() -> bool:
    return sys.stdout.isatty()


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) that never wraps long lines."""
    from rich.console import Console  # rich is loaded only by commands that print with it

    return Console(stderr=stderr, soft_wrap=True, highlight=False)


def escape(text: str) -> str:
    """``text`` with rich markup characters escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def jsonable(value: Any) -> Any:
    """``value`` with bytes as node-id text (32 bytes) or hex, tuples as lists."""
    if isinstance(value, bytes):
        return id_to_text(value) if len(value) == 32 else value.hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    return value


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as people and scripts read it: ids as text, the body as signed."""
    return {"kind": entry.kind, "key": entry.key, "version": entry.version,
            "author": id_to_text(entry.author), "network": id_to_text(entry.network, "network"),
            "body": jsonable(entry.body)}


def echo_json(data: Any) -> None:
    click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                title: str = "") -> None:
    """A table: rich on a terminal, two-space-separated columns otherwise."""
    texts = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if is_terminal():
        from rich.table import Table

        table = Table(title=title or None, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in texts:
            table.add_row(*(escape(cell) for cell in row))
        console().print(table)
        return
    if title:
        click.echo(title)
    widths = [max([len(c), *(len(r[i]) for r in texts)]) for i, c in enumerate(columns)]
    for row in [list(columns), *texts]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                      strict=True)).rstrip())


def ago(ms: int | None, *, now_ms: int | None = None) -> str:
    """``never``, ``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``."""
    if ms is None:
        return "never"
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    seconds = max(0, (now - ms) // 1000)
    if seconds < 10:
        return "just now"
    return f"{format_duration(seconds)} ago"


def size(n: int) -> str:
    """``830 B``, ``12.4 kB``, ``3.1 MB``."""
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def one_line(text: str | None) -> str:
    """Text from a peer's summary on one line (newlines and runs of spaces squeezed)."""
    return " ".join((text or "").split())


def group_line(group: Mapping[str, Any]) -> str:
    """A group as a line: its name (or short id), area and level, and its contact."""
    where = ", ".join(x for x in (group.get("area"), group.get("level")) if x)
    text = one_line(group.get("name")) or str(group["node"])[:7]
    if where:
        text += f" ({where})"
    if group.get("contact"):
        text += f"; get in touch: {group['contact']}"
    return text


def travel_line(group: Mapping[str, Any]) -> str:
    """One group that adapted or credited a practice: who, where, how, their note."""
    parts = [group_line(group)]
    for adapted in group["adapted_as"]:
        parts.append(f"adapted it as “{one_line(adapted['title'])}”")
    if group["credited"]:
        parts.append("credited it" + (f": “{one_line(group['note'])}”" if group["note"] else ""))
    return " — ".join([parts[0], "; ".join(parts[1:])]) + f"  {group['date']}"
