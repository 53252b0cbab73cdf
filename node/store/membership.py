"""Membership as the store keeps it: members, entries waiting for admission, invitations.

Who is a member is worked out from the entries the node holds — the genesis
and the current admissions — by :mod:`protocol.membership`; nothing here
decides it differently. Tables (migration ``m008_membership``):

* ``members`` — the members and their place in the network's lineage,
  rewritten whenever the answer changes; ``membership_state.generation``
  changes with it, so every process holding a copy (the running node, the
  CLI beside it) knows when to read it again.
* ``pending_entries`` — entries that arrived before their author's
  admission (DESIGN.md "Membership"). Bounded: at most
  :data:`MAX_PENDING_ENTRIES` entries and :data:`MAX_PENDING_BYTES` bytes in
  all, :data:`MAX_PENDING_PER_AUTHOR` per author, each kept
  :data:`PENDING_MAX_AGE_MS` at most. Beyond that an entry is refused (and
  fetched again later, once its author is a member). When the admission
  arrives they are stored, without being fetched again; the sync session
  skips their ids (:func:`pending_ids`).
* ``invitations``, ``invitation_uses`` — the codes this node made and who
  joined with them; ``joining`` — the code this node was given, until its
  admission arrives.

Rules the store keeps (node/store/ingest.py applies them to every batch):

1. An entry whose author is not a member waits in ``pending_entries``; the
   genesis is the one entry no admission precedes.
2. When a node becomes a member its waiting entries are stored, in the same
   transaction, and so on down any chain of admissions that waited too.
3. When a node stops being a member (an admission on its only chain was
   withdrawn), the entries it wrote are deleted: only members' entries are
   stored. This node's own entries are kept.
"""

from __future__ import annotations

import secrets
import sqlite3
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from protocol import (
    Admission,
    Entry,
    Invitation,
    Membership,
    SignedEntry,
    VerifiedEntry,
    check_join_proof,
    decode,
)
from protocol.invitations import INVITATION_ID_BYTES, INVITATION_SECRET_BYTES

from ..errors import InvalidInput, NotFound
from .connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "DEFAULT_INVITATION_DAYS",
    "MAX_INVITATION_USES",
    "MAX_PENDING_BYTES",
    "MAX_PENDING_ENTRIES",
    "MAX_PENDING_PER_AUTHOR",
    "PENDING_MAX_AGE_MS",
    "InvitationRow",
    "JoinRefused",
    "Joining",
    "MemberRow",
    "admissions_of",
    "bump_membership",
    "check_invitation_use",
    "create_invitation",
    "forget_joining",
    "joining",
    "list_invitations",
    "list_members",
    "load_membership",
    "member_ids",
    "membership_for",
    "membership_generation",
    "pend",
    "pending_ids",
    "prune_pending",
    "record_joining",
    "record_joining_error",
    "save_members",
    "take_pending",
    "withdraw_invitation",
]

MAX_PENDING_ENTRIES: Final = 10_000
MAX_PENDING_BYTES: Final = 16 * 1024 * 1024
MAX_PENDING_PER_AUTHOR: Final = 1_000
PENDING_MAX_AGE_MS: Final = 7 * 86_400_000
DEFAULT_INVITATION_DAYS: Final = 7
MAX_INVITATION_USES: Final = 1_000
_MAX_INVITATION_DAYS: Final = 365


# --- who is a member ---------------------------------------------------------------------

def membership_generation(db: sqlite_utils.Database | sqlite3.Connection) -> int:
    conn = db if isinstance(db, sqlite3.Connection) else db.conn
    return int(conn.execute("SELECT generation FROM membership_state").fetchone()[0])


def bump_membership(conn: sqlite3.Connection) -> None:
    """Mark the members as changed (call inside the changing transaction)."""
    conn.execute("UPDATE membership_state SET generation = generation + 1")


def admissions_of(conn: sqlite3.Connection) -> list[Admission]:
    """The current admissions held (an admission's key is the admitted node in hex)."""
    return [Admission(author, bytes.fromhex(key), version) for author, key, version in
            conn.execute("SELECT author, key, version FROM entries WHERE kind = 'admit'")]


