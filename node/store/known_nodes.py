"""Node ids as people type them: a whole id, or the start of one this node knows.

People see the short form of a node id (``6ST349B``, the first group) in
every list, so they type it back. :func:`resolve_node` accepts any
unambiguous start of the id of a node this node knows (as git does with
commit prefixes): an author of an entry it holds, a member of the network,
a peer whose id it has learned, a node it blocks, a node named by a credit
or an "adapted from" that the views have indexed, or itself. A whole id is
read as before, with its checksum, whether or not the node is known here
(it may not have arrived yet). A start that fits no known node, or
several, is refused and says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import InvalidIdText, id_from_text, id_to_text
from protocol.ids import ID_SYMBOLS, id_prefix, is_full_id, prefix_range

from ..errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["nodes_starting_with", "resolve_node"]

#: Text longer than half an id is more likely a whole id with a character
#: missing than a chosen start.
_HALF_ID = ID_SYMBOLS // 2
#: Nodes listed by name when a start is ambiguous.
_SHOWN = 5
#: Most candidates read for one start (a start of four characters in a very
#: large network may fit many; a few more than are shown says enough).
_LIMIT = 50

_CANDIDATES = """
    SELECT author FROM (SELECT DISTINCT author FROM entries WHERE author BETWEEN :low AND :high
                        LIMIT :limit)
    UNION SELECT node_id FROM members WHERE node_id BETWEEN :low AND :high
    UNION SELECT node_id FROM peers WHERE node_id BETWEEN :low AND :high
    UNION SELECT node_id FROM blocked WHERE node_id BETWEEN :low AND :high
    UNION SELECT node_id FROM node_state WHERE node_id BETWEEN :low AND :high
    UNION SELECT author FROM (SELECT author FROM view_nodes WHERE author BETWEEN :low AND :high
                              LIMIT :limit)
"""


def nodes_starting_with(db: sqlite_utils.Database, prefix: str) -> list[bytes]:
    """Known node ids whose text form starts with ``prefix`` (from :func:`id_prefix`)."""
    low, high = prefix_range(prefix)
    rows = db.conn.execute(_CANDIDATES, {"low": low, "high": high, "limit": _LIMIT}).fetchall()
    found = sorted({bytes(row[0]) for row in rows if row[0] is not None})
    return [node for node in found if id_to_text(node).replace("-", "").startswith(prefix)]


def resolve_node(db: sqlite_utils.Database, text: str, *, field: str = "node") -> bytes:
    """The node id ``text`` names: a whole id, or the unambiguous start of a known one."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: must be a node id", field=field, code="wrong_type")
    text = text.strip()
    try:
        if is_full_id(text):
            return id_from_text(text)
        prefix = id_prefix(text)
    except InvalidIdText as exc:
        raise InvalidInput(f"{field}: {exc.message}", field=field, code=exc.code) from None
    found = nodes_starting_with(db, prefix)
    if len(found) == 1:
        return found[0]
    if not found and len(prefix) > _HALF_ID:
        raise NotFound(f"{field}: an id has {ID_SYMBOLS} letters and digits, this one has "
                       f"{len(prefix)}, and no node known here has an id starting with them: "
                       "check for a missing or extra character")
    if not found:
        raise NotFound(f"{field}: no node known here has an id starting {prefix}; check it, "
                       "or give the whole id (a node new to this one may not have reached it "
                       "yet)")
    shown = ", ".join(id_to_text(node)[:15] + "…" for node in found[:_SHOWN])
    more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
    raise InvalidInput(f"{field}: {prefix} is the start of {len(found)} nodes' ids known here "
                       f"({shown}{more}); type more of the id", field=field,
                       code="ambiguous_id")
