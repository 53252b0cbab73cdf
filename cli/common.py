"""What every command shares: the data directory, ``--json``, errors, running node code.

* :class:`HedgerowGroup` turns every expected failure — a
  :class:`protocol.HedgerowError` (node errors are ones too), or a file the
  operating system refuses (a full disk, a permission) — into one line
  ``error: …`` on stderr and exit code 1, without a traceback. Click's own
  usage errors exit with 2.
* :func:`data_dir_option` gives a command ``--data-dir``; the root group
  takes one too (``hedgerow --data-dir DIR status``). The command's wins,
  then the group's, then ``$HEDGEROW_DATA_DIR``, then the platform's user
  data directory (:func:`node.settings.default_data_dir`).
* :func:`run` runs a coroutine; :func:`open_store` opens the node, saying
  plainly when there is none.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import shlex
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from node import Store
from node.errors import NotInitialised
from node.settings import DATA_DIR_ENV, default_data_dir
from protocol import HedgerowError

__all__ = [
    "DATA_DIR_HELP",
    "HedgerowGroup",
    "HelpGroup",
    "UserError",
    "WholeNumber",
    "command_prefix",
    "data_dir_option",
    "json_option",
    "open_store",
    "program",
    "resolve_data_dir",
    "run",
]

P = ParamSpec("P")
T = TypeVar("T")

DATA_DIR_HELP = (f"The node's data directory [default: ${DATA_DIR_ENV}, else the user data "
                 "directory, e.g. ~/.local/share/hedgerow].")


class UserError(click.ClickException):
    """An expected failure: one line on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class HelpGroup(click.Group):
    """A group whose help lists each command's whole description, wrapped, never cut.

    (Click cuts a description to fit one line: at 80 columns many ended in
    the middle of a sentence.)
    """

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=_WHOLE)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


#: A short help no longer than this is never cut (it is wrapped instead).
_WHOLE = 1000


class HedgerowGroup(HelpGroup):
    """A group whose commands' expected failures end in one clear line, never a traceback.

    Its commands are listed in the order they were added (the order of a
    newcomer's first steps), not alphabetically.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HedgerowError as exc:
            raise UserError(exc.message) from exc
        except OSError as exc:
            # The operating system refused a file: a full disk, a permission,
            # a missing or misplaced path. Said in a line, with the file.
            where = f": {exc.filename}" if exc.filename else ""
            hint = ""
            if exc.errno == errno.ENOSPC:
                hint = " (the disk is full: free some space, then try again)"
            elif exc.errno in (errno.EACCES, errno.EPERM):
                hint = (" (permission: run Hedgerow as the user that owns the node's data "
                        "directory)")
            raise UserError(f"{exc.strerror or exc}{where}{hint}") from exc


def resolve_data_dir(value: Path | None) -> Path:
    """The command's ``--data-dir``, else the root group's, else the default.

    Refuses a path that is there but is not a directory, whichever way it
    was given, before the command does anything.
    """
    if value is not None:
        path = value.expanduser()
    else:
        ctx = click.get_current_context(silent=True)
        root = ctx.find_root().params.get("data_dir") if ctx is not None else None
        path = root.expanduser() if isinstance(root, Path) else default_data_dir()
    if path.exists() and not path.is_dir():
        raise UserError(f"the data directory {path} is not a directory (it is a file): point "
                        f"--data-dir (or ${DATA_DIR_ENV}) at the node's data directory")
    return path


def data_dir_option(command: Callable[P, T]) -> Callable[..., T]:
    """Add ``--data-dir`` to a command; it receives ``data_dir: Path`` already resolved."""

    @click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                  help=DATA_DIR_HELP)
    @functools.wraps(command)
    def wrapper(*args: Any, data_dir: Path | None, **kwargs: Any) -> T:
        return command(*args, data_dir=resolve_data_dir(data_dir), **kwargs)  # type: ignore[arg-type]

    return wrapper


def program(*, anywhere: bool = False) -> str:
    """How a person runs this ``hedgerow`` again: ``hedgerow`` if their shell finds it
    by that name, else the path it was run by.

    ``anywhere``: for another terminal, which may be in another directory and
    has no virtual environment activated (the demo's "try it" lines): then
    the path is absolute, and a ``hedgerow`` found only through the active
    environment does not count.
    """
    typed = sys.argv[0] if sys.argv else ""
    if os.path.basename(typed) != "hedgerow":
        return "hedgerow"  # `python -m cli`, or a test: the installed command's name
    found = shutil.which("hedgerow")
    venv = os.environ.get("VIRTUAL_ENV")
    only_active = bool(anywhere and venv and found
                       and Path(found).parent == Path(venv) / "bin")
    if os.sep not in typed:  # the shell found it by name
        return shlex.quote(found) if only_active and found else "hedgerow"
    try:
        same = found is not None and os.path.samefile(found, typed)
    except OSError:
        same = False
    if same and not only_active:
        return "hedgerow"
    return shlex.quote(os.path.abspath(typed) if anywhere else typed)


def command_prefix(data_dir: Path) -> str:
    """How to run ``hedgerow`` (:func:`program`), with ``--data-dir`` when the node is not
    in the default place."""
    name = program()
    if data_dir.expanduser().resolve() == default_data_dir().expanduser().resolve():
        return name
    return f"{name} --data-dir {shlex.quote(str(data_dir))}"


class WholeNumber(click.ParamType):  # type: ignore[type-arg]
    """A whole number of at least ``minimum``, refused in words a person reads.

    (Click's own integer range says "'abc' is not a valid integer range".)
    """

    name = "number"

    def __init__(self, minimum: int = 0) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not text.lstrip("-").isdigit() or len(text) > 18:
                self.fail(f"{value!r} is not a whole number", param, ctx)
            number = int(text)
        if number < self.minimum:
            self.fail(f"{number} is less than {self.minimum}", param, ctx)
        return number


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON instead of text (for scripts).")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run node code from a command (one event loop per command)."""
    return asyncio.run(coroutine)


@asynccontextmanager
async def open_store(data_dir: Path) -> AsyncIterator[Store]:
    """Open the node in ``data_dir``; :class:`NotInitialised` if there is none."""
    if not data_dir.is_dir():
        raise NotInitialised(f"there is no node in {data_dir}: create one with `hedgerow init`, "
                             "or point --data-dir (or $HEDGEROW_DATA_DIR) at one")
    store = await Store.open(data_dir)
    try:
        yield store
    finally:
        await store.close()
