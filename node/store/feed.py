"""The node's own signed feed: preview, publish, retract, credit, profile, admit.

Publishing turns a record and its share policy (:mod:`node.store.sharing`), or
the organisation's details (:mod:`node.store.organisation`), into a signed entry
and stores it like any received entry (:func:`node.store.ingest.store_checked`),
so one set of rules decides what is current. Every publication:

1. refuses while the node ``needs_catch_up`` after a restore
   (:class:`NeedsCatchUp`; DESIGN.md "Entry identity and versions"), and
   while the node is not a member of its network (:class:`NotMember`): its
   peers would not store what it signed;
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

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol import (
    MAX_ENTRY_BYTES,
    Entry,
    EntryError,
    NodeKey,
    SignedEntry,
    VerifiedEntry,
    admit_key,
    credit_key,
    encode,
    id_to_text,
    members_of,
    network_id_of,
    next_version,
    retract_key,
    short_id,
    sign_entry,
    withdrawal_preview,
)
from protocol.bodies import GENESIS_NONCE_BYTES, MAX_PROFILE_ADDRESSES
from protocol.keys import SIGNATURE_LENGTH
from protocol.messages import MAX_JOIN_CHAIN

from ..errors import InvalidInput, LocalProblem, NotFound, NotMember, PreviewChanged, WrongNode
from . import membership
from .connection import read_snapshot, write_transaction
from .ingest import IngestStatus, current_entry, store_checked
from .input_checks import (
    check_practice_key,
    check_text,
    check_with_protocol,
    in_canonical_order,
)
from .node_state import read_announced, read_node_state, refuse_if_needs_catch_up
from .organisation import get_organisation, profile_body
from .sharing import practice_body

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "LEAVING_KINDS",
    "UNSEEN_PRACTICE",
    "accept_join",
    "body_digest",
    "dependants_of",
    "leave_preview",
    "own_highest_version",
    "preview_practice",
    "preview_profile",
    "publish_admission",
    "publish_credit",
    "publish_genesis",
    "publish_practice",
    "publish_profile",
    "refuse_unless_member",
    "retract_practice",
    "withdraw",
    "withdraw_admission",
    "withdraw_credit",
    "withdrawal_preview_of",
]


def own_entry_count(db: sqlite_utils.Database, author: bytes) -> int:
    """How many current entries ``author`` (this node) has here."""
    return int(db.conn.execute("SELECT count(*) FROM entries WHERE author = ?",
                               (author,)).fetchone()[0])


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


def refuse_unless_member(db: sqlite_utils.Database, node: bytes) -> None:
    """Raise :class:`NotMember`, saying why and what to do, unless ``node`` is a member."""
    if node not in membership.membership_for(db):
        if membership.joining(db) is not None:
            raise NotMember("this node is not a member of its network yet: it joins in its "
                            "first sync with the node that invited it (`hedgerow up` or "
                            "`hedgerow sync`), and publishes after that")
        raise NotMember("this node is not a member of its network (its admission may have been "
                        "withdrawn): a member must admit it again with "
                        f"`hedgerow admit {id_to_text(node)}`")


def _publish(db: sqlite_utils.Database, key: NodeKey, kind: str, entry_key: str,
             make_body: Callable[[], dict[str, Any]], now_ms: int) -> SignedEntry:
    with write_transaction(db):
        # First, so a restored node hears why it cannot publish before
        # anything else about the entry.
        refuse_if_needs_catch_up(read_node_state(db))
        if kind != "genesis":
            refuse_unless_member(db, key.public)
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


def body_digest(body: dict[str, Any]) -> str:
    """A digest of an entry body as it would be signed (its canonical bytes).

    The share page sends it with "publish", so that what is signed is what
    the person saw; the version, the moment of signing, is not part of it.
    """
    return hashlib.sha256(encode(body)).hexdigest()


def publish_practice(db: sqlite_utils.Database, key: NodeKey, practice_key: str, *,
                     now_ms: int, previewed: str | None = None) -> SignedEntry:
    """Sign and store the practice's summary; a newer one supersedes the last.

    ``previewed``: the :func:`body_digest` of the preview the person saw. If
    the record or the share policy changed since, the body differs and
    :class:`PreviewChanged` is raised, in the same transaction, before
    anything is signed (DESIGN.md privacy rule 2).
    """
    def body() -> dict[str, Any]:
        current = practice_body(db, practice_key)
        if previewed is not None and not hmac.compare_digest(body_digest(current), previewed):
            raise PreviewChanged("the record or what it shares changed since the preview was "
                                 "shown; check the new preview below, then publish")
        return current

    return _publish(db, key, "practice", practice_key, body, now_ms)


_WITHDRAWN_WHAT = {"practice": "published practice", "credit": "credit",
                   "profile": "published profile", "admit": "admission"}


def withdraw(db: sqlite_utils.Database, key: NodeKey, kind: str, entry_key: str, *,
             reason: str = "", now_ms: int) -> SignedEntry:
    """Withdraw one of this node's entries: a signed ``retract`` that takes its slot.

    It spreads like any entry and replaces the withdrawn one everywhere
    (protocol.versions rule 2); publishing the slot again replaces it in turn.
    """
    body: dict[str, Any] = {}
    if reason:
        body["reason"] = check_text(reason, "reason", max_len=500)

    def tombstone() -> dict[str, Any]:
        current = current_entry(db, key.public, kind, entry_key)
        if current is None or current.entry.kind != kind:
            raise NotFound(f"this node has no {_WITHDRAWN_WHAT.get(kind, kind)} "
                           f"{entry_key[:64]!r} to withdraw")
        return body

    return _publish(db, key, "retract", retract_key(kind, entry_key), tombstone, now_ms)


def withdraw_credit(db: sqlite_utils.Database, key: NodeKey, to: bytes, practice: str, *,
                    reason: str = "", now_ms: int) -> SignedEntry:
    """Withdraw this node's credit of ``to`` for ``practice`` (a credit given by mistake).

    Refuses, saying which, a credit never given and one withdrawn already.
    """
    if not isinstance(to, bytes) or len(to) != 32:
        raise InvalidInput("to: must be a 32-byte node id", field="to", code="wrong_type")
    entry_key = credit_key(to, check_practice_key(practice))
    held = current_entry(db, key.public, "credit", entry_key)
    if held is None or held.entry.kind != "credit":
        done = held is not None
        raise NotFound(f"this node {'withdrew its' if done else 'has not given a'} credit to "
                       f"node {short_id(to)} for {practice!r}"
                       + (" already" if done else ": there is nothing to withdraw"))
    return withdraw(db, key, "credit", entry_key, reason=reason, now_ms=now_ms)


def retract_practice(db: sqlite_utils.Database, key: NodeKey, practice_key: str, *,
                     reason: str = "", now_ms: int) -> SignedEntry:
    """Withdraw a published practice: a signed tombstone that replaces its summary."""
    return withdraw(db, key, "practice", practice_key, reason=reason, now_ms=now_ms)


#: The code of the refusal to credit a practice this node has not seen.
UNSEEN_PRACTICE = "unseen_practice"


def publish_credit(db: sqlite_utils.Database, key: NodeKey, *, to: bytes, practice: str,
                   note: str = "", anyway: bool = False, now_ms: int) -> SignedEntry:
    """Thank node ``to`` for its practice ``practice``: a signed, free-standing credit.

    Refuses (:class:`LocalProblem`, code :data:`UNSEEN_PRACTICE`) a practice this
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
            raise LocalProblem(f"this node has not seen a practice {practice!r} from node "
                               f"{short_id(to)}: check the practice key (the node's practices "
                               "are in its directory listing); the practice may also not have "
                               "arrived here yet", code=UNSEEN_PRACTICE)
        return body

    return _publish(db, key, "credit", credit_key(to, practice), checked_body, now_ms)