def load_membership(conn: sqlite3.Connection) -> Membership:
    """Work out the members from the genesis and admissions held."""
    row = conn.execute("SELECT author FROM entries WHERE kind = 'genesis' LIMIT 1").fetchone()
    return Membership(row[0] if row else None, admissions_of(conn))


# The writer keeps the membership it worked out, per database object, for as
# long as the generation says it is current: ingest asks for it once per
# batch, and reading 10,000 admissions each time would cost more than
# storing the batch.
_CACHE: weakref.WeakKeyDictionary[sqlite_utils.Database, tuple[int, Membership]] = (
    weakref.WeakKeyDictionary())


def membership_for(db: sqlite_utils.Database) -> Membership:
    """The current membership (inside a transaction, or a snapshot), cached by generation.

    The caller may change the object it gets inside its write transaction;
    :func:`save_members` records the result, and a transaction that rolls
    back must call :func:`forget_cached` (ingest does).
    """
    generation = membership_generation(db)
    cached = _CACHE.get(db)
    if cached is not None and cached[0] == generation:
        return cached[1]
    membership = load_membership(db.conn)
    _CACHE[db] = (generation, membership)
    return membership


def forget_cached(db: sqlite_utils.Database) -> None:
    _CACHE.pop(db, None)


def save_members(db: sqlite_utils.Database, membership: Membership) -> None:
    """Record ``membership`` as the members (inside the write transaction that changed it)."""
    conn = db.conn
    conn.execute("DELETE FROM members")
    conn.executemany("INSERT INTO members VALUES (?, ?, ?, ?)",
                     [(m.node, m.admitted_by, m.version, m.depth)
                      for m in membership.members.values()])
    bump_membership(conn)
    _CACHE[db] = (membership_generation(conn), membership)


