"""Entries arriving from peers, whether pushed to us or fetched by us.

One path for both directions: refuse entries by blocked authors, ingest the
rest (:meth:`node.store.Store.ingest`), learn peer addresses from the signed
profiles that came in (DESIGN.md "Discovery: addresses carried in signed
profiles"), and tell the event bus what came in and which forks were found.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol import SignedEntry, decode, id_to_text

from ..errors import InvalidInput
from ..events import EntriesReceived, EventBus, ForkDetected
from ..store.ingest import IngestStatus, Outcome
from ..store.store import Store
from . import peerbook

__all__ = ["take_in"]

MAX_PROFILE_ADDRESSES = 4


async def take_in(store: Store, events: EventBus, entries: Sequence[SignedEntry], *,
                  peer: str, blocked: frozenset[bytes]) -> list[Outcome]:
    """Ingest ``entries`` from ``peer``; one outcome per entry, in order."""
    outcomes = await store.ingest(entries, refuse_authors=blocked)
    await _learn_addresses(store, [e for e, o in zip(entries, outcomes, strict=True)
                                   if o.status is IngestStatus.ACCEPTED and not o.own])
    accepted = sum(1 for o in outcomes if o.status is IngestStatus.ACCEPTED)
    if accepted:
        events.publish(EntriesReceived(peer, accepted))
    fork_ids = {o.entry_id for o in outcomes if o.status is IngestStatus.FORK}
    if fork_ids:
        for fork in await store.forks():
            if fork.first_id in fork_ids or fork.second_id in fork_ids:
                events.publish(ForkDetected(id_to_text(fork.author), fork.version))
    return outcomes


#: How the kind "profile" is encoded in a payload (a msgpack string of 7 bytes): an
#: entry without these bytes is no profile, and is not decoded again here.
_PROFILE_BYTES = b"\xa7profile"


async def _learn_addresses(store: Store, accepted: Sequence[SignedEntry]) -> None:
    for signed in accepted:
        if _PROFILE_BYTES not in signed.payload:
            continue  # cheap: a catch-up takes in a million entries, few of them profiles
        # Accepted entries were verified: decoding the payload is enough.
        payload = decode(signed.payload)
        if payload["kind"] != "profile":
            continue
        for address in payload["body"].get("addresses", ())[:MAX_PROFILE_ADDRESSES]:
            try:
                await store.db.write(peerbook.add_peer, address, source="profile",
                                     now_ms=store.now_ms(), node_id=payload["author"])
            except InvalidInput:
                continue  # a shape the peer book does not take (a path, say): skip it
