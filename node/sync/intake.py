"""Entries arriving from peers, whether pushed to us or fetched by us.

One path for both directions: refuse entries by blocked authors, ingest the
rest (:meth:`node.store.Store.ingest`), and tell the event bus what came in
(with the ids, which the relay passes on) and which forks were found. Peers'
addresses are not taken from the profiles that come in: the peer view draws
them from the profiles held, a sample at a time (node/sync/view.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol import SignedEntry, id_to_text

from ..events import EntriesReceived, EventBus, ForkDetected
from ..store.ingest import IngestStatus, Outcome
from ..store.store import Store

__all__ = ["take_in"]


async def take_in(store: Store, events: EventBus, entries: Sequence[SignedEntry], *,
                  peer: str, blocked: frozenset[bytes]) -> list[Outcome]:
    """Ingest ``entries`` from ``peer``; one outcome per entry, in order."""
    outcomes = await store.ingest(entries, refuse_authors=blocked)
    accepted = tuple(o.entry_id for o in outcomes if o.status is IngestStatus.ACCEPTED)
    if accepted:
        events.publish(EntriesReceived(peer, len(accepted), accepted))
    fork_ids = {o.entry_id for o in outcomes if o.status is IngestStatus.FORK}
    if fork_ids:
        for fork in await store.forks():
            if fork.first_id in fork_ids or fork.second_id in fork_ids:
                events.publish(ForkDetected(id_to_text(fork.author), fork.version))
    return outcomes
