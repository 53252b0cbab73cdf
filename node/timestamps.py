"""Milliseconds since the epoch as dates people read, for any value a store may hold.

Versions come from peers: a version is checked at the door (no more than an
hour ahead), but a database may hold anything an older release accepted, and
no stored value may make a view, page or export fail (DESIGN.md "Limits").
So every conversion clamps to the dates Python can write, 0001-01-01 to
9999-12-31, instead of raising.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

__all__ = ["clamped_ms", "utc_datetime"]

_MIN_MS: Final = int(datetime(1, 1, 2, tzinfo=UTC).timestamp() * 1000)
_MAX_MS: Final = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)


def clamped_ms(ms: int) -> int:
    """``ms`` within the range of dates that can be written."""
    return min(max(ms, _MIN_MS), _MAX_MS)


def utc_datetime(ms: int) -> datetime:
    """The UTC moment of ``ms``, clamped to the dates that can be written."""
    return datetime.fromtimestamp(clamped_ms(ms) / 1000, UTC)
