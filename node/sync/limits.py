"""Limits on what peers may ask of a node: request rates and misbehaviour scores.

Both structures are bounded in memory (an attacker choosing fresh keys or
addresses only evicts the oldest state) and take the time as an argument, so
tests drive them with a fake clock.

* :class:`RateLimiter` — a token bucket per key (a peer's node id, or an IP
  address): ``rate`` requests a second on average, bursts up to ``burst``.
  A request over the limit gets 429 with ``Retry-After``. A request that
  turns out to be real work gets its token back (:meth:`RateLimiter.refund`):
  the work budget pays for it instead.
* :class:`PeerScores` — penalty points per peer for bad requests (invalid
  signatures, malformed bodies, rejected entries). Points decay over time; a
  peer over the threshold is ignored (429) until its points decay below it.
* :class:`WorkBudget` — seconds of work (CPU) per peer, spent per unit of
  work after it is done (a reconcile frame's measured CPU time, so much per
  byte of entries served or per entry pushed), refilled at a steady rate. A peer that has spent
  its allowance is *slowed down*, not refused: its next unit of work waits
  until the allowance is back (DESIGN.md "Limits": a member's budget that
  runs out slows it down rather than refusing it mid-session). Floods are
  still held back, by the request rate limit (429) and by :class:`PeerQueue`:
  one unit of work at a time per peer, and only a few waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

__all__ = ["PENALTY", "PeerQueue", "PeerScores", "QueueFull", "RateLimiter", "WorkBudget"]

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

    def refund(self, key: str, tokens: float = 1.0) -> None:
        """Give back tokens a request took (it turned out to be work, paid for elsewhere)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self.burst, bucket.tokens + tokens)


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


class WorkBudget:
    """Seconds of work each peer may use: ``rate`` per second, saved up to ``burst``.

    Spending happens after the work (its cost is measured), so a balance may
    go below zero; :meth:`wait_for` says how long until it is back to zero.
    At most ``max_keys`` peers are remembered (the oldest forgotten first).
    """

    def __init__(self, rate: float, burst: float, *, max_keys: int = 10_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._balances: OrderedDict[str, _Bucket] = OrderedDict()

    def _balance(self, key: str, now: float) -> _Bucket:
        bucket = self._balances.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst,
                                bucket.tokens + max(0.0, now - bucket.updated) * self.rate)
            bucket.updated = now
        self._balances[key] = bucket
        while len(self._balances) > self.max_keys:
            self._balances.popitem(last=False)
        return bucket

    def wait_for(self, key: str, now: float) -> float:
        """Seconds until ``key`` may start its next unit of work (0.0: now)."""
        tokens = self._balance(key, now).tokens
        return 0.0 if tokens >= 0 else -tokens / self.rate

    def spend(self, key: str, seconds: float, now: float) -> None:
        """Charge ``seconds`` of work to ``key``."""
        self._balance(key, now).tokens -= max(0.0, seconds)

    def balance(self, key: str, now: float) -> float:
        return self._balance(key, now).tokens


class PeerQueue:
    """One unit of work at a time per peer, with at most ``max_waiting`` waiting behind it.

    An honest client sends one request at a time and never waits here; a
    peer firing many requests at once queues behind itself (it cannot take
    more than its turn from others), and past ``max_waiting`` gets
    :class:`QueueFull` (429) instead of tying up more connections.
    """

    def __init__(self, max_waiting: int = 4, *, max_peers: int = 10_000) -> None:
        self.max_waiting, self.max_peers = max_waiting, max_peers
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    def full(self, key: str) -> bool:
        """Whether a request from ``key`` would be refused now (checked before reading it)."""
        return self._turns.get(key, (None, 0))[1] > self.max_waiting

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        lock, count = self._turns.get(key, (None, 0))
        if lock is None:
            if len(self._turns) >= self.max_peers:
                raise QueueFull("too many peers at once; try again later")
            lock = asyncio.Lock()
        if count > self.max_waiting:
            raise QueueFull("too many requests at once from this node")
        self._turns[key] = (lock, count + 1)
        try:
            async with lock:
                yield
        finally:
            lock, count = self._turns[key]
            if count <= 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, count - 1)


class QueueFull(Exception):
    """A peer has too many requests waiting (the server answers 429)."""
