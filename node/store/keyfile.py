"""The node's key file: the Ed25519 seed that is the node's identity.

The file sits in the data directory next to the database. Whoever reads it
can sign as the node, so it is created with mode 0600 (owner only), and a
node refuses to start if it is readable or writable by anyone else — the
same rule OpenSSH applies to private keys. The refusal says how to fix it.

Format: two text lines, so a person can tell what the file is::

    hedgerow-node-key-v1
    <64 hex digits: the 32-byte seed>
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from protocol import InvalidArgument, NodeKey

from ..errors import AlreadyInitialised, KeyFileInsecure, KeyFileInvalid, NotInitialised

__all__ = ["KEY_FILE_HEADER", "create_key_file", "load_key_file"]

KEY_FILE_HEADER = "hedgerow-node-key-v1"
_MAX_KEY_FILE_BYTES = 1024


def create_key_file(path: Path, seed: bytes) -> NodeKey:
    """Write a new key file holding ``seed`` with mode 0600; refuse to overwrite one."""
    key = NodeKey.from_seed(seed)
    text = f"{KEY_FILE_HEADER}\n{seed.hex()}\n".encode("ascii")
    try:
        # O_EXCL: never replace an existing identity. The mode is set at
        # creation, so the seed is never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise AlreadyInitialised(f"a key file already exists at {path}; refusing to replace "
                                 "this node's identity") from exc
    try:
        os.fchmod(fd, 0o600)  # in case a umask or ACL widened it
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def load_key_file(path: Path) -> NodeKey:
    """Read the key file, refusing one that others can read or that is damaged."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise NotInitialised(f"there is no node key at {path}; create a node first with "
                             "`hedgerow init`") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileInsecure(
            f"the node key {path} can be read or changed by other users (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); anyone who reads it can sign as this node. "
            f"Fix it with: chmod 600 {path}"
        )
    if st.st_size > _MAX_KEY_FILE_BYTES:
        raise KeyFileInvalid(f"{path} is too large to be a Hedgerow node key")
    lines = path.read_bytes().decode("ascii", errors="replace").split()
    if len(lines) != 2 or lines[0] != KEY_FILE_HEADER:
        raise KeyFileInvalid(f"{path} is not a Hedgerow node key (expected a first line "
                             f"{KEY_FILE_HEADER!r})")
    try:
        return NodeKey.from_seed(bytes.fromhex(lines[1]))
    except (ValueError, InvalidArgument) as exc:
        raise KeyFileInvalid(f"{path} is damaged: the key is not 64 hex digits") from exc
