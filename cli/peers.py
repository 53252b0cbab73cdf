"""Whom the node syncs with: ``peer add|list|remove|block|unblock`` and ``sync``."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from node.errors import SyncFailed
from node.home import running_pid
from node.logview import failure_text, sync_counts
from node.service import NodeService
from node.settings import load_config
from node.store import blocklist
from node.sync import peerbook
from node.sync.client import SyncReport
from node.sync.peerbook import PeerRow
from protocol import id_to_text, short_id

from .common import (
    HelpGroup,
    UserError,
    command_prefix,
    data_dir_option,
    json_option,
    open_store,
    run,
)
from .output import ago, console, echo_json, is_terminal, print_table, size

__all__ = ["peer", "sync"]


@click.group(cls=HelpGroup)
def peer() -> None:
    """The nodes this node syncs with, and the ones it blocks."""


@peer.command("add")
@data_dir_option
@click.argument("url")
def peer_add(data_dir: Path, url: str) -> None:
    """Add a peer by its address, e.g. http://192.168.1.20:8470."""

    async def add() -> tuple[PeerRow, bool]:
        async with open_store(data_dir) as store:
            return await store.db.write(peerbook.add_peer, url, source="manual",
                                        now_ms=store.now_ms())

    row, new = run(add())
    click.echo(f"added peer {row.address}" if new else f"{row.address} is already a peer")


def _peer_json(row: PeerRow) -> dict[str, Any]:
    return {"address": row.address, "node_id": id_to_text(row.node_id) if row.node_id else None,
            "source": row.source, "last_sync_ms": row.last_sync_ms,
            "last_outcome": row.last_outcome or None, "last_error": row.last_error or None,
            "failures": row.health.failures, "next_attempt_ms": row.health.next_attempt_ms,
            "entries_in": row.entries_in, "entries_out": row.entries_out,
            "bytes_up": row.bytes_up, "bytes_down": row.bytes_down}


@peer.command("list")
@data_dir_option
@json_option
def peer_list(data_dir: Path, as_json: bool) -> None:
    """List known peers: where they came from and how the last sync went."""

    async def read() -> tuple[list[PeerRow], list[bytes]]:
        async with open_store(data_dir) as store:
            return (await store.db.read(peerbook.list_peers),
                    await store.db.read(blocklist.blocked_nodes))

    rows, blocked = run(read())
    if as_json:
        echo_json({"peers": [_peer_json(r) for r in rows],
                   "blocked": [id_to_text(b) for b in blocked]})
        return
    if not rows:
        click.echo("no peers yet; add one with `hedgerow peer add URL`")
    else:
        print_table(("address", "node", "source", "last sync", "outcome", "entries in/out"),
                    [(r.address, short_id(r.node_id) if r.node_id else "?", r.source,
                      ago(r.last_sync_ms),
                      r.last_outcome + (f" ({r.last_error})" if r.last_error else ""),
                      f"{r.entries_in}/{r.entries_out}") for r in rows])
    if blocked:
        click.echo(f"blocked: {', '.join(short_id(b) for b in blocked)}")


@peer.command("remove")
@data_dir_option
@click.argument("url")
def peer_remove(data_dir: Path, url: str) -> None:
    """Forget a peer (it may be learned again from profiles or the LAN)."""

    async def remove() -> None:
        async with open_store(data_dir) as store:
            await store.db.write(peerbook.remove_peer, url)

    run(remove())
    click.echo(f"removed {peerbook.normalise_address(url)}")


@peer.command("block")
@data_dir_option
@click.argument("node")
@click.option("--note", default="", help="Why (kept on this node only).")
@click.option("--with-admitted", is_flag=True,
              help="Also block every node whose membership runs only through NODE.")
def peer_block(data_dir: Path, node: str, note: str, with_admitted: bool) -> None:
    """Block a node here: delete what it wrote and refuse it from now on.

    NODE is the node's id, or its short form when this node knows it.
    Blocking is this node's alone: the network is told nothing, and the
    nodes NODE admitted stay members here unless --with-admitted blocks
    them too.
    """

    async def block() -> list[bytes]:
        async with open_store(data_dir) as store:
            node_id = await store.resolve_node(node)
            if node_id == store.node_id:
                raise UserError("a node cannot block itself")
            return await store.block_author(node_id, note=note, with_admitted=with_admitted)

    blocked = run(block())
    node_id = blocked[0]
    click.echo(f"blocked {short_id(node_id)}: its entries here are deleted and will be refused")
    if len(blocked) > 1:
        click.echo(f"also blocked the {len(blocked) - 1} node{'s' if len(blocked) != 2 else ''} "
                   f"it admitted: {', '.join(short_id(n) for n in blocked[1:])}")
    pid = running_pid(data_dir)
    if pid is not None:
        click.echo(f"note: restart the running node{f' (process {pid})' if pid else ''} so "
                   "that it refuses this node's requests too")