def _profile_body(db: sqlite_utils.Database) -> dict[str, Any]:
    organisation = get_organisation(db)
    if not organisation.name or not organisation.level:
        raise InvalidInput("profile: set the organisation's name and level before publishing "
                           "its profile", field="name" if not organisation.name else "level",
                           code="missing_field")
    body = profile_body(organisation)
    # The addresses the group typed, then those the running node announces
    # (its public_url, or where it listens: node/sync/announce.py), so that
    # members can reach it without anyone typing them (DESIGN.md "Discovery
    # and topology"). The profile schema takes at most 8 (protocol/bodies.py).
    addresses = list(dict.fromkeys([*organisation.addresses, *read_announced(db).addresses]))
    if addresses:
        body["addresses"] = addresses[:MAX_PROFILE_ADDRESSES]
    return body


def preview_profile(db: sqlite_utils.Database, key: NodeKey, *, now_ms: int) -> Entry:
    """Exactly the entry :func:`publish_profile` would sign at ``now_ms``."""
    with read_snapshot(db):
        return _entry(db, key, "profile", "profile", _profile_body(db), now_ms)


def publish_profile(db: sqlite_utils.Database, key: NodeKey, *, now_ms: int) -> SignedEntry:
    """Sign and store the organisation's profile."""
    return _publish(db, key, "profile", "profile", lambda: _profile_body(db), now_ms)


