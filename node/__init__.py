"""Hedgerow's node: everything that does I/O. This package so far is the node store.

A node's memory is one SQLite database in its data directory, next to its
key file (:mod:`.datadir`). Public API:

* :func:`init_node` creates a node; :class:`Store` opens one and is the async
  facade the CLI, the web pages and the sync layer call.
* private practice records (:mod:`.records`), share policies and the
  summary a policy yields (:mod:`.sharing`), what the organisation says
  about itself (:mod:`.organisation`), the node's own signed feed (:mod:`.feed`), received
  entries (:mod:`.ingest`), full-text search (:mod:`.search`), backup and
  restore (:mod:`.backup`).
* the SQL functions themselves are synchronous and take a sqlite-utils
  ``Database`` (:func:`open_database` / :func:`open_node`), for tools and
  tests that do not run an event loop.

Module map: errors (the error tree), keyfile, connection (pragmas,
transactions), schema (migrations), database (async facade), node_state
(identity, clock, catch-up), input_checks, records, sharing, organisation, feed,
ingest, search, backup, datadir, store.
"""

from .backup import backup_to, check_backup, restore_from, restore_offline
from .connection import open_database, read_snapshot, write_transaction
from .database import Database
from .datadir import DATABASE_FILE, KEY_FILE, init_node, open_node
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
    WrongNode,
)
from .ingest import MAX_BATCH_ENTRIES, Fork, IngestStatus, Outcome, StoredEntry
from .keyfile import create_key_file, load_key_file
from .node_state import CATCH_UP_MESSAGE, NodeState
from .organisation import ORGANISATION_FIELDS, Organisation, normalise_org_id
from .records import (
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
from .search import SummaryHit
from .sharing import AGGREGATES, ALWAYS_SHARED, SHAREABLE_FIELDS, SharedMeasure, SharePolicy
from .store import Clock, Store, wall_clock_ms

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
