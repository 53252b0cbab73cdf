"""Received entries: verify, store by the current-version rules, serve the current set.

A batch from a peer goes through two steps:

1. :func:`verify_batch` — pure CPU, no database: :func:`protocol.verify_entries`
   over each chunk (size, canonical decode, envelope, network, body schema,
   Ed25519 signature). The async facade runs it on worker threads outside the
   writer, several chunks at once, and hands the chunks to step 2 in order as
   they are ready: Ed25519 verification releases the GIL, so ingest is bound
   by verification, not by our code (DESIGN.md "What good means").
2. :func:`store_checked` — one ``BEGIN IMMEDIATE`` transaction for the whole
   batch, applying :func:`protocol.judge` to each verified entry in order:

   * **accepted** — new slot, or newer than the slot's current entry, which
     is deleted (only current entries are kept and reconciled);
   * **duplicate** — this exact entry is already held: nothing changes;
   * **stale** — the slot holds a newer version: ignored;
   * **fork** — another entry by the same author has the same version: both
     are kept as proof (``fork_proof``, never deleted by supersession), a
     ``forks`` row is written and the author is flagged (views leave a
     flagged author out until resolved);
   * **rejected** — failed verification; the outcome carries the protocol's
     error code and message (which never quote private data).

   * **pending** — its author is not a member (yet): it waits in
     ``pending_entries`` and is stored when the admission arrives
     (:mod:`node.store.membership`, DESIGN.md "Membership");
   * **rejected** — failed verification, or over a limit: a version more
     than an hour ahead of this node's clock (protocol.versions rule 6), an
     author over :data:`MAX_AUTHOR_ENTRIES` entries or
     :data:`MAX_AUTHOR_BYTES` bytes, a full pending table.

Membership changes as admissions are stored: waiting entries of new members
are stored in the same transaction, and the entries of nodes that stopped
being members are deleted (rules in :mod:`node.store.membership`). A fork is
resolved once its author holds a newer version in every slot it forked: the
proofs then leave the current set for ``fork_history``.

Own entries go through the same path (:mod:`node.store.feed` stores what it
publishes with :func:`store_checked`), and any own entry seen — published
here or received back from a peer — raises the node's clock memory.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocol import (
    Admission,
    Entry,
    EntryError,
    SignedEntry,
    Verdict,
    VerifiedEntry,
    decode,
    judge,
    short_id,
    slot_of,
    too_far_ahead,
    verify_entries,
)

from ..errors import InvalidInput
from . import membership as members
from .connection import write_transaction
from .node_state import raise_highest_own_version
from .search import summary_of

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "MAX_AUTHOR_BYTES",
    "MAX_AUTHOR_ENTRIES",
    "MAX_BATCH_ENTRIES",
    "MAX_FETCH_IDS",
    "Checked",
    "Fork",
    "IngestStatus",
    "Outcome",
    "StoredEntry",
    "bump_entries_generation",
    "current_entries",
    "current_entry",
    "current_set",
    "delete_author_entries",
    "entries_generation",
    "entry_from_payload",
    "forked_authors",
    "forks",
    "get_entries",
    "ingest_batch",
    "store_checked",
    "store_chunks",
    "verify_batch",
]

log = logging.getLogger(__name__)

#: Most entries one ingest call (one transaction) takes.
MAX_BATCH_ENTRIES = 1000
#: Most current entries, and bytes of them, one author may hold on a node
#: (DESIGN.md "Limits"): enough for any group many times over, and bounded,
#: so that no member can fill every node's disk.
MAX_AUTHOR_ENTRIES = 10_000
MAX_AUTHOR_BYTES = 16 * 1024 * 1024
#: Rejection codes that say nothing bad of the peer that sent the entry: an
#: honest peer relays what it holds (a clock ahead, a full pending table).
HONEST_REJECTIONS = frozenset({"future_version", "pending_full", "author_quota"})
#: Most ids one :func:`get_entries` call looks up.
MAX_FETCH_IDS = 10_000
_IN_CHUNK = 500


class IngestStatus(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"
    FORK = "fork"
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one entry of a batch (in the batch's order).

    ``code``/``reason`` explain a rejection; ``own`` is true for this node's
    own entries (the sync layer uses it to know it has caught up).
    """

    entry_id: bytes
    status: IngestStatus
    code: str = ""
    reason: str = ""
    own: bool = False

    @property
    def stored(self) -> bool:
        """Whether the entry is now held (accepted, or kept as a fork proof)."""
        return self.status in (IngestStatus.ACCEPTED, IngestStatus.FORK)


