"""Full-text search over the summaries the node holds, own and received.

Every current ``practice``, ``profile`` and ``credit`` entry has a row in
``summaries`` (written by :mod:`node.store.ingest` in the same transaction as the
entry, deleted with it by a foreign-key cascade); sqlite-utils keeps the
FTS5 index ``summaries_fts`` in step through triggers. A retraction
replaces the practice it withdraws, so a retracted practice is no longer
found. Only public summary text is indexed here; the private records have
their own index (:func:`node.store.records.search_practices`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["MAX_QUERY_CHARS", "SummaryHit", "check_query", "fts_match", "search_summaries",
           "summary_of"]

MAX_QUERY_CHARS = 200
#: Words of a search beyond this many are ignored (a 200-character text has fewer).
MAX_QUERY_WORDS = 100


def fts_match(text: str) -> str:
    """An FTS5 query for rows holding every word of ``text``, whatever characters it has.

    Any text a person types is a valid search: each run of non-space
    characters becomes one FTS5 string (in double quotes, a double quote
    inside doubled: SQLite FTS5 docs, "FTS5 Strings"), so quotes, ``*``,
    ``-``, ``^``, ``:``, parentheses and ``AND``/``OR``/``NOT``/``NEAR`` are
    searched for as words, never parsed as query syntax (none is offered).
    A text with no words (empty, or only punctuation) matches nothing.
    Control characters (SQLite reads a NUL as the end of the query) count as
    spaces.
    """
    words = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text) \
        .split()[:MAX_QUERY_WORDS]
    if not words:
        return '""'  # a valid query that matches no row
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def summary_of(kind: str, body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(title, searchable text) of an entry body, or None for kinds with no text."""
    if kind == "practice":
        # Lists and list comprehensions rather than generators: this runs for
        # every entry ingest stores, on the writer thread.
        get = body.get
        parts = [get("description", ""), " ".join(get("themes", ())), get("area", "")]
        parts += get("lessons", ())
        parts += [m["name"] for m in get("measures", ())]
        return body["title"], "\n".join([p for p in parts if p])
    if kind == "profile":
        parts = [body.get("description", ""), body.get("area", ""),
                 *body.get("principles", ()), body.get("org_id", "")]
        return body["name"], "\n".join(p for p in parts if p)
    if kind == "credit":
        return body["practice"], body.get("note", "")
    return None


@dataclass(frozen=True, slots=True)
class SummaryHit:
    """One search result: which entry, and a snippet of the matching text."""

    entry_id: bytes
    author: bytes
    kind: str
    key: str
    title: str
    snippet: str


def check_query(query: str) -> str:
    query = query.strip()
    if not query:
        raise InvalidInput("search: type a word to search for", field="query")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"search: at most {MAX_QUERY_CHARS} characters", field="query")
    return query


def search_summaries(db: sqlite_utils.Database, query: str, *,
                     limit: int = 20) -> list[SummaryHit]:
    """Summaries matching ``query`` (plain words: :func:`fts_match`), best first."""
    quoted = fts_match(check_query(query))
    rows = db.conn.execute(
        """
        SELECT e.id, s.author, s.kind, s.key, s.title,
               snippet(summaries_fts, 1, '[', ']', '…', 12)
        FROM summaries_fts
        JOIN summaries AS s ON s.entry_seq = summaries_fts.rowid
        JOIN entries AS e ON e.seq = s.entry_seq
        WHERE summaries_fts MATCH ?
        ORDER BY rank
        LIMIT ?
        """,
        (quoted, max(1, min(limit, 200))),
    ).fetchall()
    return [SummaryHit(*row) for row in rows]