def republish_profile_if_changed(db: sqlite_utils.Database, key: NodeKey, *,
                                 now_ms: int) -> SignedEntry | None:
    """Publish the profile again if the published one says something else now.

    Run when the node starts: the addresses it announces follow where it
    listens (node/sync/announce.py). Nothing happens for a node that has
    never published a profile (the group publishes the first one), that
    withdrew it, or that may not publish (not a member, restored and not
    caught up).
    """
    with write_transaction(db):
        current = current_entry(db, key.public, "profile", "profile")
        if current is None or current.entry.kind != "profile":
            return None
        state = read_node_state(db)
        if state.needs_catch_up or key.public not in membership.membership_for(db):
            return None
        try:
            body = _profile_body(db)
        except InvalidInput:
            return None
        if in_canonical_order(body) == current.entry.body:
            return None
        return publish_profile(db, key, now_ms=now_ms)


def publish_genesis(db: sqlite_utils.Database, key: NodeKey, *, nonce: bytes,
                    now_ms: int) -> SignedEntry:
    """Found the network: the genesis entry whose nonce and author derive its id.

    Called once, when ``hedgerow init --new-network`` creates the node (the
    node's network id was derived from the same nonce).
    """
    if len(nonce) != GENESIS_NONCE_BYTES:
        raise InvalidInput(f"a genesis nonce is {GENESIS_NONCE_BYTES} bytes", field="nonce")
    if network_id_of(key.public, nonce) != read_node_state(db).network:
        raise WrongNode("this node's network was not founded with this nonce")
    return _publish(db, key, "genesis", "genesis", lambda: {"nonce": nonce}, now_ms)


def publish_admission(db: sqlite_utils.Database, key: NodeKey, node: bytes, *,
                      note: str = "", now_ms: int) -> SignedEntry:
    """Admit ``node`` to the network: a signed ``admit`` entry that spreads like any other."""
    if not isinstance(node, bytes) or len(node) != 32:
        raise InvalidInput("node: must be a 32-byte node id", field="node", code="wrong_type")
    if node == key.public:
        raise InvalidInput("a node cannot admit itself", field="node", code="self_admission")
    body: dict[str, Any] = {"node": node}
    if note:
        body["note"] = check_text(note, "note", max_len=200)
    return _publish(db, key, "admit", admit_key(node), lambda: body, now_ms)