Checked = VerifiedEntry | Outcome


def entry_from_payload(payload: bytes) -> Entry:
    """Decode a payload that was verified when it was stored."""
    v = decode(payload)
    return Entry(v["network"], v["author"], v["kind"], v["key"], v["version"], v["body"])


def verify_batch(batch: Iterable[SignedEntry], network: bytes) -> list[Checked]:
    """Verify each entry for ``network``: a :class:`VerifiedEntry`, or a rejection."""
    signed = batch if isinstance(batch, Sequence) else list(batch)
    return [Outcome(s.id, IngestStatus.REJECTED, result.code, result.message)
            if isinstance(result, EntryError) else result
            for s, result in zip(signed, verify_entries(signed, network), strict=True)]


# How a batch is written: a chunk of entries (as verified, up to
# _STORE_CHUNK) is looked up in one statement, judged in Python, and its new
# rows inserted in one statement each for entries, summaries and the search
# index. Each statement step releases the GIL, and taking it back while the
# verification threads run Python (decoding, schema checks) costs the writer
# a wait: with one step per entry and statement, as before, two verifying
# threads tripled the writer's time for the same CPU (measured).
# Needs SQLite >= 3.35 (MATERIALIZED; JSON built in from 3.38; Debian 12 has 3.40).
_STORE_CHUNK = 100

# The two questions judge() asks, for every entry of a chunk at once: the
# slot's current version, and whether this author already holds this version
# (this very entry, or another one: a fork). Only entries with an answer come
# back, all in one JSON row: one statement step for the whole chunk.
# ``+author`` keeps SQLite off the author-first slot index for the two
# (author, version) questions: ``entries_by_version`` finds the few entries
# of one version directly (node/store/schema.py, m007). MATERIALIZED: each
# subquery runs once per entry, not again in the outer WHERE.
_LOOKUP_CHUNK = (
    "WITH b (i, author, family, key, version, id) AS (VALUES {values}), "
    "r AS MATERIALIZED (SELECT b.i AS i,"
    " (SELECT max(version) FROM entries WHERE author = b.author AND family = b.family"
    "  AND key = b.key) AS cur,"
    " (SELECT 1 FROM entries WHERE id = b.id AND author = b.author"
    "  AND version = b.version) AS held,"
    " (SELECT id FROM entries WHERE +author = b.author AND version = b.version"
    "  AND id != b.id LIMIT 1) AS other FROM b) "
    "SELECT json_group_array(json_array(i, cur, held, hex(other))) FROM r "
    "WHERE cur IS NOT NULL OR held IS NOT NULL OR other IS NOT NULL")
_OLDER = "author = ? AND family = ? AND key = ? AND version < ? AND fork_proof = 0"
# The search index is kept by hand, not by triggers: FTS5 flushes its
# pending terms at every statement savepoint, which a trigger's statement
# opens, and that made indexing through triggers ~4x slower than this.
_OLDER_SUMMARIES = (
    "SELECT s.entry_seq, s.title, s.text FROM entries AS e "
    "JOIN summaries AS s ON s.entry_seq = e.seq WHERE e.author = ? AND e.family = ? "
    "AND e.key = ? AND e.version < ? AND e.fork_proof = 0")
_UNINDEX = ("INSERT INTO summaries_fts (summaries_fts, rowid, title, text) "
            "VALUES ('delete', ?, ?, ?)")
# Deleting an entry cascades to its summaries row.
_DELETE_OLDER = f"DELETE FROM entries WHERE {_OLDER} RETURNING length(payload) + length(sig)"
# ``seq`` is given, not left to SQLite, so that one statement inserts a chunk
# and its summary rows can still refer to it: the max(seq) + 1 SQLite would
# pick for each row in turn (_Batch.next_seq). OR FAIL rather than the default ABORT: a row that
# broke a constraint fails the batch anyway (the transaction rolls back), and
# ABORT would make SQLite journal every index page the statement changes, in
# case it has to undo the statement alone; that cost a third of the insert.
_INSERT = ("INSERT OR FAIL INTO entries (seq, id, version, author, kind, family, key, payload, "
           "sig, received_ms, fork_proof) VALUES {values}")
