"""The node database's schema, as versioned migrations (sqlite-utils' ``Migrations``).

Every change to the schema is a new migration appended at the end; a
migration that has shipped is never edited. :func:`node.store.connection.open_database`
applies whatever is pending, each migration in its own transaction, so a
node upgraded in place migrates its existing database forward on start.

Tables (one database per node, in its data directory next to its key file):

* ``node_state`` — one row: this node's id and network, the highest version
  it has used or seen of itself (the hybrid logical clock's memory) and the
  ``needs_catch_up`` flag set by a restore.
* ``organisation`` — one row: the organisation's profile as the group typed it.
* ``entries`` — every *current* signed entry, own and received, as the exact
  bytes that were signed. This is the set reconciliation runs over; an
  entry replaced by a newer version in its slot is deleted. ``fork_proof``
  marks entries that prove a fork: they are never deleted by supersession.
* ``forks`` — one row per detected fork (author, version, the two ids).
* private practice records (never leave the node): ``practices``,
  ``measures``, ``observations``, ``voices``, ``lessons``, ``adaptations``.
* the share policy: ``share_policies`` (which fields), ``shared_lessons`` and
  ``shared_measures`` (which lessons and measures, and how aggregated).
* ``summaries`` + ``summaries_fts`` — the text of current practice, profile
  and credit entries, indexed with FTS5; ``practices_fts`` over private
  records for the group's own search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import decode

from .migrations import Migrations
from .search import summary_of

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["MIGRATIONS"]

MIGRATIONS = Migrations("hedgerow")


@MIGRATIONS(name="m001_node_and_entries")
def _node_and_entries(db: sqlite_utils.Database) -> None:
    db.executescript("""
        CREATE TABLE node_state (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
            node_id BLOB NOT NULL CHECK (length(node_id) = 32),
            network BLOB NOT NULL CHECK (length(network) = 32),
            created_ms INTEGER NOT NULL,
            highest_own_version INTEGER NOT NULL DEFAULT 0,
            needs_catch_up INTEGER NOT NULL DEFAULT 0,
            restored_ms INTEGER
        );
        CREATE TABLE organisation (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
            name TEXT NOT NULL DEFAULT '',
            level TEXT,
            area TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            principles TEXT NOT NULL DEFAULT '[]',
            addresses TEXT NOT NULL DEFAULT '[]',
            org_id TEXT,
            updated_ms INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE entries (
            seq INTEGER PRIMARY KEY,
            id BLOB NOT NULL UNIQUE,
            version INTEGER NOT NULL,
            author BLOB NOT NULL,
            kind TEXT NOT NULL,
            family TEXT NOT NULL,
            key TEXT NOT NULL,
            payload BLOB NOT NULL,
            sig BLOB NOT NULL,
            received_ms INTEGER NOT NULL,
            fork_proof INTEGER NOT NULL DEFAULT 0
        );
        -- Covering index: the current set in reconciliation order, read
        -- without touching the table (Negentropy items are (version, id)).
        CREATE INDEX entries_by_version ON entries (version, id);
        -- The slot lookup of the current-version rule (protocol.versions rule 3).
        CREATE INDEX entries_by_slot ON entries (author, family, key, version);
        -- The fork lookup: another entry by this author with this version (rule 4).
        CREATE INDEX entries_by_author_version ON entries (author, version);
        CREATE TABLE forks (
            author BLOB NOT NULL,
            version INTEGER NOT NULL,
            first_id BLOB NOT NULL,
            second_id BLOB NOT NULL,
            detected_ms INTEGER NOT NULL,
            PRIMARY KEY (author, version, second_id)
        );
    """)


@MIGRATIONS(name="m002_practice_records")
def _practice_records(db: sqlite_utils.Database) -> None:
    db.executescript("""
        CREATE TABLE practices (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            themes TEXT NOT NULL DEFAULT '[]',
            level TEXT,
            area TEXT NOT NULL DEFAULT '',
            since TEXT,
            context TEXT NOT NULL DEFAULT '',
            community TEXT NOT NULL DEFAULT '',
            run_by TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE TABLE measures (
            id INTEGER PRIMARY KEY,
            practice_id INTEGER NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            unit TEXT NOT NULL DEFAULT '',
            defined_by TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            created_ms INTEGER NOT NULL,
            UNIQUE (practice_id, name)
        );
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            measure_id INTEGER NOT NULL REFERENCES measures (id) ON DELETE CASCADE,
            observed_on TEXT NOT NULL,
            value INTEGER NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            created_ms INTEGER NOT NULL
        );
        CREATE INDEX observations_by_measure ON observations (measure_id, observed_on);
        CREATE TABLE voices (
            id INTEGER PRIMARY KEY,
            practice_id INTEGER NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
            speaker TEXT NOT NULL DEFAULT '',
            quote TEXT NOT NULL,
            recorded_on TEXT,
            created_ms INTEGER NOT NULL
        );
        CREATE INDEX voices_by_practice ON voices (practice_id);
        CREATE TABLE lessons (
            id INTEGER PRIMARY KEY,
            practice_id INTEGER NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            created_ms INTEGER NOT NULL
        );
        CREATE INDEX lessons_by_practice ON lessons (practice_id);
        CREATE TABLE adaptations (
            id INTEGER PRIMARY KEY,
            practice_id INTEGER NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
            author BLOB NOT NULL CHECK (length(author) = 32),
            practice_key TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            created_ms INTEGER NOT NULL,
            UNIQUE (practice_id, author, practice_key)
        );
        CREATE TABLE share_policies (
            practice_id INTEGER PRIMARY KEY REFERENCES practices (id) ON DELETE CASCADE,
            fields TEXT NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE TABLE shared_lessons (
            lesson_id INTEGER PRIMARY KEY REFERENCES lessons (id) ON DELETE CASCADE
        );
        CREATE TABLE shared_measures (
            measure_id INTEGER PRIMARY KEY REFERENCES measures (id) ON DELETE CASCADE,
            aggregate TEXT NOT NULL,
            period TEXT NOT NULL
        );
    """)


@MIGRATIONS(name="m003_full_text_search")
def _full_text_search(db: sqlite_utils.Database) -> None:
    db.executescript("""
        CREATE TABLE summaries (
            entry_seq INTEGER PRIMARY KEY REFERENCES entries (seq) ON DELETE CASCADE,
            author BLOB NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL
        );
    """)
    # Entries stored before this migration get their summary rows now.
    rows = []
    for seq, author, kind, key, payload in db.conn.execute(
            "SELECT seq, author, kind, key, payload FROM entries"):
        summary = summary_of(kind, decode(payload)["body"])
        if summary is not None:
            rows.append((seq, author, kind, key, *summary))
    db.conn.executemany("INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?)", rows)
    # sqlite-utils creates the FTS5 table (external content) and indexes the
    # rows above. node/store/ingest.py keeps it in step by hand, in the same
    # statements that add and remove summaries (faster than triggers).
    db.table("summaries").enable_fts(["title", "text"], tokenize="porter")
    # Private records change at typing speed: triggers keep their index.
    db.table("practices").enable_fts(
        ["title", "description", "context", "community", "run_by", "notes"],
        create_triggers=True, tokenize="porter",
    )


@MIGRATIONS(name="m004_peers")
def _peers(db: sqlite_utils.Database) -> None:
    # The peer book (node/sync/peerbook.py) and the reconciliation set's change
    # counter (node/syncset.py). The counter is bumped by the code that
    # changes ``entries``, once per transaction: a trigger would open a
    # statement savepoint per row, which makes FTS5 flush (see node/store/ingest.py).
    db.executescript("""
        CREATE TABLE peers (
            address TEXT PRIMARY KEY,
            node_id BLOB CHECK (node_id IS NULL OR length(node_id) = 32),
            source TEXT NOT NULL,
            pinned INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            next_attempt_ms INTEGER NOT NULL DEFAULT 0,
            last_success_ms INTEGER,
            first_failure_ms INTEGER,
            added_ms INTEGER NOT NULL,
            last_sync_ms INTEGER,
            last_outcome TEXT NOT NULL DEFAULT '',
            last_error TEXT NOT NULL DEFAULT '',
            bytes_up INTEGER NOT NULL DEFAULT 0,
            bytes_down INTEGER NOT NULL DEFAULT 0,
            entries_in INTEGER NOT NULL DEFAULT 0,
            entries_out INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX peers_by_node ON peers (node_id);
        CREATE TABLE blocked (
            node_id BLOB PRIMARY KEY CHECK (length(node_id) = 32),
            blocked_ms INTEGER NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE entries_generation (value INTEGER NOT NULL);
        INSERT INTO entries_generation VALUES (0);
    """)


@MIGRATIONS(name="m005_views")
def _views(db: sqlite_utils.Database) -> None:
    # Derived tables for the network views (node/views/index.py): decoded,
    # indexed columns of the signed entries, so that every view is an
    # index scan rather than a decode of every payload. They hold nothing
    # that is not in ``entries`` and can be rebuilt from it at any time
    # (bumping ``node.views.index.INDEX_FORMAT`` does exactly that).
    #
    # In step with ``entries`` without touching node/store/ingest.py: every row
    # references its entry with ON DELETE CASCADE, so a superseded or
    # removed entry takes its view rows with it in the same statement; new
    # entries are indexed lazily by node.views.index.catch_up (every entry
    # not yet indexed has a seq above the highest indexed one). No trigger
    # on ``entries``: see the note on FTS5 savepoints in node/store/ingest.py.
    db.executescript("""
        CREATE TABLE view_state (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
            format INTEGER NOT NULL
        );
        CREATE TABLE view_nodes (
            node INTEGER PRIMARY KEY,
            author BLOB NOT NULL UNIQUE
        );
        CREATE TABLE view_entries (
            seq INTEGER PRIMARY KEY REFERENCES entries (seq) ON DELETE CASCADE,
            node INTEGER NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            received_ms INTEGER NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            status TEXT,
            level TEXT,
            area TEXT NOT NULL DEFAULT '',
            since TEXT,
            month TEXT,
            eff_level TEXT,
            area_key TEXT NOT NULL DEFAULT '',
            area_label TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX view_entries_by_node ON view_entries (node, kind, key);
        CREATE INDEX view_entries_by_kind ON view_entries
            (kind, node, status, eff_level, area_key, since, version);
        CREATE INDEX view_entries_by_area ON view_entries (kind, area_key, node, area_label);
        CREATE INDEX view_entries_by_month ON view_entries (kind, month, node);
        CREATE INDEX view_entries_by_delay ON view_entries (received_ms - version, node);
        CREATE INDEX view_entries_by_title ON view_entries (title, kind, node);
        CREATE TABLE view_tags (
            seq INTEGER NOT NULL REFERENCES entries (seq) ON DELETE CASCADE,
            facet TEXT NOT NULL,
            value TEXT NOT NULL,
            label TEXT NOT NULL,
            node INTEGER NOT NULL,
            status TEXT,
            eff_level TEXT,
            area_key TEXT,
            since TEXT,
            version INTEGER,
            PRIMARY KEY (seq, facet, value)
        ) WITHOUT ROWID;
        CREATE INDEX view_tags_by_value ON view_tags
            (facet, value, node, status, eff_level, area_key, since, version, label);
        -- Primary key columns first, in key order: SQLite 3.40's quick_check
        -- misreports NOT NULL columns of WITHOUT ROWID tables otherwise.
        CREATE TABLE view_edges (
            seq INTEGER NOT NULL REFERENCES entries (seq) ON DELETE CASCADE,
            to_node INTEGER NOT NULL,
            to_key TEXT NOT NULL,
            via TEXT NOT NULL,
            from_node INTEGER NOT NULL,
            from_key TEXT NOT NULL,
            PRIMARY KEY (seq, to_node, to_key)
        ) WITHOUT ROWID;
        CREATE INDEX view_edges_by_target ON view_edges (to_node, to_key);
        CREATE INDEX view_edges_by_source ON view_edges (from_node, from_key);
    """)


@MIGRATIONS(name="m006_views_speed")
def _views_speed(db: sqlite_utils.Database) -> None:
    # Results of the network views that take no parameters (counts per
    # theme, level, principle, area and month without filters, the ranked
    # roots of lineages, the health figures), computed by
    # node.views.index.catch_up once per change of the entries instead of
    # once per query. ``stamp`` names the state they were computed from
    # (the entries_generation counter, the index format, the forked nodes);
    # a value whose stamp is not the current one is never used
    # (node/views/precomputed.py). Derived, like the m005 tables: it can be
    # emptied at any time, and is recomputed by the next catch_up.
    #
    # The link indexes become covering (an index of a WITHOUT ROWID table
    # carries its primary key, seq, too): following lineages (spread, roots,
    # lineage) then reads links from the index alone, instead of one lookup
    # in the table per link. Each keeps the old index's leading columns, so
    # it replaces it.
    db.executescript("""
        CREATE TABLE view_cache (
            name TEXT PRIMARY KEY,
            stamp TEXT NOT NULL,
            value TEXT NOT NULL
        );
        DROP INDEX view_edges_by_target;
        DROP INDEX view_edges_by_source;
        CREATE INDEX view_edges_into ON view_edges (to_node, to_key, via, from_node, from_key);
        CREATE INDEX view_edges_out ON view_edges (from_node, from_key, via, to_node, to_key);
    """)


@MIGRATIONS(name="m007_ingest_speed")
def _ingest_speed(db: sqlite_utils.Database) -> None:
    # Every index on ``entries`` is rewritten page by page at each ingest
    # commit (entry ids and authors are random, so a batch touches pages all
    # over each index); at 100,000 entries this one cost a quarter of the
    # time spent storing. The fork lookup (another entry by this author with
    # this version, rule 4) now seeks ``entries_by_version`` instead: versions
    # are milliseconds, so only a handful of entries share one.
    db.executescript("DROP INDEX IF EXISTS entries_by_author_version;")


@MIGRATIONS(name="m008_membership")
def _membership(db: sqlite_utils.Database) -> None:
    # Membership (DESIGN.md "Membership"; node/store/membership.py).
    #
    # * ``members`` — who is a member, derived from the genesis and the
    #   current admissions in ``entries`` (protocol.membership): kept so the
    #   sync server and the views need not work it out per request; rebuilt
    #   whenever an admission is withdrawn. ``membership_state.generation``
    #   changes whenever the set does, so another process (the CLI admitting
    #   a node while `hedgerow up` runs) is noticed.
    # * ``pending_entries`` — entries that arrived before their author's
    #   admission: bounded (node/store/membership.py says how), stored once
    #   the admission arrives, never fetched twice.
    # * ``invitations`` and ``invitation_uses`` — the codes this node made
    #   (the secret is needed to check a joining node's proof); ``joining`` —
    #   the code this node was given, until it is a member.
    # * ``author_usage`` — current entries and bytes per author, kept by
    #   ingest, so the per-author limits cost a lookup, not a scan.
    # * forks are resolved by a newer version of every slot they touched:
    #   ``forks.resolved_ms``, and the proofs move to ``fork_history``.
    # * ``entries_membership`` — a partial index: the set a session
    #   reconciles first (genesis and admissions), read without a scan and
    #   costing ingest nothing for other entries.
    db.executescript("""
        CREATE TABLE members (
            node_id BLOB PRIMARY KEY CHECK (length(node_id) = 32),
            admitted_by BLOB,
            version INTEGER NOT NULL,
            depth INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE membership_state (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
            generation INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO membership_state VALUES (1, 0);
        CREATE TABLE pending_entries (
            id BLOB PRIMARY KEY,
            author BLOB NOT NULL,
            version INTEGER NOT NULL,
            payload BLOB NOT NULL,
            sig BLOB NOT NULL,
            received_ms INTEGER NOT NULL
        );
        CREATE INDEX pending_by_author ON pending_entries (author);
        CREATE INDEX pending_by_arrival ON pending_entries (received_ms);
        CREATE TABLE invitations (
            id BLOB PRIMARY KEY CHECK (length(id) = 8),
            secret BLOB NOT NULL CHECK (length(secret) = 16),
            address TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            created_ms INTEGER NOT NULL,
            expires_ms INTEGER NOT NULL,
            uses_allowed INTEGER NOT NULL,
            uses INTEGER NOT NULL DEFAULT 0,
            withdrawn_ms INTEGER
        );
        CREATE TABLE invitation_uses (
            invitation BLOB NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
            node_id BLOB NOT NULL,
            used_ms INTEGER NOT NULL,
            PRIMARY KEY (invitation, node_id)
        );
        CREATE TABLE joining (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
            code TEXT NOT NULL,
            inviter BLOB NOT NULL,
            address TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            joined_ms INTEGER,
            last_error TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE author_usage (
            author BLOB PRIMARY KEY,
            entries INTEGER NOT NULL,
            bytes INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO author_usage
            SELECT author, count(*), sum(length(payload) + length(sig)) FROM entries
            GROUP BY author;
        ALTER TABLE forks ADD COLUMN resolved_ms INTEGER;
        CREATE TABLE fork_history (
            id BLOB PRIMARY KEY,
            author BLOB NOT NULL,
            version INTEGER NOT NULL,
            payload BLOB NOT NULL,
            sig BLOB NOT NULL,
            resolved_ms INTEGER NOT NULL
        );
        CREATE INDEX entries_membership ON entries (version, id)
            WHERE family IN ('genesis', 'admit');
    """)


@MIGRATIONS(name="m020_seen_nonces")
def _seen_nonces(db: sqlite_utils.Database) -> None:
    # The nonces of request signatures this node has accepted, each until the
    # signature could no longer pass the freshness checks (``expires``, Unix
    # seconds), so that a request replayed after a restart is refused as it
    # would have been before (node/sync/nonces.py). Rows past their expiry
    # are pruned whenever nonces are written.
    db.executescript("""
        CREATE TABLE seen_nonces (
            nonce TEXT PRIMARY KEY,
            expires INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX seen_nonces_by_expiry ON seen_nonces (expires);
    """)


@MIGRATIONS(name="m040_software_version")
def _software_version(db: sqlite_utils.Database) -> None:
    # Which version of Hedgerow last opened this database (node/store/upgrade.py):
    # when an upgrade fails, the message names the version to go back to.
    db.executescript("""
        CREATE TABLE software (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
            version TEXT NOT NULL,
            updated_ms INTEGER NOT NULL
        );
    """)


@MIGRATIONS(name="m041_peer_clock")
def _peer_clock(db: sqlite_utils.Database) -> None:
    # How far each peer's clock was from ours at the last session this node
    # started (its reply's signature time minus ours, in seconds): `hedgerow
    # doctor` warns when this machine's clock is off (node/doctor.py).
    db.executescript("ALTER TABLE peers ADD COLUMN clock_offset_s INTEGER;")


@MIGRATIONS(name="m042_peer_book")
def _peer_book(db: sqlite_utils.Database) -> None:
    # ``verified``: a session at the address proved that the node expected
    # there answers (DESIGN.md "Discovery and topology": a learned address is
    # a candidate until then); the book evicts never-verified rows first.
    # ``announced``/``announced_why``/``listening`` (JSON lists): the
    # addresses this node puts in its profile and why, and where it last
    # listened, written by the running node for the CLI (`invite`, `profile
    # show`). ``catch_up_sessions``: the peers a restored node completed
    # sessions with, and whether each held any of its own entries; the
    # node is released from catch-up by them (node/store/node_state.py).
    # ``entries_profiles``: the sample of profiles a node draws peers from.
    db.executescript("""
        ALTER TABLE peers ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
        UPDATE peers SET verified = 1 WHERE last_success_ms IS NOT NULL;
        ALTER TABLE node_state ADD COLUMN announced TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE node_state ADD COLUMN announced_why TEXT NOT NULL DEFAULT '';
        ALTER TABLE node_state ADD COLUMN listening TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE node_state ADD COLUMN caught_up_why TEXT NOT NULL DEFAULT '';
        CREATE TABLE catch_up_sessions (
            peer TEXT PRIMARY KEY,
            held_own INTEGER NOT NULL,
            at_ms INTEGER NOT NULL
        );
        CREATE INDEX entries_profiles ON entries (author) WHERE kind = 'profile';
    """)


@MIGRATIONS(name="m050_profile_contact")
def _profile_contact(db: sqlite_utils.Database) -> None:
    # The contact an organisation chooses to publish in its profile (an email
    # or web address; node/store/organisation.py checks it). NULL: none.
    db.executescript("ALTER TABLE organisation ADD COLUMN contact TEXT;")


@MIGRATIONS(name="m051_ideas_seen")
def _ideas_seen(db: sqlite_utils.Database) -> None:
    # Where this node's ideas travelled (node/views/travelled.py): which of
    # those links each place that shows them (the home page, `hedgerow
    # status`) has already shown, so that new ones can be highlighted. A
    # link is named by signed values only (our practice, the other node,
    # what it did); rows for links that no longer exist are pruned when the
    # place shows the list again (node/store/ideas_seen.py).
    db.executescript("""
        CREATE TABLE ideas_seen (
            viewer TEXT NOT NULL,
            link TEXT NOT NULL,
            seen_ms INTEGER NOT NULL,
            PRIMARY KEY (viewer, link)
        ) WITHOUT ROWID;
    """)


@MIGRATIONS(name="m052_theme_tags_by_level")
def _theme_tags_by_level(db: sqlite_utils.Database) -> None:
    # The groups working on each theme at one level (the introductions view
    # filtered by level, node/views/introductions.py; the count views
    # filtered by level too): read from this index, a quarter of the theme
    # tags, instead of a pass over all of them in view_tags_by_value (at
    # 100,000 practices, 6 ms instead of 25). Derived, like every view_ table.
    db.executescript("""
        CREATE INDEX view_tags_by_level ON view_tags (facet, eff_level, value, node, status);
    """)


@MIGRATIONS(name="m060_catch_up")
def _catch_up(db: sqlite_utils.Database) -> None:
    # How far the running node has got catching up with the network
    # (node/sync/progress.py), so that `hedgerow status` (another process) and
    # the pages show the same figures as the progress bar: entries held and
    # expected, the rate, and when the last catch-up began and ended.
    db.executescript("""
        CREATE TABLE catch_up (
            only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
            state TEXT NOT NULL CHECK (state IN ('catching_up', 'caught_up')),
            started_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL,
            finished_ms INTEGER,
            held INTEGER NOT NULL,
            expected INTEGER NOT NULL,
            received INTEGER NOT NULL,
            per_s REAL NOT NULL,
            peers INTEGER NOT NULL
        );
    """)
