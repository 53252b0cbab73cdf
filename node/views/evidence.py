"""Verifiable figures: a view exported with its evidence, and checked offline.

A verifiable export is one JSON document (format :data:`EVIDENCE_FORMAT`)::

    {"format": "hedgerow-verifiable-view/1",
     "network": "<64 hex digits>", "network_text": "<network id, text form>",
     "exported_by": "<node id, text form>",
     "view": "<name>", "params": {...}, "figures": {<the view's output>},
     "evidence": [{"payload": "<base64>", "sig": "<base64>", "received_ms": <int>}, ...]}

The evidence is every current entry the exporting node held: the signed
bytes exactly as their authors signed them. Views read nothing else (the
derived tables are computed from these entries), so the figures are a
function of the evidence alone — except arrival times (``received_ms``),
which are the exporting node's own records and which no signature covers;
only the health view's freshness figures use them, and the report says so.

:func:`verify_export` needs no node and no network: it checks every
signature for the stated network (:func:`protocol.verify_entry`), builds an
in-memory store from the evidence with the very functions a node uses
(migrations, :func:`node.store.ingest.store_checked`, :func:`.index.catch_up`),
recomputes the view with :func:`.registry.compute_view`, and compares. A
figure that does not follow from the entries is named, with both values.
No other system in this field lets a funder check a network-wide figure
without trusting whoever computed it (issue 6).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from protocol import (
    EntryError,
    HedgerowError,
    SignedEntry,
    VerifiedEntry,
    id_from_text,
    id_to_text,
    verify_entry,
)

from ..errors import LocalProblem
from ..store.ingest import MAX_BATCH_ENTRIES, store_checked
from ..store.node_state import create_node_state
from ..store.schema import MIGRATIONS
from .index import catch_up
from .registry import compute_view, prepare, spec_of

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "EVIDENCE_FORMAT",
    "VerificationFailed",
    "VerifyReport",
    "build_store_from_evidence",
    "verifiable_export",
    "verify_export",
]

EVIDENCE_FORMAT: Final = "hedgerow-verifiable-view/1"
_UNSIGNED_NOTE: Final = ("freshness figures rest on the exporting node's arrival times "
                         "(received_ms), which no signature covers")


class VerificationFailed(LocalProblem):
    """A verifiable export does not check out; the message says what and where."""

    code = "verification_failed"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :func:`verify_export` checked."""

    view: str
    network: str
    exported_by: str
    entries: int
    notes: list[str] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def verifiable_export(db: sqlite_utils.Database, name: str,
                      params: dict[str, Any]) -> dict[str, Any]:
    """The view (over an up-to-date index) with every entry behind it."""
    node_id, network = db.conn.execute("SELECT node_id, network FROM node_state").fetchone()
    figures = compute_view(db, name, params)
    evidence = [{"payload": _b64(payload), "sig": _b64(sig), "received_ms": received}
                for payload, sig, received in db.conn.execute(
                    "SELECT payload, sig, received_ms FROM entries ORDER BY version, id")]
    return {"format": EVIDENCE_FORMAT, "network": network.hex(),
            "network_text": id_to_text(network, "network"), "exported_by": id_to_text(node_id),
            "view": name, "params": figures["params"], "figures": figures,
            "evidence": evidence}


def _field(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind):
        raise VerificationFailed(f"{name}: missing or not a {kind.__name__}; is this a "
                                 "Hedgerow verifiable export?")
    return value


def _evidence(doc: dict[str, Any], network: bytes) -> Iterator[tuple[VerifiedEntry, int]]:
    items = _field(doc, "evidence", list)
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError
            signed = SignedEntry(base64.b64decode(item["payload"], validate=True),
                                 base64.b64decode(item["sig"], validate=True))
            received = item["received_ms"]
            if not isinstance(received, int):
                raise ValueError
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise VerificationFailed(f"evidence[{i}]: must hold base64 payload and sig and an "
                                     "integer received_ms") from None
        try:
            yield verify_entry(signed, network), received
        except EntryError as exc:
            raise VerificationFailed(f"evidence[{i}]: {exc.message}") from None


