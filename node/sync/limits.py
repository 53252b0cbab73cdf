"""Limits on what peers may ask of a node: request rates and misbehaviour scores.

Both structures are bounded in memory (an attacker choosing fresh keys or
addresses only evicts the oldest state) and take the time as an argument, so
tests drive them with a fake clock.

* :class:`RateLimiter` — a token bucket per key (a peer's node id, or an IP
  address): ``rate`` requests a second on average, bursts up to ``burst``.
  A request over the limit gets 429 with ``Retry-After``.
* :class:`PeerScores` — penalty points per peer for bad requests (invalid
  signatures, malformed bodies, rejected entries). Points decay over time; a
  peer over the threshold is ignored (429) until its points decay below it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = ["PENALTY", "PeerScores", "RateLimiter"]

#: Points for each kind of misbehaviour; IGNORE_AT points means "ignored for a while".
PENALTY: Final = {
    "bad_signature": 10,
    "malformed": 5,
    "rejected_entry": 2,
    "too_large": 10,
}
IGNORE_AT: Final = 50
DECAY_PER_S: Final = 0.1  # one point every 10 s: a peer at 50 points waits ~8 minutes


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per key, at most ``max_keys`` of them (oldest evicted first)."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, key: str, now: float) -> float:
        """Take a token for ``key``. Returns 0.0 if allowed, else seconds to wait."""
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class PeerScores:
    """Misbehaviour points per peer, decaying with time."""

    def __init__(self, *, max_peers: int = 10_000) -> None:
        self.max_peers = max_peers
        self._points: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _current(self, peer: str, now: float) -> float:
        points, at = self._points.get(peer, (0.0, now))
        return max(0.0, points - (now - at) * DECAY_PER_S)

    def penalise(self, peer: str, reason: str, now: float) -> None:
        points = self._current(peer, now) + PENALTY.get(reason, 5)
        self._points.pop(peer, None)
        self._points[peer] = (points, now)
        while len(self._points) > self.max_peers:
            self._points.popitem(last=False)

    def ignored_for(self, peer: str, now: float) -> float:
        """Seconds this peer is still ignored for (0.0: not ignored)."""
        points = self._current(peer, now)
        if points < IGNORE_AT:
            return 0.0
        return (points - IGNORE_AT) / DECAY_PER_S + 1.0

    def points(self, peer: str, now: float) -> float:
        return self._current(peer, now)
