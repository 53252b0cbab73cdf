"""Hedgerow's protocol: pure logic, no I/O.

Bytes and ``now`` go in; bytes, events and deadlines come out. Nothing here
reads the clock, the network, the disk or global randomness (a test enforces
it), so any number of nodes can run in one process on virtual time and the
protocol can be re-implemented from its description and test vectors.

Modules: :mod:`.errors` (the error tree), :mod:`.ids` (text form of ids),
:mod:`.keys` (Ed25519 node keys), :mod:`.wire` (canonical msgpack),
:mod:`.bodies` (entry body schemas), :mod:`.entries` (signed entries),
:mod:`.versions` (hybrid logical clock, current versions, forks),
:mod:`.negentropy` (Negentropy V1 set reconciliation), :mod:`.messages` and
:mod:`.session` (the sync session), :mod:`.httpsig` (RFC 9421 HTTP message
signatures), :mod:`.invitations` (invitation codes), :mod:`.peers` (backoff
and peer choice).
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
    verify_entries,
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
from .httpsig import (
    HttpMessage,
    NonceCache,
    VerifiedSignature,
    content_digest,
    network_tag,
    sign_hedgerow,
    verify_hedgerow,
)
from .ids import ID_LENGTH, id_from_text, id_to_text, short_id
from .invitations import Invitation, format_invitation, parse_invitation
from .keys import NodeKey, public_key, verify_signature
from .messages import PushResult
from .negentropy import Negentropy, NegentropyStorage
from .peers import PeerHealth, choose_peers, record_failure, record_success, should_forget
from .session import (
    Finished,
    IngestEntries,
    LoadEntries,
    SendRequest,
    SessionStats,
    SyncSession,
    answer_reconcile,
)
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
    "Finished",
    "HedgerowError",
    "HttpMessage",
    "IngestEntries",
    "InvalidArgument",
    "InvalidIdText",
    "InvalidInvitation",
    "Invitation",
    "LoadEntries",
    "LocalError",
    "Negentropy",
    "NegentropyStorage",
    "NodeKey",
    "NonceCache",
    "PeerError",
    "PeerHealth",
    "PushResult",
    "ReconcileError",
    "SendRequest",
    "SessionError",
    "SessionStats",
    "SignatureError",
    "SignedEntry",
    "Slot",
    "SyncSession",
    "Verdict",
    "VerifiedEntry",
    "VerifiedSignature",
    "WrongNetwork",
    "answer_reconcile",
    "choose_peers",
    "content_digest",
    "credit_key",
    "decode",
    "decode_signed",
    "encode",
    "encode_signed",
    "format_invitation",
    "id_from_text",
    "id_to_text",
    "judge",
    "network_tag",
    "next_version",
    "parse_invitation",
    "public_key",
    "record_failure",
    "record_success",
    "short_id",
    "should_forget",
    "sign_entry",
    "sign_hedgerow",
    "slot_of",
    "suppress_count",
    "validate_body",
    "verify_entries",
    "verify_entry",
    "verify_hedgerow",
    "verify_signature",
]