def build_store_from_evidence(network: bytes, node_id: bytes,
                              entries: Sequence[tuple[VerifiedEntry, int]]
                              ) -> sqlite_utils.Database:
    """An in-memory node store holding ``entries`` (already verified), indexed for views."""
    import sqlite_utils  # applying the migrations needs it: loaded by the first verification

    db = sqlite_utils.Database(memory=True)
    db.conn.execute("PRAGMA foreign_keys = ON")
    MIGRATIONS.apply(db)
    create_node_state(db, node_id=node_id, network=network, now_ms=0)
    # Membership first (genesis, then admissions), so that every member's
    # entries are stored as they come; and "now" is the newest version, so
    # no entry counts as one from the future (protocol.versions rule 6).
    def order(item: tuple[VerifiedEntry, int]) -> tuple[int, int]:
        entry = item[0].entry
        rank = 0 if entry.kind == "genesis" else 1 if entry.kind == "admit" or (
            entry.kind == "retract" and entry.key.startswith("admit:")) else 2
        return rank, entry.version

    entries = sorted(entries, key=order)
    now_ms = max((verified.entry.version for verified, _ in entries), default=0)
    for start in range(0, len(entries), MAX_BATCH_ENTRIES):
        chunk = entries[start:start + MAX_BATCH_ENTRIES]
        store_checked(db, [verified for verified, _ in chunk], now_ms=now_ms)
        with db.conn:
            db.conn.executemany("UPDATE entries SET received_ms = ? WHERE id = ?",
                                [(received, verified.id) for verified, received in chunk])
    catch_up(db)
    return db


def _first_difference(path: str, said: Any, found: Any) -> str | None:
    if isinstance(said, dict) and isinstance(found, dict):
        for key in sorted(said.keys() | found.keys()):
            inner = f"{path}.{key}" if path else str(key)
            if key not in said or key not in found:
                return f"{inner}: present on one side only"
            diff = _first_difference(inner, said[key], found[key])
            if diff:
                return diff
        return None
    if isinstance(said, list) and isinstance(found, list):
        for i, (a, b) in enumerate(zip(said, found, strict=False)):
            diff = _first_difference(f"{path}[{i}]", a, b)
            if diff:
                return diff
        if len(said) != len(found):
            return f"{path}: the export lists {len(said)} items, the evidence gives {len(found)}"
        return None
    if said != found or type(said) is not type(found):
        return f"{path}: the export says {said!r:.80}, the evidence gives {found!r:.80}"
    return None


def verify_export(doc: Any) -> VerifyReport:
    """Check a verifiable export offline; raise :class:`VerificationFailed` naming the problem."""
    if not isinstance(doc, dict) or doc.get("format") != EVIDENCE_FORMAT:
        raise VerificationFailed(f"not a Hedgerow verifiable export (format "
                                 f"{EVIDENCE_FORMAT!r} expected)")
    try:
        network = bytes.fromhex(_field(doc, "network", str))
        node_id = id_from_text(_field(doc, "exported_by", str))
    except ValueError:
        raise VerificationFailed("network: must be 64 hex digits") from None
    except HedgerowError as exc:
        raise VerificationFailed(f"exported_by: {exc.message}") from None
    if len(network) != 32:
        raise VerificationFailed("network: must be 64 hex digits")
    name = _field(doc, "view", str)
    try:
        spec_of(name)
    except HedgerowError as exc:
        raise VerificationFailed(f"view: {exc.message}") from None
    figures = _field(doc, "figures", dict)
    entries = list(_evidence(doc, network))
    db = build_store_from_evidence(network, node_id, entries)
    try:
        params = prepare(name, _field(doc, "params", dict), me=node_id, now_ms=0)
        found = compute_view(db, name, params)
    except HedgerowError as exc:
        raise VerificationFailed(f"the figures cannot be recomputed from the evidence: "
                                 f"{exc.message}") from None
    finally:
        db.close()
    diff = _first_difference("", figures, found)
    if diff is not None:
        raise VerificationFailed(f"figure {diff}: it does not follow from the signed entries")
    notes = [_UNSIGNED_NOTE] if name == "health" else []
    return VerifyReport(name, id_to_text(network, "network"), id_to_text(node_id),
                        len(entries), notes)
