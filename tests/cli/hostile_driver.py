"""Every ``hedgerow`` command against one data directory, through click's runner.

Used by test_hostile_data_dirs.py. :func:`commands` finds every command
that takes a data directory, so commands added later are run too; each
gets the arguments :func:`argv_for` makes from its parameters' names.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from click.testing import CliRunner

from cli.main import hedgerow
from protocol import id_to_text

#: A node id that no test node has (the arguments need a well-formed one).
STRANGER = id_to_text(bytes(range(32)))
#: What each argument gets, by the parameter's name.
ARGUMENTS = {"node": STRANGER, "practice": "repair-cafe", "url": "http://127.0.0.1:9",
             "peer_address": "http://127.0.0.1:9", "measure": "1", "value": "1",
             "name": "visitors", "key": "repair-cafe", "code": "HR1-X"}
#: Options a command needs to run without a question, or at all.
OPTIONS = {
    "init": ["--new-network"],
    "up": ["--host", "127.0.0.1", "--port", "0"],
    "export": ["--format", "csv"],
    "keys export": ["--yes"],
    "keys sheet": ["--yes"],
    "record delete": ["--yes"],
    "restore": ["--yes"],
    "caught-up": ["--yes"],
    "reset-password": ["--yes"],
    "profile set": ["--description", "A community garden."],
    "record add": ["--title", "Seed swap"],
}


@dataclass(frozen=True)
class Result:
    command: str
    code: int
    out: str
    err: str
    traceback: str


def commands(group: click.Group = hedgerow, prefix: tuple[str, ...] = ()) \
        -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command that takes ``--data-dir`` (a leaf, or a group that is a command
    itself, as ``invite`` is), with its path of names."""
    ctx = click.Context(group, info_name="hedgerow")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        takes_data_dir = any(p.name == "data_dir" for p in command.params)
        if isinstance(command, click.Group):
            if command.invoke_without_command and takes_data_dir:  # a command itself
                yield (*prefix, name), command
            yield from commands(command, (*prefix, name))
        elif takes_data_dir:
            yield (*prefix, name), command


def argv_for(path: tuple[str, ...], command: click.Command, work: Path) -> list[str]:
    """``path`` with an argument for each of the command's arguments, and its options."""
    argv = list(path)
    for param in command.params:
        if isinstance(param, click.Argument) and param.required:
            assert param.name is not None
            if param.name == "file":
                # backup writes one; restore reads one (a sound backup of another node).
                argv.append(str(work / ("backup.db" if path == ("restore",) else "out.db")))
            else:
                argv.append(ARGUMENTS.get(param.name, "x"))
    return argv + OPTIONS.get(" ".join(path), [])


def run_every_command(data_dir: Path, work: Path, *, option: bool = False) -> list[Result]:
    """Run each command with ``$HEDGEROW_DATA_DIR`` (or ``--data-dir``) at ``data_dir``.

    ``restore`` runs last: it may mend what the others found broken.
    """
    results = []
    env: dict[str, str | None] = {"HEDGEROW_DATA_DIR": None if option else str(data_dir),
                                  "HEDGEROW_MDNS": "false", "EDITOR": "true"}
    found = sorted(commands(), key=lambda item: item[0] == ("restore",))
    for path, command in found:
        argv = argv_for(path, command, work)
        if option:
            argv = ["--data-dir", str(data_dir), *argv]
        result = CliRunner().invoke(hedgerow, argv, env=env, catch_exceptions=True)
        trace = ""
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(result.exception))
        results.append(Result(" ".join(path), result.exit_code, result.stdout,
                              result.stderr, trace))
    return results

