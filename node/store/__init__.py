"""The node store: everything a node keeps, in one SQLite database beside its key.

Holds the schema and its migrations, the connection and the async facade
with its single writer, private records, share policies, the organisation,
the node's own signed feed, received entries, search, the blocklist, backup
and the reconciliation set; :class:`Store` is the facade the rest of the node
calls. May import protocol/ and node.errors only: never sync, views, exports
or web (tests/test_architecture.py checks it).
"""

from ..errors import (
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
from .backup import backup_to, check_backup, restore_from, restore_offline
from .connection import open_database, read_snapshot, write_transaction
from .database import Database
from .datadir import DATABASE_FILE, KEY_FILE, init_node, open_node
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
