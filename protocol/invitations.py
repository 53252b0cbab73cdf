"""Invitation codes, and the proof a joining node gives that it holds one.

An invitation carries everything a new node needs to join: the network id,
the inviting node's id, an address where the inviter can be reached, the
invitation's own id, a **secret**, and when it expires. Its text form is
``HR2-`` followed by Crockford base32 (case-insensitive, dashes ignored) of::

    canonical msgpack [network id, inviter id, address, invitation id,
                       secret, expires (Unix seconds)]
    + first 5 bytes of SHA-256(b"hedgerow/invitation/v2\\x00" + that msgpack)

The check bytes catch typos and truncation (a wrong code goes unnoticed with
probability 2⁻⁴⁰).

**Joining** (DESIGN.md "Membership"): in its first session with the
inviter, the new node sends the invitation id and :func:`join_proof` — an
HMAC of its own node id under the secret — in a request it signs with its
own key. The secret itself never travels again, and the proof is bound to
the joining node's id, so an eavesdropper who replays it gains nothing: the
request only verifies under the joiner's key, and replays of the signed
request are refused as replays. The inviter then signs an ``admit`` entry
naming the new node.

The code is a secret until it is used: whoever holds an unused one can join.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final

from .errors import DecodeError, InvalidIdText, InvalidInvitation
from .ids import base32_decode, base32_encode
from .wire import decode, encode

__all__ = [
    "INVITATION_ID_BYTES",
    "INVITATION_PREFIX",
    "INVITATION_SECRET_BYTES",
    "JOIN_PROOF_BYTES",
    "Invitation",
    "check_join_proof",
    "format_invitation",
    "join_proof",
    "parse_invitation",
]

INVITATION_PREFIX: Final = "HR2-"
INVITATION_ID_BYTES: Final = 8
INVITATION_SECRET_BYTES: Final = 16
JOIN_PROOF_BYTES: Final = 32
_CHECK: Final = 5
_DOMAIN: Final = b"hedgerow/invitation/v2\x00"
_PROOF_DOMAIN: Final = b"hedgerow/join/v2\x00"
_URL = re.compile(r"https?://[^\s/?#]+(?::\d{1,5})?(?:/[^\s]*)?\Z")
_MAX_TEXT: Final = 800
_MAX_EXPIRES: Final = 2**40


@dataclass(frozen=True, slots=True)
class Invitation:
    network: bytes
    inviter: bytes
    address: str
    id: bytes
    secret: bytes
    expires_s: int

    def __post_init__(self) -> None:
        if len(self.network) != 32 or len(self.inviter) != 32:
            raise InvalidInvitation("network and inviter ids are 32 bytes")
        if len(self.address) > 200 or not _URL.match(self.address):
            raise InvalidInvitation("the inviter's address must be an http:// or https:// URL")
        if len(self.id) != INVITATION_ID_BYTES or len(self.secret) != INVITATION_SECRET_BYTES:
            raise InvalidInvitation(f"an invitation id is {INVITATION_ID_BYTES} bytes and its "
                                    f"secret {INVITATION_SECRET_BYTES}")
        if not 0 < self.expires_s < _MAX_EXPIRES:
            raise InvalidInvitation("the invitation's expiry is out of range")

    def expired(self, now_s: int) -> bool:
        return now_s >= self.expires_s


def _check(body: bytes) -> bytes:
    return hashlib.sha256(_DOMAIN + body).digest()[:_CHECK]


def format_invitation(invitation: Invitation) -> str:
    body = encode([invitation.network, invitation.inviter, invitation.address, invitation.id,
                   invitation.secret, invitation.expires_s])
    text = base32_encode(body + _check(body))
    return INVITATION_PREFIX + "-".join(text[i : i + 8] for i in range(0, len(text), 8))


def parse_invitation(text: str) -> Invitation:
    """Read an invitation code; raise :class:`InvalidInvitation` saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidInvitation("an invitation code is text")
    text = text.strip()
    if len(text) > _MAX_TEXT:
        raise InvalidInvitation("that is far too long to be an invitation code")
    if text.upper().startswith("HR1-"):
        raise InvalidInvitation("that invitation code is from an older version of Hedgerow "
                                "(HR1-); ask for a new one")
    if not text.upper().startswith(INVITATION_PREFIX):
        raise InvalidInvitation(f"an invitation code starts with {INVITATION_PREFIX}")
    try:
        raw = base32_decode(text[len(INVITATION_PREFIX):], what="invitation code")
    except InvalidIdText as exc:
        position = (exc.position or 0) + len(INVITATION_PREFIX)
        raise InvalidInvitation(
            f"character {position} cannot appear in an invitation code") from exc
    body, check = raw[:-_CHECK], raw[-_CHECK:]
    if len(raw) <= _CHECK or _check(body) != check:
        raise InvalidInvitation(
            "the invitation code does not check out: a character was mistyped or the "
            "code was cut short; copy it again")
    try:
        value = decode(body, max_bytes=_MAX_TEXT)
    except DecodeError as exc:
        raise InvalidInvitation("the invitation code is damaged") from exc
    if (not isinstance(value, list) or len(value) != 6
            or not all(isinstance(v, bytes) for v in (value[0], value[1], value[3], value[4]))
            or not isinstance(value[2], str) or type(value[5]) is not int):
        raise InvalidInvitation("the invitation code is damaged")
    return Invitation(value[0], value[1], value[2], value[3], value[4], value[5])


def join_proof(secret: bytes, network: bytes, invitation_id: bytes, node: bytes) -> bytes:
    """What a joining node sends to show it holds the invitation's secret.

    HMAC-SHA256 under the secret over the network, the invitation id and the
    joining node's own id: useless for any other node or network.
    """
    return hmac.new(secret, _PROOF_DOMAIN + network + invitation_id + node,
                    hashlib.sha256).digest()


def check_join_proof(secret: bytes, network: bytes, invitation_id: bytes, node: bytes,
                     proof: bytes) -> bool:
    """Whether ``proof`` is :func:`join_proof` for this node (compared in constant time)."""
    return hmac.compare_digest(join_proof(secret, network, invitation_id, node), proof)
