"""Others on the same journey: the practices elsewhere most like a given one.

For a practice P (this node's or another's), :func:`similar` lists the
practices of *other* groups that are most alike, each with its group, the
area at the grain groups share it, the lessons it shares, the group's
contact, and why it was suggested. Likeness, in this order:

1. **shared themes** — how many of P's themes it has too;
2. **words in common** — how many of the distinctive words of P's title,
   description and lessons its summary contains, as FTS5 finds them (the
   same porter-stemmed index as the directory's search: "fridges" finds
   "fridge"). A word is *distinctive* when at most one summary in fifty
   holds it (and at least :data:`MIN_WORD_CAP`): a word nearly every
   summary has ("community", "volunteers") says nothing about likeness,
   and costs the most to look up. P's theme names are left out (they are
   counted as themes), and so are short words and common English ones;
3. **the same level** (the practice's own, else its group's).

Ties go to the most recently updated, then to node id and key (signed
values: every node holding the same entries lists the same order). Never by
size or figures: nothing here ranks groups against each other.

Candidates are the practices sharing a theme or a distinctive word with P,
of nodes other than P's, not forked, not retracted. Each result says
whether the two groups are already **connected** (:mod:`.ties`: a credit or
adaptation between them, or the two practices share a lineage).
"""

from __future__ import annotations

import heapq
import json
import re
import sqlite3
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from protocol import decode

from ..errors import NotFound
from .common import excluded, forked_nodes, node_info, not_forked, practice_rows
from .index import node_numbers
from .precomputed import cached
from .ties import contacts_of, reach, ties_of

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["MIN_WORD_CAP", "STOPWORDS", "similar", "words_of"]

#: A word is distinctive when at most max(this, summaries / 50) summaries hold it.
MIN_WORD_CAP: Final = 50
_WORD_SHARE: Final = 50
#: At most this many distinct words of P are looked up.
_MAX_WORDS: Final = 40
_MIN_WORD_LEN: Final = 3
_STOPWORD_TEXT: Final = """
about above across after again against ago all almost along already also although always
among and another any anyone anything are around ask asked away back because become been
before began being best better between big both bring brings brought but came can cannot
come comes could day days did does doing done down during each else enough even ever every
everyone everything far few find first for from get gets getting give given gives going
gone good got great had has have having her here hers him his how however into its just
keep keeps kept know last least less let like little long look lot lots made make makes
making many may more most much must need needs never new next nobody not nothing now off
often once one only other others our ours out over own part per put quite rather really
right round said same say see seen she should since so some something sometimes soon still
such sure take takes taken than that the their theirs them then there these they thing
things think this those though through thus time times too took two under until upon use
used uses using very want was way ways well went were what when where which while who whom
whose why will with within without would yet you your yours
"""
#: Common English words that say nothing about what a practice is.
STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())
_TOKEN = re.compile(r"[^\W_]+")


def _fold(word: str) -> str:
    # As FTS5's unicode61 tokenizer folds: lower case, diacritics removed.
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stems(words: list[str]) -> list[str]:
    """Each word's stem as the summaries' full-text index makes it (FTS5, porter)."""
    # The same tokenizer as summaries_fts (m003: porter over unicode61), in a
    # scratch in-memory database: "volunteers" and "volunteer" are one word.
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE w USING fts5(x, tokenize='porter')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(w, instance)")
        conn.executemany("INSERT INTO w (rowid, x) VALUES (?, ?)", enumerate(words))
        stems = dict(conn.execute("SELECT doc, term FROM v WHERE offset = 0"))
    finally:
        conn.close()
    return [stems.get(i, word) for i, word in enumerate(words)]


