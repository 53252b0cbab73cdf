"""Signed entries as peers would send them, made with deterministic keys."""

from __future__ import annotations

import hashlib
from typing import Any

from protocol import Entry, NodeKey, SignedEntry, credit_key, sign_entry

#: The network every test node belongs to.
NETWORK = hashlib.sha256(b"hedgerow test network").digest()
OTHER_NETWORK = hashlib.sha256(b"another network").digest()


def peer_key(name: str | int) -> NodeKey:
    return NodeKey.from_seed(hashlib.sha256(f"peer {name}".encode()).digest())


def practice(key: NodeKey, practice_key: str, version: int, *, title: str = "Play street",
             network: bytes = NETWORK, **fields: Any) -> SignedEntry:
    body = {"status": "active", "title": title, **fields}
    return sign_entry(key, Entry(network, key.public, "practice", practice_key, version, body))


def retract(key: NodeKey, practice_key: str, version: int, *, reason: str = "",
            network: bytes = NETWORK) -> SignedEntry:
    body = {"reason": reason} if reason else {}
    return sign_entry(key, Entry(network, key.public, "retract", practice_key, version, body))


def profile(key: NodeKey, version: int, *, name: str = "Tenants", level: str = "local",
            network: bytes = NETWORK) -> SignedEntry:
    body = {"level": level, "name": name}
    return sign_entry(key, Entry(network, key.public, "profile", "profile", version, body))


def credit(key: NodeKey, to: bytes, practice_key: str, version: int, *, note: str = "",
           network: bytes = NETWORK) -> SignedEntry:
    body: dict[str, Any] = {"practice": practice_key, "to": to}
    if note:
        body["note"] = note
    return sign_entry(key, Entry(network, key.public, "credit", credit_key(to, practice_key),
                                 version, body))
