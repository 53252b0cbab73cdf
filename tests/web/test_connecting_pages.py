"""The pages that connect groups, server-side: others on the same journey on a practice's
page, the introductions page, where our ideas travelled on the home page, and the profile's
contact shown as "get in touch" — to a logged-in visitor only."""

from __future__ import annotations

from typing import Any

import pytest

from node.web.admin import AdminFile
from protocol import Entry, NodeKey, SignedEntry, decode, id_to_text, sign_entry

from .pages import NETWORK, PageClient, PagesService, text_of

T = 1_700_000_100_000


def key(name: str) -> NodeKey:
    return NodeKey.from_seed(bytes([len(name)]) * 16 + name.encode().ljust(16, b"."))


def signed(who: NodeKey, kind: str, slot: str, version: int, body: dict[str, Any]) -> SignedEntry:
    return sign_entry(who, Entry(NETWORK, who.public, kind, slot, version, body))


FRIDGE, GROWERS, FIXERS = key("fridge"), key("growers"), key("fixers")


async def arrive(service: PagesService, *entries: SignedEntry) -> None:
    """Entries from peers, whose authors the node (the founder of its network) admits."""
    for author in dict.fromkeys(decode(entry.payload)["author"] for entry in entries):
        await service.store.admit(author)
    outcomes = await service.store.ingest(list(entries))
    assert all(o.stored for o in outcomes), outcomes


async def network_of_three(service: PagesService) -> None:
    """Three groups: a fridge and a growers' fridge on food and waste, with contacts, and a
    fixers' group on waste that adapted the fridge (so fridge and fixers are connected)."""
    await arrive(
        service,
        signed(FRIDGE, "profile", "profile", T, {
            "name": "Easton Fridge", "level": "neighbourhood", "area": "BS5",
            "contact": "fridge@easton.example"}),
        signed(FRIDGE, "practice", "community-fridge", T + 1, {
            "title": "Community fridge", "status": "active",
            "themes": ["food", "mutual aid", "waste"],
            "lessons": ["Keep a temperature log by the fridge."]}),
        signed(GROWERS, "profile", "profile", T + 2, {
            "name": "Splott Growers", "level": "neighbourhood", "area": "CF24 2",
            "contact": "https://growers.splott.example"}),
        signed(GROWERS, "practice", "harvest-fridge", T + 3, {
            "title": "Harvest fridge", "status": "active", "themes": ["food", "waste"],
            "lessons": ["A temperature log saved us weeks."]}),
        signed(FIXERS, "profile", "profile", T + 4, {"name": "Fixers", "level": "local",
                                                     "contact": "mend@fixers.example"}),
        signed(FIXERS, "practice", "fix-fridges", T + 5, {
            "title": "Fridge fixing", "status": "active", "themes": ["repair", "waste"],
            "adapted_from": [{"author": FRIDGE.public, "key": "community-fridge"}]}),
    )


async def test_a_practice_page_shows_others_on_the_same_journey(
        pages: PageClient, service: PagesService) -> None:
    await network_of_three(service)
    fridge = id_to_text(FRIDGE.public)
    html = await pages.get(f"/network/practice?node={fridge}&key=community-fridge")
    text = text_of(html)
    assert "Others on the same journey" in text
    section = text.split("Others on the same journey", 1)[1]
    # Most alike first: two shared themes, then one (and already linked).
    assert section.index("Harvest fridge") < section.index("Fridge fixing")
    assert "Why: 2 shared themes: food, waste; 3 words in common: fridge, temperature, log; " \
           "the same level (neighbourhood)." in section
    assert "Splott Growers · CF24 · neighbourhood · active" in section
    assert "already linked" in section
    assert "1 lesson they share" in section and "A temperature log saved us weeks." in section
    # Get in touch: with the practice's group and with the similar ones that publish one.
    assert 'href="mailto:fridge@easton.example"' in html
    assert 'href="https://growers.splott.example"' in html
    assert 'aria-label="Get in touch with Splott Growers (https://growers.splott.example)"' \
        in html
    # In the lineage too: the fixers adapted the fridge.
    assert 'href="mailto:mend@fixers.example"' in html.split('class="tree-list"', 1)[1]
    html = await pages.get(f"/network/similar?node={fridge}&key=community-fridge")
    assert "Others on the same journey as Community fridge" in text_of(html)
    assert "2 practices alike" in text_of(html)


