"""One readable log line per event (node/logview.py)."""

from __future__ import annotations

import logging
import time

from node.events import (
    EntriesReceived,
    ForkDetected,
    NodeStarted,
    PeerSynced,
    PeerUnreachable,
    Published,
)
from node.logview import EventLog, describe, failure_text, format_duration
from protocol import credit_key, retract_key, short_id

PEER = "http://192.168.1.20:8470"
NODE = "54TXMKB-6N0TVH4-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX"


def test_each_event_is_one_line() -> None:
    assert describe(NodeStarted(NODE, ("http://127.0.0.1:8470",))) == \
        (logging.INFO, "node 54TXMKB started (http://127.0.0.1:8470)")
    assert describe(PeerSynced(PEER, 3, 0, 100, 2000, 2)) == \
        (logging.INFO, f"synced with {PEER}: received 3 entries, sent 0")
    assert describe(PeerSynced(PEER, 0, 1, 100, 2000, 2))[1] == \
        f"synced with {PEER}: received 0 entries, sent 1"
    assert describe(PeerSynced(PEER, 0, 0, 300, 300, 1)) == \
        (logging.DEBUG, f"synced with {PEER}: already in step, nothing to exchange")
    assert describe(PeerUnreachable(PEER, f"{PEER} is unreachable: Connection refused", 60)) \
        == (logging.WARNING, f"{PEER} unreachable (Connection refused); retrying in 60 s")
    assert describe(PeerUnreachable(PEER, f"{PEER} did not answer within 30 s", 600)) == \
        (logging.WARNING, f"{PEER} unreachable (did not answer within 30 s); retrying in 10 min")
    assert describe(PeerUnreachable(PEER, f"{PEER} answered 401: signature refused", 120)) \
        == (logging.WARNING, f"sync with {PEER} failed (answered 401: signature refused); "
                             "retrying in 2 min")
    assert describe(EntriesReceived(NODE, 1)) == (logging.INFO,
                                                 "node 54TXMKB pushed 1 new entry")
    assert describe(EntriesReceived(NODE, 4))[1] == "node 54TXMKB pushed 4 new entries"
    assert describe(EntriesReceived(PEER, 4))[0] == logging.DEBUG  # PeerSynced says it
    level, line = describe(ForkDetected(NODE, 1_700_000_000_000))
    assert level == logging.WARNING
    assert line.startswith(f"fork detected: node {NODE} signed two entries with version "
                           "1700000000000")
    assert describe(Published("practice", "repair-cafe", 7)) == \
        (logging.INFO, "published practice repair-cafe (version 7)")


def test_publications_read_as_what_they_are() -> None:
    """The profile once, not "profile profile"; a credit by node id, not by hex."""
    assert describe(Published("profile", "profile", 8))[1] == "published the profile (version 8)"
    to = bytes(range(32))
    assert describe(Published("credit", credit_key(to, "play-street"), 9))[1] == \
        f"published a credit to {short_id(to)} for play-street (version 9)"
    assert to.hex() not in describe(Published("credit", credit_key(to, "x"), 9))[1]
    assert describe(Published("retract", retract_key("practice", "repair-cafe"), 10))[1] == \
        "published the withdrawal of practice repair-cafe (version 10)"
    assert describe(Published("retract", retract_key("credit", credit_key(to, "x")), 11))[1] \
        == f"published the withdrawal of a credit to {short_id(to)} for x (version 11)"
    assert describe(Published("admit", to.hex(), 12))[1] == \
        f"published the admission of node {short_id(to)} (version 12)"


def test_failure_text() -> None:
    assert failure_text(PEER, f"{PEER} is unreachable: Cannot connect") == \
        "unreachable (Cannot connect)"
    assert failure_text(PEER, "the reply was refused") == "failed (the reply was refused)"


def test_durations() -> None:
    assert [format_duration(s) for s in (0.2, 45, 89, 240, 7200, 4 * 86400)] == \
        ["0 s", "45 s", "89 s", "4 min", "2 h", "4 days"]


def test_the_log_filters_by_level_and_stamps_the_time() -> None:
    lines: list[str] = []
    at = time.mktime((2025, 6, 1, 9, 30, 0, 0, 0, -1))
    log = EventLog(lines.append, prefix="Easton: ", clock=lambda: at)
    log(PeerSynced(PEER, 0, 0, 1, 1, 1))  # debug: left out at info
    log(PeerSynced(PEER, 1, 2, 1, 1, 1))
    assert lines == [f"2025-06-01 09:30:00  Easton: synced with {PEER}: received 1 entry, "
                     "sent 2"]
    quiet = EventLog(lines.append, level=logging.WARNING, timestamps=False)
    quiet(PeerSynced(PEER, 1, 2, 1, 1, 1))
    quiet(PeerUnreachable(PEER, "gone", 5))
    assert lines[-1] == f"sync with {PEER} failed (gone); retrying in 5 s"
