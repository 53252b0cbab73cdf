"""Privacy canary (DESIGN.md, privacy rule 1): private fields never reach an entry.

Distinct canary strings are planted in every private field of several
records; each record is then published under every possible share policy
(and previewed, and retracted), and no canary may appear in the bytes of
any entry the node holds or would send, nor in its log.
"""

from __future__ import annotations

import itertools
import logging
import random

import pytest
import sqlite_utils

from node import SHAREABLE_FIELDS, SharedMeasure, SharePolicy
from node.store import feed, records, sharing
from node.store.ingest import current_set, get_entries
from protocol import NodeKey

from ..conftest import START_MS
from ..peer_entries import peer_key

OPTIONAL_FIELDS = [f for f in SHAREABLE_FIELDS if f not in ("title", "status")]


def plant(db: sqlite_utils.Database, n: int, canary: dict[str, str],
          rng: random.Random) -> tuple[str, SharePolicy]:
    """A full record whose private fields hold canaries; returns its key and a full policy."""
    def c(field: str) -> str:
        text = f"CANARY{n}x{field}x{rng.getrandbits(40):010x}"
        canary[text] = f"record {n}: {field}"
        return text

    practice = records.create_practice(db, {
        "title": f"Practice {n}", "description": f"What practice {n} does",
        "themes": ["food", f"theme {n}"], "level": "local", "area": "Leeds", "since": "2020",
        "context": c("context"), "community": c("community"), "run_by": c("run_by"),
        "notes": c("notes"),
    }, now_ms=START_MS)
    key = practice.key
    measures = []
    for m, aggregate in enumerate(sharing.AGGREGATES):
        measure = records.add_measure(db, key, {"name": f"measure {m}", "unit": "people",
                                                "why": c(f"why{m}")}, now_ms=START_MS)
        for day, value in ((1, 3), (2, 12), (3, 1)):
            records.record_observation(db, measure.id, {
                "observed_on": f"2024-0{m + 1}-0{day}", "value": value,
                "note": c(f"observation{m}{day}")}, now_ms=START_MS)
        measures.append(SharedMeasure(measure.id, aggregate, "all" if m else "2024-01"))
    shared = records.add_lesson(db, key, f"Shareable lesson {n}", now_ms=START_MS)
    records.add_lesson(db, key, c("unshared lesson"), now_ms=START_MS)
    for v in range(2):
        records.add_voice(db, key, {"speaker": c(f"speaker{v}"), "quote": c(f"quote{v}")},
                          now_ms=START_MS)
    records.add_adaptation(db, key, peer_key(n).public, "origin", note=c("adaptation note"),
                           now_ms=START_MS)
    return key, SharePolicy.of(OPTIONAL_FIELDS, lessons={shared.id}, measures=measures)


def test_no_private_field_reaches_any_entry(db: sqlite_utils.Database, node_key: NodeKey,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rng = random.Random(20240501)
    canary: dict[str, str] = {}
    planted = [plant(db, n, canary, rng) for n in range(3)]
    assert len(canary) == 3 * 18  # every private field of each record
    sent: list[bytes] = []
    now = START_MS
    policies = [frozenset(chosen) for r in range(len(OPTIONAL_FIELDS) + 1)
                for chosen in itertools.combinations(OPTIONAL_FIELDS, r)]
    assert len(policies) == 2 ** len(OPTIONAL_FIELDS)
    for key, full in planted:
        for fields in policies:
            policy = SharePolicy.of(fields, lessons=full.lessons, measures=full.measures)
            sharing.set_share_policy(db, key, policy, now_ms=now)
            now += 1
            sent.append(feed.preview_practice(db, node_key, key, now_ms=now).payload())
            signed = feed.publish_practice(db, node_key, key, now_ms=now)
            sent += [signed.payload, signed.sig]
        tombstone = feed.retract_practice(db, node_key, key, reason="done", now_ms=now)
        sent.append(tombstone.payload)
    held = get_entries(db, [eid for _, eid in current_set(db)])
    sent += [e.payload for e in held]
    # The full policy really did share everything shareable: the test has teeth.
    assert any(b"Shareable lesson 0" in blob and b"measure 1" in blob and b"origin" in blob
               for blob in sent)
    everything = b"\n".join(sent)
    log_text = caplog.text
    for text, where in canary.items():
        assert text.encode() not in everything, f"{where} leaked into an entry"
        assert text not in log_text, f"{where} leaked into the log"
    summaries = db.conn.execute("SELECT title || text FROM summaries").fetchall()
    assert not any(text in row[0] for row in summaries for text in canary)