@peer.command("unblock")
@data_dir_option
@click.argument("node")
def peer_unblock(data_dir: Path, node: str) -> None:
    """Stop blocking a node (its entries come back with the next syncs).

    NODE is the node's id, or its short form as `hedgerow peer list` shows it.
    """

    async def unblock() -> bytes:
        async with open_store(data_dir) as store:
            node_id = await store.resolve_node(node)
            await store.db.write(blocklist.unblock_node, node_id)
            return node_id

    node_id = run(unblock())
    click.echo(f"unblocked {short_id(node_id)}")


# --- sync ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Outcome:
    address: str
    ok: bool
    received: int = 0
    sent: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    rounds: int = 0
    error: str = ""
    #: For an address that was not a peer: whether it is one now.
    remembered: bool | None = None

    def line(self) -> str:
        if not self.ok:
            return f"{self.address}: {failure_text(self.address, self.error)}"
        return (f"{self.address}: {sync_counts(self.received, self.sent)} "
                f"({size(self.bytes_up + self.bytes_down)})")


def _ask_to_remember(address: str) -> bool:
    """On a terminal, ask whether to keep a one-off address as a peer."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    return click.confirm(f"Remember {address} as a peer, to sync with it from now on?",
                         default=False)


async def _sync_all(data_dir: Path, only: str | None, *, remember: bool,
                    print_lines: bool) -> list[_Outcome]:
    async with open_store(data_dir) as store:
        service = NodeService(store, load_config(data_dir))
        await service.start(listen=False, gossip=False, mdns=False)
        try:
            gossip = service.gossip
            assert gossip is not None
            addresses = [peerbook.normalise_address(only)] if only else \
                [row.address for row in await store.db.read(peerbook.list_peers)]
            if not addresses:
                raise UserError("this node knows no peers yet: add one with `hedgerow peer add "
                                "URL`, or create the node with an invitation")
            new = only is not None and \
                await store.db.read(peerbook.peer_by_address, addresses[0]) is None
            progress = Progress(TextColumn("syncing"), BarColumn(), MofNCompleteColumn(),
                                console=console(), transient=True, disable=not is_terminal())
            outcomes: list[_Outcome] = []
            reports: dict[str, SyncReport] = {}
            with progress:
                task = progress.add_task("sync", total=len(addresses))

                async def one(address: str) -> None:
                    try:
                        report = await gossip.sync_peer(address, remember=remember)
                        reports[address] = report
                        stats = report.stats
                        outcome = _Outcome(address, True, stats.accepted, stats.push_accepted,
                                           stats.bytes_up, stats.bytes_down, stats.rounds)
                    except SyncFailed as exc:
                        outcome = _Outcome(address, False, error=exc.message)
                    if new:
                        outcome = replace(outcome, remembered=remember)
                    outcomes.append(outcome)
                    progress.advance(task)
                    if print_lines:
                        progress.console.print(outcome.line(), markup=False)

                await asyncio.gather(*(one(a) for a in addresses))
            if new and not remember and outcomes[0].ok and print_lines and \
                    _ask_to_remember(addresses[0]):
                await gossip.remember_peer(reports[addresses[0]])
                outcomes[0] = replace(outcomes[0], remembered=True)
            return outcomes
        finally:
            await service.stop()


def _remembered_line(outcome: _Outcome, hedgerow: str) -> str:
    if outcome.remembered:
        return f"remembered {outcome.address} as a peer"
    if outcome.ok:
        return (f"not remembered as a peer (a one-off sync): to sync with it from now on, run "
                f"`{hedgerow} peer add {outcome.address}` or sync with --remember")
    return f"not remembered as a peer: {outcome.address} was not added to the peer list"


@click.command(short_help="Sync with one peer, or every peer, now.")
@data_dir_option
@click.argument("peer_address", metavar="[PEER]", required=False)
@click.option("--remember", is_flag=True,
              help="Keep PEER as a peer if it is not one yet (without it, a one-off sync; "
                   "on a terminal you are asked after a sync that worked).")
@json_option
def sync(data_dir: Path, peer_address: str | None, remember: bool, as_json: bool) -> None:
    """Sync with PEER (an address), or with every known peer, now.

    Prints what each session did: entries received and entries sent. An
    address that is not a peer yet is synced with once and not remembered,
    unless you give --remember (or say yes when asked). Exits with 1 if no
    peer could be synced with.
    """
    if remember and peer_address is None:
        raise click.UsageError("--remember needs a PEER address")
    outcomes = run(_sync_all(data_dir, peer_address, remember=remember,
                             print_lines=not as_json))
    if as_json:
        echo_json([asdict(o) for o in outcomes])
    elif outcomes[0].remembered is not None:
        click.echo(_remembered_line(outcomes[0], command_prefix(data_dir)))
    if not any(o.ok for o in outcomes):
        raise UserError("could not sync with any peer" if len(outcomes) > 1 else
                        f"could not sync with {outcomes[0].address}")
