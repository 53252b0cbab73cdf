"""Rumour mongering: passing new entries on until enough peers already had them.

Demers et al., "Epidemic algorithms for replicated database maintenance"
(1987), §1.4: a node that takes in new entries becomes *infective* and keeps
pushing them to random peers; with the *feedback, counter* variant, it loses
interest once :data:`ALREADY_HELD_LIMIT` peers it pushed to already held
them. Anti-entropy (the periodic sync rounds) repairs whatever the rumours
miss. The paper's table 1 gives 96 % of 1,000 nodes hearing a rumour from
the rumour alone with a limit of 2 and 99 % with 3; ``hedgerow simulate``,
where a node pushes only to the peers of its partial view, one push at a
time, measures 94 % and 98 % (docs/simulation.md), hence 3.

Rules (pure functions: the running node and ``hedgerow simulate`` run the
same ones):

1. A :class:`Rumour` starts when a node takes in or publishes new entries;
   it is never pushed back to the peer it came from.
2. :func:`next_targets` picks, for each live rumour with no push in
   flight, one peer at random that it has not been pushed to and that has
   no push in flight (a node pushes to a peer once at a time, all its
   rumours for that peer together). A rumour's pushes follow one another,
   so that each outcome counts before the next peer is chosen — except its
   first, which goes to ``width`` peers at once (an author tells a few
   peers at once: DESIGN.md "Dissemination").
3. :func:`after_push`: a peer that already held every entry counts towards
   the limit; one that took any entry does not; a peer that could not be
   reached is skipped (another is chosen next time). A rumour dies at the
   limit, when no peer is left to try, or after :data:`MAX_PUSHES` pushes.
   A push not answered within :data:`PUSH_TIMEOUT_MS` has failed.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

__all__ = [
    "ALREADY_HELD_LIMIT",
    "MAX_PUSHES",
    "PUSH_TIMEOUT_MS",
    "PushOutcome",
    "Rumour",
    "after_push",
    "alive",
    "next_targets",
    "outcome_of",
    "sent",
]

#: Peers that already held a rumour's entries before the node stops pushing it
#: (Demers et al. 1987, §1.4, feedback and counter: the share of nodes a rumour
#: misses falls about e-fold with each step of the counter). Measured with
#: ``hedgerow simulate`` (docs/simulation.md): with 3, one publication in ten
#: missed a node of a 20-node network and waited for anti-entropy; with 5, one
#: in two hundred, for about a quarter more messages per node.
ALREADY_HELD_LIMIT: Final = 5
#: Pushes of one rumour at the most, whatever happens (bounded work).
MAX_PUSHES: Final = 32
#: A relay push unanswered this long has failed (rule 3): the rumour moves on
#: to another peer rather than waiting out the sync request timeout, since
#: while it waits the rumour stands still (a peer that slow is reached by
#: anti-entropy anyway); long enough for a full push over a slow uplink.
PUSH_TIMEOUT_MS: Final = 10_000

class _Shuffler(Protocol):
    def shuffle(self, x: list[Any]) -> None: ...


class PushOutcome(enum.Enum):
    TOOK = "took"  # the peer took at least one of the entries: it had not heard
    HELD = "held"  # it held them all already
    FAILED = "failed"  # unreachable, refused, or a bad reply


@dataclass(frozen=True, slots=True)
class Rumour:
    """New entries this node passes on, and whom it has pushed them to."""

    ids: frozenset[bytes]
    source: str | None = None  # the peer they came from (rule 1)
    tried: frozenset[str] = frozenset()
    already_held: int = 0
    pushes: int = 0
    width: int = 1  # peers its first push goes to at once (rule 2)
    in_flight: frozenset[str] = frozenset()  # peers a push is on its way to


def next_targets(rumours: Sequence[Rumour], peers: Sequence[str], busy: Collection[str],
                 rng: _Shuffler) -> dict[str, list[int]]:
    """Rule 2: for each live rumour with no push in flight, untried peers at random.

    One peer each, or ``width`` for a rumour's first push. Returns ``{peer:
    [index of each rumour to push there]}``; a peer in ``busy`` (a push in
    flight) is never chosen.
    """
    out: dict[str, list[int]] = {}
    for index, rumour in enumerate(rumours):
        if rumour.in_flight:
            continue
        candidates = [p for p in peers if p not in rumour.tried and p != rumour.source
                      and p not in busy]
        if not candidates:
            continue
        rng.shuffle(candidates)
        count = max(1, rumour.width) if rumour.pushes == 0 else 1
        for peer in candidates[:count]:
            out.setdefault(peer, []).append(index)
    return out


def sent(rumour: Rumour, peers: Iterable[str]) -> Rumour:
    """The rumour while a push to each of ``peers`` is on its way."""
    return replace(rumour, in_flight=rumour.in_flight | frozenset(peers))


def after_push(rumour: Rumour, peer: str, outcome: PushOutcome) -> Rumour | None:
    """Rule 3: the rumour after a push to ``peer``, or None once it dies."""
    held = rumour.already_held + (1 if outcome is PushOutcome.HELD else 0)
    pushes = rumour.pushes + 1
    if held >= ALREADY_HELD_LIMIT or pushes >= MAX_PUSHES:
        return None
    return replace(rumour, tried=rumour.tried | {peer}, already_held=held, pushes=pushes,
                   in_flight=rumour.in_flight - {peer})


def alive(rumour: Rumour, peers: Iterable[str]) -> bool:
    """Whether a push is on its way or a peer is left to push ``rumour`` to (rule 3)."""
    return bool(rumour.in_flight) or any(p not in rumour.tried and p != rumour.source
                                         for p in peers)


def outcome_of(statuses: Mapping[bytes, str] | Sequence[str]) -> PushOutcome:
    """A push's outcome from the receiver's verdict on each entry (protocol.messages)."""
    values = statuses.values() if isinstance(statuses, Mapping) else statuses
    return PushOutcome.TOOK if any(v in ("accepted", "fork", "pending") for v in values) \
        else PushOutcome.HELD
