"""The organisation: what its ``profile`` entry says about it.

(How the node *runs* — ports, peers, intervals — is configuration, in
:mod:`node.settings`. This module is what the group says about itself.)

Everything here is meant to be public once the group publishes its profile
(:func:`node.store.feed.publish_profile`); nothing private belongs here.

The optional organisation identifier uses the org-id.guide scheme found
across UK funding data (360Giving and others): ``GB-CHC-1234567`` for a
charity registered in England and Wales, ``GB-COH-01234567`` for a company
at Companies House, ``GB-SC-SC012345`` for a Scottish charity,
``GB-NIC-100123`` for one in Northern Ireland. :func:`normalise_org_id`
checks the shape (the known UK registers' number formats; any other list by
the general ``XX-LIST-identifier`` form) — it cannot check that the number
is really registered.

The optional **contact** is how other groups can get in touch, if the
group chooses to publish one: an email address or a web address
(:func:`normalise_contact`). It is never required, and like every profile
field it is shown in the preview of exactly what will be signed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from protocol import LEVELS

from ..errors import InvalidInput
from .connection import write_transaction
from .input_checks import check_fields_known, check_text, check_with_protocol

if TYPE_CHECKING:
    import sqlite_utils

__all__ = [
    "ORGANISATION_FIELDS",
    "Organisation",
    "get_organisation",
    "normalise_contact",
    "normalise_org_id",
    "profile_body",
    "update_organisation",
]

ORGANISATION_FIELDS = ("name", "level", "area", "description", "principles", "addresses", "org_id",
                       "contact")

# org-id.guide lists for UK registers, and the shape of their identifiers.
_UK_REGISTERS: dict[str, tuple[re.Pattern[str], str]] = {
    "GB-CHC": (re.compile(r"\d{6,7}\Z"), "a registered charity number of 6 or 7 digits"),
    "GB-COH": (re.compile(r"(\d{8}|[A-Z]{2}\d{6})\Z"),
               "a company number of 8 digits, or 2 letters and 6 digits"),
    "GB-SC": (re.compile(r"SC\d{6}\Z"), "SC followed by 6 digits"),
    "GB-NIC": (re.compile(r"\d{5,6}\Z"), "a Northern Ireland charity number of 5 or 6 digits"),
}
_ORG_ID = re.compile(r"[A-Z]{2}-[A-Z0-9]{2,10}-[A-Za-z0-9][A-Za-z0-9._/-]{0,39}\Z")


def normalise_org_id(text: str) -> str:
    """Check an org-id.guide identifier's shape and write it canonically (``GB-CHC-1234567``).

    Spaces may stand for dashes (``gb chc 1234567``); the list prefix is
    upper-cased, and so is the number for the UK registers above.
    """
    parts = re.sub(r"[\s-]+", "-", text.strip()).split("-", 2)
    if len(parts) == 3:
        prefix = f"{parts[0].upper()}-{parts[1].upper()}"
        number = parts[2].upper() if prefix in _UK_REGISTERS else parts[2]
        candidate = f"{prefix}-{number}"
        rule = _UK_REGISTERS.get(prefix)
        if rule is not None and not rule[0].match(number):
            raise InvalidInput(f"org_id: after {prefix}- comes {rule[1]}", field="org_id",
                               code="bad_format")
        if len(candidate) <= 56 and _ORG_ID.match(candidate):
            return candidate
    raise InvalidInput(
        "org_id: must be an org-id.guide identifier such as GB-CHC-1234567 (a registered "
        "charity) or GB-COH-01234567 (a company)", field="org_id", code="bad_format")


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_BARE_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+([/?#:]|\Z)")


def normalise_contact(text: str) -> str:
    """A contact as the profile publishes it: an email address or a web address.

    ``mailto:`` is dropped from an email address, and a web address typed
    without its scheme (``fridge.example.org/contact``) gets ``https://``;
    the protocol's profile schema then has the last word on the shape.
    """
    contact = text.strip()
    if contact[:7].lower() == "mailto:":
        contact = contact[7:]
    elif "@" not in contact and not _SCHEME.match(contact) and _BARE_HOST.match(contact):
        contact = "https://" + contact
    return contact


@dataclass(frozen=True, slots=True)
class Organisation:
    """What the organisation says about itself in its profile."""

    name: str
    level: str | None
    area: str
    description: str
    principles: tuple[str, ...]
    addresses: tuple[str, ...]
    org_id: str | None
    updated_ms: int
    contact: str | None = None


def get_organisation(db: sqlite_utils.Database) -> Organisation:
    row = db.conn.execute("SELECT name, level, area, description, principles, addresses, "
                          "org_id, updated_ms, contact FROM organisation").fetchone()
    if row is None:
        return Organisation("", None, "", "", (), (), None, 0)
    values = list(row)
    values[4], values[5] = tuple(json.loads(values[4])), tuple(json.loads(values[5]))
    return Organisation(*values)


def profile_body(organisation: Organisation) -> dict[str, Any]:
    """The body of the ``profile`` entry (empty optional fields left out)."""
    body: dict[str, Any] = {"name": organisation.name, "level": organisation.level}
    if organisation.area:
        body["area"] = organisation.area
    if organisation.description:
        body["description"] = organisation.description
    if organisation.principles:
        body["principles"] = list(organisation.principles)
    if organisation.addresses:
        body["addresses"] = list(organisation.addresses)
    if organisation.org_id:
        body["org_id"] = organisation.org_id
    if organisation.contact:
        body["contact"] = organisation.contact
    return body


def _text_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(f"{field}: must be a list", field=field, code="wrong_type")
    return [check_text(v, field, max_len=200, single_line=True) for v in value]


def update_organisation(db: sqlite_utils.Database, changes: Mapping[str, Any], *,
                    now_ms: int) -> Organisation:
    """Change some fields; the result must make a valid profile (name and level may wait)."""
    check_fields_known(changes, ORGANISATION_FIELDS, "organisation")
    clean: dict[str, Any] = {}
    for name in ("name", "area", "description"):
        if name in changes:
            clean[name] = check_text(changes[name], name, max_len=2000)
    if "level" in changes:
        level = changes["level"]
        clean["level"] = None if level in (None, "") else check_text(level, "level", max_len=20)
    for name in ("principles", "addresses"):
        if name in changes:
            clean[name] = _text_list(changes[name], name)
    if "org_id" in changes:
        org_id = changes["org_id"]
        clean["org_id"] = None if org_id in (None, "") else \
            normalise_org_id(check_text(org_id, "org_id", max_len=100))
    if "contact" in changes:
        contact = changes["contact"]
        clean["contact"] = None if contact in (None, "") else \
            normalise_contact(check_text(contact, "contact", max_len=300, single_line=True))
    with write_transaction(db) as conn:
        merged = profile_body(get_organisation(db))
        merged.update({k: v for k, v in clean.items() if v not in (None, "", [])})
        for name, value in clean.items():
            if value in (None, "", []):
                merged.pop(name, None)
        # Until the group has typed them, a name and level stand in so the
        # other fields can be checked against the protocol's profile schema.
        if not merged.get("name"):
            merged["name"] = "-"
        merged["level"] = merged.get("level") or LEVELS[0]
        check_with_protocol("profile", "profile", merged, bytes(32))
        if clean:
            row = {k: json.dumps(v) if isinstance(v, list) else v for k, v in clean.items()}
            sets = ", ".join(f"{k} = ?" for k in row)
            conn.execute(f"UPDATE organisation SET {sets}, updated_ms = ?",
                         (*row.values(), now_ms))
    return get_organisation(db)
