"""Prometheus metrics of a running node (``/metrics``; the ``metrics`` setting, off by default).

:class:`NodeMetrics` keeps its own :class:`prometheus_client.CollectorRegistry`
(never the library's global one: tests run many nodes in one process). It
counts what the event bus reports — sync sessions and their outcomes,
entries in and out, bytes — and what the sync server's middleware sees —
requests refused, by reason; gauges that describe the store (peers by
state, entries held, the last backup) are read from the database when
``/metrics`` is asked for (:meth:`NodeMetrics.refresh`). View latency is
observed around every view the JSON API computes, and the network pages.

Imported only when metrics are on: the library costs memory a node without
metrics never needs.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .events import EntriesReceived, Event, PeerSynced, PeerUnreachable

__all__ = ["CONTENT_TYPE", "REJECTION_REASONS", "NodeMetrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
#: Why the node refused a request, by HTTP status.
REJECTION_REASONS: Final = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "too_slow", 409: "conflict", 413: "too_large",
    415: "wrong_content_type", 429: "rate_limited", 503: "unavailable",
}


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sessions = Counter("hedgerow_sync_sessions", "Sync sessions this node started, by "
                                "outcome.", ["outcome"], registry=r)
        self.entries = Counter("hedgerow_entries", "Entries accepted from peers (in) and by "
                               "peers (out).", ["direction"], registry=r)
        self.bytes = Counter("hedgerow_sync_bytes", "Bytes sent (up) and received (down) in "
                             "sync sessions this node started.", ["direction"], registry=r)
        self.rejected = Counter("hedgerow_rejected_requests", "Requests the node refused, by "
                                "reason.", ["reason"], registry=r)
        self.requests = Counter("hedgerow_sync_requests", "Sync requests served.", registry=r)
        self.peers = Gauge("hedgerow_peers", "Peers in the peer book, by state.", ["state"],
                           registry=r)
        self.held = Gauge("hedgerow_entries_held", "Current entries held.", registry=r)
        self.last_backup = Gauge("hedgerow_last_backup_timestamp_seconds",
                                 "When the last good backup was taken (0: never).", registry=r)
        self.view_seconds = Histogram("hedgerow_view_seconds", "Time to compute a network "
                                      "view.", ["view"], registry=r,
                                      buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        from .views import VIEWS

        self._view_names = frozenset({*VIEWS, "pages"})
        for outcome in ("ok", "failed"):
            self.sessions.labels(outcome)
        for direction in ("in", "out"):
            self.entries.labels(direction)
        for direction in ("up", "down"):
            self.bytes.labels(direction)
        for state in ("live", "backing_off", "never_reached"):
            self.peers.labels(state)

    def on_event(self, event: Event) -> None:
        """An event-bus subscriber."""
        if isinstance(event, PeerSynced):
            self.sessions.labels("ok").inc()
            self.entries.labels("in").inc(event.received)
            self.entries.labels("out").inc(event.sent)
            self.bytes.labels("up").inc(event.bytes_up)
            self.bytes.labels("down").inc(event.bytes_down)
        elif isinstance(event, PeerUnreachable):
            self.sessions.labels("failed").inc()
        elif isinstance(event, EntriesReceived) and not event.peer.startswith(("http://",
                                                                               "https://")):
            self.entries.labels("in").inc(event.count)  # pushed to us, not in a PeerSynced

    def reject(self, status: int) -> None:
        self.rejected.labels(REJECTION_REASONS.get(status, f"http_{status}")).inc()

    def observe_view(self, view: str, seconds: float) -> None:
        # Only the views' own names (and "pages") become labels: nothing a client chose.
        if view in self._view_names:
            self.view_seconds.labels(view).observe(seconds)

    def refresh(self, *, peers: dict[str, int], held: int, last_backup_ms: int | None) -> None:
        for state, count in peers.items():
            self.peers.labels(state).set(count)
        self.held.set(held)
        self.last_backup.set((last_backup_ms or 0) / 1000)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