_INSERT_SUMMARY = "INSERT INTO summaries VALUES {values}"
# A chunk's summaries are indexed by one statement: the statement savepoint
# it opens flushes FTS5's pending terms (the previous chunk's) as one segment.
_INDEX_SUMMARIES = ("INSERT INTO summaries_fts (rowid, title, text) "
                    "SELECT entry_seq, title, text FROM summaries WHERE entry_seq >= ?")
_NEXT_SEQ = "SELECT coalesce(max(seq), 0) + 1 FROM entries"
_MARK_FORK = "UPDATE entries SET fork_proof = 1 WHERE +author = ? AND version = ?"
_RECORD_FORK = ("INSERT OR IGNORE INTO forks (author, version, first_id, second_id, detected_ms) "
                "VALUES (?, ?, ?, ?, ?)")

_ACCEPTED, _DUPLICATE, _STALE, _FORK, _PENDING = (
    IngestStatus.ACCEPTED, IngestStatus.DUPLICATE, IngestStatus.STALE, IngestStatus.FORK,
    IngestStatus.PENDING)
_NOT_HELD: tuple[int | None, int | None, bytes | None] = (None, None, None)


@functools.cache
def _rows_sql(template: str, columns: int, rows: int) -> str:
    """``template`` with ``rows`` rows of ``columns`` placeholders (one statement)."""
    row = "(" + ",".join("?" * columns) + ")"
    return template.format(values=",".join([row] * rows))


def _too_many(count: int) -> InvalidInput:
    return InvalidInput(f"a batch holds at most {MAX_BATCH_ENTRIES} entries, not {count}",
                        field="batch")


def _chunked(checked: Iterable[Checked]) -> Iterator[Sequence[Checked]]:
    if isinstance(checked, Sequence):
        for start in range(0, len(checked), _STORE_CHUNK):
            yield checked[start:start + _STORE_CHUNK]
        return
    items = iter(checked)
    while chunk := list(itertools.islice(items, _STORE_CHUNK)):
        yield chunk


class _Usage:
    """An author's current entries and bytes (``author_usage``) as this batch changes them."""

    __slots__ = ("bytes", "changed", "entries")

    def __init__(self, entries: int, size: int) -> None:
        self.entries, self.bytes, self.changed = entries, size, False


