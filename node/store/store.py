"""The node store: everything a node keeps, behind one async object.

:class:`Store` is what the CLI, the web pages and the sync layer use. Each
method is a thin call of one synchronous SQL function (node/store/records.py,
sharing.py, feed.py, organisation.py, ingest.py, backup.py) through the
:class:`node.store.database.Database` facade, with the time taken from the
store's clock (inject one in tests) and the node's key added where a
function signs.

Ingest verifies signatures on a small pool of threads, in chunks, and the
writer thread stores each chunk in the batch's one transaction as soon as it
is verified: Ed25519 verification and SQLite both release the GIL, so the
chunks of a batch verify at once and storing overlaps verifying. A writer
with nothing to store yet verifies a chunk itself rather than wait. Several
:meth:`Store.ingest` calls may be in flight together; one batch then
verifies while another is stored and committed.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from protocol import Entry, Invitation, NodeKey, SignedEntry

from ..errors import InvalidInput
from . import (
    backup,
    blocklist,
    feed,
    ingest,
    known_nodes,
    membership,
    node_state,
    organisation,
    records,
    search,
    sharing,
)
from .database import Database
from .datadir import CONFIG_FILE, check_owner, locate_node
from .ingest import Checked, Fork, Outcome, StoredEntry
from .node_state import NodeState
from .organisation import Organisation
from .records import (
    Adaptation,
    Lesson,
    Measure,
    Observation,
    Practice,
    PracticeRecord,
    Voice,
)
from .search import SummaryHit
from .sharing import SharePolicy

__all__ = ["Clock", "Store", "wall_clock_ms"]

Clock = Callable[[], int]
#: Below this many entries a batch is verified in one piece.
_PARALLEL_FROM = 64
#: Most entries per verification chunk: small enough that storing starts
#: early, large enough that handing chunks between threads costs little.
#: (50 left the writer less to store after the last chunk was verified, but
#: cost more CPU for the batch than that saved: no faster, measured.)
_VERIFY_CHUNK = 100
#: The first chunk is small, so that the writer starts early; so are the
#: last two, so that the threads verifying them (the writer too) finish at
#: about the same time and the writer, which commits only after the last
#: chunk, is soon done.
_EDGE_CHUNK = 25
#: Entries stored between two checkpoints of the WAL (see :meth:`Store.ingest`).
_CHECKPOINT_ENTRIES = 3000


def _chunk_edges(n: int) -> list[int]:
    """Where the verification chunks of a batch of ``n`` entries start, and ``n``."""
    if n < _PARALLEL_FROM:
        return [0, n] if n else [0]
    edge = min(_EDGE_CHUNK, n // 4)
    middle = n - 3 * edge
    parts = -(-middle // _VERIFY_CHUNK)
    return [0, *(edge + middle * i // parts for i in range(parts + 1)), n - edge, n]


def _in_order(parts: list[Future[list[Checked]] | None], chunks: Sequence[Sequence[SignedEntry]],
              network: bytes) -> Iterator[list[Checked]]:
    """The verified chunks of a batch, in order, each as soon as it is ready.

    Runs on the writer thread. When the next chunk is not verified yet, the
    writer does not wait idle: it verifies the first chunk that no verifier
    has started (taking it off the pool) and carries on. With one batch in
    flight the verifiers would otherwise share the CPUs with a writer that
    mostly waits, and the batch's last chunks would start later.

    Each chunk's future is dropped once its chunk is handed over, so a
    stored chunk is freed while later ones verify: freeing a whole batch of
    decoded entries at once, after the commit, kept the outcomes waiting
    (about 2 ms a batch, measured).
    """
    stolen: dict[int, list[Checked]] = {}
    for k, part in enumerate(parts):
        assert part is not None
        while k not in stolen and not part.done():
            for j in range(k, len(parts)):
                other = parts[j]
                # Not one the caller cancelled (it gave up on the batch):
                # waiting for that one rolls the batch back, as it should.
                if (j not in stolen and other is not None and not other.cancelled()
                        and other.cancel()):
                    stolen[j] = ingest.verify_batch(chunks[j], network)
                    break
            else:
                break  # every chunk left is being verified: wait for this one
        parts[k] = None
        chunk = stolen.pop(k) if k in stolen else part.result()
        del part
        yield chunk


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch, from the system clock."""
    return time.time_ns() // 1_000_000


