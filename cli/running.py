"""Running and looking after a node: ``up``, ``status``, ``backup``, ``restore``, ``caught-up``."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from node import CATCH_UP_MESSAGE, Store, wall_clock_ms
from node.errors import NotInitialised
from node.events import EventBus
from node.home import NodeStatus, create_if_empty, node_status, run_lock
from node.logview import LEVELS, EventLog
from node.service import NodeService, lan_addresses
from node.settings import Config, load_config
from node.web import setup_code_to_show

from .common import UserError, command_prefix, data_dir_option, json_option, open_store, run
from .output import ago, echo_json, one_line, print_table, travel_line
from .progress import CatchUpBar, catch_up_line

__all__ = ["caught_up", "status", "up"]

_WILDCARDS = ("0.0.0.0", "::", "")


def _configure_logging(level_name: str) -> None:
    """Node internals log to stderr; the event lines go to stdout (see :class:`EventLog`)."""
    level = LEVELS[level_name]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s  %(levelname)s %(name)s: %(message)s",
                                           "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The scheduler announces every job it adds and runs at info.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))


def _echo(line: str) -> None:
    click.echo(line)  # flushes, so a pipe or a journal sees each line at once


def _listen_error(exc: OSError, config: Config) -> UserError:
    where = f"{config.host}:{config.port}"
    if exc.errno == errno.EADDRINUSE:
        return UserError(f"port {config.port} is already in use (is another node running?); "
                         "choose another with --port or the port setting")
    if exc.errno == errno.EADDRNOTAVAIL:
        return UserError(f"cannot listen on {config.host}: this machine has no such address; "
                         "use --host 0.0.0.0 or one of its addresses")
    if exc.errno == errno.EACCES:
        return UserError(f"not allowed to listen on {where} (ports below 1024 need root); "
                         "choose a port from 1024 up")
    return UserError(f"cannot listen on {where}: {exc.strerror or exc}")


async def _serve(data_dir: Path, config: Config) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        # On a terminal, a progress bar while the node catches up (the log lines go
        # on above it); in a journal, the log's one line when a catch-up is done.
        with CatchUpBar() as bar:
            async with open_store(data_dir) as store:
                events = EventBus()
                # The bar first: a completed catch-up takes it away before its line.
                events.subscribe(bar.on_event)
                events.subscribe(EventLog(bar.echo, level=LEVELS[config.log_level]))
                service = NodeService(store, config, events=events)
                try:
                    await service.start(backups=True)
                except OSError as exc:
                    raise _listen_error(exc, config) from None
                try:
                    _announce(service, config, store)
                    await stopping.wait()
                    _echo("stopping…")
                finally:
                    await service.stop()
        _echo("stopped cleanly")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _announce(service: NodeService, config: Config, store: Store) -> None:
    for address in service.addresses:
        _echo(f"listening on {address}")
    if config.host in _WILDCARDS:
        port = service.port
        _echo(f"on this machine: http://127.0.0.1:{port}")
        _echo(f"on your network: {', '.join(lan_addresses(port))}")
    if config.public_url:
        _echo(f"public address: {config.public_url}")
    _echo(f"node {store.key.short_id} is up; press Ctrl-C to stop")
    code = setup_code_to_show(store.data_dir)
    if code is not None:
        _echo(f"first-run setup code: {code} - open the pages at an address above and enter "
              "it to set the admin password")


@click.command(short_help="Run the node until Ctrl-C or SIGTERM.")
@data_dir_option
@click.option("--host", default=None,
              help="Address to listen on [default: the host setting, 0.0.0.0].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on; 0 picks a free one [default: the port setting, 8470].")
@click.option("--create", is_flag=True,
              help="If the data directory holds no node, create one and set it up on the "
                   "first-run web page (a service or a container starts this way).")
def up(data_dir: Path, host: str | None, port: int | None, create: bool) -> None:
    """Run the node in the foreground until Ctrl-C or SIGTERM.

    Logs one line per event that matters: started, synced with a peer
    (entries received and sent), a peer unreachable, a publication, a fork
    detected, a completed catch-up with the network and its duration, the
    nightly backup. While the node catches up, a terminal shows a progress bar.
    """
    if create and create_if_empty(data_dir, now_ms=wall_clock_ms()):
        _echo(f"created a new node in {data_dir}: set it up on the first-run page")
    if not data_dir.is_dir():
        raise NotInitialised(f"there is no node in {data_dir}: create one with `hedgerow init`")
    config = load_config(data_dir, overrides={"host": host, "port": port})
    _configure_logging(config.log_level)
    with run_lock(data_dir):
        run(_serve(data_dir, config))


# --- status ----------------------------------------------------------------------------

def _counts(counts: dict[str, int]) -> str:
    # The genesis is shown on the membership line, not counted here.
    names = {"profile": ("profile", "profiles"), "practice": ("practice", "practices"),
             "credit": ("credit", "credits"), "admit": ("admission", "admissions"),
             "retract": ("withdrawal", "withdrawals")}
    parts = [f"{counts[k]} {one if counts[k] == 1 else many}"
             for k, (one, many) in names.items() if counts.get(k)]
    return ", ".join(parts) or "none"


def _print_status(s: NodeStatus, data_dir: Path) -> None:
    from .backups import backup_status_line  # here: `hedgerow up` never needs it

    who = s.name or "(no name yet)"
    details = ", ".join(x for x in (s.level, s.area) if x)
    click.echo(f"node          {s.node_id}  ({s.short_id})")
    click.echo(f"organisation  {who}" + (f"  ({details})" if details else ""))
    click.echo(f"network       {s.network}")
    m = s.membership
    if m.member:
        click.echo(f"membership    member of {m.members} "
                   + ("(this node founded the network)" if m.admitted_by is None
                      else f"(admitted by {m.admitted_by[:7]})"))
    else:
        click.echo(f"membership    {m.joining}")
    if m.pending_entries:
        click.echo(f"waiting       {m.pending_entries} entr"
                   f"{'ies' if m.pending_entries != 1 else 'y'} from nodes not yet admitted")
    click.echo(f"data          {s.data_dir}")
    click.echo("running       " + ("no" if s.running_pid is None else
                                   f"yes (process {s.running_pid})" if s.running_pid else "yes"))
    click.echo(f"records       {s.practices} practice{'s' if s.practices != 1 else ''}"
               " (private)")
    click.echo(f"published     {_counts(dict(s.own_entries))}")
    held = sum(n for kind, n in s.entries.items() if kind != "genesis")
    click.echo(f"entries held  {held} from {s.authors} node{'s' if s.authors != 1 else ''}: "
               f"{_counts(dict(s.entries))}")
    if s.blocked:
        click.echo(f"blocked       {s.blocked} node{'s' if s.blocked != 1 else ''}")
    open_forks = [f for f in s.forks if f.resolved_ms is None]
    resolved = len(s.forks) - len(open_forks)
    click.echo("forks         " + ("none" if not open_forks else
                                   "; ".join(f"{f.author[:7]} at version {f.version}"
                                             for f in open_forks))
               + (f" ({resolved} resolved)" if resolved else ""))
    for fork in (f for f in open_forks if f.own):
        again = ", ".join(f"{kind} {key}" for kind, key in fork.slots) or "the forked entries"
        click.echo(f"  This node signed two different entries with version {fork.version} "
                   "(it was probably restored from an old backup, or its key copied). Other "
                   "nodes leave its entries out of their views until it publishes a newer "
                   f"version of: {again}. Publishing them again resolves the fork.")
    if s.needs_catch_up:
        click.echo(f"catch-up      needed: {CATCH_UP_MESSAGE}")
        click.echo(f"              so far: {s.catch_up}")
    elif s.catch_up:
        click.echo(f"catch-up      {s.catch_up}")
    if s.network_catch_up is not None:
        click.echo(f"syncing       {catch_up_line(s.network_catch_up, now_ms=wall_clock_ms())}")
    click.echo(f"backups       {backup_status_line(s.backups)}")
    _print_ideas(s.ideas_travelled)
    if not s.peers:
        click.echo(f"peers         none yet: `{command_prefix(data_dir)} peer add URL`")
        return
    click.echo("")
    print_table(("peer", "node", "last sync", "outcome", "entries in/out"),
                [(p.address, p.node_id[:7] if p.node_id else "?", ago(p.last_sync_ms),
                  (p.last_outcome or "-") + (f": {p.last_error}" if p.last_error else ""),
                  f"{p.entries_in}/{p.entries_out}") for p in s.peers])


def _print_ideas(practices: tuple[dict[str, Any], ...]) -> None:
    """Where the group's ideas travelled; the groups new since the last `status` marked."""
    if not practices:
        click.echo("ideas         not adapted or credited by another group yet")
        return
    new = sum(1 for p in practices for g in p["groups"] if g["new"])
    click.echo("ideas         where your practices travelled" +
               (f" ({new} new since you last looked)" if new else "") + ":")
    for practice in practices:
        click.echo(f"  {one_line(practice['title'] or practice['key'])} ({practice['key']})")
        for group in practice["groups"]:
            click.echo(f"    {'new ' if group['new'] else '    '}{travel_line(group)}")