class _Batch:
    """One batch being stored, inside its transaction, a chunk at a time.

    An entry's lookup is answered for its whole chunk before any of the
    chunk is written. That answer is what a lookup just before the entry
    would see unless an earlier entry of the chunk was stored in the same
    slot or with the same (author, version), or deleted or marked entries
    of the same author: only then is the entry looked up again, after the
    rows so far are written. So the outcomes are those of judging the
    entries one by one, in order.

    Membership is asked of one :class:`protocol.Membership` for the whole
    batch, changed in place as admissions are stored, so an entry sees the
    admissions stored before it; what changed is settled in :meth:`finish`.
    """

    def __init__(self, db: sqlite_utils.Database, now_ms: int,
                 refuse_authors: frozenset[bytes]) -> None:
        conn = db.conn
        self.db = db
        self.conn = conn
        self.now_ms = now_ms
        self.refuse_authors = refuse_authors
        self.me: bytes = conn.execute("SELECT node_id FROM node_state").fetchone()[0]
        self.membership = members.membership_for(db)
        # The members before this batch changed them (copied at the first change).
        self.members_before: set[bytes] | None = None
        # What SQLite would give the next row; counted on from there.
        self.next_seq: int = conn.execute(_NEXT_SEQ).fetchone()[0]
        self.outcomes: list[Outcome] = []
        self.own_highest = 0
        self.changed_entries = False
        # Rows of the current chunk not yet inserted; their seqs are above
        # every seq held, so their summaries are found by seq (_INDEX_SUMMARIES).
        self.rows: list[tuple[int, *tuple[object, ...]]] = []
        # Their summary rows, in the same order.
        self.summaries: list[tuple[int, bytes, str, str, str, str]] = []
        self.usage: dict[bytes, _Usage] = {}
        # Authors with an unresolved fork, and those of them whose slots moved on.
        self.forked: set[bytes] = {r[0] for r in conn.execute(
            "SELECT DISTINCT author FROM forks WHERE resolved_ms IS NULL")}
        self.moved_on: set[bytes] = set()

    def _look_up(self, entries: Sequence[VerifiedEntry], slots: Sequence[tuple[str, str]]
                 ) -> dict[int, tuple[int | None, int | None, bytes | None]]:
        if not entries:
            return {}
        params: list[object] = []
        for i, (item, (family, key)) in enumerate(zip(entries, slots, strict=True)):
            entry = item.entry
            params += (i, entry.author, family, key, entry.version, item.id)
        (found,) = self.conn.execute(_rows_sql(_LOOKUP_CHUNK, 6, len(entries)),
                                     params).fetchone()
        # hex(NULL) is ''; an id is never empty.
        return {i: (current, held, bytes.fromhex(other) if other else None)
                for i, current, held, other in json.loads(found)}

    def _load_usage(self, authors: Iterable[bytes]) -> None:
        wanted = [a for a in set(authors) if a not in self.usage]
        if not wanted:
            return
        marks = ",".join("?" * len(wanted))
        held = {author: (n, size) for author, n, size in self.conn.execute(
            f"SELECT author, entries, bytes FROM author_usage WHERE author IN ({marks})",
            wanted)}
        for author in wanted:
            self.usage[author] = _Usage(*held.get(author, (0, 0)))

    def _over_quota(self, author: bytes, family: str, key: str, size: int,
                    supersedes: bool) -> str:
        """Why storing this entry would put its author over a limit ("" if it would not)."""
        use = self.usage[author]
        if not supersedes and use.entries + 1 > MAX_AUTHOR_ENTRIES:
            return (f"this node holds {MAX_AUTHOR_ENTRIES:,} entries by that node already, the "
                    "most it keeps for one node")
        if use.bytes + size > MAX_AUTHOR_BYTES:
            # Rare: only near the limit is the older version's size looked up.
            freed = self.conn.execute(
                f"SELECT coalesce(sum(length(payload) + length(sig)), 0) FROM entries "
                f"WHERE {_OLDER}", (author, family, key, 2**63 - 1)).fetchone()[0] \
                if supersedes else 0
            if use.bytes - freed + size > MAX_AUTHOR_BYTES:
                return (f"this node holds {MAX_AUTHOR_BYTES // (1024 * 1024)} MiB of entries by "
                        "that node already, the most it keeps for one node")
        return ""

    def _write_rows(self) -> None:
        """Insert the rows so far, with their summaries, and index those."""
        rows, summaries = self.rows, self.summaries
        if not rows:
            return
        conn = self.conn
        conn.execute(_rows_sql(_INSERT, 11, len(rows)), [value for row in rows for value in row])
        if summaries:
            conn.execute(_rows_sql(_INSERT_SUMMARY, 6, len(summaries)),
                         [value for row in summaries for value in row])
            conn.execute(_INDEX_SUMMARIES, (summaries[0][0],))
            summaries.clear()
        rows.clear()

    def _membership_changes(self) -> None:
        if self.members_before is None:
            self.members_before = set(self.membership.nodes)

    def _admitted(self, item: VerifiedEntry, family: str, key: str) -> None:
        """Follow what a stored genesis, admission or withdrawal does to membership."""
        entry = item.entry
        if entry.kind == "genesis":
            self._membership_changes()
            self.membership.found(entry.author)
        elif entry.kind == "admit":
            self._membership_changes()
            self.membership.admit(Admission(entry.author, entry.body["node"], entry.version))
        elif family == "admit":  # a retraction of an admission
            self._membership_changes()
            self.membership.withdraw(entry.author, bytes.fromhex(key))

    def add(self, chunk: Sequence[Checked], append: Callable[[Outcome], None]) -> None:
        """Judge and store a chunk (at most _STORE_CHUNK items), in order."""
        refuse, me, conn, now_ms = self.refuse_authors, self.me, self.conn, self.now_ms
        rows, summaries, membership = self.rows, self.summaries, self.membership
        entries = [item for item in chunk
                   if not isinstance(item, Outcome) and item.entry.author not in refuse]
        slots = [(item.entry.kind, item.entry.key) if item.entry.kind != "retract" else
                 _retract_slot(item.entry) for item in entries]
        found = self._look_up(entries, slots)
        self._load_usage(item.entry.author for item in entries)
        # What earlier entries of this chunk changed (see the class doc).
        seen_slots: set[tuple[bytes, str, str]] = set()
        versions: set[tuple[bytes, int]] = set()
        changed: set[bytes] = set()
        n = -1
        for item in chunk:
            if isinstance(item, Outcome):
                append(item)
                continue
            entry, eid = item.entry, item.id
            author, version, kind = entry.author, entry.version, entry.kind
            if author in refuse:
                append(Outcome(eid, IngestStatus.REJECTED, "blocked",
                               "entries by this node are blocked here"))
                continue
            n += 1
            family, key = slots[n]
            own = author == me
            if too_far_ahead(version, now_ms) and not own:
                # protocol.versions rule 6: not stored, so fetched again later.
                # Not for this node's own entries: its clock's memory is the
                # authority on its versions, which may be ahead of its clock.
                append(Outcome(eid, IngestStatus.REJECTED, "future_version",
                               "its version is more than an hour ahead of this node's clock",
                               own=own))
                continue
            if kind != "genesis" and author not in membership:
                # DESIGN.md "Membership": only members' entries are stored;
                # this one waits for its author's admission.
                why = members.pend(conn, item, now_ms)
                append(Outcome(eid, IngestStatus.REJECTED, "pending_full", why, own=own)
                       if why else Outcome(eid, _PENDING, own=own))
                continue
            if own and version > self.own_highest:
                self.own_highest = version
            slot = (author, family, key)
            if slot in seen_slots or (author, version) in versions or author in changed:
                # An earlier entry of this chunk may have changed the answer:
                # write the rows so far and ask again for this entry alone.
                self._write_rows()
                current, held, other = self._look_up([item], [(family, key)]).get(0, _NOT_HELD)
            else:
                current, held, other = found.get(n, _NOT_HELD)
            verdict = judge(eid, version, same_version_id=eid if held else other,
                            current_version=current)
            if verdict is Verdict.DUPLICATE:
                append(Outcome(eid, _DUPLICATE, own=own))
                continue
            if verdict is Verdict.STALE:
                append(Outcome(eid, _STALE, own=own))
                continue
            size = item.signed.size
            supersedes = current is not None and current < version
            over = self._over_quota(author, family, key, size, supersedes)
            if over:
                append(Outcome(eid, IngestStatus.REJECTED, "author_quota", over, own=own))
                continue
            seen_slots.add(slot)
            versions.add((author, version))
            fork = verdict is Verdict.FORK
            use = self.usage[author]
            use.entries += 1
            use.bytes += size
            use.changed = True
            if supersedes:
                # Only entries of this slot go, and none of this chunk's
                # unwritten rows is in it (else this entry was looked up again).
                changed.add(author)
                older = (author, family, key, version)
                for row in conn.execute(_OLDER_SUMMARIES, older).fetchall():
                    conn.execute(_UNINDEX, row)
                for (freed,) in conn.execute(_DELETE_OLDER, older).fetchall():
                    use.entries -= 1
                    use.bytes -= freed
                if author in self.forked:
                    self.moved_on.add(author)
                # SQLite would now give the next row max(seq) + 1, the seq of
                # a row just deleted if it was the highest; node.views counts
                # on no more than that, and neither do we.
                top: int = conn.execute(_NEXT_SEQ).fetchone()[0]
                self.next_seq = max(top, rows[-1][0] + 1) if rows else top
            seq = self.next_seq
            self.next_seq += 1
            rows.append((seq, eid, version, author, kind, family, key, item.signed.payload,
                         item.signed.sig, now_ms, int(fork)))
            self.changed_entries = True
            summary = summary_of(kind, entry.body)
            if summary is not None:
                summaries.append((seq, author, kind, key, summary[0], summary[1]))
            if family in ("genesis", "admit"):
                self._admitted(item, family, key)
            if fork:
                # Rule 4: both entries are proof; neither may be superseded
                # away. The new one is written as proof already.
                changed.add(author)
                self.forked.add(author)
                conn.execute(_MARK_FORK, (author, version))
                conn.execute(_RECORD_FORK, (author, version, other, eid, now_ms))
                log.warning("fork: node %s signed two entries with version %d; both kept "
                            "as proof and the node is flagged", short_id(author), version)
                append(Outcome(eid, _FORK, own=own))
            else:
                append(Outcome(eid, _ACCEPTED, own=own))
        self._write_rows()

    def _settle_membership(self) -> None:
        """Store the waiting entries of new members; drop those of former ones."""
        before = self.members_before
        if before is None:
            return
        membership, conn = self.membership, self.conn
        promoted: list[Outcome] = []
        done: set[bytes] = set()
        while fresh := set(membership.nodes) - before - done:
            done |= fresh
            waiting = members.take_pending(conn, sorted(fresh))
            for start in range(0, len(waiting), _STORE_CHUNK):
                self.add(waiting[start:start + _STORE_CHUNK], promoted.append)
        for node in sorted(before - set(membership.nodes)):
            # Rule 3 of node.store.membership: only members' entries are
            # stored. This node keeps its own (it may be admitted again).
            if node != self.me:
                _delete_author_rows(conn, node)
                self.usage.pop(node, None)
                self.changed_entries = True
            membership.forget(node)
        members.save_members(self.db, membership)

    def _resolve_forks(self) -> None:
        """Resolve the forks whose every slot now holds a newer version (DESIGN.md)."""
        conn = self.conn
        for author in sorted(self.moved_on):
            for (version,) in conn.execute(
                    "SELECT DISTINCT version FROM forks WHERE author = ? AND resolved_ms IS NULL",
                    (author,)).fetchall():
                proofs = conn.execute(
                    "SELECT seq, id, family, key, payload, sig FROM entries "
                    "WHERE +author = ? AND version = ? AND fork_proof = 1",
                    (author, version)).fetchall()
                if any(conn.execute("SELECT max(version) FROM entries WHERE author = ? AND "
                                    "family = ? AND key = ?", (author, family, key)
                                    ).fetchone()[0] <= version
                       for _, _, family, key, _, _ in proofs):
                    continue
                for seq, eid, _, _, payload, sig in proofs:
                    for row in conn.execute("SELECT entry_seq, title, text FROM summaries "
                                            "WHERE entry_seq = ?", (seq,)).fetchall():
                        conn.execute(_UNINDEX, row)
                    conn.execute("INSERT OR IGNORE INTO fork_history VALUES (?, ?, ?, ?, ?, ?)",
                                 (eid, author, version, payload, sig, self.now_ms))
                    conn.execute("DELETE FROM entries WHERE seq = ?", (seq,))
                    use = self.usage.get(author)
                    if use is not None:
                        use.entries -= 1
                        use.bytes -= len(payload) + len(sig)
                        use.changed = True
                conn.execute("UPDATE forks SET resolved_ms = ? WHERE author = ? AND version = ? "
                             "AND resolved_ms IS NULL", (self.now_ms, author, version))
                self.changed_entries = True
                log.info("fork resolved: node %s published newer versions of what it had "
                         "forked at version %d", short_id(author), version)

    def finish(self) -> None:
        """Settle membership and forks, and note what changed."""
        conn = self.conn
        self._settle_membership()
        if self.moved_on:
            self._resolve_forks()
        changed_usage = [(a, u.entries, u.bytes) for a, u in self.usage.items() if u.changed]
        if changed_usage:
            conn.executemany("INSERT OR REPLACE INTO author_usage VALUES (?, ?, ?)",
                             changed_usage)
        if self.changed_entries:
            # The reconciliation set changed (node/store/reconciliation.py
            # caches it by this counter).
            bump_entries_generation(conn)
        if self.own_highest:
            raise_highest_own_version(conn, self.own_highest)


