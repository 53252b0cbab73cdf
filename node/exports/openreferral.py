"""The directory as Open Referral UK JSON (the UK profile of HSDS).

Open Referral UK is what UK councils use for local-service directories.
Each practice becomes a ``service`` and each node an ``organization``:

* ids are UUIDs derived (UUID v5) from the node id and practice key, so the
  same practice has the same id in every export from every node;
* ``status``: active → ``active``, paused → ``temporarily closed``, ended →
  ``defunct`` (retracted practices are left out, as in every view);
* the area becomes a ``service_areas`` entry (at the shared grain, never
  finer), themes become ``attributes`` with taxonomy terms of the
  ``hedgerow-themes`` taxonomy, the profile's org-id.guide identifier an
  ``organization_identifiers`` entry, its contact the organization's
  ``email`` or ``website``, the version time ``last_modified``;
* what HSDS has no term for is carried as extra properties named
  ``hedgerow_…`` (node id, practice key, level, since, adapted_from,
  measures, lessons, principles, addresses) — the profile's compiled JSON
  schemas allow extra properties.

The document: ``{"openreferral_uk": {...about...}, "organizations": [...],
"services": [...]}``; every service embeds its ``organization`` too, as the
profile's service schema allows. Tests validate each against the official
compiled schemas, with a format checker (``uuid``, dates).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from protocol import decode, id_to_text

from ..store.search import fts_match
from ..views.common import excluded, forked_nodes, not_forked
from ..views.index import area_grain
from ..views.params import Filters, format_ms

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["NAMESPACE", "openreferral_uk"]

#: The UUID namespace of Hedgerow's Open Referral ids.
NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://hedgerow.invalid/openreferral-uk")
_STATUS: Final = {"active": "active", "paused": "temporarily closed", "ended": "defunct"}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _organization(author: bytes, body: dict[str, Any] | None) -> dict[str, Any]:
    org_id = _id("node", author.hex())
    body = body or {}
    out: dict[str, Any] = {
        "id": org_id,
        "name": body.get("name") or id_to_text(author),
        "description": body.get("description", ""),
        "hedgerow_node_id": id_to_text(author),
        "hedgerow_level": body.get("level"),
        "hedgerow_area": area_grain(body.get("area")) or None,
        "hedgerow_principles": list(body.get("principles", ())),
        "hedgerow_addresses": list(body.get("addresses", ())),
    }
    contact = body.get("contact")
    if isinstance(contact, str) and contact:
        # The protocol lets only an email address or an http(s) address through.
        out["website" if contact.startswith(("http://", "https://")) else "email"] = contact
    if body.get("org_id"):
        scheme, _, identifier = body["org_id"].rpartition("-")
        out["organization_identifiers"] = [{
            "id": _id("node", author.hex(), "org-id"), "organization_id": org_id,
            "identifier_scheme": scheme, "identifier_type": "org-id.guide",
            "identifier": identifier}]
    return out


def _service(author: bytes, key: str, version: int, body: dict[str, Any],
             organization: dict[str, Any], area: str) -> dict[str, Any]:
    service_id = _id("practice", author.hex(), key)
    out: dict[str, Any] = {
        "id": service_id,
        "organization_id": organization["id"],
        "name": body["title"],
        "description": body.get("description", ""),
        "status": _STATUS[body["status"]],
        "last_modified": format_ms(version),
        "organization": {k: v for k, v in organization.items()
                         if k in ("id", "name", "description", "organization_identifiers")},
        "hedgerow_node_id": id_to_text(author),
        "hedgerow_practice_key": key,
        "hedgerow_level": body.get("level"),
        "hedgerow_since": body.get("since"),
        "hedgerow_version": version,
        "hedgerow_adapted_from": [{"node": id_to_text(ref["author"]), "key": ref["key"]}
                                  for ref in body.get("adapted_from", ())],
        "hedgerow_measures": list(body.get("measures", ())),
        "hedgerow_lessons": list(body.get("lessons", ())),
    }
    if area:
        out["service_areas"] = [{"id": _id("practice", author.hex(), key, "area"),
                                 "service_id": service_id, "name": area,
                                 "service_area": area, "extent_type": "text"}]
    out["attributes"] = [{
        "id": _id("practice", author.hex(), key, "theme", theme), "link_id": service_id,
        "link_type": "service", "taxonomy_term_id": _id("theme", theme),
        "taxonomy_term": {"id": _id("theme", theme), "name": theme,
                          "description": f"Hedgerow theme: {theme}",
                          "taxonomy": "hedgerow-themes"}}
        for theme in body.get("themes", ())]
    return out


def openreferral_uk(db: sqlite_utils.Database, *, q: str | None,
                    filters: Filters) -> dict[str, Any]:
    """Every practice the directory would list (all pages) as Open Referral UK JSON."""
    forked = forked_nodes(db)
    where, args = filters.sql(seq="v.seq", node="v.node", status="v.status",
                              level="v.eff_level", area="v.area_key", since="v.since",
                              version="v.version")
    source = "FROM view_entries AS v JOIN view_nodes AS n ON n.node = v.node "
    if q is not None:
        source += "JOIN summaries_fts AS f ON f.rowid = v.seq WHERE summaries_fts MATCH ? AND "
        args = [fts_match(q), *args]
    else:
        source += "WHERE "
    rows = db.conn.execute(
        f"SELECT v.seq, v.node, v.area_label {source} v.kind = 'practice'" +
        not_forked(forked, "v.node") + where + " ORDER BY v.title, n.author, v.key",
        args).fetchall()
    organizations: dict[int, dict[str, Any]] = {}
    services = []
    for seq, node, area in rows:
        author, key, version, payload = db.conn.execute(
            "SELECT author, key, version, payload FROM entries WHERE seq = ?", (seq,)
        ).fetchone()
        if node not in organizations:
            profile = db.conn.execute(
                "SELECT payload FROM entries WHERE author = ? AND kind = 'profile' "
                "ORDER BY version DESC LIMIT 1", (author,)).fetchone()
            organizations[node] = _organization(
                author, decode(profile[0])["body"] if profile else None)
        services.append(_service(author, key, version, decode(payload)["body"],
                                 organizations[node], area))
    return {
        "openreferral_uk": {
            "profile": "Open Referral UK (HSDS UK profile); extra properties hedgerow_*",
            "source": "Hedgerow signed practice summaries",
            "excluded": excluded(db, forked),
        },
        "organizations": sorted(organizations.values(), key=lambda o: (o["name"], o["id"])),
        "services": services,
    }