class Store:
    """A node's database, key and clock. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, data_dir: Path, key: NodeKey, state: NodeState, db: Database,
                 clock: Clock, verify_workers: int) -> None:
        self.data_dir = data_dir
        self.key = key
        self.network = state.network
        self.db = db
        self._clock = clock
        self._verify_workers = verify_workers
        self._verifier = ThreadPoolExecutor(verify_workers, thread_name_prefix="hedgerow-verify")
        self._since_checkpoint = 0

    @classmethod
    async def open(cls, data_dir: Path, *, clock: Clock = wall_clock_ms,
                   verify_workers: int | None = None) -> Store:
        """Open the node in ``data_dir`` (created by :func:`node.init_node`).

        ``verify_workers`` threads verify signatures (default: the CPUs, up to 4).

        Refuses an insecure key file (:class:`KeyFileInsecure`), a damaged
        database (:class:`CorruptDatabase`) and a database of another node.
        """
        data_dir = Path(data_dir)
        key, path = locate_node(data_dir)
        db = await Database.open(path)
        try:
            state = await db.read(node_state.read_node_state)
            check_owner(state, key, data_dir)
        except BaseException:
            await db.close()
            raise
        workers = verify_workers or min(4, os.cpu_count() or 1)
        return cls(data_dir, key, state, db, clock, workers)

    async def close(self) -> None:
        try:
            await self.db.close()
        finally:
            self._verifier.shutdown()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def now_ms(self) -> int:
        return self._clock()

    @property
    def node_id(self) -> bytes:
        return self.key.public

    @property
    def verify_workers(self) -> int:
        """How many threads verify signatures during ingest."""
        return self._verify_workers

    # --- private practice records ---------------------------------------------------

    async def create_practice(self, fields: Mapping[str, Any]) -> Practice:
        return await self.db.write(records.create_practice, fields, now_ms=self.now_ms())

    async def get_practice(self, key: str) -> PracticeRecord:
        return await self.db.read(records.get_practice, key)

    async def update_practice(self, key: str, changes: Mapping[str, Any]) -> Practice:
        return await self.db.write(records.update_practice, key, changes, now_ms=self.now_ms())

    async def delete_practice(self, key: str) -> None:
        await self.db.write(records.delete_practice, key)

    async def list_practices(self) -> list[Practice]:
        return await self.db.read(records.list_practices)

    async def search_practices(self, query: str, *, limit: int = 20) -> list[Practice]:
        return await self.db.read(records.search_practices, query, limit=limit)

    async def add_measure(self, practice_key: str, fields: Mapping[str, Any]) -> Measure:
        return await self.db.write(records.add_measure, practice_key, fields,
                                   now_ms=self.now_ms())

    async def update_measure(self, measure_id: int, changes: Mapping[str, Any]) -> Measure:
        return await self.db.write(records.update_measure, measure_id, changes,
                                   now_ms=self.now_ms())

    async def delete_measure(self, measure_id: int) -> None:
        await self.db.write(records.delete_measure, measure_id, now_ms=self.now_ms())

    async def record_observation(self, measure_id: int,
                                 fields: Mapping[str, Any]) -> Observation:
        return await self.db.write(records.record_observation, measure_id, fields,
                                   now_ms=self.now_ms())

    async def list_observations(self, measure_id: int, *, limit: int = 1000,
                                offset: int = 0) -> list[Observation]:
        return await self.db.read(records.list_observations, measure_id, limit=limit,
                                  offset=offset)

    async def delete_observation(self, observation_id: int) -> None:
        await self.db.write(records.delete_observation, observation_id)

    async def add_voice(self, practice_key: str, fields: Mapping[str, Any]) -> Voice:
        return await self.db.write(records.add_voice, practice_key, fields,
                                   now_ms=self.now_ms())

    async def delete_voice(self, voice_id: int) -> None:
        await self.db.write(records.delete_voice, voice_id)

    async def add_lesson(self, practice_key: str, text: str) -> Lesson:
        return await self.db.write(records.add_lesson, practice_key, text,
                                   now_ms=self.now_ms())

    async def update_lesson(self, lesson_id: int, text: str) -> Lesson:
        return await self.db.write(records.update_lesson, lesson_id, text, now_ms=self.now_ms())

    async def delete_lesson(self, lesson_id: int) -> None:
        await self.db.write(records.delete_lesson, lesson_id)

    async def add_adaptation(self, practice_key: str, author: bytes, key: str, *,
                             note: str = "") -> Adaptation:
        return await self.db.write(records.add_adaptation, practice_key, author, key,
                                   note=note, now_ms=self.now_ms())

    async def delete_adaptation(self, adaptation_id: int) -> None:
        await self.db.write(records.delete_adaptation, adaptation_id)

    # --- share policy and the node's own feed ---------------------------------------

    async def get_share_policy(self, practice_key: str) -> SharePolicy:
        return await self.db.read(sharing.get_share_policy, practice_key)

    async def set_share_policy(self, practice_key: str, policy: SharePolicy) -> SharePolicy:
        return await self.db.write(sharing.set_share_policy, practice_key, policy,
                                   now_ms=self.now_ms())

    async def preview_practice(self, practice_key: str, *, now_ms: int | None = None) -> Entry:
        """Exactly the entry :meth:`publish_practice` would sign (at ``now_ms``)."""
        return await self.db.read(feed.preview_practice, self.key, practice_key,
                                  now_ms=self.now_ms() if now_ms is None else now_ms)

    async def publish_practice(self, practice_key: str, *,
                               previewed: str | None = None) -> SignedEntry:
        """Sign and store the summary; with ``previewed``, only if it is what was previewed."""
        return await self.db.write(feed.publish_practice, self.key, practice_key,
                                   now_ms=self.now_ms(), previewed=previewed)

    async def retract_practice(self, practice_key: str, *, reason: str = "") -> SignedEntry:
        return await self.db.write(feed.retract_practice, self.key, practice_key,
                                   reason=reason, now_ms=self.now_ms())

    async def publish_credit(self, to: bytes, practice: str, *, note: str = "",
                             anyway: bool = False) -> SignedEntry:
        """Credit ``to`` for ``practice``; refused if never seen here, unless ``anyway``."""
        return await self.db.write(feed.publish_credit, self.key, to=to, practice=practice,
                                   note=note, anyway=anyway, now_ms=self.now_ms())

    async def get_organisation(self) -> Organisation:
        return await self.db.read(organisation.get_organisation)

    async def update_organisation(self, changes: Mapping[str, Any]) -> Organisation:
        return await self.db.write(organisation.update_organisation, changes,
                                   now_ms=self.now_ms())

    async def preview_profile(self, *, now_ms: int | None = None) -> Entry:
        return await self.db.read(feed.preview_profile, self.key,
                                  now_ms=self.now_ms() if now_ms is None else now_ms)

    async def publish_profile(self) -> SignedEntry:
        return await self.db.write(feed.publish_profile, self.key, now_ms=self.now_ms())

    async def republish_profile_if_changed(self) -> SignedEntry | None:
        """Publish the profile again if what it would say changed (its addresses, say)."""
        return await self.db.write(feed.republish_profile_if_changed, self.key,
                                   now_ms=self.now_ms())

    async def withdraw(self, kind: str, key: str, *, reason: str = "") -> SignedEntry:
        """Withdraw one of this node's entries (a practice, credit, profile or admission)."""
        return await self.db.write(feed.withdraw, self.key, kind, key, reason=reason,
                                   now_ms=self.now_ms())

    async def withdraw_credit(self, to: bytes, practice: str, *,
                              reason: str = "") -> SignedEntry:
        """Withdraw this node's credit of ``to`` for ``practice``; it spreads like any entry."""
        return await self.db.write(feed.withdraw_credit, self.key, to, practice, reason=reason,
                                   now_ms=self.now_ms())

    async def leave_preview(self) -> list[tuple[str, str]]:
        """What leaving the network withdraws: the (kind, key) of each entry."""
        return await self.db.read(feed.leave_preview, self.key)

    async def leave(self, *, reason: str = "") -> list[SignedEntry]:
        """Withdraw this node's profile, practices and credits; its admissions stay valid."""
        out = []
        for kind, key in await self.leave_preview():
            out.append(await self.withdraw(kind, key, reason=reason))
        return out

    # --- membership ------------------------------------------------------------------

    async def admit(self, node: bytes, *, note: str = "") -> SignedEntry:
        """Admit ``node`` to the network (a signed ``admit`` entry)."""
        return await self.db.write(feed.publish_admission, self.key, node, note=note,
                                   now_ms=self.now_ms())

    async def withdrawal_preview(self, node: bytes) -> set[bytes]:
        """The nodes whose membership ends if this node withdraws its admission of ``node``."""
        return await self.db.read(feed.withdrawal_preview_of, self.node_id, node)

    async def withdraw_admission(self, node: bytes, *, reason: str = "") -> SignedEntry:
        return await self.db.write(feed.withdraw_admission, self.key, node, reason=reason,
                                   now_ms=self.now_ms())

    async def members(self) -> list[membership.MemberRow]:
        return await self.db.read(membership.list_members)

    async def member_ids(self) -> tuple[int, frozenset[bytes]]:
        """The membership generation and the members' ids (for the sync server's door)."""
        return await self.db.read(membership.member_ids)

    async def membership_generation(self) -> int:
        return await self.db.read(membership.membership_generation)

    async def is_member(self, node: bytes | None = None) -> bool:
        """Whether ``node`` (default: this node) is a member of the network."""
        _, ids = await self.member_ids()
        return (self.node_id if node is None else node) in ids

    async def pending_ids(self) -> frozenset[bytes]:
        return await self.db.read(membership.pending_ids)

    async def prune_pending(self) -> int:
        return await self.db.write(membership.prune_pending, now_ms=self.now_ms())

    async def create_invitation(self, address: str, *, uses: int = 1,
                                days: float = membership.DEFAULT_INVITATION_DAYS,
                                note: str = "") -> Invitation:
        await self._refuse_unless_member()
        return await self.db.write(membership.create_invitation, network=self.network,
                                   inviter=self.node_id, address=address, now_ms=self.now_ms(),
                                   uses=uses, days=days, note=note)

    async def _refuse_unless_member(self) -> None:
        await self.db.read(feed.refuse_unless_member, self.node_id)

    async def invitations(self) -> list[membership.InvitationRow]:
        return await self.db.read(membership.list_invitations)

    async def withdraw_invitation(self, text: str) -> bytes:
        return await self.db.write(membership.withdraw_invitation, text, now_ms=self.now_ms())

    async def accept_join(self, invitation: bytes, node: bytes, proof: bytes
                          ) -> list[SignedEntry]:
        """Admit a node that proved it holds one of this node's invitations."""
        return await self.db.write(feed.accept_join, self.key, invitation=invitation, node=node,
                                   proof=proof, now_ms=self.now_ms())

    async def joining(self) -> membership.Joining | None:
        return await self.db.read(membership.joining)

    async def record_joining(self, code: str, inviter: bytes, address: str) -> None:
        await self.db.write(membership.record_joining, code=code, inviter=inviter,
                            address=address, now_ms=self.now_ms())

    async def record_joining_error(self, error: str, *, joined: bool = False) -> None:
        await self.db.write(membership.record_joining_error, error,
                            joined_ms=self.now_ms() if joined else None)

    # --- received entries, and what the sync layer needs ----------------------------

    async def ingest(self, batch: Sequence[SignedEntry], *,
                     refuse_authors: frozenset[bytes] = frozenset()) -> list[Outcome]:
        """Verify and store a batch from a peer in one transaction; an outcome per entry.

        Entries by ``refuse_authors`` (blocked nodes) are rejected.
        """
        if len(batch) > ingest.MAX_BATCH_ENTRIES:
            raise InvalidInput(f"a batch holds at most {ingest.MAX_BATCH_ENTRIES} entries, "
                               f"not {len(batch)}", field="batch")
        # Verification runs on the pool in chunks, in order; the writer
        # stores each chunk as soon as it is verified, in the one transaction
        # of the batch, and verifies chunks itself while it has none to store.
        # Storing (SQLite, fsync) releases the GIL, so the first chunks are
        # being stored while the later ones still verify.
        n = len(batch)
        network, verifier = self.network, self._verifier
        chunks = [batch[start:end] for start, end in itertools.pairwise(_chunk_edges(n))]
        parts: list[Future[list[Checked]] | None] = [
            verifier.submit(ingest.verify_batch, chunk, network) for chunk in chunks]
        # The WAL is checkpointed before a batch rather than inside the commit
        # that fills it (SQLite's automatic checkpoint): then the copying and
        # its fsync overlap verification of the batch instead of delaying the
        # outcomes of the last one. Often enough to stay below the automatic
        # threshold, which remains the backstop.
        checkpoint = self._since_checkpoint >= _CHECKPOINT_ENTRIES
        self._since_checkpoint = n if checkpoint else self._since_checkpoint + n
        try:
            return await self.db.write(ingest.store_chunks, _in_order(parts, chunks, network),
                                       now_ms=self.now_ms(), refuse_authors=refuse_authors,
                                       checkpoint_first=checkpoint)
        finally:
            for part in parts:
                if part is not None:
                    part.cancel()  # only those never started: the store did not get that far

    async def block_author(self, node_id: bytes, *, note: str = "",
                           with_admitted: bool = False) -> list[bytes]:
        """Block a node: drop its entries and learned addresses; refuse it from now on.

        Its genesis and admissions stay, so blocking changes nobody's
        membership (blocking is local). ``with_admitted``: also block every
        node whose membership runs only through it, and drop all of theirs.
        Returns the nodes blocked.
        """
        if node_id == self.key.public:
            raise InvalidInput("a node cannot block itself", field="node")
        blocked = [node_id]
        if with_admitted:
            blocked += sorted(await self.db.read(feed.dependants_of, node_id) - {self.node_id})
        for node in blocked:
            await self.db.write(blocklist.block_node, node, now_ms=self.now_ms(), note=note)
        await self.db.write(ingest.delete_author_entries, node_id,
                            keep_membership=not with_admitted)
        return blocked

    async def current_set(self) -> list[tuple[int, bytes]]:
        """Every current entry as (version, id), sorted for Negentropy."""
        return await self.db.read(ingest.current_set)

    async def get_entries(self, ids: Sequence[bytes]) -> list[SignedEntry]:
        return await self.db.read(ingest.get_entries, ids)

    async def current_entry(self, author: bytes, kind: str, key: str) -> StoredEntry | None:
        return await self.db.read(ingest.current_entry, author, kind, key)

    async def current_entries(self, *, kind: str | None = None, author: bytes | None = None,
                              limit: int = 1000, offset: int = 0) -> list[StoredEntry]:
        return await self.db.read(ingest.current_entries, kind=kind, author=author,
                                  limit=limit, offset=offset)

    async def resolve_node(self, text: str, *, field: str = "node") -> bytes:
        """The node ``text`` names: a whole id, or the unambiguous start of a known one."""
        return await self.db.read(known_nodes.resolve_node, text, field=field)

    async def forks(self) -> list[Fork]:
        return await self.db.read(ingest.forks)

    async def forked_authors(self) -> list[bytes]:
        return await self.db.read(ingest.forked_authors)

    async def search_summaries(self, query: str, *, limit: int = 20) -> list[SummaryHit]:
        return await self.db.read(search.search_summaries, query, limit=limit)

    async def own_entry_count(self) -> int:
        return await self.db.read(feed.own_entry_count, self.node_id)

    async def own_highest_version(self) -> int:
        return await self.db.read(feed.own_highest_version)

    async def state(self) -> NodeState:
        return await self.db.read(node_state.read_node_state)

    async def needs_catch_up(self) -> bool:
        return (await self.state()).needs_catch_up

    async def mark_caught_up(self, why: str = "a person said so") -> None:
        """The node holds its latest own entries again (a person says so)."""
        await self.db.write(node_state.mark_caught_up, why)

    async def catch_up_progress(self) -> node_state.CatchUp:
        return await self.db.read(node_state.read_catch_up)

    async def record_catch_up_session(self, peer: str, *, held_own: bool,
                                      peers_known: int) -> str | None:
        """Count a completed session of a restored node; returns why it was released, if it was."""
        return await self.db.write(node_state.record_catch_up_session, peer, held_own=held_own,
                                   peers_known=peers_known, now_ms=self.now_ms())

    async def announced(self) -> node_state.Announced:
        """What the running node puts in its profile (public_url or where it listens)."""
        return await self.db.read(node_state.read_announced)

    async def set_announced(self, addresses: Sequence[str], why: str,
                            listening: Sequence[str]) -> bool:
        """Remember the addresses to announce; True if they changed."""
        return await self.db.write(node_state.write_announced, addresses, why, listening)

    async def adopt_network(self, network: bytes) -> None:
        """Move a node that has never signed nor held an entry into ``network``."""
        await self.db.write(node_state.adopt_network, network)
        self.network = network

    # --- maintenance ------------------------------------------------------------------

    async def backup(self, target: Path, *, check: bool = False) -> int:
        """Write a backup to ``target`` while the node runs: the database and settings files.

        With ``check``, the copy passes ``integrity_check`` before it is named
        ``target``. Returns its size in bytes.
        """
        files = backup.read_settings_files(self.data_dir)
        return await self.db.read(backup.backup_to, Path(target), files=files, check=check)

    async def restore(self, source: Path) -> list[str]:
        """Replace the database with a backup; publishing waits until the node catches up.

        The backup's ``hedgerow.toml`` comes back too (it takes effect when the
        node next starts); the admin login in use stays as it is. Returns the
        settings files written.
        """
        files = await self.db.write(backup.restore_from, Path(source), now_ms=self.now_ms())
        return backup.restore_settings_files(self.data_dir, files, names=(CONFIG_FILE,))