def _retract_slot(entry: Entry) -> tuple[str, str]:
    slot = slot_of(entry.author, entry.kind, entry.key)
    return slot.family, slot.key


def _delete_author_rows(conn: sqlite3.Connection, author: bytes) -> int:
    """Delete every entry by ``author`` (with its search text); returns how many."""
    for seq, title, text in conn.execute(
            "SELECT s.entry_seq, s.title, s.text FROM summaries AS s "
            "JOIN entries AS e ON e.seq = s.entry_seq WHERE e.author = ?",
            (author,)).fetchall():
        conn.execute(_UNINDEX, (seq, title, text))
    conn.execute("DELETE FROM author_usage WHERE author = ?", (author,))
    return conn.execute("DELETE FROM entries WHERE author = ?", (author,)).rowcount


def store_checked(db: sqlite_utils.Database, checked: Iterable[Checked], *,
                  now_ms: int, refuse_authors: frozenset[bytes] = frozenset()) -> list[Outcome]:
    """Apply a verified batch in one transaction; one :class:`Outcome` per item, in order.

    ``checked`` may be an iterator that is still being verified: it is
    consumed inside the transaction, and an error it raises rolls the whole
    batch back.

    Entries by ``refuse_authors`` (blocked nodes) are rejected: a blocked
    node's entries are neither stored nor relayed.
    """
    if isinstance(checked, Sequence) and len(checked) > MAX_BATCH_ENTRIES:
        raise _too_many(len(checked))
    return store_chunks(db, _chunked(checked), now_ms=now_ms, refuse_authors=refuse_authors)


