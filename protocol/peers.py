"""Peer liveness: backoff for unreachable peers, forgetting dead ones, choosing whom to sync.

Pure functions over a frozen :class:`PeerHealth`; the node stores it and
passes ``now`` (milliseconds) and a random source in.

Rules:

1. A peer that answers is *live*: its failure count resets and it is due
   again at the next anti-entropy round.
2. A peer that fails (unreachable, error status, bad reply) waits
   ``min(BASE · 2^(failures−1), CAP)`` before the next attempt, stretched by
   up to ``JITTER`` at random so that many nodes do not retry in step.
3. A peer that has not answered for :data:`FORGET_AFTER_MS` (and has failed
   at least :data:`FORGET_MIN_FAILURES` times in a row) is forgotten, unless
   it came from the node's own configuration, which only a person removes.
4. Each anti-entropy round syncs with up to ``fanout`` peers chosen at random
   among those that are due; live peers come before ones being retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

__all__ = [
    "BACKOFF_BASE_MS",
    "BACKOFF_CAP_MS",
    "FORGET_AFTER_MS",
    "FORGET_MIN_FAILURES",
    "JITTER",
    "PeerHealth",
    "RandomSource",
    "choose_peers",
    "is_due",
    "jittered",
    "record_failure",
    "record_success",
    "should_forget",
]

BACKOFF_BASE_MS: Final = 30_000
BACKOFF_CAP_MS: Final = 6 * 3600_000
FORGET_AFTER_MS: Final = 30 * 86_400_000
FORGET_MIN_FAILURES: Final = 10
JITTER: Final = 0.25


class RandomSource(Protocol):
    """What the functions need of ``random.Random`` (seeded in tests)."""

    def random(self) -> float: ...

    def shuffle(self, x: list[PeerHealth]) -> None: ...


@dataclass(frozen=True, slots=True)
class PeerHealth:
    address: str
    failures: int = 0
    next_attempt_ms: int = 0
    last_success_ms: int | None = None
    first_failure_ms: int | None = None
    pinned: bool = False  # from configuration: never forgotten automatically


def jittered(delay_ms: int, rng: RandomSource, jitter: float = JITTER) -> int:
    """``delay_ms`` stretched by a random fraction in ``[0, jitter)``."""
    return int(delay_ms * (1 + jitter * rng.random()))


def record_success(peer: PeerHealth, now_ms: int) -> PeerHealth:
    return replace(peer, failures=0, next_attempt_ms=now_ms, last_success_ms=now_ms,
                   first_failure_ms=None)


def record_failure(peer: PeerHealth, now_ms: int, rng: RandomSource) -> PeerHealth:
    failures = peer.failures + 1
    delay = min(BACKOFF_BASE_MS * 2 ** min(failures - 1, 30), BACKOFF_CAP_MS)
    return replace(
        peer, failures=failures, next_attempt_ms=now_ms + jittered(delay, rng),
        first_failure_ms=peer.first_failure_ms if peer.first_failure_ms is not None else now_ms,
    )


def is_due(peer: PeerHealth, now_ms: int) -> bool:
    return peer.next_attempt_ms <= now_ms


def should_forget(peer: PeerHealth, now_ms: int, *, after_ms: int = FORGET_AFTER_MS) -> bool:
    if peer.pinned or peer.failures < FORGET_MIN_FAILURES:
        return False
    since = peer.last_success_ms if peer.last_success_ms is not None else peer.first_failure_ms
    return since is not None and now_ms - since >= after_ms


def choose_peers(peers: Sequence[PeerHealth], now_ms: int, fanout: int,
                 rng: RandomSource) -> list[PeerHealth]:
    """Up to ``fanout`` due peers, at random, live ones first (rule 4)."""
    live = [p for p in peers if is_due(p, now_ms) and p.failures == 0]
    retrying = [p for p in peers if is_due(p, now_ms) and p.failures > 0]
    rng.shuffle(live)
    rng.shuffle(retrying)
    return (live + retrying)[: max(fanout, 0)]
