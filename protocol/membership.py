"""Membership: who belongs to a network, worked out from its signed entries alone.

Rules (DESIGN.md "Membership"):

1. The author of the network's ``genesis`` entry, the founder, is a member.
   It gets no other power: its admissions count like anyone's.
2. An ``admit`` entry by a member makes the node it names a member. A node
   is a member while a chain of current admissions leads to it from the
   founder: membership is reachability from the founder.
3. A withdrawn admission (its slot now holds a ``retract``) is no edge. A
   node admitted by several members stays a member while any chain remains;
   a cycle of admissions with no chain from the founder admits no one.
4. Each member's place in the network's own lineage is its shortest chain
   from the founder; among admissions on equally short chains, the earliest
   (lowest version, then lowest admitter id) names who admitted it.

Everything here is pure: any node checks membership offline from the
entries it holds, and :class:`Membership` keeps the answer up to date as
admissions arrive one by one, equal at every step to :func:`members_of`
computed from scratch (tests/protocol/test_membership.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Admission", "Member", "Membership", "members_of", "withdrawal_preview"]


@dataclass(frozen=True, slots=True, order=True)
class Admission:
    """A current ``admit`` entry: ``admitter`` admitted ``node`` at ``version``."""

    admitter: bytes
    node: bytes
    version: int


@dataclass(frozen=True, slots=True)
class Member:
    """A member and its place in the network's lineage (rule 4)."""

    node: bytes
    admitted_by: bytes | None  # None for the founder
    version: int  # of the admission that placed it (0 for the founder)
    depth: int  # admissions on its shortest chain from the founder


def members_of(founder: bytes | None, admissions: Iterable[Admission]) -> dict[bytes, Member]:
    """Every member, found breadth first from the founder (rules 1–4)."""
    if founder is None:
        return {}
    by_admitter: dict[bytes, list[Admission]] = {}
    for admission in admissions:
        by_admitter.setdefault(admission.admitter, []).append(admission)
    members = {founder: Member(founder, None, 0, 0)}
    level = [founder]
    depth = 0
    while level:
        depth += 1
        best: dict[bytes, Admission] = {}
        for admitter in level:
            for admission in by_admitter.get(admitter, ()):
                node = admission.node
                if node in members:
                    continue
                held = best.get(node)
                if held is None or (admission.version, admission.admitter) < (
                        held.version, held.admitter):
                    best[node] = admission
        for node, admission in best.items():
            members[node] = Member(node, admission.admitter, admission.version, depth)
        level = sorted(best)
    return members


class Membership:
    """Members of one network, kept up to date as admissions come and go.

    Adding an admission extends the members at once (the common case, as
    admissions spread); a withdrawal or a removed admission can end other
    nodes' membership, so the answer is then worked out again from scratch.
    """

    def __init__(self, founder: bytes | None = None,
                 admissions: Iterable[Admission] = ()) -> None:
        self._founder = founder
        self._edges: dict[bytes, dict[bytes, int]] = {}  # admitter -> node -> version
        for admission in admissions:
            self._edges.setdefault(admission.admitter, {})[admission.node] = admission.version
        self._members = members_of(founder, self.admissions())

    @property
    def founder(self) -> bytes | None:
        return self._founder

    @property
    def members(self) -> Mapping[bytes, Member]:
        return self._members

    def __contains__(self, node: object) -> bool:
        return node in self._members

    def __len__(self) -> int:
        return len(self._members)

    def admissions(self) -> list[Admission]:
        return sorted(Admission(admitter, node, version)
                      for admitter, nodes in self._edges.items()
                      for node, version in nodes.items())

    def found(self, founder: bytes) -> set[bytes]:
        """The genesis arrived: its author is the founder. Returns the new members."""
        if self._founder == founder:
            return set()
        before = set(self._members)
        self._founder = founder
        self._members = members_of(founder, self.admissions())
        return set(self._members) - before

    def admit(self, admission: Admission) -> set[bytes]:
        """An admission is current now (new, or a newer version). Returns the new members."""
        self._edges.setdefault(admission.admitter, {})[admission.node] = admission.version
        admitter = self._members.get(admission.admitter)
        if admitter is None:
            return set()  # not a member (yet): the edge waits (rule 2)
        node = self._members.get(admission.node)
        if node is not None:
            if node.admitted_by is not None and node.depth >= admitter.depth + 1:
                # A chain as short or shorter: who is recorded as the admitter
                # may change (rule 4), never who is a member.
                self._members = members_of(self._founder, self.admissions())
            return set()
        return self._grow(admission, admitter.depth + 1)

    def _grow(self, admission: Admission, depth: int) -> set[bytes]:
        """Add ``admission.node`` and everything only it now reaches, breadth first.

        No earlier member admitted any of them (else they would be members),
        so their shortest chains run through the new node; only an
        admission from a new node to an earlier member deeper down can move
        that member in the lineage, and then the lineage is worked out again.
        """
        members = self._members
        level = {admission.node: Member(admission.node, admission.admitter, admission.version,
                                        depth)}
        added: set[bytes] = set()
        reshape = False
        while level:
            members.update(level)
            added.update(level)
            depth += 1
            best: dict[bytes, Member] = {}
            for admitter in sorted(level):
                for node, version in self._edges.get(admitter, {}).items():
                    held = members.get(node)
                    if held is not None:
                        reshape = reshape or (held.admitted_by is not None
                                              and held.depth >= depth)
                        continue
                    chosen = best.get(node)
                    if chosen is None or (version, admitter) < (chosen.version,
                                                                 chosen.admitted_by or b""):
                        best[node] = Member(node, admitter, version, depth)
            level = best
        if reshape:
            self._members = members_of(self._founder, self.admissions())
        return added

    def withdraw(self, admitter: bytes, node: bytes) -> set[bytes]:
        """An admission is no longer current. Returns the nodes no longer members."""
        nodes = self._edges.get(admitter)
        if nodes is None or node not in nodes:
            return set()
        del nodes[node]
        if not nodes:
            del self._edges[admitter]
        before = set(self._members)
        self._members = members_of(self._founder, self.admissions())
        return before - set(self._members)

    def forget(self, admitter: bytes) -> set[bytes]:
        """Every admission by ``admitter`` is gone. Returns the nodes no longer members."""
        if admitter not in self._edges:
            return set()
        del self._edges[admitter]
        before = set(self._members)
        self._members = members_of(self._founder, self.admissions())
        return before - set(self._members)


def withdrawal_preview(founder: bytes | None, admissions: Iterable[Admission],
                       admitter: bytes, node: bytes) -> set[bytes]:
    """The nodes whose membership would end if ``admitter`` withdrew its admission of ``node``."""
    kept = list(admissions)
    before = set(members_of(founder, kept))
    after = set(members_of(founder, [a for a in kept
                                     if not (a.admitter == admitter and a.node == node)]))
    return before - after