def store_chunks(db: sqlite_utils.Database, chunks: Iterable[Sequence[Checked]], *,
                 now_ms: int, refuse_authors: frozenset[bytes] = frozenset(),
                 checkpoint_first: bool = False) -> list[Outcome]:
    """:func:`store_checked` for a batch given in chunks, as they are verified.

    The store verifies in chunks on a pool of threads and hands them over
    in order; ``chunks`` is consumed inside the transaction.

    ``checkpoint_first``: checkpoint the WAL (passively: readers are never
    waited for) before the batch, while its first chunk is being verified.
    """
    if checkpoint_first and not db.conn.in_transaction:
        db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    try:
        with write_transaction(db):
            batch = _Batch(db, now_ms, refuse_authors)
            count = 0
            parts = iter(chunks)
            for chunk in parts:
                count += len(chunk)
                if count > MAX_BATCH_ENTRIES:
                    raise _too_many(count + sum(len(rest) for rest in parts))
                for start in range(0, len(chunk), _STORE_CHUNK):
                    batch.add(chunk[start:start + _STORE_CHUNK], batch.outcomes.append)
            batch.finish()
    except BaseException:
        # The batch may have changed the cached membership before rolling back.
        members.forget_cached(db)
        raise
    outcomes = batch.outcomes
    if log.isEnabledFor(logging.DEBUG):
        counts = Counter(o.status.value for o in outcomes)
        log.debug("ingested %d entries: %s", len(outcomes),
                  ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return outcomes


def ingest_batch(db: sqlite_utils.Database, batch: Sequence[SignedEntry], *,
                 now_ms: int) -> list[Outcome]:
    """Verify and store a batch in the calling thread (the facade verifies in parallel)."""
    if len(batch) > MAX_BATCH_ENTRIES:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH_ENTRIES} entries, not "
                           f"{len(batch)}", field="batch")
    network = db.conn.execute("SELECT network FROM node_state").fetchone()[0]
    return store_checked(db, verify_batch(batch, network), now_ms=now_ms)


