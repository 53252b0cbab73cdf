"""Talking to peers: the sync server and client, the peer book, gossip, discovery, limits.

Holds the HTTP side of the wire protocol (:mod:`.wire`), the server
(:mod:`.server`) and client (:mod:`.client`) of a sync session, how entries
from peers are taken in (:mod:`.intake`), the peer book (:mod:`.peerbook`),
when and with whom to sync (:mod:`.gossip`), mDNS (:mod:`.discovery`) and
request limits (:mod:`.limits`). May import protocol/, node.store and the
top-level node modules; never views, exports or web.
"""

__all__: list[str] = []