def words_of(body: dict[str, Any], themes: list[str]) -> list[str]:
    """The words of a practice's title, description and lessons worth looking up, in order.

    One word per stem (the first written), none that is one of the
    practice's themes, no common English word, nothing shorter than three
    letters, no numbers.
    """
    text = " ".join([body.get("title", ""), body.get("description", ""),
                     *body.get("lessons", ())])
    theme_words = [_fold(w) for theme in themes for w in _TOKEN.findall(theme)]
    words: list[str] = []
    for token in _TOKEN.findall(text):
        word = _fold(token)
        if len(word) >= _MIN_WORD_LEN and not word.isdigit() and word not in STOPWORDS \
                and word not in words:
            words.append(word)
    stems = _stems(words + theme_words)
    skip = set(stems[len(words):])
    out: list[str] = []
    seen: set[str] = set()
    for word, stem in zip(words, stems, strict=False):
        if stem not in skip and stem not in seen:
            seen.add(stem)
            out.append(word)
            if len(out) == _MAX_WORDS:
                break
    return out


def _word_hits(db: sqlite_utils.Database, words: list[str]) -> dict[int, list[str]]:
    """For each summary (by seq), the distinctive words of ``words`` it holds."""
    if not words:
        return {}
    held = cached(db, "summaries")  # kept by catch_up; counted again if not current
    if held is None:
        held = db.conn.execute("SELECT count(*) FROM summaries").fetchone()[0]
    cap = max(MIN_WORD_CAP, held // _WORD_SHARE)
    hits: dict[int, list[str]] = {}
    for word in words:
        match = f'"{word}"'
        # Counted in SQLite and bounded: past ``cap`` it is too common, and a
        # common word costs no more than that (nothing comes back to Python).
        held_by = db.conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM summaries_fts WHERE summaries_fts MATCH ? "
            "LIMIT ?)", (match, cap + 1)).fetchone()[0]
        if held_by > cap:
            continue
        for (seq,) in db.conn.execute(
                "SELECT rowid FROM summaries_fts WHERE summaries_fts MATCH ?", (match,)):
            hits.setdefault(seq, []).append(word)
    return hits


def _practice_of(db: sqlite_utils.Database, author: bytes, key: str,
                 forked: list[int]) -> tuple[int, int, str | None]:
    number = node_numbers(db, [author]).get(author)
    row = None
    if number is not None and number not in forked:
        row = db.conn.execute("SELECT seq, eff_level FROM view_entries WHERE node = ? "
                              "AND kind = 'practice' AND key = ?", (number, key)).fetchone()
    if number is None or row is None:
        raise NotFound("similar: this node holds no summary of that practice (it may not be "
                       "published yet, or it was retracted, or its author is flagged for a "
                       "fork)")
    return number, row[0], row[1]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def why(shared_themes: list[str], shared_words: list[str], level: str | None,
        connected: bool) -> str:
    """Why a practice was suggested, in words."""
    parts = []
    if shared_themes:
        parts.append(f"{_plural(len(shared_themes), 'shared theme')}: "
                     f"{', '.join(shared_themes)}")
    if shared_words:
        parts.append(f"{_plural(len(shared_words), 'word')} in common: "
                     f"{', '.join(shared_words)}")
    if level is not None:
        parts.append(f"the same level ({level})")
    if connected:
        parts.append("already linked by a credit, an adaptation or a lineage")
    return "; ".join(parts)


