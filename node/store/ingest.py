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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlite_utils

from protocol import (
    Entry,
    EntryError,
    SignedEntry,
    Verdict,
    VerifiedEntry,
    decode,
    judge,
    short_id,
    verify_entries,
)

from ..errors import InvalidInput
from .connection import write_transaction
from .node_state import raise_highest_own_version
from .search import summary_of

__all__ = [
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
#: Most ids one :func:`get_entries` call looks up.
MAX_FETCH_IDS = 10_000
#: How far ahead of this node's clock another node's entry version may be (DESIGN.md
#: "Limits": a version may not be more than an hour ahead of the receiver's clock). A
#: later one would hold its slot against every honest update until the clock caught
#: up; it is refused now, and accepted from a later sync once it is no longer ahead.
MAX_VERSION_AHEAD_MS = 3600 * 1000
_IN_CHUNK = 500


class IngestStatus(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"
    FORK = "fork"
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
_DELETE_OLDER = f"DELETE FROM entries WHERE {_OLDER}"
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
_RECORD_FORK = "INSERT OR IGNORE INTO forks VALUES (?, ?, ?, ?, ?)"

_ACCEPTED, _DUPLICATE, _STALE, _FORK = (IngestStatus.ACCEPTED, IngestStatus.DUPLICATE,
                                        IngestStatus.STALE, IngestStatus.FORK)
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


class _Batch:
    """One batch being stored, inside its transaction, a chunk at a time.

    An entry's lookup is answered for its whole chunk before any of the
    chunk is written. That answer is what a lookup just before the entry
    would see unless an earlier entry of the chunk was stored in the same
    slot or with the same (author, version), or deleted or marked entries
    of the same author: only then is the entry looked up again, after the
    rows so far are written. So the outcomes are those of judging the
    entries one by one, in order.
    """

    def __init__(self, conn: sqlite3.Connection, now_ms: int,
                 refuse_authors: frozenset[bytes], newest_version: int | None = None) -> None:
        self.conn = conn
        self.now_ms = now_ms
        self.newest_version = newest_version
        self.refuse_authors = refuse_authors
        self.me: bytes = conn.execute("SELECT node_id FROM node_state").fetchone()[0]
        # What SQLite would give the next row; counted on from there.
        self.next_seq: int = conn.execute(_NEXT_SEQ).fetchone()[0]
        self.outcomes: list[Outcome] = []
        self.own_highest = 0
        # Rows of the current chunk not yet inserted; their seqs are above
        # every seq held, so their summaries are found by seq (_INDEX_SUMMARIES).
        self.rows: list[tuple[int, *tuple[object, ...]]] = []
        # Their summary rows, in the same order.
        self.summaries: list[tuple[int, bytes, str, str, str, str]] = []

    def _look_up(self, entries: Sequence[VerifiedEntry], families: Sequence[str]
                 ) -> dict[int, tuple[int | None, int | None, bytes | None]]:
        if not entries:
            return {}
        params: list[object] = []
        for i, (item, family) in enumerate(zip(entries, families, strict=True)):
            entry = item.entry
            params += (i, entry.author, family, entry.key, entry.version, item.id)
        (found,) = self.conn.execute(_rows_sql(_LOOKUP_CHUNK, 6, len(entries)),
                                     params).fetchone()
        # hex(NULL) is ''; an id is never empty.
        return {i: (current, held, bytes.fromhex(other) if other else None)
                for i, current, held, other in json.loads(found)}

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

    def add(self, chunk: Sequence[Checked]) -> None:
        """Judge and store a chunk (at most _STORE_CHUNK items), in order."""
        refuse, me, conn, now_ms = self.refuse_authors, self.me, self.conn, self.now_ms
        append, rows, summaries = self.outcomes.append, self.rows, self.summaries
        entries = [item for item in chunk
                   if not isinstance(item, Outcome) and item.entry.author not in refuse]
        families = ["practice" if item.entry.kind == "retract" else item.entry.kind
                    for item in entries]
        found = self._look_up(entries, families)
        # What earlier entries of this chunk changed (see the class doc).
        slots: set[tuple[bytes, str, str]] = set()
        versions: set[tuple[bytes, int]] = set()
        changed: set[bytes] = set()
        n = -1
        for item in chunk:
            if isinstance(item, Outcome):
                append(item)
                continue
            entry, eid = item.entry, item.id
            author, version, kind, key = entry.author, entry.version, entry.kind, entry.key
            if author in refuse:
                append(Outcome(eid, IngestStatus.REJECTED, "blocked",
                               "entries by this node are blocked here"))
                continue
            n += 1
            family = families[n]
            own = author == me
            if not own and self.newest_version is not None and version > self.newest_version:
                append(Outcome(eid, IngestStatus.REJECTED, "version_ahead",
                               "its version is more than an hour ahead of this node's clock"))
                continue
            if own and version > self.own_highest:
                self.own_highest = version
            slot = (author, family, key)
            if slot in slots or (author, version) in versions or author in changed:
                # An earlier entry of this chunk may have changed the answer:
                # write the rows so far and ask again for this entry alone.
                self._write_rows()
                current, held, other = self._look_up([item], [family]).get(0, _NOT_HELD)
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
            slots.add(slot)
            versions.add((author, version))
            fork = verdict is Verdict.FORK
            if current is not None and current < version:
                # Only entries of this slot go, and none of this chunk's
                # unwritten rows is in it (else this entry was looked up again).
                changed.add(author)
                older = (author, family, key, version)
                for row in conn.execute(_OLDER_SUMMARIES, older).fetchall():
                    conn.execute(_UNINDEX, row)
                conn.execute(_DELETE_OLDER, older)
                # SQLite would now give the next row max(seq) + 1, the seq of
                # a row just deleted if it was the highest; node.views counts
                # on no more than that, and neither do we.
                top: int = conn.execute(_NEXT_SEQ).fetchone()[0]
                self.next_seq = max(top, rows[-1][0] + 1) if rows else top
            seq = self.next_seq
            self.next_seq += 1
            rows.append((seq, eid, version, author, kind, family, key, item.signed.payload,
                         item.signed.sig, now_ms, int(fork)))
            summary = summary_of(kind, entry.body)
            if summary is not None:
                summaries.append((seq, author, kind, key, summary[0], summary[1]))
            if fork:
                # Rule 4: both entries are proof; neither may be superseded
                # away. The new one is written as proof already.
                changed.add(author)
                conn.execute(_MARK_FORK, (author, version))
                conn.execute(_RECORD_FORK, (author, version, other, eid, now_ms))
                log.warning("fork: node %s signed two entries with version %d; both kept "
                            "as proof and the node is flagged", short_id(author), version)
                append(Outcome(eid, _FORK, own=own))
            else:
                append(Outcome(eid, _ACCEPTED, own=own))
        self._write_rows()

    def finish(self) -> None:
        """Note what changed."""
        conn = self.conn
        if any(o.stored for o in self.outcomes):
            # The reconciliation set changed (node/syncset.py caches it by this counter).
            bump_entries_generation(conn)
        if self.own_highest:
            raise_highest_own_version(conn, self.own_highest)


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
                 checkpoint_first: bool = False, from_peer: bool = False) -> list[Outcome]:
    """:func:`store_checked` for a batch given in chunks, as they are verified.

    ``from_peer``: the batch came from a peer, so another node's entry whose
    version is more than :data:`MAX_VERSION_AHEAD_MS` ahead of ``now_ms`` is
    rejected (a verifiable export, checked offline, has no such clock).

    The store verifies in chunks on a pool of threads and hands them over
    in order; ``chunks`` is consumed inside the transaction.

    ``checkpoint_first``: checkpoint the WAL (passively: readers are never
    waited for) before the batch, while its first chunk is being verified.
    """
    if checkpoint_first and not db.conn.in_transaction:
        db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    with write_transaction(db) as conn:
        batch = _Batch(conn, now_ms, refuse_authors,
                       now_ms + MAX_VERSION_AHEAD_MS if from_peer else None)
        count = 0
        parts = iter(chunks)
        for chunk in parts:
            count += len(chunk)
            if count > MAX_BATCH_ENTRIES:
                raise _too_many(count + sum(len(rest) for rest in parts))
            for start in range(0, len(chunk), _STORE_CHUNK):
                batch.add(chunk[start:start + _STORE_CHUNK])
        batch.finish()
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
    """The current entry in the slot of (author, kind, key): for a retracted
    practice, that is the ``retract`` entry."""
    family = "practice" if kind == "retract" else kind
    row = db.conn.execute(
        f"SELECT {_STORED_COLUMNS} FROM entries WHERE author = ? AND family = ? AND key = ? "
        "ORDER BY version DESC LIMIT 1", (author, family, key)).fetchone()
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


def forks(db: sqlite_utils.Database) -> list[Fork]:
    rows = db.conn.execute("SELECT author, version, first_id, second_id, detected_ms "
                           "FROM forks ORDER BY detected_ms, author, version")
    return [Fork(*row) for row in rows]


def forked_authors(db: sqlite_utils.Database) -> list[bytes]:
    """Authors flagged for a fork (derived from ``forks``; views leave them out)."""
    return [row[0] for row in
            db.conn.execute("SELECT DISTINCT author FROM forks ORDER BY author")]


def delete_author_entries(db: sqlite_utils.Database, author: bytes) -> int:
    """Drop every entry by ``author`` (a node being blocked); returns how many."""
    with write_transaction(db) as conn:
        for seq, title, text in conn.execute(
                "SELECT s.entry_seq, s.title, s.text FROM summaries AS s "
                "JOIN entries AS e ON e.seq = s.entry_seq WHERE e.author = ?",
                (author,)).fetchall():
            conn.execute(_UNINDEX, (seq, title, text))
        deleted = conn.execute("DELETE FROM entries WHERE author = ?", (author,)).rowcount
        if deleted:
            bump_entries_generation(conn)
    return int(deleted)


def entries_generation(db: sqlite_utils.Database) -> int:
    """A number that changes whenever the set of current entries changes."""
    row = db.execute("SELECT value FROM entries_generation").fetchone()
    return int(row[0]) if row else 0


def bump_entries_generation(conn: sqlite3.Connection) -> None:
    """Mark the set of current entries as changed (call inside the changing transaction)."""
    conn.execute("UPDATE entries_generation SET value = value + 1")
