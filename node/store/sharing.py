"""Share policies: which parts of a practice record go into its signed summary.

What a summary shares is the group's choice, field by field (DESIGN.md,
privacy rule 2). A policy names fields from :data:`SHAREABLE_FIELDS` only;
the private fields (:data:`node.store.records.PRIVATE_PRACTICE_FIELDS`, voices,
exact observations, the notes on measures and adaptations) are not in that
set at all, so no policy can ever name them. ``title`` and ``status`` are
always shared: the protocol requires them. A new practice shares nothing
else until the group chooses.

For ``lessons`` the policy also says *which* lessons; for ``measures``,
which measures and how each is summarised (:class:`SharedMeasure`).

Small-number suppression (DESIGN.md, privacy rule 3)
----------------------------------------------------
Exact observations never leave the node. A shared measure publishes one
figure per measure: the ``sum`` of its observations in a period, or the
``latest`` observation in it. That figure is then suppressed: any count
under 5 (0 to 4) is published as ``"<5"``, never exactly
(:func:`protocol.suppress_count`; receivers refuse entries that break the
rule). Aggregation comes first and suppression after, so a month's total of
40 is published as 40 even if single sessions had 3 people. A measure with
no observations in the period is left out of the summary rather than shown
as zero. Periods are ``all`` (every observation), a year ``YYYY`` or a
month ``YYYY-MM``; the published ``period`` says which, and how it was
summarised (``"2024-05, total"``). Note that a summary replaced by a newer
one has already been seen by peers: publishing a total for a period and
later for a longer one can let someone work out the difference; choose
periods with that in mind.

Building the summary body is in :func:`practice_body`; :mod:`node.store.feed`
wraps it into the entry that the preview shows and that publishing signs.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocol import suppress_count

from ..errors import InvalidInput
from .connection import read_snapshot, write_transaction
from .input_checks import check_choice
from .records import PRIVATE_PRACTICE_FIELDS, get_practice, practice_id

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "AGGREGATES",
    "ALWAYS_SHARED",
    "MAX_SHARED_LESSONS",
    "MAX_SHARED_MEASURES",
    "SHAREABLE_FIELDS",
    "SharePolicy",
    "SharedMeasure",
    "get_share_policy",
    "practice_body",
    "set_share_policy",
]

#: Every field a practice summary can carry.
SHAREABLE_FIELDS = ("title", "status", "description", "themes", "level", "area", "since",
                    "lessons", "measures", "adapted_from")
#: Shared whatever the policy says (the protocol requires them in a summary).
ALWAYS_SHARED = frozenset({"title", "status"})
#: How a shared measure's observations are summarised into one figure.
AGGREGATES = ("sum", "latest")
_AGGREGATE_LABEL = {"sum": "total", "latest": "latest"}
_PERIOD = re.compile(r"(all|\d{4}|\d{4}-(0[1-9]|1[0-2]))\Z")
#: The protocol's limits on lessons and measures in one summary.
MAX_SHARED_LESSONS = 20
MAX_SHARED_MEASURES = 20
# Named so a person who asks to share them hears why they cannot be.
_NEVER_SHARED = (*PRIVATE_PRACTICE_FIELDS, "voices", "observations", "key")


@dataclass(frozen=True, slots=True)
class SharedMeasure:
    """Share one measure as its ``aggregate`` (sum/latest) over ``period``."""

    measure_id: int
    aggregate: str = "sum"
    period: str = "all"


@dataclass(frozen=True, slots=True)
class SharePolicy:
    """Which fields of a practice go into its summary (``title`` and ``status`` always)."""

    fields: frozenset[str] = ALWAYS_SHARED
    lessons: frozenset[int] = field(default_factory=frozenset)
    measures: tuple[SharedMeasure, ...] = ()

    @classmethod
    def of(cls, fields: Collection[str], *, lessons: Collection[int] = (),
           measures: Collection[SharedMeasure] = ()) -> SharePolicy:
        return cls(frozenset(fields) | ALWAYS_SHARED, frozenset(lessons), tuple(measures))


def _check_policy(conn: sqlite3.Connection, pid: int, policy: SharePolicy) -> None:
    for name in sorted(policy.fields):
        if name in _NEVER_SHARED:
            raise InvalidInput(f"share policy: {name} is private and can never be shared",
                               field=name, code="private_field")
        if name not in SHAREABLE_FIELDS:
            raise InvalidInput(f"share policy: {str(name)[:40]!r} is not a summary field; "
                               f"the fields are {', '.join(SHAREABLE_FIELDS)}",
                               field="fields", code="unknown_field")
    if len(policy.lessons) > MAX_SHARED_LESSONS:
        raise InvalidInput(f"share policy: at most {MAX_SHARED_LESSONS} lessons can be shared",
                           field="lessons", code="too_many")
    if len(policy.measures) > MAX_SHARED_MEASURES:
        raise InvalidInput(f"share policy: at most {MAX_SHARED_MEASURES} measures can be "
                           "shared", field="measures", code="too_many")
    ours = {r[0] for r in conn.execute("SELECT id FROM lessons WHERE practice_id = ?", (pid,))}
    for lesson_id in policy.lessons:
        if lesson_id not in ours:
            raise InvalidInput(f"share policy: lesson {lesson_id} is not one of this "
                               "practice's lessons", field="lessons", code="not_found")
    ours = {r[0] for r in conn.execute("SELECT id FROM measures WHERE practice_id = ?", (pid,))}
    seen: set[int] = set()
    for shared in policy.measures:
        if shared.measure_id not in ours:
            raise InvalidInput(f"share policy: measure {shared.measure_id} is not one of "
                               "this practice's measures", field="measures", code="not_found")
        if shared.measure_id in seen:
            raise InvalidInput(f"share policy: measure {shared.measure_id} is listed twice",
                               field="measures", code="duplicate_item")
        seen.add(shared.measure_id)
        check_choice(shared.aggregate, "aggregate", AGGREGATES)
        if not isinstance(shared.period, str) or not _PERIOD.match(shared.period):
            raise InvalidInput("period: must be all, a year (YYYY) or a month (YYYY-MM)",
                               field="period", code="bad_format")


def set_share_policy(db: sqlite_utils.Database, practice_key: str, policy: SharePolicy, *,
                     now_ms: int) -> SharePolicy:
    """Replace a practice's share policy (checked as a whole; nothing changes if it fails)."""
    policy = SharePolicy.of(policy.fields, lessons=policy.lessons, measures=policy.measures)
    with write_transaction(db) as conn:
        pid = practice_id(conn, practice_key)
        _check_policy(conn, pid, policy)
        conn.execute("INSERT OR REPLACE INTO share_policies (practice_id, fields, updated_ms) "
                     "VALUES (?, ?, ?)", (pid, json.dumps(sorted(policy.fields)), now_ms))
        conn.execute("DELETE FROM shared_lessons WHERE lesson_id IN "
                     "(SELECT id FROM lessons WHERE practice_id = ?)", (pid,))
        conn.execute("DELETE FROM shared_measures WHERE measure_id IN "
                     "(SELECT id FROM measures WHERE practice_id = ?)", (pid,))
        conn.executemany("INSERT INTO shared_lessons (lesson_id) VALUES (?)",
                         [(i,) for i in sorted(policy.lessons)])
        conn.executemany("INSERT INTO shared_measures (measure_id, aggregate, period) "
                         "VALUES (?, ?, ?)",
                         [(m.measure_id, m.aggregate, m.period) for m in policy.measures])
    return policy


