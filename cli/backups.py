"""Backups: ``backup [create] FILE``, ``backup now|list|test FILE``, and ``restore``.

A backup holds everything needed to bring the node back as it was except
the key: the database, ``hedgerow.toml`` and the pages' ``admin.json``
(node/store/backup.py). A running node also takes one every night
(node/backups.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from node import restore_offline, wall_clock_ms
from node.backups import (
    BackupHealth,
    RestoreCheck,
    backup_folder,
    backup_health,
    check_restorable,
    list_backups,
    take_backup,
)
from node.errors import NotInitialised
from node.home import run_lock, running_pid
from node.settings import load_config
from node.store.datadir import key_path
from node.store.keyfile import load_key_file
from protocol import id_to_text

from .common import (
    HedgerowGroup,
    UserError,
    command_prefix,
    data_dir_option,
    json_option,
    open_store,
    run,
)
from .output import ago, echo_json, print_table, size

__all__ = ["backup", "backup_health_line", "backup_status_line", "restore"]

_KEY_NOTE = ("it does not hold the node key: keep a copy of that too (`hedgerow keys export`, "
             "or print `hedgerow keys sheet`)")


class _BackupGroup(HedgerowGroup):
    """``hedgerow backup [--data-dir DIR] FILE`` still means ``hedgerow backup create …``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_BackupGroup, short_help="Back up the node (fine while running).")
def backup() -> None:
    """Back up the node, list and test backups.

    A backup holds the database (private records, summaries, peers), the
    settings (`hedgerow.toml`) and the web pages' admin state (`admin.json`:
    the password hash, public pages, API tokens); it does not hold the node
    key. A running node takes one every night by itself.
    """


@backup.command("create")
@data_dir_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_create(data_dir: Path, file: Path) -> None:
    """Write a backup of the node to FILE (fine while it runs); `hedgerow backup FILE` too.

    The file holds the private records (it is created with mode 0600).
    """

    async def copy() -> int:
        async with open_store(data_dir) as store:
            return await store.backup(file)

    written = run(copy())
    click.echo(f"backed up to {file} ({size(written)}); {_KEY_NOTE}")


@backup.command("now")
@data_dir_option
@json_option
def backup_now(data_dir: Path, as_json: bool) -> None:
    """Take a checked backup into the backup folder now (as the nightly one does)."""
    config = load_config(data_dir)

    async def take() -> Any:
        async with open_store(data_dir) as store:
            return await take_backup(store, config)

    report = run(take())
    if as_json:
        echo_json({"file": str(report.path), "size": report.size,
                   "copied_to": str(report.copied_to) if report.copied_to else None,
                   "copy_error": report.copy_error,
                   "removed": [str(p) for p in report.removed]})
    else:
        click.echo(f"backed up to {report.path} ({size(report.size)}), checked")
        if report.copied_to:
            click.echo(f"copied to {report.copied_to}")
        for path in report.removed:
            click.echo(f"removed the old backup {path.name}")
    if report.copy_error:
        raise UserError(f"the backup was taken, but {report.copy_error}")


def backup_health_line(health: BackupHealth) -> str:
    """One line about the backups, for ``status`` and ``backup list``."""
    return backup_status_line(health.to_json())


def backup_status_line(health: Mapping[str, Any]) -> str:
    """One line about the backups from :meth:`BackupHealth.to_json`."""
    if not health["enabled"]:
        return "nightly backups are off (the backups setting)"
    if health["last_ms"] is None:
        text = f"none yet (nightly, into {health['folder']})"
    else:
        text = f"last {ago(health['last_ms'])}, {health['count']} kept in {health['folder']}"
    if health["stale"]:
        text += "; OLDER THAN 2 DAYS: run `hedgerow backup now` and see `hedgerow doctor`"
    return text


