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
signatures), :mod:`.invitations` (invitation codes and the join proof),
:mod:`.membership` (who is a member, from genesis and admissions),
:mod:`.peers` (backoff, peer choice and partial views), :mod:`.rumours`
(passing new entries on: Demers' counter rule), :mod:`.addresses` (which
addresses a node dials and announces).

This is protocol version 2 (:data:`PROTOCOL_VERSION`; docs/protocol.md).
"""

from .bodies import (
    KINDS,
    LEVELS,
    MEASURE_DEFINERS,
    PRACTICE_STATUSES,
    RETRACTABLE,
    SMALL_COUNT_TEXT,
    SUPPRESSION_THRESHOLD,
    admit_key,
    credit_key,
    network_id_of,
    retract_key,
    retract_target,
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
from .invitations import (
    Invitation,
    check_join_proof,
    format_invitation,
    join_proof,
    parse_invitation,
)
from .keys import NodeKey, public_key, verify_signature
from .membership import Admission, Member, Membership, members_of, withdrawal_preview
from .messages import PROTOCOL_VERSION, PushResult
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
    drive,
)
from .versions import MAX_AHEAD_MS, Slot, Verdict, judge, next_version, slot_of, too_far_ahead
from .wire import MAX_DEPTH, MAX_MESSAGE_BYTES, decode, encode

__all__ = [
    "ID_LENGTH",
    "KINDS",
    "LEVELS",
    "MAX_AHEAD_MS",
    "MAX_DEPTH",
    "MAX_ENTRY_BYTES",
    "MAX_MESSAGE_BYTES",
    "MEASURE_DEFINERS",
    "PRACTICE_STATUSES",
    "PROTOCOL_VERSION",
    "RETRACTABLE",
    "SIGNATURE_PREFIX",
    "SMALL_COUNT_TEXT",
    "SUPPRESSION_THRESHOLD",
    "Admission",
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
    "Member",
    "Membership",
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
    "admit_key",
    "answer_reconcile",
    "check_join_proof",
    "choose_peers",
    "content_digest",
    "credit_key",
    "decode",
    "decode_signed",
    "drive",
    "encode",
    "encode_signed",
    "format_invitation",
    "id_from_text",
    "id_to_text",
    "join_proof",
    "judge",
    "members_of",
    "network_id_of",
    "network_tag",
    "next_version",
    "parse_invitation",
    "public_key",
    "record_failure",
    "record_success",
    "retract_key",
    "retract_target",
    "short_id",
    "should_forget",
    "sign_entry",
    "sign_hedgerow",
    "slot_of",
    "suppress_count",
    "too_far_ahead",
    "validate_body",
    "verify_entries",
    "verify_entry",
    "verify_hedgerow",
    "verify_signature",
    "withdrawal_preview",
]