def member_ids(db: sqlite_utils.Database) -> tuple[int, frozenset[bytes]]:
    """The generation and the members, as the sync server checks requests against them."""
    generation = membership_generation(db)
    return generation, frozenset(r[0] for r in db.conn.execute("SELECT node_id FROM members"))


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member, who admitted it and when, and what it calls itself."""

    node: bytes
    admitted_by: bytes | None
    version: int
    depth: int
    name: str | None


def list_members(db: sqlite_utils.Database) -> list[MemberRow]:
    """Every member, founder first, then by depth and admission time."""
    rows = db.conn.execute(
        "SELECT m.node_id, m.admitted_by, m.version, m.depth, "
        " (SELECT payload FROM entries AS e WHERE e.author = m.node_id AND e.kind = 'profile' "
        "  ORDER BY e.version DESC LIMIT 1) "
        "FROM members AS m ORDER BY m.depth, m.version, m.node_id").fetchall()
    out = []
    for node, by, version, depth, profile in rows:
        name = decode(profile)["body"]["name"] if profile else None
        out.append(MemberRow(node, by, version, depth, name))
    return out


# --- entries waiting for their author's admission ----------------------------------------

def pend(conn: sqlite3.Connection, item: VerifiedEntry, now_ms: int) -> str:
    """Keep ``item`` until its author is admitted. Returns ``""``, or why it was refused."""
    signed = item.signed
    if conn.execute("SELECT 1 FROM pending_entries WHERE id = ?", (item.id,)).fetchone():
        return ""
    count, size = conn.execute(
        "SELECT count(*), coalesce(sum(length(payload) + length(sig)), 0) "
        "FROM pending_entries").fetchone()
    if count >= MAX_PENDING_ENTRIES or size + signed.size > MAX_PENDING_BYTES:
        return ("this node holds as many entries from nodes not yet admitted as it keeps; "
                "it takes this one once its author's admission has arrived")
    mine = conn.execute("SELECT count(*) FROM pending_entries WHERE author = ?",
                        (item.entry.author,)).fetchone()[0]
    if mine >= MAX_PENDING_PER_AUTHOR:
        return (f"this node keeps at most {MAX_PENDING_PER_AUTHOR} entries from one node not "
                "yet admitted")
    conn.execute("INSERT INTO pending_entries VALUES (?, ?, ?, ?, ?, ?)",
                 (item.id, item.entry.author, item.entry.version, signed.payload, signed.sig,
                  now_ms))
    return ""


def take_pending(conn: sqlite3.Connection, authors: Iterable[bytes]) -> list[VerifiedEntry]:
    """Remove and return the waiting entries of ``authors`` (verified when they arrived)."""
    out: list[VerifiedEntry] = []
    for author in authors:
        rows = conn.execute("SELECT id, payload, sig FROM pending_entries WHERE author = ? "
                            "ORDER BY version", (author,)).fetchall()
        if not rows:
            continue
        conn.execute("DELETE FROM pending_entries WHERE author = ?", (author,))
        for eid, payload, sig in rows:
            v = decode(payload)
            entry = Entry(v["network"], v["author"], v["kind"], v["key"], v["version"],
                          v["body"])
            out.append(VerifiedEntry(entry, SignedEntry(payload, sig), eid))
    return out


def prune_pending(db: sqlite_utils.Database, *, now_ms: int) -> int:
    """Drop waiting entries older than :data:`PENDING_MAX_AGE_MS`; returns how many."""
    with write_transaction(db) as conn:
        return conn.execute("DELETE FROM pending_entries WHERE received_ms < ?",
                            (now_ms - PENDING_MAX_AGE_MS,)).rowcount


def pending_ids(db: sqlite_utils.Database) -> frozenset[bytes]:
    """Ids of the entries waiting for admission (a sync session does not fetch them again)."""
    return frozenset(r[0] for r in db.conn.execute("SELECT id FROM pending_entries"))


# --- invitations this node made ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class InvitationRow:
    id: bytes
    address: str
    note: str
    created_ms: int
    expires_ms: int
    uses_allowed: int
    uses: int
    withdrawn_ms: int | None
    joined: tuple[bytes, ...]

    def status(self, now_ms: int) -> str:
        """``open``, ``used`` (up), ``expired`` or ``withdrawn``."""
        if self.withdrawn_ms is not None:
            return "withdrawn"
        if self.uses >= self.uses_allowed:
            return "used"
        if now_ms >= self.expires_ms:
            return "expired"
        return "open"


def create_invitation(db: sqlite_utils.Database, *, network: bytes, inviter: bytes,
                      address: str, now_ms: int, uses: int = 1,
                      days: float = DEFAULT_INVITATION_DAYS, note: str = "") -> Invitation:
    """Make a new invitation (id and secret at random) and remember its secret."""
    if not 1 <= uses <= MAX_INVITATION_USES:
        raise InvalidInput(f"uses: from 1 to {MAX_INVITATION_USES}", field="uses")
    if not 0 < days <= _MAX_INVITATION_DAYS:
        raise InvalidInput(f"an invitation expires within {_MAX_INVITATION_DAYS} days",
                           field="expires")
    if len(note) > 200:
        raise InvalidInput("note: at most 200 characters", field="note")
    expires_ms = now_ms + int(days * 86_400_000)
    invitation = Invitation(network, inviter, address, secrets.token_bytes(INVITATION_ID_BYTES),
                            secrets.token_bytes(INVITATION_SECRET_BYTES),
                            -(-expires_ms // 1000))
    with write_transaction(db) as conn:
        conn.execute("INSERT INTO invitations (id, secret, address, note, created_ms, "
                     "expires_ms, uses_allowed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (invitation.id, invitation.secret, address, note, now_ms,
                      invitation.expires_s * 1000, uses))
    return invitation


def list_invitations(db: sqlite_utils.Database) -> list[InvitationRow]:
    rows = db.conn.execute(
        "SELECT id, address, note, created_ms, expires_ms, uses_allowed, uses, withdrawn_ms "
        "FROM invitations ORDER BY created_ms, id").fetchall()
    out = []
    for row in rows:
        joined = tuple(r[0] for r in db.conn.execute(
            "SELECT node_id FROM invitation_uses WHERE invitation = ? ORDER BY used_ms",
            (row[0],)))
        out.append(InvitationRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                                 joined))
    return out


def _invitation_by_prefix(conn: sqlite3.Connection, text: str) -> bytes:
    wanted = text.strip().lower()
    if not wanted or len(wanted) > 2 * INVITATION_ID_BYTES or \
            any(c not in "0123456789abcdef" for c in wanted):
        raise InvalidInput("an invitation is named by its id, as `hedgerow invite list` shows "
                           "it", field="invitation")
    rows = [r[0] for r in conn.execute("SELECT id FROM invitations")
            if r[0].hex().startswith(wanted)]
    if not rows:
        raise NotFound(f"this node made no invitation {wanted}")
    if len(rows) > 1:
        raise InvalidInput(f"{wanted} names more than one invitation; give more of its id",
                           field="invitation")
    found: bytes = rows[0]
    return found


def withdraw_invitation(db: sqlite_utils.Database, text: str, *, now_ms: int) -> bytes:
    """Withdraw an invitation by (a prefix of) its hex id; returns its id."""
    with write_transaction(db) as conn:
        invitation = _invitation_by_prefix(conn, text)
        conn.execute("UPDATE invitations SET withdrawn_ms = coalesce(withdrawn_ms, ?) "
                     "WHERE id = ?", (now_ms, invitation))
    return invitation


class JoinRefused(InvalidInput):
    """A join request this node refuses: the message says which way the invitation failed."""


def check_invitation_use(conn: sqlite3.Connection, *, network: bytes, invitation: bytes,
                         node: bytes, proof: bytes, now_ms: int) -> bool:
    """Check a joining node's proof and spend one use of the invitation.

    Returns False if ``node`` had joined with it already (nothing is spent);
    raises :class:`JoinRefused` naming what is wrong otherwise. Call inside
    the write transaction that admits the node.
    """
    row = conn.execute("SELECT secret, expires_ms, uses_allowed, uses, withdrawn_ms "
                       "FROM invitations WHERE id = ?", (invitation,)).fetchone()
    # The proof is checked before anything about the invitation is said, so
    # that a guesser learns nothing about which invitations exist.
    if row is None or not check_join_proof(row[0], network, invitation, node, proof):
        raise JoinRefused("the invitation is not one this node made, or the proof does not "
                          "match it and this node's id", code="bad_proof")
    _, expires_ms, allowed, uses, withdrawn_ms = row
    if conn.execute("SELECT 1 FROM invitation_uses WHERE invitation = ? AND node_id = ?",
                    (invitation, node)).fetchone():
        return False
    if withdrawn_ms is not None:
        raise JoinRefused("the invitation was withdrawn by the node that made it; ask for a "
                          "new one", code="invitation_withdrawn")
    if uses >= allowed:
        raise JoinRefused("the invitation has been used already; ask for a new one",
                          code="invitation_used")
    if now_ms >= expires_ms:
        raise JoinRefused("the invitation has expired; ask for a new one",
                          code="invitation_expired")
    conn.execute("UPDATE invitations SET uses = uses + 1 WHERE id = ?", (invitation,))
    conn.execute("INSERT INTO invitation_uses VALUES (?, ?, ?)", (invitation, node, now_ms))
    return True


# --- the invitation this node joins with -------------------------------------------------

@dataclass(frozen=True, slots=True)
class Joining:
    code: str
    inviter: bytes
    address: str
    created_ms: int
    joined_ms: int | None
    last_error: str


def record_joining(db: sqlite_utils.Database, *, code: str, inviter: bytes, address: str,
                   now_ms: int) -> None:
    with write_transaction(db) as conn:
        conn.execute("INSERT OR REPLACE INTO joining (only_row, code, inviter, address, "
                     "created_ms) VALUES (1, ?, ?, ?, ?)", (code, inviter, address, now_ms))


def joining(db: sqlite_utils.Database) -> Joining | None:
    row = db.conn.execute("SELECT code, inviter, address, created_ms, joined_ms, last_error "
                          "FROM joining").fetchone()
    return Joining(*row) if row else None


def record_joining_error(db: sqlite_utils.Database, error: str, *, joined_ms: int | None = None
                         ) -> None:
    with write_transaction(db) as conn:
        conn.execute("UPDATE joining SET last_error = ?, joined_ms = coalesce(?, joined_ms)",
                     (error[:300], joined_ms))


def forget_joining(db: sqlite_utils.Database) -> None:
    with write_transaction(db) as conn:
        conn.execute("DELETE FROM joining")

