"""``hedgerow view …``, ``hedgerow export`` and ``hedgerow verify FILE``.

The CLI holds no logic (DESIGN.md "Architecture"): each command parses its
options, calls :mod:`node.views` or :mod:`node.exports`, and prints. The
options of each view are generated from the view's declared parameters
(:data:`node.views.VIEWS`), so the CLI, the JSON API and the pages accept
exactly the same things. Output is a rich table on a terminal, aligned
plain text otherwise (:func:`cli.output.print_table`), or JSON with
``--json``. Exit codes: 0 ok,
1 a user error (one line, never a traceback), 2 a usage error.

:func:`register` adds the commands to the root ``hedgerow`` group.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from node import Store
from node.exports import FORMATS, export_view
from node.views import PARAMS, VIEWS, VerificationFailed, run_view, table, verify_export
from node.views.params import practice_ref
from protocol import HedgerowError

from .common import HelpGroup, data_dir_option, open_store
from .output import group_line, one_line, print_table, travel_line

__all__ = ["export", "register", "verify", "view"]

T = TypeVar("T")


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(make())
    except HedgerowError as exc:
        _fail(exc.message)


async def _with_store(data_dir: Path, work: Callable[[Store], Coroutine[Any, Any, T]]) -> T:
    async with open_store(data_dir) as store:
        return await work(store)


#: Options spelt out where the view's parameter name is a short one (the API's ``q``).
_FLAGS = {"q": ("--query", "-q")}


def _param_options(names: tuple[str, ...], defaults: Any = None
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(names):
            param = PARAMS[name]
            flags = _FLAGS.get(name, ("--" + name.replace("_", "-"),))
            kind: Any = click.Choice(param.choices, case_sensitive=False) \
                if param.choices else (int if param.type == "integer" else str)
            default = (defaults or {}).get(name, param.default)
            help_text = param.help + (f" [default: {default}]" if default is not None else "")
            fn = click.option(*flags, name, type=kind, default=None, help=help_text)(fn)
        return fn
    return decorate


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    printer = _PRINTERS.get(result["view"])
    if printer is not None:  # lists of groups read better as text than as wide tables
        for line in printer(result):
            click.echo(line)
        click.echo(_summary(result)[-1])
        return
    columns, rows = table(result)
    if rows:
        # Text from peers' summaries: newlines flattened; print_table escapes rich markup.
        print_table([c.replace("_", " ") for c in columns],
                    [[_cell(row[c]).replace("\n", " ") for c in columns] for row in rows])
    else:
        filtered = any(v is not None for k, v in result.get("params", {}).items()
                       if k not in ("limit", "offset", "at"))
        click.echo("nothing to show" + (" with these options" if filtered else " yet"))
    for line in _summary(result):
        click.echo(line)


#: A node id's text form; text output shows its short form (the JSON, the whole id).
_NODE_ID = re.compile(r"[0-9A-Z]{7}(?:-[0-9A-Z]{7}){7}")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str) and _NODE_ID.fullmatch(value):
        return value[:7]
    return str(value)


def _summary(result: dict[str, Any]) -> list[str]:
    lines = []
    if "total" in result:
        lines.append(f"total: {result['total']}")
    if isinstance(result.get("totals"), dict):
        lines.append("totals: " + ", ".join(f"{k} {v}" for k, v in result["totals"].items()))
    if "figures" in result and result["view"] in ("spread", "lineage"):
        lines.append("figures: " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                             for k, v in result["figures"].items()))
    excluded = result.get("excluded", {})
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in excluded.items()
                       if k != "note")
    lines.append(f"left out: {counts}")
    return lines


def _similar_lines(result: dict[str, Any]) -> list[str]:
    practice = result["practice"]
    lines = [f"Practices of other groups like “{one_line(practice['title'])}” "
             f"({one_line(practice['node_name']) or practice['node'][:7]}), most alike first:"]
    first = result["params"]["offset"] + 1
    for number, row in enumerate(result["results"], start=first):
        lines += ["", f"{number}. {one_line(row['title'])} ({row['status']}) — "
                      f"{group_line({**row, 'name': row['node_name']})}",
                  f"   node {row['node']}, key {row['key']}",
                  f"   why: {row['why']}"]
        lines += [f"   lesson: {one_line(lesson)}" for lesson in row["lessons"]]
    if not result["results"]:
        lines.append("None found: no other group's practice shares a theme or a distinctive "
                     "word with it.")
    shown = len(result["results"])
    lines += ["", f"total: {result['total']}" +
              (f" (showing {first}–{first + shown - 1})" if shown else "")]
    return lines


def _introductions_lines(result: dict[str, Any]) -> list[str]:
    lines = ["Introductions to make: groups on the same theme with no credit, adaptation or "
             "shared lineage between them."]
    for theme in result["themes"]:
        lines += ["", f"{theme['theme']} ({theme['groups']} group"
                      f"{'' if theme['groups'] == 1 else 's'})"]
        for suggestion in theme["suggestions"]:
            a, b = suggestion["groups"]
            lines += [f"  {group_line(a)}", f"    and {group_line(b)}",
                      f"    why: {suggestion['why']}"]
        if not theme["suggestions"]:
            lines.append("  nothing to suggest: its groups are connected already")
        elif theme["more"]:
            lines.append(f"  (more: `view introductions --theme {shlex.quote(theme['theme'])}`)")
    lines += ["", f"themes: {result['total']}"]
    return lines


def _travelled_lines(result: dict[str, Any]) -> list[str]:
    node = result["node"]
    lines = [f"Where the ideas of {one_line(node['name']) or node['node'][:7]} travelled:"]
    for practice in result["practices"]:
        lines += ["", f"{one_line(practice['title'] or practice['key'])} ({practice['key']})"
                      + ("" if practice["held"] else " — not held here")]
        lines += [f"  {travel_line(group)}" for group in practice["groups"]]
    if not result["practices"]:
        lines.append("Not adapted or credited by another group yet.")
    return lines


_PRINTERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "similar": _similar_lines, "introductions": _introductions_lines,
    "travelled": _travelled_lines}


@click.group(cls=HelpGroup)
def view() -> None:
    """Network views: what this node can see of the whole network.

    No view ranks organisations against each other; every view says what it
    left out (forked authors' entries, retracted practices).
    """


def _view_command(name: str) -> click.Command:
    spec = VIEWS[name]

    @data_dir_option
    @_param_options(spec.params, spec.defaults)
    @click.option("--json", "as_json", is_flag=True, help="Print the view as JSON.")
    def command(data_dir: Path, as_json: bool, **options: Any) -> None:
        practice = options.pop("practice", None)
        raw = {k: v for k, v in options.items() if v is not None}
        if practice is not None:
            if "node" in raw or "key" in raw:
                raise click.UsageError("name the practice once: PRACTICE or --node/--key")
            try:
                raw.update(practice_ref(practice))
            except HedgerowError as exc:
                _fail(exc.message)
        result = _run(lambda: _with_store(data_dir, lambda s: run_view(s, name, raw)))
        _print_result(result, as_json)

    if name == "similar":
        # `hedgerow view similar repair-cafe`, or NODE_ID/KEY for another node's practice.
        command = click.argument("practice", required=False)(command)
    return click.command(name, help=spec.summary)(command)


for _name in VIEWS:
    view.add_command(_view_command(_name))

_ALL_PARAMS = tuple(dict.fromkeys(p for spec in VIEWS.values() for p in spec.params))


@click.command()
@data_dir_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="csv, xlsx, json (any view); graphml, kumu (the attribution graph; with "
                   "--view introductions, with the suggested introductions beside it); "
                   "openreferral (the directory as Open Referral UK).")
@click.option("--view", "view_name", type=click.Choice(list(VIEWS)), default=None,
              help="Which view (default: directory; spread for graphml and kumu, or "
                   "introductions).")
@click.option("--evidence", is_flag=True,
              help="With --format json: include the signed entries behind every figure, "
                   "so `hedgerow verify` can check it offline.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write to this file (default: standard output).")
@_param_options(_ALL_PARAMS)
def export(data_dir: Path, fmt: str, view_name: str | None, evidence: bool,
           output: Path | None, **options: Any) -> None:
    """Export a view: CSV, Excel, JSON, GraphML, Kumu or Open Referral UK."""
    raw = {k: v for k, v in options.items() if v is not None}
    data = _run(lambda: _with_store(
        data_dir, lambda s: export_view(s, fmt, view_name, raw, evidence=evidence)))
    if output is None:
        if fmt in ("xlsx", "kumu") and sys.stdout.isatty():
            _fail(f"{fmt} is a binary workbook: give a file with -o")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    click.echo(f"wrote {output} ({len(data):,} bytes)", err=True)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(file: Path, as_json: bool) -> None:
    """Check a verifiable export offline: signatures, network, and every figure."""
    try:
        doc = json.loads(file.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    except ValueError:
        _fail(f"{file} is not JSON")
    try:
        report = verify_export(doc)
    except VerificationFailed as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "error": exc.message}))
        _fail(exc.message)
    except HedgerowError as exc:
        _fail(exc.message)
    if as_json:
        click.echo(json.dumps({"ok": True, "view": report.view, "network": report.network,
                               "exported_by": report.exported_by, "entries": report.entries,
                               "notes": report.notes}))
        return
    click.echo(f"ok: the {report.view} figures follow from {report.entries:,} signed entries "
               f"of network {report.network}, exported by {report.exported_by}")
    for note in report.notes:
        click.echo(f"note: {note}")


def register(group: click.Group) -> None:
    """Add ``view``, ``export`` and ``verify`` to the root ``hedgerow`` group."""
    group.add_command(view)
    group.add_command(export)
    group.add_command(verify)
