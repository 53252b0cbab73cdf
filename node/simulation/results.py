"""What a simulation is asked to do, and what it found.

:class:`SimulationSettings` holds the network to build (its size, the
fanout, loss, nodes down, relay on or off, the timing); each seed's run
gives a :class:`SeedResult` with one :class:`PublicationResult` per
publication measured; :func:`summarise` folds them into the figures that
``hedgerow simulate`` prints (docs/simulation.md says what each means).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..errors import InvalidInput

__all__ = [
    "SUMMARY_KEYS",
    "PublicationResult",
    "SeedResult",
    "SimulationSettings",
    "percentile",
    "summarise",
]

#: The figures :func:`summarise` gives, in the order they are printed.
SUMMARY_KEYS: Final = (
    "nodes", "relay", "intervals_to_all_p50", "intervals_to_all_p99", "relay_hops_p99",
    "reached_by_relay_fraction", "messages_per_node_per_interval",
    "bytes_per_node_per_interval", "unreached",
)
#: Publications per seed at most: every one of them fits in one push (MAX_PUSH_ENTRIES).
MAX_PUBLICATIONS: Final = 50


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    """One simulated network, run once per seed (``first_seed`` … ``first_seed + seeds − 1``)."""

    nodes: int = 1000
    fanout: int = 3  # peers synced with in each anti-entropy round (sync_fanout)
    loss: float = 0.0  # each message (a request or a reply) is lost with this probability
    down: float = 0.0  # fraction of the nodes down at any moment
    seeds: int = 5
    relay: bool = True  # rumour mongering on top of anti-entropy
    push_fanout: int = 3  # peers an author's new entries go to at once (push_fanout)
    publications: int = 10  # per seed, each from a random live node
    interval_s: float = 300.0  # the anti-entropy interval (sync_interval)
    latency_ms: float = 50.0  # mean one-way delay of a message
    down_time: float = 3.0  # mean time a node stays down, in intervals
    timeout_s: float = 30.0  # a request unanswered this long has failed (request_timeout)
    warm_up: float = 2.0  # intervals run before the first publication
    #: Intervals over which traffic is counted, from the end of the warm-up; the
    #: publications are made in the first of them.
    window: float = 10.0
    horizon: float = 40.0  # intervals after the last publication before giving up on it
    first_seed: int = 1
    #: Skip the session between two nodes that hold the same set and charge what a
    #: converged session costs (the same answers, much less work; see node.simulation).
    shortcut: bool = True

    def check(self) -> None:
        """Raise :class:`InvalidInput`, naming the setting, if one is out of range."""
        rules: list[tuple[str, bool, str]] = [
            ("nodes", 2 <= self.nodes <= 100_000, "between 2 and 100000"),
            ("fanout", 1 <= self.fanout <= 20, "between 1 and 20"),
            ("push_fanout", 0 <= self.push_fanout <= 20, "between 0 and 20"),
            ("loss", 0.0 <= self.loss <= 0.9, "between 0 and 0.9"),
            ("down", 0.0 <= self.down <= 0.9, "between 0 and 0.9"),
            ("seeds", 1 <= self.seeds <= 10_000, "between 1 and 10000"),
            ("publications", 1 <= self.publications <= MAX_PUBLICATIONS,
             f"between 1 and {MAX_PUBLICATIONS}"),
            ("interval_s", 1.0 <= self.interval_s <= 86_400.0, "between 1 and 86400 seconds"),
            ("latency_ms", 0.0 <= self.latency_ms <= 1_000.0, "between 0 and 1000 ms"),
            ("down_time", 0.01 <= self.down_time <= 10_000.0, "between 0.01 and 10000 intervals"),
            ("timeout_s", 5.0 <= self.timeout_s <= 3_600.0, "between 5 and 3600 seconds"),
            ("warm_up", 0.0 <= self.warm_up <= 1_000.0, "between 0 and 1000 intervals"),
            ("window", 1.0 <= self.window <= 1_000.0, "between 1 and 1000 intervals"),
            ("horizon", 1.0 <= self.horizon <= 10_000.0, "between 1 and 10000 intervals"),
        ]
        for field, ok, shape in rules:
            if not ok:
                raise InvalidInput(f"{field.replace('_', ' ')} must be {shape}", field=field)
        if self.nodes - self.down_count < 2:
            raise InvalidInput("down leaves fewer than two nodes up: nobody to sync with",
                               field="down")

    @property
    def down_count(self) -> int:
        """How many nodes are down at any moment."""
        return round(self.down * self.nodes)


@dataclass(frozen=True, slots=True)
class PublicationResult:
    """How one publication spread."""

    author: int
    #: Intervals from publication until every live node held it; None if it had
    #: not by the horizon.
    intervals_to_all: float | None
    #: Nodes up when it was published (the author aside) that received it by then ...
    receivers: int
    #: ... and of those, the ones whose first copy came by a relay push.
    by_relay: int
    #: Transfers from the author to each node first reached by a relay push.
    relay_hops: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SeedResult:
    """One run: its publications and what the whole network did meanwhile.

    Everything but the publications is counted over the window
    (``SimulationSettings.window`` intervals from the end of the warm-up), in
    which the publications are made.
    """

    seed: int
    publications: tuple[PublicationResult, ...]
    messages: int  # requests and replies sent, lost ones included
    bytes: int  # their bodies
    node_intervals: float  # live nodes × intervals over the same time
    lost: int  # messages lost on the way
    sessions: int  # sync sessions started
    failed_sessions: int
    pushes: int  # relay pushes sent
    failed_pushes: int
    restarts: int  # nodes that came back up
    down_min: int  # nodes down, the fewest and the most seen at any moment
    down_max: int
    #: Sessions between nodes holding the same set, answered by the shortcut.
    skipped_sessions: int


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (``p`` in (0, 100]) of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def summarise(settings: SimulationSettings, results: Sequence[SeedResult]) -> dict[str, Any]:
    """The figures ``hedgerow simulate`` prints, over every seed's publications.

    A publication that never reached every live node counts as infinitely
    slow: a percentile that lands on one is ``None``.
    """
    pubs = [p for r in results for p in r.publications]
    times = [p.intervals_to_all if p.intervals_to_all is not None else math.inf for p in pubs]
    hops = [h for p in pubs for h in p.relay_hops]
    receivers = sum(p.receivers for p in pubs)
    node_intervals = sum(r.node_intervals for r in results)
    summary: dict[str, Any] = {
        "nodes": settings.nodes,
        "relay": settings.relay,
        "intervals_to_all_p50": _finite(percentile(times, 50), 2),
        "intervals_to_all_p99": _finite(percentile(times, 99), 2),
        "relay_hops_p99": int(percentile(hops, 99)) if hops else None,
        "reached_by_relay_fraction":
            round(sum(p.by_relay for p in pubs) / receivers, 4) if receivers else 0.0,
        "messages_per_node_per_interval":
            round(sum(r.messages for r in results) / node_intervals, 2) if node_intervals else 0.0,
        "bytes_per_node_per_interval":
            round(sum(r.bytes for r in results) / node_intervals) if node_intervals else 0,
        "unreached": sum(1 for p in pubs if p.intervals_to_all is None),
    }
    summary.update({
        "fanout": settings.fanout, "loss": settings.loss, "down": settings.down,
        "seeds": len(results), "publications": len(pubs),
        "intervals_to_all_max": _finite(max(times), 2) if times else None,
    })
    return summary
