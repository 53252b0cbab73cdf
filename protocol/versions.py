"""Versions: the hybrid logical clock, which entry is current, and forks.

Rules (DESIGN.md "Entry identity and versions"):

1. A version is a per-author hybrid logical clock in milliseconds: wall-clock
   time, but always greater than any version the author has used or seen of
   itself (:func:`next_version`). It only ever increases, even on a Pi whose
   clock is wrong.
2. Entries occupy **slots** ``(author, family, key)``. A ``retract`` takes
   the slot of the entry it withdraws (its key is ``<kind>:<key>``), so a
   retraction replaces that entry (and a later republish replaces the
   retraction).
3. In a slot the highest version is current; an older one is deleted.
4. Versions are unique per author across all slots. Two *different* entries
   by one author with the same version are a **fork**: both are kept as
   proof, both spread, and the author is flagged.
5. The same entry again is a duplicate: receiving is idempotent.
6. A version more than :data:`MAX_AHEAD_MS` (an hour) ahead of the
   receiver's clock is refused (DESIGN.md "Limits"): one far-future version
   would otherwise hold its slot against every honest later one. It is not
   stored, so it is fetched again once it is no longer in the future.

:func:`judge` applies rules 3–5 to one incoming entry given what the store
holds; the store carries out the verdict.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from .bodies import retract_target

__all__ = ["MAX_AHEAD_MS", "Slot", "Verdict", "judge", "next_version", "slot_of",
           "too_far_ahead"]

#: How far ahead of the receiver's clock a version may be (rule 6).
MAX_AHEAD_MS: Final = 3_600_000


@dataclass(frozen=True, slots=True)
class Slot:
    author: bytes
    family: str
    key: str


def slot_of(author: bytes, kind: str, key: str) -> Slot:
    """The slot an entry occupies (rule 2); a retraction the slot it withdraws."""
    if kind == "retract":
        target_kind, target_key = retract_target(key)
        return Slot(author, target_kind, target_key)
    return Slot(author, kind, key)


def too_far_ahead(version: int, now_ms: int) -> bool:
    """Whether a version is too far in the receiver's future to accept (rule 6)."""
    return version > now_ms + MAX_AHEAD_MS


def next_version(now_ms: int, highest_seen: int) -> int:
    """The next version an author issues (rule 1).

    ``highest_seen`` is the highest version of this author's entries the
    node has used or received (0 if none).
    """
    return max(now_ms, highest_seen + 1)


class Verdict(enum.Enum):
    ACCEPT = "accepted"  # new slot, or newer than the current entry (which it replaces)
    DUPLICATE = "duplicate"  # this exact entry is already held
    STALE = "stale"  # the slot holds a newer version
    FORK = "fork"  # another entry by this author has the same version


def judge(
    entry_id: bytes,
    version: int,
    *,
    same_version_id: bytes | None,
    current_version: int | None,
) -> Verdict:
    """Decide what to do with an incoming entry.

    ``same_version_id``: the id of a held entry by the same author with the
    same version, if any. ``current_version``: the version of the held
    current entry in the incoming entry's slot, if any.
    """
    if same_version_id is not None:
        return Verdict.DUPLICATE if same_version_id == entry_id else Verdict.FORK
    if current_version is not None and current_version > version:
        return Verdict.STALE
    return Verdict.ACCEPT
