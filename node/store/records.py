"""Private practice records: what a local group keeps about what it does.

Narrative first (DESIGN.md "Concepts: Practice record"): a practice is its
title, its story (description), the context it works in and the community it
serves, who runs it, when it started, its status, themes and level. Around
it the group keeps

* **measures** — what the group itself decided counts (name, unit, who
  defined it: the community, a funder, or the group's own), each with
  **observations**: dated whole numbers (attendance, feedback scores…);
  numbers are optional, never forced;
* **voices** — quotes from the people involved, and who said them;
* **lessons** — what the group learnt;
* **adaptations** — which other network practices (author, key) it was
  adapted from, and a private note on how.

None of this leaves the node. Only :mod:`node.store.sharing` reads it to build a
summary, and only the fields the group's share policy names. Fields that
can be shared are checked here against the protocol's summary schema, so a
saved record is always publishable; the rest are bounded private text.

A practice is addressed by its ``key``, a slug (``repair-cafe``) that becomes
the key of its summary entry; it is fixed when the practice is created.
Children are addressed by their numeric ids.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from protocol import MEASURE_DEFINERS, PRACTICE_STATUSES

from ..errors import InvalidInput, NotFound
from .connection import read_snapshot, write_transaction
from .input_checks import (
    check_choice,
    check_count,
    check_date,
    check_fields_known,
    check_practice_key,
    check_text,
    check_with_protocol,
)
from .search import check_query, fts_match

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "MAX_ADAPTATIONS",
    "MAX_LESSONS",
    "MAX_MEASURES",
    "MAX_OBSERVATIONS",
    "MAX_PRACTICES",
    "MAX_VOICES",
    "PRACTICE_FIELDS",
    "PRIVATE_PRACTICE_FIELDS",
    "Adaptation",
    "Lesson",
    "Measure",
    "Observation",
    "Practice",
    "PracticeRecord",
    "Voice",
    "add_adaptation",
    "add_lesson",
    "add_measure",
    "add_voice",
    "create_practice",
    "delete_adaptation",
    "delete_lesson",
    "delete_measure",
    "delete_observation",
    "delete_practice",
    "delete_voice",
    "get_practice",
    "list_observations",
    "list_practices",
    "practice_id",
    "record_observation",
    "search_practices",
    "update_lesson",
    "update_measure",
    "update_practice",
]

MAX_PRACTICES = 10_000
MAX_MEASURES = 50
MAX_OBSERVATIONS = 100_000
MAX_VOICES = 500
MAX_LESSONS = 100
MAX_ADAPTATIONS = 16  # the protocol's limit on adapted_from

#: Every field of a practice, in the order a form shows them.
PRACTICE_FIELDS = ("key", "title", "status", "description", "themes", "level", "area",
                   "since", "context", "community", "run_by", "notes")
#: Fields that exist only on the node: no share policy can name them.
PRIVATE_PRACTICE_FIELDS = ("context", "community", "run_by", "notes")
_EDITABLE = PRACTICE_FIELDS[1:]
_MEASURE_FIELDS = ("name", "unit", "defined_by", "why")
_OBSERVATION_FIELDS = ("observed_on", "value", "note")
_VOICE_FIELDS = ("speaker", "quote", "recorded_on")


@dataclass(frozen=True, slots=True)
class Practice:
    key: str
    title: str
    status: str
    description: str
    themes: tuple[str, ...]
    level: str | None
    area: str
    since: str | None
    context: str
    community: str
    run_by: str
    notes: str
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Measure:
    id: int
    name: str
    unit: str
    defined_by: str
    why: str


@dataclass(frozen=True, slots=True)
class Observation:
    id: int
    measure_id: int
    observed_on: str
    value: int
    note: str


@dataclass(frozen=True, slots=True)
class Voice:
    id: int
    speaker: str
    quote: str
    recorded_on: str | None


@dataclass(frozen=True, slots=True)
class Lesson:
    id: int
    text: str


@dataclass(frozen=True, slots=True)
class Adaptation:
    id: int
    author: bytes
    practice_key: str
    note: str


@dataclass(frozen=True, slots=True)
class PracticeRecord:
    """A practice with everything kept about it."""

    practice: Practice
    measures: tuple[Measure, ...]
    lessons: tuple[Lesson, ...]
    voices: tuple[Voice, ...]
    adaptations: tuple[Adaptation, ...]


_PRACTICE_COLUMNS = ("key, title, status, description, themes, level, area, since, context, "
                     "community, run_by, notes, created_ms, updated_ms")


def _practice(row: tuple[Any, ...]) -> Practice:
    values = list(row)
    values[4] = tuple(json.loads(values[4]))
    return Practice(*values)


# --- checking input ---------------------------------------------------------------------

def _clean_practice(values: Mapping[str, Any], *, current: Practice | None) -> dict[str, Any]:
    """Check and normalise practice fields; with ``current``, a partial update."""
    check_fields_known(values, PRACTICE_FIELDS if current is None else _EDITABLE, "practice")
    clean: dict[str, Any] = {}
    for name in ("title", "description", "area"):
        if name in values:
            clean[name] = check_text(values[name], name, max_len=4000)
    if "status" in values:
        clean["status"] = check_choice(values["status"], "status", PRACTICE_STATUSES)
    if "themes" in values:
        themes = values["themes"]
        if not isinstance(themes, (list, tuple)) or not all(isinstance(t, str) for t in themes):
            raise InvalidInput("themes: must be a list of words", field="themes",
                               code="wrong_type")
        clean["themes"] = [t.strip().lower() for t in themes]
    for name in ("level", "since"):
        if name in values:
            value = values[name]
            clean[name] = None if value in (None, "") else check_text(value, name, max_len=20)
    for name in PRIVATE_PRACTICE_FIELDS:
        if name in values:
            clean[name] = check_text(values[name], name, single_line=name == "run_by",
                                     max_len=500 if name == "run_by" else 20_000)
    # The shareable fields, merged with what is already saved, must make a
    # valid summary body: the protocol's own schema decides.
    merged = {
        "title": clean.get("title", current.title if current else ""),
        "status": clean.get("status", current.status if current else "active"),
        "description": clean.get("description", current.description if current else ""),
        "themes": clean.get("themes", list(current.themes) if current else []),
        "area": clean.get("area", current.area if current else ""),
    }
    for name in ("level", "since"):
        value = clean[name] if name in clean else getattr(current, name, None)
        if value is not None:
            merged[name] = value
    if not merged["title"]:
        raise InvalidInput("title: must not be empty", field="title", code="missing_field")
    check_with_protocol("practice", "practice", merged, bytes(32))
    return clean


def _key_from_title(conn: sqlite3.Connection, title: str) -> str:
    # "Repair Café" → "repair-cafe": drop accents, then anything not a-z0-9.
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:56].strip("-")
    base = base or "practice"
    key, n = base, 1
    # Unused by any record and by any summary this node has published.
    while conn.execute(
            "SELECT 1 FROM practices WHERE key = ?1 UNION ALL SELECT 1 FROM entries "
            "WHERE family = 'practice' AND key = ?1 AND author = "
            "(SELECT node_id FROM node_state)", (key,)).fetchone():
        n += 1
        key = f"{base}-{n}"
    return key


def practice_id(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT id FROM practices WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"there is no practice with the key {key[:64]!r}")
    return int(row[0])


def _count(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...], limit: int,
           what: str) -> None:
    if conn.execute(sql, args).fetchone()[0] >= limit:
        raise InvalidInput(f"{what}: at most {limit} can be kept", field=what,
                           code="too_many")


def _touch(conn: sqlite3.Connection, pid: int, now_ms: int) -> None:
    conn.execute("UPDATE practices SET updated_ms = ? WHERE id = ?", (now_ms, pid))


# --- practices --------------------------------------------------------------------------

def create_practice(db: sqlite_utils.Database, fields: Mapping[str, Any], *,
                    now_ms: int) -> Practice:
    """Save a new practice; ``title`` is required, ``key`` is derived from it if not given."""
    clean = _clean_practice(fields, current=None)
    with write_transaction(db) as conn:
        _count(conn, "SELECT count(*) FROM practices", (), MAX_PRACTICES, "practices")
        if "key" in fields:
            key = check_practice_key(fields["key"])
            if conn.execute("SELECT 1 FROM practices WHERE key = ?", (key,)).fetchone():
                raise InvalidInput("key: another practice already uses this key", field="key",
                                   code="duplicate_key")
        else:
            key = _key_from_title(conn, clean["title"])
        row = {"status": "active", **clean, "key": key, "created_ms": now_ms,
               "updated_ms": now_ms}
        row["themes"] = json.dumps(row.get("themes", []))
        names = ", ".join(row)
        conn.execute(f"INSERT INTO practices ({names}) VALUES ({', '.join('?' * len(row))})",
                     tuple(row.values()))
    return get_practice(db, key).practice


def update_practice(db: sqlite_utils.Database, key: str, changes: Mapping[str, Any], *,
                    now_ms: int) -> Practice:
    """Change some fields of a practice (its key stays)."""
    with write_transaction(db) as conn:
        current = _read_practice(conn, key)
        clean = _clean_practice(changes, current=current)
        if clean:
            if "themes" in clean:
                clean["themes"] = json.dumps(clean["themes"])
            sets = ", ".join(f"{name} = ?" for name in clean)
            conn.execute(f"UPDATE practices SET {sets}, updated_ms = ? WHERE key = ?",
                         (*clean.values(), now_ms, key))
    return get_practice(db, key).practice


def delete_practice(db: sqlite_utils.Database, key: str) -> None:
    """Delete a practice and everything kept about it.

    A summary already published stays on the network until it is retracted
    (:func:`node.store.feed.retract_practice` needs only the key).
    """
    with write_transaction(db) as conn:
        conn.execute("DELETE FROM practices WHERE id = ?", (practice_id(conn, key),))


def _read_practice(conn: sqlite3.Connection, key: str) -> Practice:
    row = conn.execute(f"SELECT {_PRACTICE_COLUMNS} FROM practices WHERE key = ?",
                       (key,)).fetchone()
    if row is None:
        raise NotFound(f"there is no practice with the key {key[:64]!r}")
    return _practice(row)


def get_practice(db: sqlite_utils.Database, key: str) -> PracticeRecord:
    with read_snapshot(db) as conn:
        practice = _read_practice(conn, key)
        pid = practice_id(conn, key)
        measures = tuple(Measure(*r) for r in conn.execute(
            "SELECT id, name, unit, defined_by, why FROM measures WHERE practice_id = ? "
            "ORDER BY id", (pid,)))
        lessons = tuple(Lesson(*r) for r in conn.execute(
            "SELECT id, text FROM lessons WHERE practice_id = ? ORDER BY id", (pid,)))
        voices = tuple(Voice(*r) for r in conn.execute(
            "SELECT id, speaker, quote, recorded_on FROM voices WHERE practice_id = ? "
            "ORDER BY id", (pid,)))
        adaptations = tuple(Adaptation(*r) for r in conn.execute(
            "SELECT id, author, practice_key, note FROM adaptations WHERE practice_id = ? "
            "ORDER BY id", (pid,)))
    return PracticeRecord(practice, measures, lessons, voices, adaptations)


def list_practices(db: sqlite_utils.Database) -> list[Practice]:
    rows = db.conn.execute(f"SELECT {_PRACTICE_COLUMNS} FROM practices ORDER BY title, key")
    return [_practice(row) for row in rows]


def search_practices(db: sqlite_utils.Database, query: str, *,
                     limit: int = 20) -> list[Practice]:
    """The group's own records matching ``query`` (title, story, context, notes…)."""
    rows = db.conn.execute(
        f"SELECT {', '.join('p.' + c.strip() for c in _PRACTICE_COLUMNS.split(','))} "
        "FROM practices_fts JOIN practices AS p ON p.id = practices_fts.rowid "
        "WHERE practices_fts MATCH ? ORDER BY rank LIMIT ?",
        (fts_match(check_query(query)), max(1, min(limit, 200))))
    return [_practice(row) for row in rows]


