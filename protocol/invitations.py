"""Invitation codes: everything a new node needs to join a network, in one line.

An invitation carries the network id, the inviting node's id and an address
where the inviter can be reached. Its text form is ``HR1-`` followed by
Crockford base32 (case-insensitive, dashes ignored) of::

    canonical msgpack [network id, inviter id, address] + first 5 bytes of
    SHA-256(b"hedgerow/invitation/v1\\x00" + that msgpack)

The check bytes catch typos and truncation (a wrong code fails with
probability 1 − 2⁻⁴⁰ of being noticed). An invitation is not a secret and
grants nothing by itself: it tells the new node whom to ask first, and the
network id it must sign for.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from .errors import DecodeError, InvalidIdText, InvalidInvitation
from .ids import base32_decode, base32_encode
from .wire import decode, encode

__all__ = ["INVITATION_PREFIX", "Invitation", "format_invitation", "parse_invitation"]

INVITATION_PREFIX: Final = "HR1-"
_CHECK: Final = 5
_DOMAIN: Final = b"hedgerow/invitation/v1\x00"
_URL = re.compile(r"https?://[^\s/?#]+(?::\d{1,5})?(?:/[^\s]*)?\Z")
_MAX_TEXT: Final = 600


@dataclass(frozen=True, slots=True)
class Invitation:
    network: bytes
    inviter: bytes
    address: str

    def __post_init__(self) -> None:
        if len(self.network) != 32 or len(self.inviter) != 32:
            raise InvalidInvitation("network and inviter ids are 32 bytes")
        if len(self.address) > 200 or not _URL.match(self.address):
            raise InvalidInvitation("the inviter's address must be an http:// or https:// URL")


def _check(body: bytes) -> bytes:
    return hashlib.sha256(_DOMAIN + body).digest()[:_CHECK]


def format_invitation(invitation: Invitation) -> str:
    body = encode([invitation.network, invitation.inviter, invitation.address])
    text = base32_encode(body + _check(body))
    return INVITATION_PREFIX + "-".join(text[i : i + 8] for i in range(0, len(text), 8))


def parse_invitation(text: str) -> Invitation:
    """Read an invitation code; raise :class:`InvalidInvitation` saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidInvitation("an invitation code is text")
    text = text.strip()
    if len(text) > _MAX_TEXT:
        raise InvalidInvitation("that is far too long to be an invitation code")
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
    if (not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], bytes)
            or not isinstance(value[1], bytes) or not isinstance(value[2], str)):
        raise InvalidInvitation("the invitation code is damaged")
    return Invitation(value[0], value[1], value[2])