async def test_the_introductions_page(pages: PageClient, service: PagesService) -> None:
    await network_of_three(service)
    html = await pages.get("/network/introductions")
    text = text_of(html)
    assert "Introductions to make" in text and "2 themes with two or more groups" in text
    # Food: the two fridges. Waste: all three work on it, but the fixers adapted the fridge,
    # so the growers are introduced to one or the other, never fridge to fixers.
    food = text.split("food (2 groups)", 1)[1].split("(3 groups)", 1)[0]
    assert "Easton Fridge" in food and "Splott Growers" in food
    assert "Why: both work on food; 2 shared themes: food, waste; both at neighbourhood " \
           "level; no credit, adaptation or shared lineage between them yet" in food
    waste = text.split("waste (3 groups)", 1)[1]
    assert "Splott Growers" in waste
    assert "get in touch" in html and 'href="mailto:fridge@easton.example"' in html
    html = await pages.get("/network/introductions?theme=waste&level=neighbourhood")
    assert "waste (2 groups)" in text_of(html)
    html = await pages.get("/network/introductions?area=cf24")
    assert "No theme has two groups yet." in text_of(html)
    html = await pages.get("/network/introductions?level=cosmic", status=400)
    assert "level: must be one of" in text_of(html)
    await pages.get("/network/introductions?offset=x", status=400)
    assert 'href="/network/introductions" aria-current="page"' in html or \
        "/network/introductions" in html


async def test_the_home_page_shows_where_our_ideas_travelled(
        pages: PageClient, service: PagesService) -> None:
    html = await pages.get("/")
    assert "No other group has adapted or credited your practices yet." in text_of(html)
    me = service.store.node_id
    await service.store.create_practice({"title": "Repair café"})
    await service.store.publish_practice("repair-cafe")
    await arrive(
        service,
        signed(GROWERS, "profile", "profile", T, {
            "name": "Splott Growers", "level": "neighbourhood", "area": "CF24 2",
            "contact": "https://growers.splott.example"}),
        signed(GROWERS, "practice", "fix-day", T + 1, {
            "title": "Fix day at the garden", "status": "active",
            "adapted_from": [{"author": me, "key": "repair-cafe"}]}),
        signed(GROWERS, "credit", f"{me.hex()}/repair-cafe", T + 2, {
            "to": me, "practice": "repair-cafe", "note": "Your sign-in sheet works for us."}))
    html = await pages.get("/")
    text = text_of(html)
    assert "Where our ideas travelled" in text and "1 new since you last looked" in text
    assert "Repair café new Splott Growers , CF24 get in touch : adapted it as Fix day at " \
           "the garden ; credited you: “Your sign-in sheet works for us.”" in text
    assert '<li class="new">' in html and 'href="https://growers.splott.example"' in html
    # Shown once: the next visit has nothing new.
    html = await pages.get("/")
    assert "new since" not in text_of(html) and '<li class="new">' not in html
    assert "Splott Growers" in text_of(html)


async def test_contacts_are_for_logged_in_visitors_only(
        anonymous: PageClient, service: PagesService) -> None:
    await network_of_three(service)
    AdminFile(service.store.data_dir).set_public_pages(frozenset({"network"}))
    fridge = id_to_text(FRIDGE.public)
    for path in (f"/network/practice?node={fridge}&key=community-fridge",
                 "/network/introductions", "/network/directory?q=fridge"):
        html = await anonymous.get(path)
        assert "fridge@easton.example" not in html and "get in touch" not in html, path
    await anonymous.login()
    html = await anonymous.get("/network/directory?q=fridge")
    assert 'href="mailto:fridge@easton.example"' in html


async def test_the_profile_form_saves_and_previews_the_contact(
        pages: PageClient, service: PagesService) -> None:
    fields = {"name": "Alder Street Tenants", "level": "local", "area": "", "description": "",
              "principles": "", "addresses": "", "org_id": "",
              "contact": "hello@alder.example.org"}
    await pages.post("/settings/profile", fields)
    html = await pages.get("/settings")
    assert '"contact": "hello@alder.example.org"' in text_of(html)
    assert "leading to hello@alder.example.org" in text_of(html)
    assert (await service.store.get_organisation()).contact == "hello@alder.example.org"
    html = await pages.post("/settings/profile", {**fields, "contact": "ring us"}, status=400)
    assert "contact: must be an email address or an http:// or https:// address" in \
        text_of(html)
    assert 'id="field-contact"' in html and 'aria-invalid="true"' in html


@pytest.mark.parametrize("contact", ["hello@x.example", "https://x.example/a"])
def test_contact_links(contact: str) -> None:
    from node.web.render import contact_href

    assert contact_href(contact) == ("mailto:" + contact if "@" in contact else contact)
    assert contact_href("javascript:alert(1)") == "" and contact_href(None) == ""
