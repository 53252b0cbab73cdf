"""What every command shares: the data directory, ``--json``, errors, running node code.

* :class:`HedgerowGroup` turns every expected failure — a
  :class:`protocol.HedgerowError` (node errors are ones too), or a file the
  operating system refuses — into one line ``error: …`` on stderr and exit
  code 1, without a traceback. Click's own usage errors exit with 2.
* :func:`data_dir_option` gives a command ``--data-dir``; the root group
  takes one too (``hedgerow --data-dir DIR status``). The command's wins,
  then the group's, then ``$HEDGEROW_DATA_DIR``, then the platform's user
  data directory (:func:`node.settings.default_data_dir`).
* :func:`run` runs a coroutine; :func:`open_store` opens the node, saying
  plainly when there is none.
"""

from __future__ import annotations

import asyncio
import functools
import shlex
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
    "UserError",
    "command_prefix",
    "data_dir_option",
    "json_option",
    "open_store",
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


class HedgerowGroup(click.Group):
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
        except (PermissionError, FileNotFoundError, IsADirectoryError,
                NotADirectoryError) as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise UserError(f"{exc.strerror or exc}{where}") from exc


def resolve_data_dir(value: Path | None) -> Path:
    """The command's ``--data-dir``, else the root group's, else the default."""
    if value is not None:
        return value.expanduser()
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().params.get("data_dir") if ctx is not None else None
    if isinstance(root, Path):
        return root.expanduser()
    return default_data_dir()


def data_dir_option(command: Callable[P, T]) -> Callable[..., T]:
    """Add ``--data-dir`` to a command; it receives ``data_dir: Path`` already resolved."""

    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                  default=None, help=DATA_DIR_HELP)
    @functools.wraps(command)
    def wrapper(*args: Any, data_dir: Path | None, **kwargs: Any) -> T:
        return command(*args, data_dir=resolve_data_dir(data_dir), **kwargs)  # type: ignore[arg-type]

    return wrapper


def command_prefix(data_dir: Path) -> str:
    """``hedgerow``, with ``--data-dir`` when the node is not in the default place."""
    if data_dir.expanduser().resolve() == default_data_dir().expanduser().resolve():
        return "hedgerow"
    return f"hedgerow --data-dir {shlex.quote(str(data_dir))}"


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
