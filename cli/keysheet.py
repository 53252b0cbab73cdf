"""The key on paper: ``keys sheet`` prints the recovery sheet, ``keys import`` reads it back.

Both are added to the ``keys`` group of cli/identity.py; the sheet's format
and its check characters are in node/store/recovery.py.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import click

from node.errors import InvalidInput
from node.store.datadir import database_path, key_path
from node.store.keyfile import create_key_file, load_key_file
from node.store.recovery import LINES, check_line, decode_sheet, sheet_text

from .common import UserError, data_dir_option, open_store, run
from .identity import keys

__all__ = ["keys", "keys_import", "keys_sheet"]

_WARNING = ("the recovery sheet holds the node's private key: anyone who has it can act as "
            "this node. Print it, keep it safe, and do not leave copies on disk.")


@keys.command("sheet")
@data_dir_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the sheet to FILE (mode 0600) instead of printing it.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def keys_sheet(data_dir: Path, output: Path | None, yes: bool) -> None:
    """Print a recovery sheet: the node key on paper, typeable, with check characters.

    With the sheet and a backup, `hedgerow keys import` then `hedgerow
    restore` bring the node back on a new machine.
    """
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("printing the private key needs confirmation: add --yes")
        click.confirm(f"Warning: {_WARNING}\nPrint it?", abort=True, err=True)

    async def network() -> bytes:
        async with open_store(data_dir) as store:
            return store.network

    key = load_key_file(key_path(data_dir))
    text = sheet_text(key, network=run(network()),
                      printed_on=datetime.date.today().isoformat())
    if output is None:
        click.echo(text, nl=False)
        click.echo(f"warning: {_WARNING}", err=True)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserError(f"{output} already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    click.echo(f"wrote the recovery sheet of node {key.short_id} to {output}; print it, then "
               "delete the file")
    click.echo(f"warning: {_WARNING}", err=True)


def _lines_from_file(path: Path) -> list[str]:
    """The five numbered lines of a saved sheet (``   1   ABCD …``)."""
    found: dict[int, str] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines()[:200]:
        parts = raw.split(None, 1)
        if len(parts) == 2 and parts[0].isdigit() and 1 <= int(parts[0]) <= LINES:
            found.setdefault(int(parts[0]), parts[1].split("(")[0])
    if sorted(found) != list(range(1, LINES + 1)):
        raise UserError(f"{path} does not look like a recovery sheet: lines 1 to {LINES} "
                        "were not all found")
    return [found[n] for n in range(1, LINES + 1)]


def _typed_lines() -> list[str]:
    lines = []
    for number in range(1, LINES + 1):
        while True:
            typed = click.prompt(f"line {number}", prompt_suffix=": ", err=True)
            try:
                check_line(number, typed)
            except InvalidInput as exc:
                if not sys.stdin.isatty():
                    raise
                click.echo(exc.message, err=True)
                continue
            lines.append(typed)
            break
    return lines


@keys.command("import")
@data_dir_option
@click.option("--sheet", "sheet_file", type=click.Path(dir_okay=False, exists=True,
                                                       path_type=Path),
              help="Read the lines from a saved sheet instead of typing them.")
def keys_import(data_dir: Path, sheet_file: Path | None) -> None:
    """Bring the node key back from its recovery sheet into a new data directory.

    Type the five lines when asked (spaces do not matter; each line is
    checked as you go). Then restore a backup: `hedgerow restore FILE`.
    """
    target = key_path(data_dir)
    if target.exists() or database_path(data_dir).exists():
        raise UserError(f"{data_dir} already holds a node; import the key into a new, "
                        "empty data directory")
    if sheet_file is None:
        click.echo("Type the five lines of the recovery sheet.", err=True)
    typed = _lines_from_file(sheet_file) if sheet_file is not None else _typed_lines()
    key = decode_sheet(typed)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_key_file(target, key.seed)
    click.echo(f"imported the key of node {key.node_id}")
    click.echo(f"Check that this is the node id printed on the sheet. Next: `hedgerow restore "
               f"BACKUP-FILE --data-dir {data_dir}`.")
