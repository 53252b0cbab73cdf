"""The node's events as a log: one readable line for each event that matters.

``hedgerow up`` and ``hedgerow demo`` subscribe an :class:`EventLog` to the
running node's :class:`node.events.EventBus`. :func:`describe` turns an event
into a logging level and one line of text, for example::

    synced with http://192.168.1.20:8470: received 3 entries, sent 0
    http://192.168.1.20:8470 unreachable (Connection refused); retrying in 60 s
    fork detected: node 54TXMKB-… signed two entries with version 1700000000000

A sync that changed nothing is a ``DEBUG`` line, so an idle node's log stays
quiet at the default ``info`` level. Lines never carry private record
fields: events hold addresses, ids, counts and error messages only, and
node errors never quote private values (DESIGN.md, privacy rule 1).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from protocol import retract_target, short_id

from .events import (
    BackupFailed,
    BackupTaken,
    EntriesReceived,
    Event,
    ForkDetected,
    Joined,
    JoinFailed,
    NodeStarted,
    PeerSynced,
    PeerUnreachable,
    Published,
)

__all__ = ["LEVELS", "EventLog", "describe", "entry_name", "failure_text", "format_duration",
           "sync_counts"]

#: The ``log_level`` setting's names, as :mod:`logging` levels.
LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                 "error": logging.ERROR}


def format_duration(seconds: float) -> str:
    """``45 s``, ``4 min``, ``2 h``, ``3 days``: a wait a person reads at a glance."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"


def _entries(count: int, adjective: str = "") -> str:
    words = f"{adjective} entry" if count == 1 else f"{adjective} entries"
    return f"{count} {words.strip()}"


def sync_counts(received: int, sent: int) -> str:
    """``received 3 entries, sent 0``: what a sync session exchanged, in words.

    (Written ``+3/−0`` it read as entries added and removed.)
    """
    if not received and not sent:
        return "already in step, nothing to exchange"
    return f"received {_entries(received)}, sent {sent}"


def entry_name(kind: str, key: str) -> str:
    """What a person calls the entry (kind, key): ``the profile``, ``practice repair-cafe``,
    ``a credit to 6ST349B for play-street``."""
    if kind == "profile":
        return "the profile"
    if kind == "credit":
        return f"a credit {_credit_target(key)}"
    if kind == "retract":
        target_kind, target_key = retract_target(key)
        if target_kind and target_kind != "retract":
            return f"the withdrawal of {entry_name(target_kind, target_key)}"
        return f"a withdrawal ({key})"
    if kind == "admit":
        return f"the admission of node {_node_of_hex(key)}"
    return f"{kind} {key}"


def _node_of_hex(text: str) -> str:
    """A node's short id from its id in hex (as entry keys hold it), else the text."""
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else b""
    except ValueError:
        raw = b""
    return short_id(raw) if raw else text


def _credit_target(key: str) -> str:
    """``to 6ST349B for play-street`` from a credit's key (the node's hex id, ``/``, the key)."""
    node, slash, practice = key.partition("/")
    who = _node_of_hex(node) if slash else node
    return f"to {who} for {practice}" if who != node else key


def _why(address: str, reason: str) -> tuple[bool, str]:
    """(whether the peer could not be reached at all, the reason without the address)."""
    text = reason.strip()
    if text.startswith(address):
        text = text[len(address):].strip(" :")
    unreachable = False
    for lead in ("is unreachable:", "is unreachable", "did not answer"):
        if text.startswith(lead):
            unreachable = True
            if lead != "did not answer":
                text = text[len(lead):].strip()
            break
    return unreachable, text or "no reason given"


def failure_text(address: str, reason: str) -> str:
    """``unreachable (Connection refused)`` or ``failed (answered 401: …)``: why a sync failed."""
    unreachable, why = _why(address, reason)
    return f"{'unreachable' if unreachable else 'failed'} ({why})"


def describe(event: Event) -> tuple[int, str]:
    """The logging level and the one line of text for ``event``."""
    if isinstance(event, NodeStarted):
        where = ", ".join(event.addresses) if event.addresses else "not listening"
        return logging.INFO, f"node {event.node_id[:7]} started ({where})"
    if isinstance(event, PeerSynced):
        line = f"synced with {event.address}: {sync_counts(event.received, event.sent)}"
        changed = event.received or event.sent
        return (logging.INFO if changed else logging.DEBUG), line
    if isinstance(event, PeerUnreachable):
        retry = f"retrying in {format_duration(event.retry_in_s)}"
        failure = failure_text(event.address, event.reason)
        if failure.startswith("unreachable"):
            return logging.WARNING, f"{event.address} {failure}; {retry}"
        return logging.WARNING, f"sync with {event.address} {failure}; {retry}"
    if isinstance(event, EntriesReceived):
        if event.peer.startswith(("http://", "https://")):
            # Fetched in a session this node started: its PeerSynced line says it.
            return logging.DEBUG, f"received {_entries(event.count)} from {event.peer}"
        return logging.INFO, f"node {event.peer[:7]} pushed {_entries(event.count, 'new')}"
    if isinstance(event, ForkDetected):
        return logging.WARNING, (f"fork detected: node {event.author} signed two entries with "
                                 f"version {event.version}; its entries are left out of views "
                                 "until it is resolved")
    if isinstance(event, Published):
        return logging.INFO, (f"published {entry_name(event.kind, event.key)} "
                              f"(version {event.version})")
    if isinstance(event, Joined):
        return logging.INFO, (f"joined the network: admitted by node {event.inviter[:7]}, "
                              "which signed the admission")
    if isinstance(event, JoinFailed):
        return logging.WARNING, f"not joined yet: {event.reason}"
    if isinstance(event, BackupTaken):
        line = f"backed up to {event.path} ({event.size // 1024 or 1} KiB"
        if event.copied_to:
            line += f"; copied to {event.copied_to}"
        line += ")"
        if event.copy_error:
            return logging.WARNING, f"{line}; the copy failed: {event.copy_error}"
        return logging.INFO, line
    if isinstance(event, BackupFailed):
        return logging.ERROR, f"the backup failed: {event.reason}"
    return logging.DEBUG, f"event {type(event).__name__}"


class EventLog:
    """An event-bus subscriber that writes one timestamped line per event at ``level`` or above.

    ``write`` receives the finished line (without a newline); ``prefix`` goes
    between the time and the text (the demo names the node there); ``clock``
    gives seconds since the epoch (inject one in tests).
    """

    def __init__(self, write: Callable[[str], None], *, level: int = logging.INFO,
                 prefix: str = "", clock: Callable[[], float] = time.time,
                 timestamps: bool = True) -> None:
        self.write, self.level, self.prefix = write, level, prefix
        self.clock, self.timestamps = clock, timestamps

    def __call__(self, event: Event) -> None:
        level, line = describe(event)
        if level < self.level:
            return
        line = self.prefix + line
        if self.timestamps:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.clock()))
            line = f"{stamp}  {line}"
        self.write(line)