def current_set(db: sqlite_utils.Database) -> list[tuple[int, bytes]]:
    """Every current entry as (version, id), sorted as Negentropy storage needs.

    Fork proofs are current entries too and take part in reconciliation.
    Read straight off the covering index ``entries_by_version``.
    """
    return db.conn.execute("SELECT version, id FROM entries ORDER BY version, id").fetchall()


def get_entries(db: sqlite_utils.Database, ids: Sequence[bytes]) -> list[SignedEntry]:
    """The held entries among ``ids``, in the order asked; unknown ids are skipped."""
    if len(ids) > MAX_FETCH_IDS:
        raise InvalidInput(f"at most {MAX_FETCH_IDS} entries can be fetched at once",
                           field="ids")
    found: dict[bytes, SignedEntry] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        for eid, payload, sig in db.conn.execute(
                f"SELECT id, payload, sig FROM entries WHERE id IN ({marks})", chunk):
            found[eid] = SignedEntry(payload, sig)
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A current entry as held: decoded, with its exact signed bytes."""

    id: bytes
    entry: Entry
    signed: SignedEntry
    received_ms: int
    fork_proof: bool


def _stored(row: tuple[bytes, bytes, bytes, int, int]) -> StoredEntry:
    eid, payload, sig, received_ms, fork_proof = row
    # Held entries were verified on the way in; decoding them is enough.
    return StoredEntry(eid, entry_from_payload(payload), SignedEntry(payload, sig),
                       received_ms, bool(fork_proof))


_STORED_COLUMNS = "id, payload, sig, received_ms, fork_proof"


def current_entry(db: sqlite_utils.Database, author: bytes, kind: str,
                  key: str) -> StoredEntry | None:
    """The current entry in the slot of (author, kind, key): for a withdrawn
    entry, that is the ``retract`` entry."""
    slot = slot_of(author, kind, key)
    row = db.conn.execute(
        f"SELECT {_STORED_COLUMNS} FROM entries WHERE author = ? AND family = ? AND key = ? "
        "ORDER BY version DESC LIMIT 1", (author, slot.family, slot.key)).fetchone()
    return None if row is None else _stored(row)


def current_entries(db: sqlite_utils.Database, *, kind: str | None = None,
                    author: bytes | None = None, limit: int = 1000,
                    offset: int = 0) -> list[StoredEntry]:
    """Current entries, optionally of one kind and/or one author, oldest version first."""
    where: list[str] = []
    args: list[object] = []
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    if author is not None:
        where.append("author = ?")
        args.append(author)
    sql = (f"SELECT {_STORED_COLUMNS} FROM entries "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} "
           "ORDER BY version, id LIMIT ? OFFSET ?")
    rows = db.conn.execute(sql, (*args, max(0, min(limit, 10_000)), max(0, offset)))
    return [_stored(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Fork:
    """Two different entries by ``author`` with the same ``version``."""

    author: bytes
    version: int
    first_id: bytes
    second_id: bytes
    detected_ms: int
    resolved_ms: int | None = None
    #: The slots (kind, key) the forked entries are in: what the author must
    #: publish again to resolve it (empty once resolved).
    slots: tuple[tuple[str, str], ...] = ()


def forks(db: sqlite_utils.Database) -> list[Fork]:
    """Every fork seen, resolved or not (the proofs of resolved ones are history)."""
    rows = db.conn.execute("SELECT author, version, first_id, second_id, detected_ms, "
                           "resolved_ms FROM forks ORDER BY detected_ms, author, version")
    out = []
    for author, version, first, second, detected, resolved in rows.fetchall():
        slots = tuple(db.conn.execute(
            "SELECT DISTINCT family, key FROM entries WHERE +author = ? AND version = ? "
            "AND fork_proof = 1 ORDER BY family, key", (author, version)).fetchall())
        out.append(Fork(author, version, first, second, detected, resolved, slots))
    return out


def forked_authors(db: sqlite_utils.Database) -> list[bytes]:
    """Authors flagged for a fork not yet resolved (views leave them out)."""
    return [row[0] for row in db.conn.execute(
        "SELECT DISTINCT author FROM forks WHERE resolved_ms IS NULL ORDER BY author")]


def delete_author_entries(db: sqlite_utils.Database, author: bytes, *,
                          keep_membership: bool = True) -> int:
    """Drop the entries by ``author`` (a node being blocked); returns how many.

    Blocking is local to each node (DESIGN.md "Membership"), so by default
    the node's genesis and admissions stay: nobody's membership changes
    because one node blocked another. With ``keep_membership=False`` they go
    too, and so does everyone whose membership ran only through them, with
    their entries (rule 3 of :mod:`node.store.membership`).
    """
    with write_transaction(db) as conn:
        if keep_membership:
            for seq, title, text in conn.execute(
                    "SELECT s.entry_seq, s.title, s.text FROM summaries AS s "
                    "JOIN entries AS e ON e.seq = s.entry_seq WHERE e.author = ?",
                    (author,)).fetchall():
                conn.execute(_UNINDEX, (seq, title, text))
            deleted = conn.execute(
                "DELETE FROM entries WHERE author = ? AND family NOT IN ('genesis', 'admit') "
                "RETURNING length(payload) + length(sig)", (author,)).fetchall()
            if deleted:
                conn.execute("UPDATE author_usage SET entries = entries - ?, bytes = bytes - ? "
                             "WHERE author = ?",
                             (len(deleted), sum(r[0] for r in deleted), author))
            count = len(deleted)
        else:
            count = _delete_author_rows(conn, author)
            membership = members.load_membership(conn)
            me = conn.execute("SELECT node_id FROM node_state").fetchone()[0]
            before = {r[0] for r in conn.execute("SELECT node_id FROM members")}
            for node in sorted(before - set(membership.nodes)):
                if node != me:
                    count += _delete_author_rows(conn, node)
                membership.forget(node)
            members.save_members(db, membership)
        if count:
            bump_entries_generation(conn)
    return count


def entries_generation(db: sqlite_utils.Database) -> int:
    """A number that changes whenever the set of current entries changes."""
    row = db.execute("SELECT value FROM entries_generation").fetchone()
    return int(row[0]) if row else 0


def bump_entries_generation(conn: sqlite3.Connection) -> None:
    """Mark the set of current entries as changed (call inside the changing transaction)."""
    conn.execute("UPDATE entries_generation SET value = value + 1")
