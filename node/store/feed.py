"""The node's own signed feed: preview, publish, retract, credit, profile.

Publishing turns a record and its share policy (:mod:`node.store.sharing`), or
the organisation's details (:mod:`node.store.organisation`), into a signed entry
and stores it like any received entry (:func:`node.store.ingest.store_checked`),
so one set of rules decides what is current. Every publication:

1. refuses while the node ``needs_catch_up`` after a restore
   (:class:`NeedsCatchUp`; DESIGN.md "Entry identity and versions");
2. takes its version from the hybrid logical clock,
   ``next_version(now_ms, highest own version used or seen)``, so a slow
   clock or a republish in the same millisecond never reuses a version;
3. is checked by the protocol's own rules before it is signed (a node
   never signs what its peers would refuse); a failure is an
   :class:`InvalidInput` naming the field;
4. is stored in the same ``BEGIN IMMEDIATE`` transaction that reads the
   clock, so two publications cannot take the same version.

A **preview** (:func:`preview_practice`, :func:`preview_profile`) returns
exactly the :class:`protocol.Entry` that publishing at the same ``now_ms``
would sign: same body, same version (DESIGN.md, privacy rule 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlite_utils

from protocol import (
    MAX_ENTRY_BYTES,
    Entry,
    EntryError,
    NodeKey,
    SignedEntry,
    VerifiedEntry,
    credit_key,
    next_version,
    short_id,
    sign_entry,
)
from protocol.keys import SIGNATURE_LENGTH

from ..errors import InvalidInput, NotFound, WrongNode
from .connection import read_snapshot, write_transaction
from .ingest import IngestStatus, current_entry, store_checked
from .input_checks import (
    check_practice_key,
    check_text,
    check_with_protocol,
    in_canonical_order,
)
from .node_state import read_node_state, refuse_if_needs_catch_up
from .organisation import get_organisation, profile_body
from .sharing import practice_body

__all__ = [
    "UNSEEN_PRACTICE",
    "own_highest_version",
    "preview_practice",
    "preview_profile",
    "publish_credit",
    "publish_practice",
    "publish_profile",
    "retract_practice",
]


def own_highest_version(db: sqlite_utils.Database) -> int:
    """The highest version this node has used or seen of itself (0 if none)."""
    return read_node_state(db).highest_own_version


def _entry(db: sqlite_utils.Database, key: NodeKey, kind: str, entry_key: str,
           body: dict[str, Any], now_ms: int) -> Entry:
    """The entry that publishing would sign now, checked as a receiver would check it."""
    state = read_node_state(db)
    if key.public != state.node_id:
        raise WrongNode("this key is not the key of the node this database belongs to")
    entry = Entry(state.network, key.public, kind, entry_key,
                  next_version(now_ms, state.highest_own_version), in_canonical_order(body))
    check_with_protocol(kind, entry_key, body, key.public)
    size = len(entry.payload()) + SIGNATURE_LENGTH
    if size > MAX_ENTRY_BYTES:
        raise InvalidInput(f"the summary would be {size} bytes; the limit is {MAX_ENTRY_BYTES}."
                           " Share fewer lessons or a shorter description", field="summary",
                           code="entry_too_large")
    return entry


def _publish(db: sqlite_utils.Database, key: NodeKey, kind: str, entry_key: str,
             make_body: Callable[[], dict[str, Any]], now_ms: int) -> SignedEntry:
    with write_transaction(db):
        # First, so a restored node hears why it cannot publish before
        # anything else about the entry.
        refuse_if_needs_catch_up(read_node_state(db))
        entry = _entry(db, key, kind, entry_key, make_body(), now_ms)
        try:
            signed = sign_entry(key, entry)
        except EntryError as exc:  # _entry checked already; kept as a guard
            raise InvalidInput(exc.message, code=exc.code) from exc
        outcome = store_checked(db, [VerifiedEntry(entry, signed, signed.id)],
                                now_ms=now_ms)[0]
        # The version is above everything the node has seen of itself, so the
        # entry is new in its slot; anything else means the clock's memory is
        # wrong, and the transaction must not commit.
        if outcome.status is not IngestStatus.ACCEPTED:
            raise AssertionError(f"own entry was {outcome.status.value}, not accepted")
    return signed


def preview_practice(db: sqlite_utils.Database, key: NodeKey, practice_key: str, *,
                     now_ms: int) -> Entry:
    """Exactly the entry :func:`publish_practice` would sign at ``now_ms``."""
    with read_snapshot(db):
        return _entry(db, key, "practice", practice_key, practice_body(db, practice_key),
                      now_ms)


def publish_practice(db: sqlite_utils.Database, key: NodeKey, practice_key: str, *,
                     now_ms: int) -> SignedEntry:
    """Sign and store the practice's summary; a newer one supersedes the last."""
    return _publish(db, key, "practice", practice_key,
                    lambda: practice_body(db, practice_key), now_ms)