@click.command(short_help="Node id, network, peers, counts, forks.")
@data_dir_option
@json_option
def status(data_dir: Path, as_json: bool) -> None:
    """Node id, network, peers, counts, last syncs, forks and catch-up state.

    Also where the group's ideas travelled: which of its practices other groups
    adapted or credited, with those new since the last `status` marked "new"
    (`--json` shows the marks without clearing them).
    """

    async def gather() -> NodeStatus:
        async with open_store(data_dir) as store:
            # A person reading the text has seen what is new; a script reading JSON has not.
            return await node_status(store, ideas_viewer="status", remember_ideas=not as_json)

    result = run(gather())
    if as_json:
        echo_json(result.to_json())
    else:
        _print_status(result, data_dir)


# --- after a restore -------------------------------------------------------------------

@click.command("caught-up", short_help="Let a restored node publish again.")
@data_dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def caught_up(data_dir: Path, yes: bool) -> None:
    """Allow a restored node to publish without catching up from a peer first.

    Only if you are sure it published nothing after the backup was made:
    otherwise its next publication may fork its own history.
    """

    async def check() -> bool:
        async with open_store(data_dir) as store:
            return await store.needs_catch_up()

    if not run(check()):
        click.echo("this node does not need to catch up")
        return
    if not yes:
        click.confirm("Are you sure this node published nothing after its backup was made?",
                      abort=True)

    async def mark() -> Any:
        async with open_store(data_dir) as store:
            await store.mark_caught_up()

    run(mark())
    click.echo("marked as caught up; the node may publish again")