def withdrawal_preview_of(db: sqlite_utils.Database, admitter: bytes, node: bytes) -> set[bytes]:
    """The nodes whose membership would end if ``admitter`` withdrew its admission of ``node``."""
    with read_snapshot(db):
        held = membership.membership_for(db)
        return withdrawal_preview(held.founder, held.admissions(), admitter, node)


def withdraw_admission(db: sqlite_utils.Database, key: NodeKey, node: bytes, *,
                       reason: str = "", now_ms: int) -> SignedEntry:
    """Withdraw this node's own admission of ``node`` (never anyone else's)."""
    return withdraw(db, key, "admit", admit_key(node), reason=reason, now_ms=now_ms)


#: What a group's leaving withdraws (DESIGN.md "Membership"): its admissions
#: of others stay valid.
LEAVING_KINDS = ("profile", "practice", "credit")


def leave_preview(db: sqlite_utils.Database, key: NodeKey) -> list[tuple[str, str]]:
    """The (kind, key) of every entry ``hedgerow leave`` would withdraw."""
    marks = ",".join("?" * len(LEAVING_KINDS))
    return [(kind, entry_key) for kind, entry_key in db.conn.execute(
        f"SELECT kind, key FROM entries WHERE author = ? AND kind IN ({marks}) "
        "ORDER BY kind, key", (key.public, *LEAVING_KINDS))]


def accept_join(db: sqlite_utils.Database, key: NodeKey, *, invitation: bytes, node: bytes,
                proof: bytes, now_ms: int) -> list[SignedEntry]:
    """A node proved it holds one of this node's invitations: admit it.

    In one transaction: the proof is checked and a use of the invitation
    spent (:func:`node.store.membership.check_invitation_use`, which raises
    :class:`~node.store.membership.JoinRefused` saying what is wrong), then
    this node signs an ``admit`` entry naming the joining node, unless it
    admitted it already. Returns the network's genesis and that admission,
    for the join reply, with the admissions that make this node a member.
    """
    with write_transaction(db) as conn:
        state = read_node_state(db)
        membership.check_invitation_use(conn, network=state.network, invitation=invitation,
                                        node=node, proof=proof, now_ms=now_ms)
        held = current_entry(db, key.public, "admit", admit_key(node))
        if held is None or held.entry.kind != "admit":
            admission = publish_admission(db, key, node, now_ms=now_ms)
        else:
            admission = held.signed
        genesis = conn.execute("SELECT payload, sig FROM entries WHERE kind = 'genesis'"
                               ).fetchone()
        if genesis is None:
            raise NotMember("this node does not hold its network's genesis yet, so it cannot "
                            "admit anyone; it will once it has synced with a member")
        return [SignedEntry(genesis[0], genesis[1]), *_chain_to(db, key.public), admission]


def _chain_to(db: sqlite_utils.Database, node: bytes) -> list[SignedEntry]:
    """The admissions on ``node``'s shortest chain from the founder, founder's first.

    A joining node takes them in with its own admission, so that it knows at
    once that its inviter (and so itself) is a member.
    """
    members = membership.membership_for(db).members
    chain: list[SignedEntry] = []
    member = members.get(node)
    while member is not None and member.admitted_by is not None \
            and len(chain) < MAX_JOIN_CHAIN:
        held = current_entry(db, member.admitted_by, "admit", admit_key(member.node))
        if held is None:
            break
        chain.append(held.signed)
        member = members.get(member.admitted_by)
    return chain[::-1]


def dependants_of(db: sqlite_utils.Database, node: bytes) -> set[bytes]:
    """The members whose membership runs only through ``node``'s admissions (and ``node``)."""
    with read_snapshot(db):
        held = membership.membership_for(db)
        before = set(members_of(held.founder, held.admissions()))
        after = set(members_of(held.founder,
                               [a for a in held.admissions() if a.admitter != node]))
        return (before - after) - {node}