# --- measures and observations ----------------------------------------------------------

def _clean_measure(values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    check_fields_known(values, _MEASURE_FIELDS, "measure")
    clean: dict[str, Any] = {}
    if "name" in values or not partial:
        clean["name"] = check_text(values.get("name"), "name", max_len=80, required=True,
                                   single_line=True)
    if "unit" in values:
        clean["unit"] = check_text(values["unit"], "unit", max_len=40, single_line=True)
    if "defined_by" in values or not partial:
        clean["defined_by"] = check_choice(values.get("defined_by", "own"), "defined_by",
                                           MEASURE_DEFINERS)
    if "why" in values:
        clean["why"] = check_text(values["why"], "why")
    return clean


def _measure(conn: sqlite3.Connection, measure_id: int) -> tuple[Measure, int]:
    row = conn.execute("SELECT id, name, unit, defined_by, why, practice_id FROM measures "
                       "WHERE id = ?", (measure_id,)).fetchone()
    if row is None:
        raise NotFound(f"there is no measure {measure_id}")
    return Measure(*row[:5]), int(row[5])


def _unique_measure_name(conn: sqlite3.Connection, pid: int, name: str,
                         measure_id: int = 0) -> None:
    if conn.execute("SELECT 1 FROM measures WHERE practice_id = ? AND name = ? AND id != ?",
                    (pid, name, measure_id)).fetchone():
        raise InvalidInput("name: this practice already has a measure with this name",
                           field="name", code="duplicate_name")


def add_measure(db: sqlite_utils.Database, practice_key: str, fields: Mapping[str, Any], *,
                now_ms: int) -> Measure:
    """Add a measure the group defined as "what counts" for a practice."""
    clean = _clean_measure(fields, partial=False)
    with write_transaction(db) as conn:
        pid = practice_id(conn, practice_key)
        _count(conn, "SELECT count(*) FROM measures WHERE practice_id = ?", (pid,),
               MAX_MEASURES, "measures")
        _unique_measure_name(conn, pid, clean["name"])
        cursor = conn.execute(
            "INSERT INTO measures (practice_id, name, unit, defined_by, why, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)", (pid, clean["name"], clean.get("unit", ""),
                                          clean["defined_by"], clean.get("why", ""), now_ms))
        _touch(conn, pid, now_ms)
        return _measure(conn, int(cursor.lastrowid or 0))[0]


def update_measure(db: sqlite_utils.Database, measure_id: int, changes: Mapping[str, Any], *,
                   now_ms: int) -> Measure:
    clean = _clean_measure(changes, partial=True)
    with write_transaction(db) as conn:
        _, pid = _measure(conn, measure_id)
        if "name" in clean:
            _unique_measure_name(conn, pid, clean["name"], measure_id)
        if clean:
            sets = ", ".join(f"{name} = ?" for name in clean)
            conn.execute(f"UPDATE measures SET {sets} WHERE id = ?",
                         (*clean.values(), measure_id))
            _touch(conn, pid, now_ms)
        return _measure(conn, measure_id)[0]


def delete_measure(db: sqlite_utils.Database, measure_id: int, *, now_ms: int) -> None:
    """Delete a measure, its observations, and its place in the share policy."""
    with write_transaction(db) as conn:
        _, pid = _measure(conn, measure_id)
        conn.execute("DELETE FROM measures WHERE id = ?", (measure_id,))
        _touch(conn, pid, now_ms)


def record_observation(db: sqlite_utils.Database, measure_id: int,
                       fields: Mapping[str, Any], *, now_ms: int) -> Observation:
    """Record a dated value of a measure: ``observed_on`` (YYYY-MM-DD), ``value``, ``note``."""
    check_fields_known(fields, _OBSERVATION_FIELDS, "observation")
    observed_on = check_date(fields.get("observed_on"), "observed_on")
    value = check_count(fields.get("value"), "value")
    note = check_text(fields.get("note", ""), "note")
    with write_transaction(db) as conn:
        _, pid = _measure(conn, measure_id)
        _count(conn, "SELECT count(*) FROM observations WHERE measure_id = ?", (measure_id,),
               MAX_OBSERVATIONS, "observations")
        cursor = conn.execute(
            "INSERT INTO observations (measure_id, observed_on, value, note, created_ms) "
            "VALUES (?, ?, ?, ?, ?)", (measure_id, observed_on, value, note, now_ms))
        _touch(conn, pid, now_ms)
        return Observation(int(cursor.lastrowid or 0), measure_id, observed_on, value, note)


def list_observations(db: sqlite_utils.Database, measure_id: int, *, limit: int = 1000,
                      offset: int = 0) -> list[Observation]:
    """A measure's observations, oldest first."""
    with read_snapshot(db) as conn:
        _measure(conn, measure_id)
        rows = conn.execute(
            "SELECT id, measure_id, observed_on, value, note FROM observations "
            "WHERE measure_id = ? ORDER BY observed_on, id LIMIT ? OFFSET ?",
            (measure_id, max(0, min(limit, 10_000)), max(0, offset))).fetchall()
    return [Observation(*row) for row in rows]


def delete_observation(db: sqlite_utils.Database, observation_id: int) -> None:
    with write_transaction(db) as conn:
        if conn.execute("DELETE FROM observations WHERE id = ?",
                        (observation_id,)).rowcount == 0:
            raise NotFound(f"there is no observation {observation_id}")


# --- voices, lessons, adaptations -------------------------------------------------------

def add_voice(db: sqlite_utils.Database, practice_key: str, fields: Mapping[str, Any], *,
              now_ms: int) -> Voice:
    """Keep a quote from someone involved (``speaker``: a name or a role)."""
    check_fields_known(fields, _VOICE_FIELDS, "voice")
    quote = check_text(fields.get("quote"), "quote", required=True)
    speaker = check_text(fields.get("speaker", ""), "speaker", max_len=200, single_line=True)
    recorded_on = fields.get("recorded_on")
    if recorded_on is not None:
        recorded_on = check_date(recorded_on, "recorded_on")
    with write_transaction(db) as conn:
        pid = practice_id(conn, practice_key)
        _count(conn, "SELECT count(*) FROM voices WHERE practice_id = ?", (pid,), MAX_VOICES,
               "voices")
        cursor = conn.execute(
            "INSERT INTO voices (practice_id, speaker, quote, recorded_on, created_ms) "
            "VALUES (?, ?, ?, ?, ?)", (pid, speaker, quote, recorded_on, now_ms))
        _touch(conn, pid, now_ms)
        return Voice(int(cursor.lastrowid or 0), speaker, quote, recorded_on)


def delete_voice(db: sqlite_utils.Database, voice_id: int) -> None:
    with write_transaction(db) as conn:
        if conn.execute("DELETE FROM voices WHERE id = ?", (voice_id,)).rowcount == 0:
            raise NotFound(f"there is no voice {voice_id}")


def _lesson_text(text: Any) -> str:
    # 1000 characters: the protocol's limit on a shared lesson.
    return check_text(text, "lesson", max_len=1000, required=True)


def add_lesson(db: sqlite_utils.Database, practice_key: str, text: str, *,
               now_ms: int) -> Lesson:
    clean = _lesson_text(text)
    with write_transaction(db) as conn:
        pid = practice_id(conn, practice_key)
        _count(conn, "SELECT count(*) FROM lessons WHERE practice_id = ?", (pid,), MAX_LESSONS,
               "lessons")
        cursor = conn.execute("INSERT INTO lessons (practice_id, text, created_ms) "
                              "VALUES (?, ?, ?)", (pid, clean, now_ms))
        _touch(conn, pid, now_ms)
        return Lesson(int(cursor.lastrowid or 0), clean)


def update_lesson(db: sqlite_utils.Database, lesson_id: int, text: str, *,
                  now_ms: int) -> Lesson:
    clean = _lesson_text(text)
    with write_transaction(db) as conn:
        if conn.execute("UPDATE lessons SET text = ? WHERE id = ?",
                        (clean, lesson_id)).rowcount == 0:
            raise NotFound(f"there is no lesson {lesson_id}")
        conn.execute("UPDATE practices SET updated_ms = ? WHERE id = "
                      "(SELECT practice_id FROM lessons WHERE id = ?)", (now_ms, lesson_id))
    return Lesson(lesson_id, clean)


def delete_lesson(db: sqlite_utils.Database, lesson_id: int) -> None:
    with write_transaction(db) as conn:
        if conn.execute("DELETE FROM lessons WHERE id = ?", (lesson_id,)).rowcount == 0:
            raise NotFound(f"there is no lesson {lesson_id}")


def add_adaptation(db: sqlite_utils.Database, practice_key: str, author: bytes, key: str, *,
                   note: str = "", now_ms: int) -> Adaptation:
    """Say this practice was adapted from ``key`` of node ``author`` (the note stays private)."""
    if not isinstance(author, bytes) or len(author) != 32:
        raise InvalidInput("author: must be a 32-byte node id", field="author",
                           code="wrong_type")
    key = check_practice_key(key)
    clean_note = check_text(note, "note")
    with write_transaction(db) as conn:
        pid = practice_id(conn, practice_key)
        me = conn.execute("SELECT node_id FROM node_state").fetchone()
        if me is not None and me[0] == author and key == practice_key:
            raise InvalidInput("a practice cannot be adapted from itself", field="key",
                               code="self_reference")
        _count(conn, "SELECT count(*) FROM adaptations WHERE practice_id = ?", (pid,),
               MAX_ADAPTATIONS, "adaptations")
        if conn.execute("SELECT 1 FROM adaptations WHERE practice_id = ? AND author = ? AND "
                        "practice_key = ?", (pid, author, key)).fetchone():
            raise InvalidInput("this practice already names that source", field="key",
                               code="duplicate_item")
        cursor = conn.execute(
            "INSERT INTO adaptations (practice_id, author, practice_key, note, created_ms) "
            "VALUES (?, ?, ?, ?, ?)", (pid, author, key, clean_note, now_ms))
        _touch(conn, pid, now_ms)
        return Adaptation(int(cursor.lastrowid or 0), author, key, clean_note)


def delete_adaptation(db: sqlite_utils.Database, adaptation_id: int) -> None:
    with write_transaction(db) as conn:
        if conn.execute("DELETE FROM adaptations WHERE id = ?",
                        (adaptation_id,)).rowcount == 0:
            raise NotFound(f"there is no adaptation {adaptation_id}")
