"""Which links of "where our ideas travelled" each place has shown already.

A group sees, on its home page and in ``hedgerow status``, which of its
practices other groups adapted or credited (node/views/travelled.py), with
the ones new since its last look highlighted. Each place that shows the list
(a *viewer*: ``"home"``, ``"status"``) keeps its own memory here (migration
``m051_ideas_seen``), so that a script polling ``hedgerow status --json``
does not take the highlights away from the home page.

A link is named by signed values only (our practice, the other node, what it
did), never by local row numbers, so a newer version of the same adaptation
is not new again; a new adaptation or a new credit by the same group is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from .connection import write_transaction

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["VIEWERS", "mark_seen", "seen_links"]

#: The places that show where the ideas travelled.
VIEWERS = ("home", "status")


def _check(viewer: str) -> str:
    if viewer not in VIEWERS:
        raise InvalidInput(f"viewer: must be one of {', '.join(VIEWERS)}", field="viewer")
    return viewer


def seen_links(db: sqlite_utils.Database, viewer: str) -> set[str]:
    """The links ``viewer`` has shown before."""
    return {row[0] for row in db.conn.execute(
        "SELECT link FROM ideas_seen WHERE viewer = ?", (_check(viewer),))}


def mark_seen(db: sqlite_utils.Database, viewer: str, links: Iterable[str], *,
              now_ms: int) -> int:
    """Remember that ``viewer`` showed exactly ``links``; forget links no longer shown.

    Returns how many were new to it.
    """
    current = set(links)
    with write_transaction(db) as conn:
        known = {row[0] for row in conn.execute(
            "SELECT link FROM ideas_seen WHERE viewer = ?", (_check(viewer),))}
        gone = known - current
        conn.executemany("DELETE FROM ideas_seen WHERE viewer = ? AND link = ?",
                         [(viewer, link) for link in sorted(gone)])
        new = sorted(current - known)
        conn.executemany("INSERT INTO ideas_seen (viewer, link, seen_ms) VALUES (?, ?, ?)",
                         [(viewer, link, now_ms) for link in new])
    return len(new)