@backup.command("list")
@data_dir_option
@json_option
def backup_list(data_dir: Path, as_json: bool) -> None:
    """List the nightly backups, newest first, and whether the last one is recent."""
    config = load_config(data_dir)

    async def created() -> int:
        async with open_store(data_dir) as store:
            return (await store.state()).created_ms

    health = backup_health(data_dir, config, now_ms=wall_clock_ms(), created_ms=run(created()))
    backups = list_backups(backup_folder(data_dir, config))
    if as_json:
        echo_json({"health": health.to_json(),
                   "backups": [{"file": str(b.path), "taken_ms": b.taken_ms, "size": b.size}
                               for b in backups]})
        return
    click.echo(f"backups: {backup_health_line(health)}")
    if health.copy_folder:
        click.echo(f"second place: {health.copy_folder} (last copy "
                   f"{ago(health.copy_last_ms) if health.copy_last_ms else 'none yet'})")
    if backups:
        click.echo("")
        print_table(("file", "taken", "size"),
                    [(b.path.name, ago(b.taken_ms), size(b.size)) for b in backups])


def _print_check(check: RestoreCheck) -> None:
    click.echo(f"{check.file} restores cleanly ({size(check.size)}):")
    click.echo(f"  node       {id_to_text(check.node_id)}"
               + ("" if check.this_node is None else
                  " (this node)" if check.this_node else " (NOT this node)"))
    click.echo(f"  network    {id_to_text(check.network, 'network')}")
    if check.taken_ms is not None:
        click.echo(f"  taken      {ago(check.taken_ms)}")
    click.echo(f"  records    {check.practices} practice{'s' if check.practices != 1 else ''}")
    click.echo(f"  entries    {check.entries}")
    click.echo("  settings   " + (", ".join(check.settings_files) or
                                  "none (made by an older version: settings not included)"))
    click.echo(f"  {_KEY_NOTE[0].upper()}{_KEY_NOTE[1:]}")


@backup.command("test")
@data_dir_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def backup_test(data_dir: Path, file: Path, as_json: bool) -> None:
    """Restore FILE into a temporary folder and check it (this node is not touched).

    Checks the database thoroughly (integrity_check), that this version can
    open and upgrade it, and that its settings read as settings.
    """
    node_id = None
    if key_path(data_dir).exists():
        node_id = load_key_file(key_path(data_dir)).public
    check = check_restorable(file, node_id=node_id)
    if as_json:
        echo_json(check.to_json())
    else:
        _print_check(check)
    if check.this_node is False:
        raise UserError(f"{file} is a backup of another node than the one in {data_dir}")


@click.command(short_help="Restore the node from a backup.")
@data_dir_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The node's key file (from `hedgerow keys export`), to restore into a new "
                   "data directory.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(data_dir: Path, file: Path, key_file: Path | None, yes: bool) -> None:
    """Restore the node from the backup FILE (the node must be stopped).

    The database, `hedgerow.toml` and the pages' admin password come back
    (files they replace are kept as `*.before-restore`). Into a new data
    directory, give the key with --key, or first `hedgerow keys import`.
    Afterwards the node catches up on its own entries from its peers before
    it publishes again.
    """
    pid = running_pid(data_dir) if data_dir.is_dir() else None
    if pid is not None:
        raise UserError(f"a node is running on {data_dir}" + (f" (process {pid})" if pid else "")
                        + "; stop it first, then restore")
    if key_file is not None:
        key = load_key_file(key_file)
        if key_path(data_dir).exists():
            if load_key_file(key_path(data_dir)).public != key.public:
                raise UserError(f"{data_dir} already holds another node's key; restore into "
                                "an empty directory")
        else:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            target = key_path(data_dir)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out, open(key_file, "rb") as src:
                shutil.copyfileobj(src, out)
                out.flush()
                os.fsync(out.fileno())
    if not data_dir.is_dir() or not key_path(data_dir).exists():
        raise NotInitialised(f"there is no node key in {data_dir}; give it with --key FILE "
                             "(from `hedgerow keys export`), or type it in from the recovery "
                             "sheet with `hedgerow keys import`")
    if not yes:
        click.confirm(f"Restore {data_dir} from {file}?", abort=True)
    with run_lock(data_dir):
        written = restore_offline(data_dir, file, now_ms=wall_clock_ms())
    click.echo(f"restored {file} into {data_dir}"
               + (f" (database, {', '.join(written)})." if written else
                  " (database only: this backup was made without the settings)."))
    click.echo("Before it publishes again, the node will catch up on its own entries from its "
               f"peers: run `{command_prefix(data_dir)} sync` (or `up`).")
