"""Peer liveness: backoff for unreachable peers, forgetting dead ones, choosing whom to sync.

Pure functions over a frozen :class:`PeerHealth`; the node stores it and
passes ``now`` (milliseconds) and a random source in.

Rules:

1. A peer that answers is *live*: its failure count resets and it is due
   again at the next anti-entropy round.
2. A peer that fails (unreachable, error status, bad reply) waits
   ``min(BASE · 2^(failures−1), CAP)`` before the next attempt, stretched by
   up to ``JITTER`` at random so that many nodes do not retry in step.
3. A peer that is failing and has not answered for :data:`FORGET_AFTER_MS`
   (since its last success, or since it was added if it never answered) is
   forgotten, unless a person put it there (configuration, ``peer add``, an
   invitation): only a person removes those.
4. Each anti-entropy round syncs with up to ``fanout`` peers chosen at
   random among those that are due — live ones and failed ones whose retry
   is due alike, so a peer that failed once is tried again on time and not
   starved by healthy ones.
5. The peers a node keeps are a bounded sample (a partial view, as in Cyclon
   or HyParView), never the whole network: :func:`refresh_view` keeps the
   peers a person chose and the live ones, and swaps a few others for random
   candidates each time, so that every node's view keeps changing and the
   network stays connected without anyone knowing everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol, TypeVar

__all__ = [
    "BACKOFF_BASE_MS",
    "BACKOFF_CAP_MS",
    "FORGET_AFTER_MS",
    "FORGET_MIN_FAILURES",
    "JITTER",
    "VIEW_SHUFFLE",
    "VIEW_SIZE",
    "PeerHealth",
    "RandomSource",
    "choose_peers",
    "is_due",
    "jittered",
    "record_failure",
    "record_success",
    "refresh_view",
    "should_forget",
]

BACKOFF_BASE_MS: Final = 30_000
BACKOFF_CAP_MS: Final = 6 * 3600_000
FORGET_AFTER_MS: Final = 30 * 86_400_000
FORGET_MIN_FAILURES: Final = 1
JITTER: Final = 0.25
#: Learned peers a node keeps in its view (peers a person added come on top).
VIEW_SIZE: Final = 24
#: Learned peers swapped for random candidates at each refresh.
VIEW_SHUFFLE: Final = 4


class RandomSource(Protocol):
    """What the functions need of ``random.Random`` (seeded in tests)."""

    def random(self) -> float: ...

    def shuffle(self, x: list[Any]) -> None: ...


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


def should_forget(peer: PeerHealth, now_ms: int, *, after_ms: int = FORGET_AFTER_MS,
                  added_ms: int | None = None) -> bool:
    """Whether a learned peer has been failing for ``after_ms`` since it last answered (rule 3)."""
    if peer.pinned or peer.failures < FORGET_MIN_FAILURES:
        return False
    since = peer.last_success_ms
    if since is None:
        since = added_ms if added_ms is not None else peer.first_failure_ms
    return since is not None and now_ms - since >= after_ms


def choose_peers(peers: Sequence[PeerHealth], now_ms: int, fanout: int,
                 rng: RandomSource) -> list[PeerHealth]:
    """Up to ``fanout`` of the due peers, chosen uniformly at random (rule 4)."""
    due = [p for p in peers if is_due(p, now_ms)]
    rng.shuffle(due)
    return due[: max(fanout, 0)]


T = TypeVar("T")


def refresh_view(view: Sequence[T], candidates: Sequence[T], rng: RandomSource, *,
                 keep: frozenset[T] = frozenset(), size: int = VIEW_SIZE,
                 shuffle: int = VIEW_SHUFFLE) -> list[T]:
    """The learned peers to keep next (rule 5): ``view`` refreshed from ``candidates``.

    ``keep`` (say, the peers that answered last) stay while there is room;
    the view is filled up to ``size`` from the candidates not in it, chosen
    at random; and when there is no room for them all, up to ``shuffle`` of
    the peers not kept are swapped for them. A view with room loses nobody.
    The result has no duplicates and at most ``size`` peers.
    """
    current = list(dict.fromkeys(view))
    fresh = [c for c in dict.fromkeys(candidates) if c not in set(current)]
    rng.shuffle(fresh)
    kept = [p for p in current if p in keep]
    others = [p for p in current if p not in keep]
    rng.shuffle(others)
    overflow = len(kept) + len(others) + len(fresh) - size
    swapped = max(0, min(shuffle, len(fresh), len(others), overflow))
    result = (kept + others[swapped:])[:size]
    result += fresh[: max(0, size - len(result))]
    return result
