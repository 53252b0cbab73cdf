"""What happens in a running node, as events: for the log, the status and the pages.

Events are frozen dataclasses published on an :class:`EventBus`. Subscribers
are plain callables, called synchronously in order; a subscriber that needs
to do I/O hands the event to a queue it owns (the web pages' live updates do
that). A subscriber that raises is logged and skipped, never allowed to break
the node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "BackupFailed",
    "BackupTaken",
    "EntriesReceived",
    "Event",
    "EventBus",
    "ForkDetected",
    "JoinFailed",
    "Joined",
    "NodeStarted",
    "PeerSynced",
    "PeerUnreachable",
    "Published",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeStarted:
    node_id: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PeerSynced:
    address: str
    received: int  # entries we accepted from the peer
    sent: int  # entries the peer accepted from us
    bytes_up: int
    bytes_down: int
    rounds: int


@dataclass(frozen=True, slots=True)
class PeerUnreachable:
    address: str
    reason: str
    retry_in_s: float


@dataclass(frozen=True, slots=True)
class EntriesReceived:
    """Entries accepted from a peer: pushed to us, or fetched in a session we started.

    ``peer`` is the node id text of a peer that pushed them, or the address
    of one this node fetched them from; ``ids`` are the entries' ids (the
    relay passes them on: node/sync/relay.py).
    """

    peer: str
    count: int
    ids: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class ForkDetected:
    author: str  # node id text
    version: int


@dataclass(frozen=True, slots=True)
class Published:
    kind: str
    key: str
    version: int


@dataclass(frozen=True, slots=True)
class Joined:
    """This node joined the network: the inviter admitted it."""

    inviter: str  # node id text


@dataclass(frozen=True, slots=True)
class JoinFailed:
    """This node could not join with its invitation; ``reason`` says what to do."""

    reason: str


@dataclass(frozen=True, slots=True)
class BackupTaken:
    path: str
    size: int
    copied_to: str | None
    copy_error: str | None


@dataclass(frozen=True, slots=True)
class BackupFailed:
    reason: str


Event = (NodeStarted | PeerSynced | PeerUnreachable | EntriesReceived | ForkDetected
         | Published | Joined | JoinFailed | BackupTaken | BackupFailed)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def publish(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("an event subscriber failed on %s", type(event).__name__)
