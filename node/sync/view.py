"""The learned part of the peer book: a partial view, refreshed at random, fed by inbound sessions.

DESIGN.md "Discovery and topology": each node keeps a bounded, randomly
refreshed sample of peers drawn from the signed profiles it holds (partial
views, as in Cyclon or HyParView), never the whole network, plus the members
that sync with it. The decision is :func:`protocol.peers.refresh_view`; this
module feeds it a random sample of the profiles held
(:func:`peerbook.profile_candidates`) at each anti-entropy round — and, while
entries are arriving, every :data:`NEWS_REFRESH_S` at the most, so that a
young network finds itself within seconds rather than rounds — and records
the addresses of members that complete requests to this node (source
``inbound``).

Addresses are checked before they enter the book, as far as their text
allows (an IP literal the dial policy refuses never becomes a candidate; one
log line per address names the node and the reason); names are checked when
they are dialled (node/sync/dialling.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Final

from protocol import id_to_text
from protocol.peers import RandomSource, refresh_view

from ..events import EntriesReceived, Event
from ..store.store import Store
from . import peerbook
from .dialling import DialPolicy

__all__ = ["INBOUND_RECHECK_S", "NEWS_REFRESH_S", "PROFILE_SAMPLE", "PeerView"]

log = logging.getLogger(__name__)

#: Profiles drawn at random at each refresh: enough candidates to refill a
#: view, and a cost that does not grow with the network.
PROFILE_SAMPLE: Final = 64
#: How often the view is refreshed, at the most, because entries arrived.
NEWS_REFRESH_S: Final = 10.0
#: How often the addresses of one inbound member are looked up again.
INBOUND_RECHECK_S: Final = 300.0
#: Bounds on what this module remembers between calls.
_MEMORY: Final = 10_000


class PeerView:
    def __init__(self, store: Store, rng: RandomSource, policy: DialPolicy, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store, self.rng, self.policy = store, rng, policy
        self.monotonic = monotonic
        self._inbound_checked: dict[bytes, float] = {}
        self._refused_logged: set[str] = set()
        self._news = False
        self._refreshed_at: float | None = None

    def on_event(self, event: Event) -> None:
        """Event-bus subscriber: entries arrived (profiles among them, perhaps)."""
        if isinstance(event, EntriesReceived):
            self._news = True

    async def refresh_if_news(self) -> list[str]:
        """Refresh if entries arrived since the last refresh and it is not too soon."""
        if not self._news or (self._refreshed_at is not None and
                              self.monotonic() - self._refreshed_at < NEWS_REFRESH_S):
            return []
        return await self.refresh()

    async def refresh(self) -> list[str]:
        """One refresh of the view (protocol/peers.py rule 5); returns the addresses added."""
        self._news, self._refreshed_at = False, self.monotonic()
        candidates = self._dialable(await self.store.db.read(
            peerbook.profile_candidates, own=self.store.node_id, sample=PROFILE_SAMPLE))
        rows = await self.store.db.read(peerbook.list_peers)
        learned = [r for r in rows if r.learned]
        pinned = {r.address for r in rows if not r.learned}
        live = frozenset(r.address for r in learned
                         if r.health.failures == 0 and r.health.last_success_ms is not None)
        view = refresh_view([r.address for r in learned],
                            [a for a, _ in candidates if a not in pinned], self.rng, keep=live)
        added = await self.store.db.write(peerbook.apply_view, view, dict(candidates),
                                          now_ms=self.store.now_ms())
        if added:
            log.debug("peer view: %d new candidates", len(added))
        return added

    async def inbound(self, node: bytes) -> list[str]:
        """A member completed a request to this node: record where it can be reached.

        Looked up at most every :data:`INBOUND_RECHECK_S` per node once its
        profile is held; a member whose profile announces no address (behind
        a home router) syncs by calling, and is not recorded.
        """
        now = self.monotonic()
        last = self._inbound_checked.get(node)
        if last is not None and now - last < INBOUND_RECHECK_S:
            return []
        addresses = await self.store.db.read(peerbook.profile_addresses, node)
        if not addresses:
            return []  # no profile yet (it may arrive in this very session): ask again next time
        if len(self._inbound_checked) >= _MEMORY:
            self._inbound_checked.clear()
        self._inbound_checked[node] = now
        candidates = self._dialable([(a, node) for a in addresses])
        added = await self.store.db.write(peerbook.learn_peers, candidates, source="inbound",
                                          now_ms=self.store.now_ms())
        if added:
            log.info("node %s synced with this node; it is reached at %s",
                     id_to_text(node)[:7], ", ".join(added))
        return added

    def _dialable(self, candidates: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        out = []
        for address, node in candidates:
            reason = self.policy.check_url(address, learned=True)
            if reason is None:
                out.append((address, node))
                continue
            if address not in self._refused_logged:
                if len(self._refused_logged) >= _MEMORY:
                    self._refused_logged.clear()
                self._refused_logged.add(address)
                log.info("not dialling %s, announced by node %s: %s", address,
                         id_to_text(node)[:7], reason)
        return out
