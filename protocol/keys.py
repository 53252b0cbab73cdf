"""Node keys: an Ed25519 key pair is a node's identity.

The private key is kept as its 32-byte seed (RFC 8032 §5.1.5), the form
libsodium, PyNaCl and the ``cryptography`` package all share. The public key
is the node id; :mod:`protocol.ids` gives its text form.

Generating a key needs randomness, which protocol/ does not read for itself:
the caller passes 32 bytes from the operating system's CSPRNG
(``NodeKey.from_seed(os.urandom(32))``), or a fixed seed in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import InvalidArgument, SignatureError
from .ids import id_to_text, short_id

__all__ = ["PUBLIC_KEY_LENGTH", "SEED_LENGTH", "SIGNATURE_LENGTH", "NodeKey", "public_key",
           "verify_signature"]

SEED_LENGTH = 32
PUBLIC_KEY_LENGTH = 32
SIGNATURE_LENGTH = 64


@dataclass(frozen=True)
class NodeKey:
    """A node's signing key. ``public`` (32 bytes) is the node id."""

    seed: bytes = field(repr=False)
    public: bytes = field(init=False)
    _private: Ed25519PrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_LENGTH:
            raise InvalidArgument(f"an Ed25519 seed is {SEED_LENGTH} bytes")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "public", private.public_key().public_bytes_raw())

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeKey:
        return cls(seed)

    @property
    def node_id(self) -> str:
        """The node id's checksummed text form."""
        return id_to_text(self.public)

    @property
    def short_id(self) -> str:
        return short_id(self.public)

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The ``cryptography`` key object, for modules that sign other things (HTTP)."""
        return self._private

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


@lru_cache(maxsize=4096)
def public_key(raw: bytes) -> Ed25519PublicKey:
    """Load a 32-byte Ed25519 public key (cached: a network has few authors)."""
    if len(raw) != PUBLIC_KEY_LENGTH:
        raise SignatureError(f"an Ed25519 public key is {PUBLIC_KEY_LENGTH} bytes",
                             code="bad_public_key")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SignatureError("not a valid Ed25519 public key", code="bad_public_key") from exc


def verify_signature(public: bytes, signature: bytes, message: bytes) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is ``public``'s over ``message``."""
    if len(signature) != SIGNATURE_LENGTH:
        raise SignatureError(
            f"signature is {len(signature)} bytes; Ed25519 signatures are {SIGNATURE_LENGTH}",
            code="bad_signature_length",
        )
    try:
        public_key(public).verify(signature, message)
    except InvalidSignature as exc:
        raise SignatureError("signature does not verify", code="bad_signature") from exc
