"""Networks with members, for tests and benchmarks: a genesis, and admissions.

Every node's store keeps only members' entries (DESIGN.md "Membership"), so a
test that feeds a store entries from other nodes first gives it the
network's genesis and those nodes' admissions. :class:`MemberNetwork` makes
them, deterministically: a founder key, a nonce, the network id derived from
both, and an admission (signed by the founder, or by any member) for any
node. :data:`TEST_NETWORK` is the network the test fixtures use.

    net = MemberNetwork("my test")
    store.ingest([*net.founding(), *net.admissions(alice.public, bob.public)])
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from protocol import Entry, NodeKey, SignedEntry, admit_key, network_id_of, sign_entry

__all__ = ["GENESIS_VERSION", "TEST_NETWORK", "MemberNetwork", "admit_offline"]

#: The genesis version of test networks: 1, so that a network's membership
#: precedes whatever versions (and whatever clock) a test uses.
GENESIS_VERSION = 1


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"hedgerow member network: {label}".encode()).digest()


class MemberNetwork:
    """A network founded by a deterministic key, and admissions into it."""

    def __init__(self, name: str = "test network", *,
                 genesis_version: int = GENESIS_VERSION) -> None:
        self.founder = NodeKey.from_seed(_seed(f"{name} founder"))
        self.nonce = _seed(f"{name} nonce")[:16]
        self.network = network_id_of(self.founder.public, self.nonce)
        self.genesis_version = genesis_version
        self.genesis = sign_entry(self.founder, Entry(
            self.network, self.founder.public, "genesis", "genesis", genesis_version,
            {"nonce": self.nonce}))
        # Admissions already made, so that the same admission is the same
        # entry wherever a test asks for it (another would be a fork), and
        # the last version each admitter used.
        self._made: dict[tuple[bytes, bytes], SignedEntry] = {}
        self._last: dict[bytes, int] = {}

    def admission(self, node: bytes, *, by: NodeKey | None = None) -> SignedEntry:
        """``by`` (default: the founder) admits ``node``.

        Versions count up from the genesis, one per admission, so that they
        stay far below any version or clock a test uses (protocol.versions
        rule 6 refuses versions ahead of the receiver's clock).
        """
        admitter = by or self.founder
        made = self._made.get((admitter.public, node))
        if made is None:
            version = self._last.get(admitter.public, self.genesis_version) + 1
            self._last[admitter.public] = version
            made = self._made[(admitter.public, node)] = sign_entry(admitter, Entry(
                self.network, admitter.public, "admit", admit_key(node), version,
                {"node": node}))
        return made

    def admissions(self, *nodes: bytes | NodeKey, by: NodeKey | None = None
                   ) -> list[SignedEntry]:
        """Admissions of ``nodes`` (ids or keys) by ``by`` (default: the founder)."""
        return [self.admission(n.public if isinstance(n, NodeKey) else n, by=by)
                for n in nodes if (n.public if isinstance(n, NodeKey) else n)
                != (by or self.founder).public]

    def founding(self) -> list[SignedEntry]:
        """The genesis, which any store of the network takes first."""
        return [self.genesis]

    def membership(self, nodes: Iterable[bytes | NodeKey]) -> list[SignedEntry]:
        """The genesis and the founder's admission of every one of ``nodes``."""
        return [self.genesis, *self.admissions(*nodes)]


#: The network every test fixture's nodes belong to.
TEST_NETWORK = MemberNetwork()


def admit_offline(founder_dir: Path, node_dir: Path, *, now_ms: int) -> None:
    """The founder of ``founder_dir``'s network admits the node in ``node_dir``, which then
    holds the genesis and its admission: as if it had joined, without a network between.

    For benchmarks and tests that start real nodes already members of one network.
    """
    from node import open_node
    from node.store.feed import publish_admission
    from node.store.ingest import ingest_batch

    key, node_db = open_node(node_dir)
    try:
        founder_key, founder_db = open_node(founder_dir)
        try:
            admission = publish_admission(founder_db, founder_key, key.public, now_ms=now_ms)
            genesis = founder_db.conn.execute(
                "SELECT payload, sig FROM entries WHERE kind = 'genesis'").fetchone()
        finally:
            founder_db.close()
        ingest_batch(node_db, [SignedEntry(genesis[0], genesis[1]), admission], now_ms=now_ms)
    finally:
        node_db.close()