def similar(db: sqlite_utils.Database, author: bytes, key: str, *, limit: int,
            offset: int) -> dict[str, Any]:
    """The practices of other groups most like ``author``'s practice ``key``."""
    forked = forked_nodes(db)
    number, seq, level = _practice_of(db, author, key, forked)
    themes = [row[0] for row in db.conn.execute(
        "SELECT value FROM view_tags WHERE seq = ? AND facet = 'theme' ORDER BY value", (seq,))]
    payload = db.conn.execute("SELECT payload FROM entries WHERE seq = ?", (seq,)).fetchone()[0]
    body = decode(payload)["body"]
    word_hits = _word_hits(db, words_of(body, themes))
    # Every candidate, with how many of the themes it shares, its node, whether
    # at the same level, and its version; then the practices found by their
    # words alone.
    candidates: dict[int, tuple[int, int, bool, int]] = {}
    nf = not_forked(forked)
    if themes:
        # One row per theme a practice shares, from the covering index, counted
        # here: cheaper than SQLite's GROUP BY, which sorts every row first.
        tagged = db.conn.execute(
            "SELECT seq, node, eff_level IS ? AND eff_level IS NOT NULL, version "
            f"FROM view_tags WHERE facet = 'theme' AND value IN ({','.join('?' * len(themes))})"
            f" AND node != ?{nf}", (level, *themes, number)).fetchall()
        sharing = Counter(row[0] for row in tagged)
        candidates = {cseq: (sharing[cseq], node, bool(same), version)
                      for cseq, node, same, version in tagged}
    missing = [s for s in word_hits if s not in candidates]
    for start in range(0, len(missing), 500):
        chunk = missing[start:start + 500]
        for cseq, node, same, version in db.conn.execute(
                "SELECT seq, node, eff_level IS ? AND eff_level IS NOT NULL, version "
                f"FROM view_entries WHERE seq IN ({','.join('?' * len(chunk))}) "
                f"AND kind = 'practice' AND node != ?{nf}", (level, *chunk, number)):
            candidates[cseq] = (0, node, bool(same), version)
    # Likeness (the smaller, the more alike), as plain tuples that compare in C.
    ranked = [(-count, -len(word_hits.get(cseq, ())), not same, -version, cseq)
              for cseq, (count, _, same, version) in candidates.items()]
    wanted = offset + limit
    first = heapq.nsmallest(wanted, ranked)
    if first:
        # Rows tied with the last one on the likeness so far are ordered by
        # node id and key: take them all, then sort fully.
        boundary = first[-1][:4]
        first = [r for r in ranked if r[:4] <= boundary]
    rows = practice_rows(db, [r[4] for r in first])
    ordered = sorted(first, key=lambda r: (*r[:4], rows[r[4]]["node"], rows[r[4]]["key"]))
    page = [r[4] for r in ordered[offset:wanted]]
    page_nodes = {candidates[c][1] for c in page}
    contacts = contacts_of(db, page_nodes | {number})
    ties = ties_of(db, [number], forked)[number]
    # Labels: P is -1, each result its seq.
    lineages = reach(db, [(-1, seq), *((c, c) for c in page)], forked)
    ours = lineages.get(-1, set())
    lessons = _lessons(db, page)
    shared_themes: dict[int, list[str]] = {cseq: [] for cseq in page}
    if page and themes:
        for cseq, theme in db.conn.execute(
                "SELECT seq, value FROM view_tags WHERE facet = 'theme' AND seq IN "
                f"({','.join('?' * len(page))}) AND value IN ({','.join('?' * len(themes))}) "
                "ORDER BY seq, value", (*page, *themes)):
            shared_themes[cseq].append(theme)
    results = []
    for cseq in page:
        shared = shared_themes[cseq]
        words = word_hits.get(cseq, [])
        same = candidates[cseq][2]
        connected = candidates[cseq][1] in ties or bool(ours & lineages.get(cseq, set()))
        results.append({**rows[cseq], "contact": contacts[candidates[cseq][1]],
                        "lessons": lessons[cseq], "shared_themes": shared,
                        "shared_words": words, "same_level": same, "connected": connected,
                        "why": why(shared, words, level if same else None, connected)})
    practice = practice_rows(db, [seq], node_info(db, [number]))[seq]
    return {"practice": {**practice, "contact": contacts[number]}, "total": len(candidates),
            "results": results, "excluded": excluded(db, forked)}


def _lessons(db: sqlite_utils.Database, seqs: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {seq: [] for seq in seqs}
    if seqs:
        for seq, payload in db.conn.execute(
                "SELECT seq, payload FROM entries WHERE seq IN (SELECT value FROM json_each(?))",
                (json.dumps(seqs),)):
            out[seq] = list(decode(payload)["body"].get("lessons", []))
    return out
