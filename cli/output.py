"""Printing: rich tables and colour on a terminal, plain text otherwise, JSON on request.

Nothing here decides anything; it only shows what node/ returned. Plain
text (stdout is not a terminal) has no colour codes and no box drawing:
tables are columns separated by two spaces under a header line, so scripts
and logs can read them. ``--json`` output is one JSON document, with bytes
written as id text (32-byte node ids) or hex.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
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
    "terminal_width",
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


def terminal_width() -> int:
    """The width of the terminal the output is for: ``$COLUMNS``, else the terminal's
    (stdout's, or stderr's or stdin's when stdout goes to a pipe), else 0 (none)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        try:
            if stream is not None and stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError):
            continue
    return 0


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                title: str = "") -> None:
    """A table: rich on a terminal, two-space-separated columns otherwise.

    A table wider than the terminal is printed as one block of ``column:
    value`` lines per row instead, so that nothing is cut and no line is
    wider than the terminal.
    """
    texts = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in texts)]) for i, c in enumerate(columns)]
    width = terminal_width()
    if is_terminal():
        if width and sum(widths) + 3 * len(widths) + 1 > width:
            _print_blocks(columns, texts, title=title, width=width)
            return
        from rich.table import Table

        table = Table(title=title or None, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in texts:
            table.add_row(*(escape(cell) for cell in row))
        console().print(table)
        return
    if width and sum(widths) + 2 * (len(widths) - 1) > width:
        _print_blocks(columns, texts, title=title, width=width)
        return
    if title:
        click.echo(title)
    for row in [list(columns), *texts]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                      strict=True)).rstrip())


def _print_blocks(columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str,
                  width: int) -> None:
    """Each row as ``column: value`` lines (values wrapped to ``width``), a blank line between."""
    if title:
        click.echo(title)
    label = max(len(c) for c in columns) + 2
    room = max(20, width - label)
    for number, row in enumerate(rows):
        if number or title:
            click.echo("")
        for column, cell in zip(columns, row, strict=True):
            if not cell:
                continue
            lines = textwrap.wrap(cell, room, break_long_words=True,
                                  break_on_hyphens=False) or [""]
            click.echo(f"{column + ':':{label}}{lines[0]}")
            for more in lines[1:]:
                click.echo(" " * label + more)


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
