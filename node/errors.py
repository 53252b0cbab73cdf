"""The node's errors.

``protocol/`` has its own tree (:mod:`protocol.errors`): a peer's bad data is
a :class:`protocol.PeerError` there and stays one here. This module adds what
can go wrong on the node itself: its files, its state, and what a person
typed. Every node error is also a :class:`protocol.HedgerowError`, so a
caller (the CLI, the web pages) catches one base class and prints
``error.message``; nobody should ever see a traceback for these.

::

    HedgerowError (protocol)
    └── NodeError                  every error raised by node/
        └── LocalProblem           the node's files, state or the person at the keyboard
            ├── NotInitialised     no node in the data directory (run ``hedgerow init``)
            ├── AlreadyInitialised the data directory already holds a node
            ├── KeyFileInsecure    the key file can be read by others (says how to fix it)
            ├── KeyFileInvalid     the key file is damaged or not a Hedgerow key
            ├── CorruptDatabase    the database fails its check (points to restore)
            ├── WrongNode          a database or backup belongs to another node or network
            ├── NotFound           no such practice, measure, lesson, …
            ├── NeedsCatchUp       restored from a backup: catch up before publishing
            ├── NotMember          this node is not (or no longer) a member of its network
            └── InvalidInput       bad input: names the field, never quotes the value
        └── SyncFailed             a sync session with a peer did not complete
            ├── PeerUnreachable    no connection, or no answer in time
            ├── PeerRefused        the peer answered with an error status (401, 429, …)
            └── AddressRefused     this node will not dial the address (link-local, …)

A peer that *sends* something invalid causes a :class:`protocol.PeerError`;
the sync client wraps it in :class:`SyncFailed` (keeping it as ``__cause__``)
so the caller learns which session failed and what it achieved first.

Messages never quote what a person typed into a private record (DESIGN.md,
privacy rule 1): they name the field and the rule that was broken.
"""

from __future__ import annotations

from protocol import HedgerowError, SessionStats

__all__ = [
    "AddressRefused",
    "AlreadyInitialised",
    "CorruptDatabase",
    "InvalidInput",
    "KeyFileInsecure",
    "KeyFileInvalid",
    "LocalProblem",
    "NeedsCatchUp",
    "NodeError",
    "NotFound",
    "NotInitialised",
    "NotMember",
    "PeerRefused",
    "PeerUnreachable",
    "PreviewChanged",
    "SyncFailed",
    "UpgradeFailed",
    "WrongNode",
]


class NodeError(HedgerowError):
    """Base of every error raised by ``node/``."""

    code = "node"


class LocalProblem(NodeError):
    """Something about this node (its files, its state, or its user's input) is wrong."""

    code = "local_problem"


class NotInitialised(LocalProblem):
    """There is no node in the data directory."""

    code = "not_initialised"


class AlreadyInitialised(LocalProblem):
    """The data directory already holds a node; refusing to overwrite it."""

    code = "already_initialised"


class KeyFileInsecure(LocalProblem):
    """The key file can be read or written by users other than its owner."""

    code = "key_file_insecure"


class KeyFileInvalid(LocalProblem):
    """The key file is damaged or is not a Hedgerow node key."""

    code = "key_file_invalid"


class CorruptDatabase(LocalProblem):
    """The database fails ``PRAGMA quick_check`` or cannot be read at all."""

    code = "corrupt_database"


class WrongNode(LocalProblem):
    """A database or backup belongs to a different node or network."""

    code = "wrong_node"


class NotFound(LocalProblem):
    """The thing asked for does not exist."""

    code = "not_found"


class UpgradeFailed(LocalProblem):
    """Migrating the database to this version failed; it was put back as it was."""

    code = "upgrade_failed"


class NeedsCatchUp(LocalProblem):
    """The node was restored and must catch up on its own entries before publishing."""

    code = "needs_catch_up"


class NotMember(LocalProblem):
    """This node is not a member of its network: its peers would not store what it signs."""

    code = "not_member"


class PreviewChanged(LocalProblem):
    """What would be signed is no longer what the person previewed (nothing was signed)."""

    code = "preview_changed"


class InvalidInput(LocalProblem):
    """Input from a person or a caller breaks a rule; ``field`` names where."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.field = field


class SyncFailed(NodeError):
    """A sync session did not complete; ``stats`` says what it achieved before."""

    code = "sync_failed"

    def __init__(self, message: str, *, stats: SessionStats | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.stats = stats


class PeerUnreachable(SyncFailed):
    """No connection to the peer, or no answer in time."""

    code = "peer_unreachable"


class AddressRefused(SyncFailed):
    """This node will not dial the address: it resolves to a forbidden IP (protocol.addresses)."""

    code = "address_refused"


class PeerRefused(SyncFailed):
    """The peer answered with an error status."""

    code = "peer_refused"

    def __init__(self, message: str, *, status: int, stats: SessionStats | None = None) -> None:
        super().__init__(message, stats=stats)
        self.status = status
