"""Areas at the grain people share them: UK postcodes cut to their district, nothing else.

The table below is written from the Royal Mail's published postcode formats,
not from the code: an outward code (the district) is one of A9, A99, A9A,
AA9, AA99 or AA9A; a full postcode adds an inward code of a digit and two
letters, usually after a space; a sector is the outward code, a space and
the digit. Each real district appears alone, as a sector and as a full
postcode, with and without the space, in lower case, with extra spaces and
inside a longer area text. Two-digit districts (M14, LS11, SE15, E17, N16)
are the ones a naive reading cuts short.
"""

from __future__ import annotations

import pytest
import sqlite_utils

from node.store.ingest import ingest_batch
from node.views import area_grain, catch_up, compute_view, prepare
from protocol import Entry, sign_entry

from ..peer_entries import NETWORK, admitted_by_a_member, peer_key

# (district, a full postcode in it) for every outward-code pattern.
DISTRICTS = [
    # A9
    ("M1", "M1 1AE"), ("E8", "E8 3PB"), ("N1", "N1 9GU"), ("B3", "B3 2PW"),
    # A99
    ("M14", "M14 5AB"), ("E17", "E17 4JF"), ("N16", "N16 0AA"), ("B33", "B33 8TH"),
    ("M11", "M11 1AA"),
    # A9A
    ("W1A", "W1A 0AX"), ("E1W", "E1W 1YW"), ("N1C", "N1C 4AG"),
    # AA9
    ("LS6", "LS6 2AB"), ("BS1", "BS1 4DJ"), ("SE1", "SE1 7PB"), ("CR2", "CR2 6XH"),
    # AA99
    ("LS11", "LS11 5DB"), ("BS16", "BS16 1QY"), ("SE15", "SE15 4ST"), ("DN55", "DN55 1PT"),
    ("CF10", "CF10 1EP"),
    # AA9A
    ("SW1A", "SW1A 1AA"), ("EC1A", "EC1A 1BB"), ("WC2H", "WC2H 7LT"),
]




def _forms(district: str, postcode: str) -> list[tuple[str, str]]:
    inward = postcode.split()[1]
    sector = inward[0]
    return [
        (district, district),                                  # the district alone
        (district.lower(), district),                          # typed in lower case
        (f"  {district}  ", district),                         # stray spaces
        (postcode, district),                                  # a full postcode
        (postcode.lower(), district),
        (postcode.replace(" ", ""), district),                 # without the space
        (postcode.replace(" ", "").lower(), district),
        (postcode.replace(" ", "   "), district),              # several spaces
        (f"{district} {sector}", district),                    # a sector
        (f"{district.lower()}  {sector}", district),
    ]


CASES = [case for district, postcode in DISTRICTS for case in _forms(district, postcode)]


@pytest.mark.parametrize(("typed", "shown"), CASES, ids=[typed for typed, _ in CASES])
def test_every_uk_postcode_form_is_cut_to_its_district(typed: str, shown: str) -> None:
    assert area_grain(typed) == shown


@pytest.mark.parametrize(("typed", "shown"), [
    # Postcodes inside a longer area text: cut in place, the rest kept as typed.
    ("Rusholme, M14 5AB", "Rusholme, M14"),
    ("Walthamstow E17", "Walthamstow E17"),
    ("Bristol BS16 1QY", "Bristol BS16"),
    ("Peckham, se15 4st", "Peckham, SE15"),
    ("Beeston LS11  5DB", "Beeston LS11"),
    ("Stoke Newington N16 0AA and N16 7", "Stoke Newington N16 and N16"),
    # Not postcodes at all: kept, spaces tidied.
    ("Frome", "Frome"), ("Calderdale", "Calderdale"), ("  Tower   Hamlets ", "Tower Hamlets"),
    ("Leeds", "Leeds"), ("Area 51", "Area 51"), ("", ""), (None, ""),
])
def test_areas_in_longer_texts_and_places_that_are_not_postcodes(typed: str | None,
                                                                  shown: str) -> None:
    assert area_grain(typed) == shown


def test_an_index_built_by_the_old_grain_is_rebuilt(db: sqlite_utils.Database) -> None:
    """Stored indexes hold the areas as they were cut then: a new format rebuilds them."""
    author = peer_key("area grain")
    body = {"name": "Rusholme Tenants", "level": "neighbourhood", "area": "M14"}
    entry = sign_entry(author, Entry(NETWORK, author.public, "profile", "profile", 1, body))
    ingest_batch(db, [*admitted_by_a_member(author), entry], now_ms=1)
    catch_up(db)
    # What an index of the first format held for this profile: M14 cut to M1.
    with db.conn:
        db.conn.execute("UPDATE view_state SET format = 1")
        db.conn.execute("UPDATE view_entries SET area = 'M1', area_key = 'm1', "
                        "area_label = 'M1'")
        db.conn.execute("DELETE FROM view_cache")
    catch_up(db)
    rows = compute_view(db, "directory", prepare("directory", {}, me=b"\0" * 32, now_ms=0))
    assert [r["area"] for r in rows["results"]] == ["M14"]
