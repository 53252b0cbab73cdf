"""``hedgerow demo``: a live local network with sample data (node/demo.py does the work).

Output is the same text on a terminal and in a pipe; a terminal adds colour.
Ctrl-C or SIGTERM stops every node and removes the temporary directory.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import tempfile
from pathlib import Path

import click

from node.demo import MAX_DEMO_NODES, DemoNetwork, DemoNode
from node.logview import EventLog
from protocol import id_to_text, short_id

from .common import program
from .output import console, escape

__all__ = ["demo"]

#: Seconds between anti-entropy rounds once the demo hands over to the nodes' schedulers.
DEMO_SYNC_INTERVAL = 5
_MAX_ROUNDS = 20


def _say(text: str = "") -> None:
    console().print(text)


def _bar(holders: int, total: int) -> str:
    return f"[green]{'●' * holders}[/green][dim]{'○' * (total - holders)}[/dim]"


async def _watch_spread(net: DemoNetwork, round_delay: float) -> None:
    live = await net.publish_live()
    publisher = net.nodes[live.publisher]
    source = f" (adapted from {escape(net.nodes[live.adapted_from].name)}, with a signed credit)" \
        if live.adapted_from is not None else ""
    _say(f"[bold]{escape(publisher.name)}[/bold] publishes "
         f"[bold]“{escape(live.title)}”[/bold]{source}.")
    seen = set(await net.holders())
    for _ in range(_MAX_ROUNDS):
        await asyncio.sleep(round_delay)  # only so that people can watch it spread
        spread = await net.spread_round()
        new = [net.nodes[i].name for i in spread.holders if i not in seen]
        seen.update(spread.holders)
        how = "push from the publisher" if spread.number == 1 else "anti-entropy"
        names = f" + {escape(', '.join(new))}" if new else ""
        _say(f"round {spread.number}  {_bar(len(spread.holders), spread.total)}  "
             f"{len(spread.holders)}/{spread.total} nodes hold it ({how}){names}")
        if spread.everywhere:
            _say(f"[bold green]The practice is on all {spread.total} nodes after "
                 f"{spread.number} round{'s' if spread.number != 1 else ''}.[/bold green]")
            return
    _say(f"[yellow]After {_MAX_ROUNDS} rounds the practice is on {len(seen)} of "
         f"{net.size} nodes; the nodes keep gossiping.[/yellow]")


def _next_steps(net: DemoNetwork, root: Path) -> None:
    first, second = net.nodes[0], net.nodes[1]

    # Tried in another terminal, perhaps in another directory: a command that runs there.
    hedgerow = program(anywhere=True)

    def at(node: DemoNode) -> str:
        return f"{hedgerow} --data-dir {shlex.quote(str(node.data_dir))}"

    _say()
    _say(f"[bold]Try it[/bold] (the nodes keep running and sync every {DEMO_SYNC_INTERVAL} s):")
    _say(f"  curl {first.url}/.well-known/hedgerow")
    _say(f"  {escape(at(first))} status"
         "   # where its ideas travelled, new ones marked")
    _say(f"  {escape(at(first))} view directory")
    _say(f"  {escape(at(first))} view spread --node {id_to_text(first.node_id)} "
         "--key play-street")
    _say(f"  {escape(at(second))} view similar {shlex.quote(second.sample.practices[0].key)}"
         "   # others on the same journey")
    _say(f"  {escape(at(first))} view introductions"
         "   # groups a convenor could introduce")
    _say(f"  {escape(at(second))} record add --title 'Seed swap' --themes food,growing")
    _say(f"  {escape(at(second))} share publish seed-swap --fields all"
         "   # then watch it arrive below")
    _say(f"Press Ctrl-C to stop the nodes and remove {escape(str(root))}.")
    _say()


async def _run(root: Path, nodes: int, port_base: int, round_delay: float) -> None:
    net = DemoNetwork(root, nodes=nodes, port_base=port_base,
                      sync_interval=DEMO_SYNC_INTERVAL)
    _say(f"[bold]Hedgerow demo[/bold]: {nodes} real nodes on this machine (loopback only), "
         f"data in {escape(str(root))}")
    try:
        await net.start()
        for node in net.nodes:
            _say(f"  {node.index + 1}  {escape(node.name):28} {node.sample.area:5} "
                 f"{node.url}  {short_id(node.node_id)}")
        rounds = await net.settle()
        entries = await net.entry_count()
        _say(f"Seeded sample groups: {entries} signed entries; every node holds all of them "
             f"after {rounds} gossip round{'s' if rounds != 1 else ''}.")
        _say()
        await _watch_spread(net, round_delay)
        net.start_gossip()
        _next_steps(net, root)
        logs = {node.index: EventLog(lambda line: console().print(line, markup=False),
                                     prefix=f"{node.name}: ") for node in net.nodes}
        net.watch(lambda node, event: logs[node.index](event))
        await asyncio.Event().wait()  # until cancelled by a signal
    finally:
        await net.stop()


async def _until_signalled(root: Path, nodes: int, port_base: int, round_delay: float) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(_run(root, nodes, port_base, round_delay))
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@click.command(short_help="A live local network with sample data.")
@click.option("--nodes", type=click.IntRange(2, MAX_DEMO_NODES), default=5, show_default=True,
              help="How many nodes to run.")
@click.option("--port-base", type=click.IntRange(0, 65535), default=8470, show_default=True,
              help="The first node's port; ports in use are skipped; 0 picks free ports.")
@click.option("--round-delay", type=click.FloatRange(0, 10), default=1.0, show_default=True,
              help="Seconds between gossip rounds while the new practice spreads.")
def demo(nodes: int, port_base: int, round_delay: float) -> None:
    """Run a live local network with sample data, and watch a practice spread.

    Starts real nodes — HTTP servers on 127.0.0.1, SQLite databases in a
    temporary directory, signed entries, real sync — seeded with sample
    groups. One node publishes a practice, and you see it reach the others
    round by round. Ctrl-C stops everything and removes the temporary files.
    """
    with tempfile.TemporaryDirectory(prefix="hedgerow-demo-") as tmp:
        asyncio.run(_until_signalled(Path(tmp), nodes, port_base, round_delay))
    _say(f"Stopped {nodes} nodes and removed {escape(tmp)}.")
