"""The protocol's errors.

Every failure in ``protocol/`` raises one of these, never a bare ``ValueError``,
``KeyError`` or a third-party exception: those are translated at the boundary
(``raise DecodeError(...) from exc``). The split that matters to a caller is
*who* is at fault: the local caller (a bug, or a person typing something
wrong) or a remote peer (bytes that came off the network). A node answers a
peer's mistake with an error status and a score penalty; it answers a local
mistake with a message to the person at the keyboard.

::

    HedgerowError                  every error raised by protocol/
    ├── LocalError                 the local caller is at fault
    │   ├── InvalidIdText          a node/network id typed wrongly (says which character)
    │   ├── InvalidInvitation      an invitation code that does not parse or check
    │   ├── EncodeError            a value the wire format cannot carry
    │   └── InvalidArgument        any other misuse of the API (wrong type, bad state)
    └── PeerError                  data from outside is bad: refuse it, blame the sender
        ├── DecodeError            bytes are not canonical msgpack within limits
        ├── EntryError             an entry fails validation (schema, size, kind, key)
        │   ├── SignatureError     the signature does not verify over the bytes received
        │   └── WrongNetwork       the entry was signed for another network
        ├── ReconcileError         a Negentropy message is malformed or breaks the protocol
        ├── SessionError           a sync session message arrives out of order or is invalid
        └── AuthError              an HTTP message signature is missing, invalid or stale

Each error carries a short machine-readable ``code`` (stable: test vectors and
other implementations match on it) and a human message that names what was
wrong. Messages never quote private data: they name fields and positions, not
the values a person typed into a private record.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "DecodeError",
    "EncodeError",
    "EntryError",
    "HedgerowError",
    "InvalidArgument",
    "InvalidIdText",
    "InvalidInvitation",
    "LocalError",
    "PeerError",
    "ReconcileError",
    "SessionError",
    "SignatureError",
    "WrongNetwork",
]


class HedgerowError(Exception):
    """Base of every error raised by ``protocol/``."""

    #: Stable machine-readable code; subclasses and raisers refine it.
    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class LocalError(HedgerowError):
    """The local caller is at fault (a bug, or a person typing something wrong)."""

    code = "local"


class InvalidIdText(LocalError):
    """A node or network id in text form does not parse or fails its checksum.

    ``position`` is the 1-based index of the offending character in the text
    as given, when one can be named.
    """

    code = "invalid_id"

    def __init__(self, message: str, *, position: int | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.position = position


class InvalidInvitation(LocalError):
    """An invitation code does not parse or fails its checksum."""

    code = "invalid_invitation"


class EncodeError(LocalError):
    """The caller asked to encode a value the canonical wire format cannot carry."""

    code = "encode"


class InvalidArgument(LocalError):
    """Any other misuse of the protocol API by the local caller."""

    code = "invalid_argument"


class PeerError(HedgerowError):
    """Data that came from outside is bad: refuse it and blame the sender."""

    code = "peer"


class DecodeError(PeerError):
    """Bytes are not canonical msgpack within the protocol's limits."""

    code = "decode"


class EntryError(PeerError):
    """A signed entry fails validation: envelope, body schema, size or kind."""

    code = "invalid_entry"


class SignatureError(EntryError):
    """The Ed25519 signature does not verify over the bytes received."""

    code = "bad_signature"


class WrongNetwork(EntryError):
    """The entry names (and was signed for) a different network."""

    code = "wrong_network"


class ReconcileError(PeerError):
    """A Negentropy message is malformed or breaks the protocol."""

    code = "reconcile"


class SessionError(PeerError):
    """A sync-session message arrives out of order or is invalid."""

    code = "session"


class AuthError(PeerError):
    """An HTTP message signature is missing, malformed, invalid, stale or replayed."""

    code = "auth"