def _read_policy(conn: sqlite3.Connection, pid: int) -> SharePolicy:
    row = conn.execute("SELECT fields FROM share_policies WHERE practice_id = ?",
                       (pid,)).fetchone()
    fields = frozenset(json.loads(row[0])) if row else ALWAYS_SHARED
    lessons = [r[0] for r in conn.execute(
        "SELECT s.lesson_id FROM shared_lessons AS s JOIN lessons AS l ON l.id = s.lesson_id "
        "WHERE l.practice_id = ?", (pid,))]
    measures = [SharedMeasure(*r) for r in conn.execute(
        "SELECT s.measure_id, s.aggregate, s.period FROM shared_measures AS s "
        "JOIN measures AS m ON m.id = s.measure_id WHERE m.practice_id = ? ORDER BY m.id",
        (pid,))]
    return SharePolicy.of(fields, lessons=lessons, measures=measures)


def get_share_policy(db: sqlite_utils.Database, practice_key: str) -> SharePolicy:
    """The practice's share policy (a new practice shares only title and status)."""
    with read_snapshot(db) as conn:
        return _read_policy(conn, practice_id(conn, practice_key))


def _aggregate(conn: sqlite3.Connection, shared: SharedMeasure) -> int | None:
    """The measure's figure for the period, before suppression; None if no observations."""
    # observed_on is YYYY-MM-DD, so a period is a prefix of the dates it covers.
    prefix = "" if shared.period == "all" else shared.period + "-"
    if shared.aggregate == "sum":
        row = conn.execute("SELECT count(*), sum(value) FROM observations WHERE measure_id = ? "
                           "AND substr(observed_on, 1, ?) = ?",
                           (shared.measure_id, len(prefix), prefix)).fetchone()
        return None if row[0] == 0 else int(row[1])
    row = conn.execute("SELECT value FROM observations WHERE measure_id = ? "
                       "AND substr(observed_on, 1, ?) = ? ORDER BY observed_on DESC, id DESC "
                       "LIMIT 1", (shared.measure_id, len(prefix), prefix)).fetchone()
    return None if row is None else int(row[0])


def practice_body(db: sqlite_utils.Database, practice_key: str) -> dict[str, Any]:
    """The body of the practice's summary under its share policy: shareable fields only."""
    with read_snapshot(db) as conn:
        record = get_practice(db, practice_key)
        policy = _read_policy(conn, practice_id(conn, practice_key))
        p, fields = record.practice, policy.fields
        body: dict[str, Any] = {"title": p.title, "status": p.status}
        if "description" in fields and p.description:
            body["description"] = p.description
        if "themes" in fields and p.themes:
            body["themes"] = list(p.themes)
        if "level" in fields and p.level:
            body["level"] = p.level
        if "area" in fields and p.area:
            body["area"] = p.area
        if "since" in fields and p.since:
            body["since"] = p.since
        if "lessons" in fields:
            lessons = [lesson.text for lesson in record.lessons if lesson.id in policy.lessons]
            if lessons:
                body["lessons"] = lessons
        if "measures" in fields:
            by_id = {m.id: m for m in record.measures}
            measures = []
            for shared in policy.measures:
                figure = _aggregate(conn, shared)
                if figure is None:
                    continue
                measure = by_id[shared.measure_id]
                period = "all time" if shared.period == "all" else shared.period
                published: dict[str, Any] = {
                    "name": measure.name,
                    "value": suppress_count(figure),  # privacy rule 3: never under 5 exactly
                    "period": f"{period}, {_AGGREGATE_LABEL[shared.aggregate]}",
                    "defined_by": measure.defined_by,
                }
                if measure.unit:
                    published["unit"] = measure.unit
                measures.append(published)
            if measures:
                body["measures"] = measures
        if "adapted_from" in fields and record.adaptations:
            body["adapted_from"] = [{"author": a.author, "key": a.practice_key}
                                    for a in record.adaptations]
    return body
