"""Signed entries as peers would send them, made with deterministic keys.

Every node here belongs to :data:`tests.members.TEST_NETWORK`; :data:`ROSTER`
are the peers a test store has admitted from the start (``tests/node/conftest.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from protocol import Entry, NodeKey, SignedEntry, credit_key, retract_key, sign_entry

from ..members import TEST_NETWORK, MemberNetwork

#: The network every test node belongs to.
NETWORK = TEST_NETWORK.network
OTHER_NETWORK = MemberNetwork("another network").network


def peer_key(name: str | int) -> NodeKey:
    return NodeKey.from_seed(hashlib.sha256(f"peer {name}".encode()).digest())


#: Peers every test store has admitted: numbered ones and the names tests use.
ROSTER: tuple[NodeKey, ...] = tuple(peer_key(n) for n in (
    *range(64), "alice", "bob", "mallory", "clumsy", "x", "victim", "rogue", "playing out",
    "pest", "one more", "old", "late", "intruder", "held", "friend", "f", "chatty", "alien",
    "a", "views alice", "views bob", "pre alice", "pre bob", "pre carol", "equivalence 0",
    "equivalence 1", "equivalence 2"))


def admitted(*keys: NodeKey) -> list[SignedEntry]:
    """The founder's admissions of ``keys``, to ingest before their entries."""
    return TEST_NETWORK.admissions(*keys)


def admitted_by_a_member(*keys: NodeKey) -> list[SignedEntry]:
    """Admissions of ``keys`` by a member of the roster rather than the founder: the
    founder's admission versions count up, and some tests rely on where they are."""
    return TEST_NETWORK.admissions(*keys, by=ROSTER[0])


def practice(key: NodeKey, practice_key: str, version: int, *, title: str = "Play street",
             network: bytes = NETWORK, **fields: Any) -> SignedEntry:
    body = {"status": "active", "title": title, **fields}
    return sign_entry(key, Entry(network, key.public, "practice", practice_key, version, body))


def retract(key: NodeKey, practice_key: str, version: int, *, reason: str = "",
            network: bytes = NETWORK) -> SignedEntry:
    body = {"reason": reason} if reason else {}
    return sign_entry(key, Entry(network, key.public, "retract",
                                 retract_key("practice", practice_key), version, body))


def profile(key: NodeKey, version: int, *, name: str = "Tenants", level: str = "local",
            network: bytes = NETWORK, addresses: Sequence[str] = ()) -> SignedEntry:
    body: dict[str, Any] = {"level": level, "name": name}
    if addresses:
        body["addresses"] = list(addresses)
    return sign_entry(key, Entry(network, key.public, "profile", "profile", version, body))


def credit(key: NodeKey, to: bytes, practice_key: str, version: int, *, note: str = "",
           network: bytes = NETWORK) -> SignedEntry:
    body: dict[str, Any] = {"practice": practice_key, "to": to}
    if note:
        body["note"] = note
    return sign_entry(key, Entry(network, key.public, "credit", credit_key(to, practice_key),
                                 version, body))
