"""Hedgerow's protocol: pure logic, no I/O.

Bytes and ``now`` go in; bytes, events and deadlines come out. Nothing here
reads the clock, the network, the disk or global randomness (a test enforces
it), so any number of nodes can run in one process on virtual time and the
protocol can be re-implemented from its description and test vectors.

Modules: :mod:`.errors` (the error tree), :mod:`.ids` (text form of ids),
:mod:`.keys` (Ed25519 node keys), :mod:`.wire` (canonical msgpack),
:mod:`.bodies` (entry body schemas), :mod:`.entries` (signed entries),
:mod:`.versions` (hybrid logical clock, current versions, forks).
"""

from .bodies import (
    KINDS,
    LEVELS,
    MEASURE_DEFINERS,
    PRACTICE_STATUSES,
    SMALL_COUNT_TEXT,
    SUPPRESSION_THRESHOLD,
    credit_key,
    suppress_count,
    validate_body,
)
from .entries import (
    MAX_ENTRY_BYTES,
    SIGNATURE_PREFIX,
    Entry,
    SignedEntry,
    VerifiedEntry,
    decode_signed,
    encode_signed,
    sign_entry,
    verify_entry,
)
from .errors import (
    AuthError,
    DecodeError,
    EncodeError,
    EntryError,
    HedgerowError,
    InvalidArgument,
    InvalidIdText,
    InvalidInvitation,
    LocalError,
    PeerError,
    ReconcileError,
    SessionError,
    SignatureError,
    WrongNetwork,
)
from .ids import ID_LENGTH, id_from_text, id_to_text, short_id
from .keys import NodeKey, public_key, verify_signature
from .versions import Slot, Verdict, judge, next_version, slot_of
from .wire import MAX_DEPTH, MAX_MESSAGE_BYTES, decode, encode

__all__ = [
    "ID_LENGTH",
    "KINDS",
    "LEVELS",
    "MAX_DEPTH",
    "MAX_ENTRY_BYTES",
    "MAX_MESSAGE_BYTES",
    "MEASURE_DEFINERS",
    "PRACTICE_STATUSES",
    "SIGNATURE_PREFIX",
    "SMALL_COUNT_TEXT",
    "SUPPRESSION_THRESHOLD",
    "AuthError",
    "DecodeError",
    "EncodeError",
    "Entry",
    "EntryError",
    "HedgerowError",
    "InvalidArgument",
    "InvalidIdText",
    "InvalidInvitation",
    "LocalError",
    "NodeKey",
    "PeerError",
    "ReconcileError",
    "SessionError",
    "SignatureError",
    "SignedEntry",
    "Slot",
    "Verdict",
    "VerifiedEntry",
    "WrongNetwork",
    "credit_key",
    "decode",
    "decode_signed",
    "encode",
    "encode_signed",
    "id_from_text",
    "id_to_text",
    "judge",
    "next_version",
    "public_key",
    "short_id",
    "sign_entry",
    "slot_of",
    "suppress_count",
    "validate_body",
    "verify_entry",
    "verify_signature",
]