def retract_practice(db: sqlite_utils.Database, key: NodeKey, practice_key: str, *,
                     reason: str = "", now_ms: int) -> SignedEntry:
    """Withdraw a published practice: a signed tombstone that replaces its summary."""
    body: dict[str, Any] = {}
    if reason:
        body["reason"] = check_text(reason, "reason", max_len=500)

    def tombstone() -> dict[str, Any]:
        current = current_entry(db, key.public, "practice", practice_key)
        if current is None or current.entry.kind != "practice":
            raise NotFound(f"this node has no published practice {practice_key[:64]!r} to "
                           "retract")
        return body

    return _publish(db, key, "retract", practice_key, tombstone, now_ms)


#: The code of the refusal to credit a practice this node has not seen.
UNSEEN_PRACTICE = "unseen_practice"


def publish_credit(db: sqlite_utils.Database, key: NodeKey, *, to: bytes, practice: str,
                   note: str = "", anyway: bool = False, now_ms: int) -> SignedEntry:
    """Thank node ``to`` for its practice ``practice``: a signed, free-standing credit.

    Refuses (:class:`NotFound`, code :data:`UNSEEN_PRACTICE`) a practice this
    node has never held from ``to``, published or retracted: a mistyped key
    would otherwise be signed and spread for good. ``anyway`` credits it all
    the same, for a practice that has not arrived here yet.
    """
    if not isinstance(to, bytes) or len(to) != 32:
        raise InvalidInput("to: must be a 32-byte node id", field="to", code="wrong_type")
    if to == key.public:
        raise InvalidInput("to: a node cannot credit itself", field="to", code="self_credit")
    body: dict[str, Any] = {"to": to, "practice": check_practice_key(practice)}
    if note:
        body["note"] = check_text(note, "note", max_len=500)

    def checked_body() -> dict[str, Any]:
        if not anyway and current_entry(db, to, "practice", practice) is None:
            raise NotFound(f"this node has not seen a practice {practice!r} from node "
                           f"{short_id(to)}: check the practice key (the node's practices are "
                           "in its directory listing); the practice may also not have "
                           "arrived here yet", code=UNSEEN_PRACTICE)
        return body

    return _publish(db, key, "credit", credit_key(to, practice), checked_body, now_ms)


def _profile_body(db: sqlite_utils.Database) -> dict[str, Any]:
    organisation = get_organisation(db)
    if not organisation.name or not organisation.level:
        raise InvalidInput("profile: set the organisation's name and level before publishing "
                           "its profile", field="name" if not organisation.name else "level",
                           code="missing_field")
    return profile_body(organisation)


def preview_profile(db: sqlite_utils.Database, key: NodeKey, *, now_ms: int) -> Entry:
    """Exactly the entry :func:`publish_profile` would sign at ``now_ms``."""
    with read_snapshot(db):
        return _entry(db, key, "profile", "profile", _profile_body(db), now_ms)


def publish_profile(db: sqlite_utils.Database, key: NodeKey, *, now_ms: int) -> SignedEntry:
    """Sign and store the organisation's profile."""
    return _publish(db, key, "profile", "profile", lambda: _profile_body(db), now_ms)
