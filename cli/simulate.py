"""``hedgerow simulate``: how fast publications spread through a simulated network."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from node.settings import Config
from node.simulation import SeedResult, SimulationSettings, simulate, summarise

from .output import echo_json, print_table

__all__ = ["simulate_command"]

_DEFAULTS = Config()


@click.command("simulate", short_help="Simulate a network on virtual time: how fast "
                                      "publications reach every node.")
@click.option("--nodes", type=click.IntRange(2, 100_000), default=1000, show_default=True,
              help="Nodes in the network.")
@click.option("--fanout", type=click.IntRange(1, 20), default=_DEFAULTS.sync_fanout,
              show_default=True, help="Peers each node syncs with in each anti-entropy round.")
@click.option("--loss", type=click.FloatRange(0.0, 0.9), default=0.0, show_default=True,
              help="Fraction of messages lost (a request, or its reply).")
@click.option("--down", type=click.FloatRange(0.0, 0.9), default=0.0, show_default=True,
              help="Fraction of the nodes down at any moment (they go down and come back).")
@click.option("--seeds", type=click.IntRange(1, 10_000), default=5, show_default=True,
              help="Runs, each with its own random seed (1, 2, …).")
@click.option("--publications", type=click.IntRange(1, 50), default=10, show_default=True,
              help="Publications per run, each from a random live node.")
@click.option("--no-relay", is_flag=True,
              help="Anti-entropy alone: nodes do not pass new entries on.")
@click.option("--push-fanout", type=click.IntRange(0, 20), default=_DEFAULTS.push_fanout,
              show_default=True, help="Peers an author's new entries are pushed to at once.")
@click.option("--interval", type=click.FloatRange(1.0, 86_400.0),
              default=float(_DEFAULTS.sync_interval), show_default=True,
              help="Seconds between anti-entropy rounds (sync_interval).")
@click.option("--latency", type=click.FloatRange(0.0, 1000.0), default=50.0,
              show_default=True, help="Mean one-way delay of a message, in milliseconds.")
@click.option("--down-time", type=click.FloatRange(0.01, 10_000.0), default=3.0,
              show_default=True, help="Mean time a node stays down, in intervals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text (for scripts).")
def simulate_command(nodes: int, fanout: int, loss: float, down: float, seeds: int,
                     publications: int, no_relay: bool, push_fanout: int, interval: float,
                     latency: float, down_time: float, as_json: bool) -> None:
    """Run a whole network in this process, on virtual time, with the protocol's own code:
    sync sessions, peer choice and backoff, partial views, and the rumours that pass new
    entries on, over a simulated network that loses messages and whose nodes go down and
    come back.

    Each run publishes from random live nodes and measures, in anti-entropy intervals,
    how long each publication takes to reach every live node, how many nodes the rumours
    reached before any sync did, and the traffic per node. Nothing is sent over the
    network and no node's data is touched. docs/simulation.md explains the figures.
    """
    settings = SimulationSettings(
        nodes=nodes, fanout=fanout, loss=loss, down=down, seeds=seeds, relay=not no_relay,
        push_fanout=push_fanout, publications=publications, interval_s=interval, latency_ms=latency,
        down_time=down_time)
    settings.check()
    progress = sys.stderr.isatty()
    started = time.monotonic()
    results: list[SeedResult] = []
    for result in simulate(settings):
        results.append(result)
        if progress:
            click.echo(f"\rrun {len(results)}/{seeds} done "
                       f"({time.monotonic() - started:.0f} s)", nl=False, err=True)
    if progress:
        click.echo(err=True)
    summary = summarise(settings, results)
    if as_json:
        echo_json(summary)
        return
    _print_summary(settings, summary)


def _print_summary(settings: SimulationSettings, summary: dict[str, Any]) -> None:
    def show(value: Any, unit: str = "") -> str:
        return "never (some did not arrive)" if value is None else f"{value}{unit}"

    title = (f"{settings.nodes} nodes, fanout {settings.fanout}, loss {settings.loss:g}, "
             f"down {settings.down:g}, relay {'on' if settings.relay else 'off'}: "
             f"{summary['publications']} publications in {summary['seeds']} runs")
    relay_hops = summary["relay_hops_p99"]
    rows = [
        ("intervals to every live node, median", show(summary["intervals_to_all_p50"])),
        ("intervals to every live node, 99th percentile",
         show(summary["intervals_to_all_p99"])),
        ("intervals to every live node, slowest", show(summary["intervals_to_all_max"])),
        ("relay hops, 99th percentile", "-" if relay_hops is None else str(relay_hops)),
        ("nodes reached by relay first", f"{summary['reached_by_relay_fraction']:.1%}"),
        ("messages per node per interval", str(summary["messages_per_node_per_interval"])),
        ("bytes per node per interval", str(summary["bytes_per_node_per_interval"])),
        ("publications that never reached every live node", str(summary["unreached"])),
    ]
    print_table(("figure", "value"), rows, title=title)
