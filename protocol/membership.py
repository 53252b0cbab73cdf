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

    Who is a member (:attr:`nodes`, ``in``) is kept at every step: an
    admission by a member of an outsider extends it by a walk from the new
    member; a withdrawal, which can end other nodes' membership, walks the
    admissions from the founder again (reachability only, cheap). Where each
    member stands in the lineage (:attr:`members`, rule 4) changes more often
    than who is a member — every further admission of a member may move it —
    so it is worked out only when asked for, once after any number of
    changes: an ingest asks once per batch, so admissions arriving in any
    order never cost a lineage each.
    """

    def __init__(self, founder: bytes | None = None,
                 admissions: Iterable[Admission] = ()) -> None:
        self._founder = founder
        self._edges: dict[bytes, dict[bytes, int]] = {}  # admitter -> node -> version
        for admission in admissions:
            self._edges.setdefault(admission.admitter, {})[admission.node] = admission.version
        self._nodes = self._reachable()
        self._lineage: dict[bytes, Member] | None = None  # None: to be worked out

    @property
    def founder(self) -> bytes | None:
        return self._founder

    @property
    def nodes(self) -> frozenset[bytes]:
        """Who is a member now."""
        return frozenset(self._nodes)

    @property
    def members(self) -> Mapping[bytes, Member]:
        """Every member and its place in the lineage (worked out when first asked for)."""
        if self._lineage is None:
            self._lineage = members_of(self._founder, self.admissions())
        return self._lineage

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def admissions(self) -> list[Admission]:
        return sorted(Admission(admitter, node, version)
                      for admitter, nodes in self._edges.items()
                      for node, version in nodes.items())

    def _reachable(self) -> set[bytes]:
        """The members by rule 2 alone: whom the founder's admissions reach."""
        if self._founder is None:
            return set()
        seen = {self._founder}
        stack = [self._founder]
        while stack:
            for node in self._edges.get(stack.pop(), ()):
                if node not in seen:
                    seen.add(node)
                    stack.append(node)
        return seen

    def found(self, founder: bytes) -> set[bytes]:
        """The genesis arrived: its author is the founder. Returns the new members."""
        if self._founder == founder:
            return set()
        before = self._nodes
        self._founder = founder
        self._nodes = self._reachable()
        self._lineage = None
        return self._nodes - before

    def admit(self, admission: Admission) -> set[bytes]:
        """An admission is current now (new, or a newer version). Returns the new members."""
        nodes = self._edges.setdefault(admission.admitter, {})
        if nodes.get(admission.node) == admission.version:
            return set()
        nodes[admission.node] = admission.version
        self._lineage = None  # the lineage may move, even when no one new joins
        if admission.admitter not in self._nodes or admission.node in self._nodes:
            return set()
        # A member admitted an outsider: it, and whoever only it reaches, join.
        added = {admission.node}
        stack = [admission.node]
        members = self._nodes
        members.add(admission.node)
        while stack:
            for node in self._edges.get(stack.pop(), ()):
                if node not in members:
                    members.add(node)
                    added.add(node)
                    stack.append(node)
        return added

    def withdraw(self, admitter: bytes, node: bytes) -> set[bytes]:
        """An admission is no longer current. Returns the nodes no longer members."""
        nodes = self._edges.get(admitter)
        if nodes is None or node not in nodes:
            return set()
        del nodes[node]
        if not nodes:
            del self._edges[admitter]
        return self._recount()

    def forget(self, admitter: bytes) -> set[bytes]:
        """Every admission by ``admitter`` is gone. Returns the nodes no longer members."""
        if admitter not in self._edges:
            return set()
        del self._edges[admitter]
        return self._recount()

    def _recount(self) -> set[bytes]:
        before = self._nodes
        self._nodes = self._reachable()
        self._lineage = None
        return before - self._nodes


def withdrawal_preview(founder: bytes | None, admissions: Iterable[Admission],
                       admitter: bytes, node: bytes) -> set[bytes]:
    """The nodes whose membership would end if ``admitter`` withdrew its admission of ``node``."""
    kept = list(admissions)
    before = set(members_of(founder, kept))
    after = set(members_of(founder, [a for a in kept
                                     if not (a.admitter == admitter and a.node == node)]))
    return before - after
