"""Hedgerow's node: everything that does I/O.

Packages, each a layer (tests/test_architecture.py enforces who imports whom):

* :mod:`node.store` — the SQLite store: records, sharing, the signed feed,
  received entries, search, backup, the blocklist; :class:`Store` is its
  async facade.
* :mod:`node.sync` — talking to peers: the sync server and client, the
  peer book, gossip, discovery, limits.
* :mod:`node.views` and :mod:`node.exports` — the network views and their
  exports, computed from the store.
* :mod:`node.web` — the web pages and the JSON API.

At the top, what assembles a running node: :mod:`.service` (the running
node), :mod:`.settings` (the settings registry), :mod:`.home` (the data
directory: configuration, lock, status), :mod:`.events`, :mod:`.errors`,
:mod:`.logview`, :mod:`.demo` and its :mod:`.samples`.

This package re-exports the store's public API, for the CLI and tests.
"""

from .errors import (
    AlreadyInitialised,
    CorruptDatabase,
    InvalidInput,
    KeyFileInsecure,
    KeyFileInvalid,
    LocalProblem,
    NeedsCatchUp,
    NodeError,
    NotFound,
    NotInitialised,
    UpgradeFailed,
    WrongNode,
)
from .store.backup import backup_to, check_backup, restore_from, restore_offline
from .store.connection import open_database, read_snapshot, write_transaction
from .store.database import Database
from .store.datadir import DATABASE_FILE, KEY_FILE, init_node, open_node
from .store.ingest import MAX_BATCH_ENTRIES, Fork, IngestStatus, Outcome, StoredEntry
from .store.keyfile import create_key_file, load_key_file
from .store.node_state import CATCH_UP_MESSAGE, NodeState
from .store.organisation import ORGANISATION_FIELDS, Organisation, normalise_org_id
from .store.records import (
    PRACTICE_FIELDS,
    PRIVATE_PRACTICE_FIELDS,
    Adaptation,
    Lesson,
    Measure,
    Observation,
    Practice,
    PracticeRecord,
    Voice,
)
from .store.search import SummaryHit
from .store.sharing import AGGREGATES, ALWAYS_SHARED, SHAREABLE_FIELDS, SharedMeasure, SharePolicy
from .store.store import Clock, Store, wall_clock_ms

__all__ = [
    "AGGREGATES",
    "ALWAYS_SHARED",
    "CATCH_UP_MESSAGE",
    "DATABASE_FILE",
    "KEY_FILE",
    "MAX_BATCH_ENTRIES",
    "ORGANISATION_FIELDS",
    "PRACTICE_FIELDS",
    "PRIVATE_PRACTICE_FIELDS",
    "SHAREABLE_FIELDS",
    "Adaptation",
    "AlreadyInitialised",
    "Clock",
    "CorruptDatabase",
    "Database",
    "Fork",
    "IngestStatus",
    "InvalidInput",
    "KeyFileInsecure",
    "KeyFileInvalid",
    "Lesson",
    "LocalProblem",
    "Measure",
    "NeedsCatchUp",
    "NodeError",
    "NodeState",
    "NotFound",
    "NotInitialised",
    "Observation",
    "Organisation",
    "Outcome",
    "Practice",
    "PracticeRecord",
    "SharePolicy",
    "SharedMeasure",
    "Store",
    "StoredEntry",
    "SummaryHit",
    "UpgradeFailed",
    "Voice",
    "WrongNode",
    "backup_to",
    "check_backup",
    "create_key_file",
    "init_node",
    "load_key_file",
    "normalise_org_id",
    "open_database",
    "open_node",
    "read_snapshot",
    "restore_from",
    "restore_offline",
    "wall_clock_ms",
    "write_transaction",
]
