"""A node's data directory: its key file and its database, side by side.

::

    <data dir>/          mode 0700
        node.key         mode 0600, the Ed25519 seed (node/keyfile.py)
        hedgerow.db      mode 0600, SQLite in WAL mode (+ -wal and -shm files)
        hedgerow.toml    the settings (node/settings.py)
        admin.json       the pages' admin state (node/web/admin.py)
        backups/         the nightly backups (node/backups.py)

:func:`init_node` creates both; :func:`open_node` opens them and checks that
they belong together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from protocol import NodeKey, network_id_of

from ..errors import AlreadyInitialised, InvalidInput, NotInitialised, WrongNode
from .connection import open_database
from .feed import publish_genesis
from .keyfile import create_key_file, load_key_file
from .node_state import NodeState, create_node_state, read_node_state

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["ADMIN_FILE", "CONFIG_FILE", "DATABASE_FILE", "KEY_FILE", "SETTINGS_FILES",
           "check_owner", "database_path", "init_node", "key_path",
           "locate_node", "open_node"]

KEY_FILE = "node.key"
DATABASE_FILE = "hedgerow.db"
CONFIG_FILE = "hedgerow.toml"
ADMIN_FILE = "admin.json"
#: What a backup holds besides the database: everything but the key.
SETTINGS_FILES = (CONFIG_FILE, ADMIN_FILE)


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def database_path(data_dir: Path) -> Path:
    return Path(data_dir) / DATABASE_FILE


def init_node(data_dir: Path, *, seed: bytes, now_ms: int, network: bytes | None = None,
              nonce: bytes | None = None) -> NodeKey:
    """Create a new node in ``data_dir``: key file (from ``seed``) and database.

    Either found a new network (``nonce``: 16 random bytes; the node signs
    the genesis entry, and the network id derives from it) or make a node
    that will join ``network`` (it holds nothing until it is admitted).
    The caller passes ``seed = os.urandom(32)`` (or a fixed seed in tests).
    """
    if (network is None) == (nonce is None):
        raise InvalidInput("either found a network or name the one to join", field="network")
    if network is not None and (not isinstance(network, bytes) or len(network) != 32):
        raise InvalidInput("network: must be a 32-byte network id", field="network")
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if database_path(data_dir).exists() or key_path(data_dir).exists():
        raise AlreadyInitialised(f"{data_dir} already holds a node; refusing to replace it")
    key = create_key_file(key_path(data_dir), seed)
    db = open_database(database_path(data_dir))
    try:
        if nonce is not None:
            create_node_state(db, node_id=key.public, network=network_id_of(key.public, nonce),
                              now_ms=now_ms)
            publish_genesis(db, key, nonce=nonce, now_ms=now_ms)
        else:
            assert network is not None
            create_node_state(db, node_id=key.public, network=network, now_ms=now_ms)
    finally:
        db.close()
    return key


def locate_node(data_dir: Path) -> tuple[NodeKey, Path]:
    """Load the key (refusing an insecure key file) and find the database beside it."""
    key = load_key_file(key_path(data_dir))
    path = database_path(data_dir)
    if not path.exists():
        raise NotInitialised(f"the node key is in {data_dir} but its database {path} is "
                             "missing; restore it from a backup with `hedgerow restore "
                             "<backup file>`")
    return key, path


def check_owner(state: NodeState, key: NodeKey, data_dir: Path) -> None:
    """Refuse a database that belongs to another node than the key beside it."""
    if state.node_id != key.public:
        raise WrongNode(f"the database {database_path(data_dir)} belongs to another node "
                        f"than the key {key_path(data_dir)}")


def open_node(data_dir: Path) -> tuple[NodeKey, sqlite_utils.Database]:
    """Load the key (refusing an insecure key file) and open, check and migrate the database."""
    key, path = locate_node(data_dir)
    db = open_database(path)
    try:
        check_owner(read_node_state(db), key, data_dir)
    except BaseException:
        db.close()
        raise
    return key, db

