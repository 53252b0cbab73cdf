"""Every page handler, server-side: what it shows, what it does, and how it refuses bad input.

Bad input — a missing field, text too long, a number that is not one, a
field given twice, a file where text belongs — must come back as a page
that says what is wrong (status 400), never a 500.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.events import EntriesReceived, Event, Published
from node.sync import peerbook
from node.sync.client import SyncClient
from node.sync.gossip import Gossip
from protocol import id_to_text

from .conftest import AiohttpClient
from .pages import (
    NETWORK,
    PASSWORD,
    PageClient,
    PagesService,
    claim,
    invitation_code,
    text_of,
)

OTHER = bytes(range(32))


async def add_practice(pages: PageClient, title: str = "Repair café", **more: str) -> str:
    await pages.get("/practices/new")
    await pages.post("/practices/new", {"title": title, "status": "active", **more})
    practices = [p for p in await pages_store(pages).list_practices() if p.title == title]
    return practices[0].key


def pages_store(pages: PageClient) -> Any:
    from node.web.state import PAGES

    return pages.client.app[PAGES].service.store


def problem(html: str) -> str:
    text = text_of(html)
    assert "There is a problem" in text, text[:400]
    return text


# --- our practices ---------------------------------------------------------------------

async def test_practice_list_new_create_show_edit_delete(pages: PageClient) -> None:
    html = await pages.get("/practices")
    assert "No practices recorded yet." in html
    key = await add_practice(pages, themes="repair, reuse", description="We fix things.",
                             context="PRIVATE-CONTEXT", level="local", since="2021-04")
    assert key == "repair-cafe"
    html = await pages.get("/practices")
    assert "Repair café" in html and "not yet" in html
    html = await pages.get("/practices?q=fix")
    assert "Repair café" in html
    html = await pages.get(f"/practice/{key}")
    assert "PRIVATE-CONTEXT" in html and "never shared" in html
    html = await pages.get(f"/practice/{key}/edit")
    assert 'value="repair, reuse"' in html
    await pages.post(f"/practice/{key}/edit", {"title": "Repair café", "status": "paused",
                                               "themes": "repair", "level": ""})
    record = await pages_store(pages).get_practice(key)
    assert record.practice.status == "paused" and record.practice.level is None
    await pages.get(f"/practice/{key}/delete")
    html = await pages.post(f"/practice/{key}/delete")
    assert "Deleted “Repair café”" in html
    await pages.get(f"/practice/{key}", status=404)


@pytest.mark.parametrize(("fields", "words"), [
    ({}, "title: must not be empty"),
    ({"title": "   "}, "title: must not be empty"),
    ({"title": "x" * 5000}, "title: longer than 4000 characters"),
    ({"title": "ok", "status": "asleep"}, "status: must be one of"),
    ({"title": "ok", "level": "cosmic"}, "level"),
    ({"title": "ok", "since": "last tuesday"}, "since"),
    ({"title": "ok", "key": "Not A Key!"}, "key"),
    ({"title": "ok", "notes": "y" * 20_001}, "notes: longer than 20000"),
])
async def test_adding_a_practice_refuses_bad_input(pages: PageClient, fields: dict[str, str],
                                                   words: str) -> None:
    await pages.get("/practices/new")
    html = await pages.post("/practices/new", fields, status=400)
    assert words in problem(html)
    if "title" in fields and len(fields["title"]) < 100:
        assert f'value="{fields["title"]}"' in html  # what was typed is kept
    assert await pages_store(pages).list_practices() == []


async def test_wrong_types_and_oversized_forms(pages: PageClient) -> None:
    await pages.get("/practices/new")
    # A field given twice.
    html = await pages.post("/practices/new", [("title", "a"), ("title", "b")], status=400)
    assert "title: give this once" in problem(html)
    # A file where text belongs.
    html = await pages.post("/practices/new", [("title", io.BytesIO(b"file"))], status=400)
    assert "title: must be text, not a file" in problem(html)
    # More than the pages accept at all.
    html = await pages.post("/practices/new", {"title": "x" * (1024 * 1024 + 10)},
                            status=413)
    assert "larger than this page accepts" in text_of(html)


async def test_measures_observations_lessons_voices(pages: PageClient) -> None:
    key = await add_practice(pages)
    base = f"/practice/{key}"
    await pages.post(f"{base}/measures", {"name": "Visitors", "unit": "people",
                                          "defined_by": "community", "why": "We count"})
    store = pages_store(pages)
    measure = (await store.get_practice(key)).measures[0]
    await pages.post(f"{base}/measures/{measure.id}/observations",
                     {"observed_on": "2024-05-01", "value": "12", "note": ""})
    html = await pages.get(base)
    assert "2024-05-01" in html and ">12<" in html
    observation = (await store.list_observations(measure.id))[0]
    await pages.post(f"{base}/observations/{observation.id}/delete")
    await pages.post(f"{base}/lessons", {"lesson": "Start small."})
    lesson = (await store.get_practice(key)).lessons[0]
    await pages.post(f"{base}/lessons/{lesson.id}/edit", {"lesson": "Start smaller."})
    assert (await store.get_practice(key)).lessons[0].text == "Start smaller."
    await pages.post(f"{base}/voices", {"quote": "It changed my street.", "speaker": "A",
                                        "recorded_on": "2024-01-02"})
    voice = (await store.get_practice(key)).voices[0]
    await pages.post(f"{base}/voices/{voice.id}/delete")
    await pages.post(f"{base}/lessons/{lesson.id}/delete")
    await pages.post(f"{base}/measures/{measure.id}/delete")
    record = await store.get_practice(key)
    assert not (record.measures or record.lessons or record.voices)


@pytest.mark.parametrize(("path", "fields", "words"), [
    ("measures", {"name": ""}, "name: must not be empty"),
    ("measures", {"name": "Visitors", "defined_by": "the moon"}, "defined by: must be one"),
    ("measures", {"name": "n" * 81}, "name: longer than 80"),
    ("measures/{m}/observations", {"observed_on": "2024-05-01", "value": "twelve"},
     "value: must be a whole number"),
    ("measures/{m}/observations", {"observed_on": "2024-05-01", "value": "-3"},
     "value: must be from 0"),
    ("measures/{m}/observations", {"observed_on": "May Day", "value": "3"},
     "observed_on: must be a date"),
    ("measures/{m}/observations", {"value": "3"}, "observed on: please fill this in"),
    ("lessons", {"lesson": ""}, "lesson: please fill this in"),
    ("lessons", {"lesson": "l" * 1001}, "lesson: longer than 1000"),
    ("voices", {"quote": ""}, "quote: please fill this in"),
    ("voices", {"quote": "q", "recorded_on": "yesterday"}, "recorded_on: must be a date"),
    ("adapted-from", {"node": "not-a-node", "key": "x"}, "node:"),
    ("adapted-from", {"node": "", "key": "x"}, "node: please fill this in"),
])
async def test_parts_of_a_record_refuse_bad_input(pages: PageClient, path: str,
                                                  fields: dict[str, str], words: str) -> None:
    key = await add_practice(pages)
    measure = await pages_store(pages).add_measure(key, {"name": "Existing"})
    html = await pages.post(f"/practice/{key}/" + path.format(m=measure.id), fields,
                            status=400)
    assert words in problem(html)


async def test_missing_things_are_a_readable_404(pages: PageClient) -> None:
    key = await add_practice(pages)
    await pages.get("/practice/no-such-practice", status=404)
    await pages.post(f"/practice/{key}/measures/999/delete", status=404)
    await pages.post(f"/practice/{key}/measures/abc/delete", status=404)
    html = await pages.post(f"/practice/{key}/lessons/12345/delete", status=404)
    assert "no lesson 12345" in text_of(html)
    await pages.post(f"/practice/{key}/measures/999/observations",
                     {"observed_on": "2024-01-01", "value": "1"}, status=404)


async def test_the_adapted_from_picker_searches_the_directory(
        pages: PageClient, service: PagesService) -> None:
    other = await _other_practice(service, "Community fridge")
    key = await add_practice(pages, title="Our fridge")
    html = await pages.get(f"/practice/{key}/adapted-from?q=fridge")
    assert "Community fridge" in html
    await pages.post(f"/practice/{key}/adapted-from",
                     {"node": id_to_text(other), "key": "community-fridge", "note": "n"})
    record = await pages_store(pages).get_practice(key)
    assert [(a.author, a.practice_key) for a in record.adaptations] == [
        (other, "community-fridge")]
    await pages.post(f"/practice/{key}/adapted-from/{record.adaptations[0].id}/delete")
    assert not (await pages_store(pages).get_practice(key)).adaptations


async def _other_practice(service: PagesService, title: str) -> bytes:
    """A practice summary by another node, as if it had arrived from a peer."""
    import hashlib

    from protocol import Entry, NodeKey, sign_entry

    other = NodeKey.from_seed(hashlib.sha256(title.encode()).digest())
    key = title.lower().replace(" ", "-")
    entry = Entry(NETWORK, other.public, "practice", key, service.store.now_ms() - 1000,
                  {"title": title, "status": "active", "themes": ["food"]})
    await service.store.admit(other.public)  # the node founded the network: it admits
    await service.store.ingest([sign_entry(other, entry)])
    return other.public


# --- share ---------------------------------------------------------------------------------

async def test_share_preview_publish_retract(pages: PageClient) -> None:
    key = await add_practice(pages, description="We fix things.", context="SECRET-CONTEXT")
    store = pages_store(pages)
    await store.add_lesson(key, "Bring tea.")
    measure = await store.add_measure(key, {"name": "Items"})
    await store.record_observation(measure.id, {"observed_on": "2024-05-01", "value": 3})
    html = await pages.get(f"/practice/{key}/share")
    assert "What stays private, always" in html and "Not published yet." in html
    assert "We fix things." not in html.split('id="preview"')[1]
    lesson = (await store.get_practice(key)).lessons[0]
    await pages.post(f"/practice/{key}/share", [
        ("fields", "description"), ("lesson", str(lesson.id)), ("measure", str(measure.id)),
        (f"aggregate_{measure.id}", "sum"), (f"period_{measure.id}", "2024")])
    html = await pages.get(f"/practice/{key}/share")
    preview = html.split('data-testid="preview-body">')[1].split("</pre>")[0]
    assert "We fix things." in preview and "Bring tea." in preview
    assert "&lt;5" in preview and "SECRET-CONTEXT" not in preview
    html = await pages.post(f"/practice/{key}/publish",
                            {"preview_digest": _previewed(html)})
    assert "Published." in html and "says exactly this" in html
    held = await store.current_entry(store.node_id, "practice", key)
    assert held.entry.body["description"] == "We fix things."
    html = await pages.post(f"/practice/{key}/retract", {"reason": "paused for winter"})
    assert "Retracted." in html
    held = await store.current_entry(store.node_id, "practice", key)
    assert held.entry.kind == "retract"


async def test_a_publication_from_the_pages_is_announced_once(
        pages: PageClient, service: PagesService) -> None:
    """The running node's feed watch announces every publication (log line, live pages,
    peers); the pages do not announce it a second time."""
    announced: list[Event] = []
    service.events.subscribe(announced.append)
    async with aiohttp.ClientSession() as http:
        client = SyncClient(service.store, service.events, http, recset=service.recset)
        gossip = Gossip(service.store, client, service.config, service.events)
    await gossip.watch_own_feed()  # where the watch starts
    key = await add_practice(pages)
    html = await pages.get(f"/practice/{key}/share")
    await pages.post(f"/practice/{key}/publish", {"preview_digest": _previewed(html)})
    await pages.post("/settings/profile", {"name": "Alder Street", "level": "local"})
    await pages.post("/settings/profile/publish")
    assert await gossip.watch_own_feed()
    published = [(e.kind, e.key) for e in announced if isinstance(e, Published)]
    assert sorted(published) == [("practice", key), ("profile", "profile")]


def _previewed(html: str) -> str:
    return html.split('name="preview_digest" value="')[1].split('"')[0]


async def test_publishing_signs_only_what_was_previewed(pages: PageClient) -> None:
    key = await add_practice(pages, description="We fix things.")
    store = pages_store(pages)
    html = await pages.get(f"/practice/{key}/share")
    seen = _previewed(html)
    # Meanwhile (another tab, the CLI) the share policy changes: the description goes out.
    await pages.post(f"/practice/{key}/share", [("fields", "description")])
    html = await pages.post(f"/practice/{key}/publish", {"preview_digest": seen}, status=409)
    assert "changed since the preview" in html
    assert await store.current_entry(store.node_id, "practice", key) is None  # nothing signed
    # The page now shows the new preview, with its own digest: that one publishes.
    assert "We fix things." in html.split('data-testid="preview-body">')[1]
    html = await pages.post(f"/practice/{key}/publish", {"preview_digest": _previewed(html)})
    assert "Published." in html
    # A form without a digest (not from the page) signs nothing either.
    await pages.post(f"/practice/{key}/publish", status=409)


@pytest.mark.parametrize(("fields", "words"), [
    ([("fields", "context")], "context is private and can never be shared"),
    ([("fields", "voices")], "voices is private"),
    ([("fields", "colour")], "is not a summary field"),
    ([("lesson", "abc")], "lesson: not a valid choice"),
    ([("lesson", "99999")], "lesson 99999 is not one of this practice's lessons"),
    ([("measure", "99999")], "not one of this practice's measures"),
    ([("measure", "{m}"), ("period_{m}", "someday")], "period: must be all"),
    ([("measure", "{m}"), ("aggregate_{m}", "median")], "must be one of sum, latest"),
])
async def test_share_refuses_bad_choices(pages: PageClient, fields: list[tuple[str, str]],
                                         words: str) -> None:
    key = await add_practice(pages)
    measure = await pages_store(pages).add_measure(key, {"name": "Items"})
    data = [(n.format(m=measure.id), v.format(m=measure.id)) for n, v in fields]
    html = await pages.post(f"/practice/{key}/share", data, status=400)
    assert words in problem(html)


async def test_retracting_what_was_never_published(pages: PageClient) -> None:
    key = await add_practice(pages)
    html = await pages.post(f"/practice/{key}/retract", status=400)
    assert "no published practice" in problem(html)


# --- network -------------------------------------------------------------------------------

async def test_network_pages(pages: PageClient, service: PagesService) -> None:
    other = await _other_practice(service, "Community fridge")
    html = await pages.get("/network")
    assert "<svg" in html and "Practices per theme" in html and ">food<" in html
    html = await pages.get("/network/directory?q=fridge&kind=practice")
    assert "Community fridge" in html and "data-live-src" in html
    html = await pages.get("/network/directory?theme=food&fragment=1")
    assert html.lstrip().startswith('<p class="count">1 result')
    node = id_to_text(other)
    html = await pages.get(f"/network/practice?node={node}&key=community-fridge")
    assert "Adapt this practice" in html and 'class="chart tree"' in html
    await pages.get("/network/spread")
    await pages.get("/network/lineage")
    html = await pages.get(f"/network/lineage?node={node}")
    assert "learned from" in html
    html = await pages.get("/network/health")
    assert "Nodes known" in html


async def test_a_version_far_in_the_future_renders_on_every_network_page(
        pages: PageClient, service: PagesService) -> None:
    """No stored value may make a page fail (DESIGN.md "Limits"), 2**63 - 1 included."""
    import hashlib

    from node.store.ingest import store_checked
    from protocol import Entry, NodeKey, sign_entry, verify_entry

    other = NodeKey.from_seed(hashlib.sha256(b"far future").digest())
    await service.store.admit(other.public)
    entry = sign_entry(other, Entry(NETWORK, other.public, "practice", "forever", 2**63 - 1,
                                    {"title": "Forever", "status": "active",
                                     "themes": ["time"]}))
    verified = verify_entry(entry, NETWORK)
    # Stored straight in, as an older release might have: no clock refuses it here.
    await service.store.db.write(lambda db: store_checked(db, [verified], now_ms=2**63 - 1))
    node = id_to_text(other.public)
    for path in ("/network", "/network/directory", "/network/directory?q=forever",
                 f"/network/practice?node={node}&key=forever", "/network/spread",
                 f"/network/lineage?node={node}", "/network/health", "/peers", "/"):
        await pages.get(path)


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/network/directory?level=cosmic", 400, "level: must be one of"),
    ("/network/directory?since=someday", 400, "since: must be a date"),
    ("/network/directory?offset=-1", 400, "offset: must be a whole number"),
    ("/network/directory?q=" + "w" * 250, 400, "q: at most 200 characters"),
    ("/network/practice", 400, "named by its node and key"),
    ("/network/practice?node=nonsense&key=x", 400, "node:"),
    ("/network/practice?node={me}&key=nothing-here", 404, "no such practice"),
    ("/network/lineage?node=nonsense", 400, "node:"),
    ("/network/spread?offset=x", 400, "offset"),
])
async def test_network_pages_refuse_bad_parameters(pages: PageClient, service: PagesService,
                                                   path: str, status: int,
                                                   words: str) -> None:
    html = await pages.get(path.format(me=service.store.key.node_id), status=status)
    assert words in text_of(html)


async def test_adapt_and_credit(pages: PageClient, service: PagesService) -> None:
    other = await _other_practice(service, "Community fridge")
    node = id_to_text(other)
    html = await pages.post("/network/adapt", {"node": node, "key": "community-fridge",
                                               "target": "new", "title": "Our fridge"})
    assert "Recorded where your practice came from" in html
    store = pages_store(pages)
    record = await store.get_practice("our-fridge")
    assert [a.practice_key for a in record.adaptations] == ["community-fridge"]
    assert "adapted_from" in (await store.get_share_policy("our-fridge")).fields
    html = await pages.post("/network/credit", {"node": node, "key": "community-fridge",
                                                "credit_note": "Thank you!"})
    assert "Thank you published" in html and "You credited them" in html


async def test_a_credit_is_withdrawn_on_the_pages(pages: PageClient,
                                                  service: PagesService) -> None:
    other = await _other_practice(service, "Community fridge")
    fields = {"node": id_to_text(other), "key": "community-fridge"}
    html = await pages.post("/network/credit/withdraw", fields, status=400)
    assert "has not given a credit" in text_of(html)
    html = await pages.post("/network/credit", {**fields, "credit_note": "Thank you!"})
    assert "Withdraw your credit" in html
    # From the practice's page ...
    html = await pages.post("/network/credit/withdraw", fields)
    assert "Credit withdrawn" in html and "You withdrew your credit" in html
    assert "Withdraw your credit" not in html
    store = pages_store(pages)
    assert await store.current_entries(kind="credit") == []
    # ... and from the list of credits given, which the withdrawal empties.
    await pages.post("/network/credit", {**fields, "credit_note": "Thank you again!"})
    html = await pages.get("/network/lineage")
    assert "Withdraw this credit" in html
    html = await pages.post("/network/credit/withdraw", {**fields, "back": "lineage"})
    assert "Credit withdrawn" in html and "Withdraw this credit" not in html


@pytest.mark.parametrize(("path", "fields", "words"), [
    ("/network/adapt", {"target": "new", "title": ""}, "title: please fill this in"),
    ("/network/adapt", {"target": ""}, "target: please fill this in"),
    ("/network/adapt", {"target": "no-such-practice"}, "no practice with the key"),
    ("/network/credit", {"credit_note": "n" * 501}, "credit note: longer than 500"),
])
async def test_adapt_and_credit_refuse_bad_input(pages: PageClient, service: PagesService,
                                                 path: str, fields: dict[str, str],
                                                 words: str) -> None:
    other = await _other_practice(service, "Community fridge")
    data = {"node": id_to_text(other), "key": "community-fridge", **fields}
    html = await pages.post(path, data, status=400 if "no-such" not in str(fields) else 404)
    assert words in text_of(html)


async def test_crediting_oneself_is_refused(pages: PageClient, service: PagesService) -> None:
    key = await add_practice(pages)
    html = await pages.post("/network/credit", {"node": service.store.key.node_id,
                                                "key": key}, status=400)
    assert "cannot credit itself" in text_of(html)


async def test_live_updates_stream_events(pages: PageClient, service: PagesService) -> None:
    response = await pages.client.get("/network/live")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert b"connected" in await response.content.readuntil(b"\n\n")
    await asyncio.sleep(0)
    service.events.publish(EntriesReceived("http://peer", 2))
    event = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
    assert event.startswith(b"event: entries")
    response.close()


# --- peers ---------------------------------------------------------------------------------

async def test_peers_page_add_invite_block(pages: PageClient, service: PagesService) -> None:
    html = await pages.get("/peers")
    assert "knows no peers yet" in html
    await pages.post("/peers/add", {"peer": "127.0.0.1:9"})
    invitation = invitation_code(NETWORK, OTHER, "http://127.0.0.1:7")
    await pages.post("/peers/add", {"peer": invitation})
    rows = await service.store.db.read(peerbook.list_peers)
    assert [(r.address, r.source, r.node_id) for r in rows] == [
        ("http://127.0.0.1:9", "manual", None), ("http://127.0.0.1:7", "invitation", OTHER)]
    html = await pages.post("/peers/invite", {"address": "http://192.0.2.10:8470"})
    code = html.split('data-testid="invitation">')[1].split("<")[0]
    assert code.startswith("HR2-")
    await pages.post("/peers/block", {"node": id_to_text(OTHER), "note": "spam"})
    assert OTHER in service.server.blocked
    # The short id the page lists is enough for a node this one knows.
    await pages.post("/peers/unblock", {"node": id_to_text(OTHER)[:7]})
    assert OTHER not in service.server.blocked
    await pages.post("/peers/remove", {"address": "http://127.0.0.1:9"})
    html = await pages.post("/peers/sync", {"address": "http://127.0.0.1:7"}, status=400)
    assert "not syncing right now" in text_of(html)


@pytest.mark.parametrize(("path", "fields", "words"), [
    ("/peers/add", {"peer": ""}, "peer: please fill this in"),
    ("/peers/add", {"peer": "ftp://example.org/x"}, "a peer address looks like"),
    ("/peers/add", {"peer": "HR2-ABCDEFGH"}, "invitation code:"),
    ("/peers/add", {"peer": "{other_network}"}, "another network"),
    ("/peers/add", {"peer": "{own}"}, "this node's own invitation"),
    ("/peers/invite", {"address": "not a url"}, "address:"),
    ("/peers/block", {"node": "nope"}, "node id:"),
    ("/peers/block", {"node": "ZZZZZZZ"}, "node id: no node known here has an id starting"),
    ("/peers/block", {"node": "{me}"}, "cannot block itself"),
])
async def test_peers_forms_refuse_bad_input(pages: PageClient, service: PagesService,
                                            path: str, fields: dict[str, str],
                                            words: str) -> None:
    me = service.store.key
    values = {
        "other_network": invitation_code(OTHER, OTHER, "http://127.0.0.1:7"),
        "own": invitation_code(NETWORK, me.public, "http://127.0.0.1:7"),
        "me": me.node_id}
    data = {k: v.format(**values) for k, v in fields.items()}
    html = await pages.post(path, data, status=400)
    assert words in problem(html)


async def test_removing_an_unknown_peer_is_404(pages: PageClient) -> None:
    html = await pages.post("/peers/remove", {"address": "http://127.0.0.1:5"}, status=404)
    assert "no peer with the address" in text_of(html)


# --- settings and backup -------------------------------------------------------------------

async def test_profile_save_preview_publish(pages: PageClient, service: PagesService) -> None:
    html = await pages.get("/settings")
    assert "set the organisation's name and level" in text_of(html)
    await pages.post("/settings/profile", {
        "name": "Alder Street", "area": "LS6", "level": "neighbourhood",
        "description": "Tenants.", "principles": "mutual aid\nopenness",
        "addresses": "http://127.0.0.1:8470", "org_id": "gb chc 1234567"})
    org = await service.store.get_organisation()
    assert org.principles == ("mutual aid", "openness") and org.org_id == "GB-CHC-1234567"
    html = await pages.post("/settings/profile/publish")
    assert "Published the profile." in html and "up to date" in html


@pytest.mark.parametrize(("fields", "words"), [
    ({"name": "A", "level": "galactic"}, "level: must be one of"),
    ({"name": "A", "level": "local", "org_id": "GB-CHC-12"}, "org_id:"),
    ({"name": "A", "level": "local", "addresses": "x" * 300}, "addresses"),
    ({"name": "A" * 2001, "level": "local"}, "name: longer than 2000"),
])
async def test_profile_refuses_bad_input(pages: PageClient, fields: dict[str, str],
                                         words: str) -> None:
    html = await pages.post("/settings/profile", fields, status=400)
    assert words in problem(html)


async def test_publishing_an_unnamed_profile_is_refused(pages: PageClient) -> None:
    html = await pages.post("/settings/profile/publish", status=400)
    assert "set the organisation's name and level" in problem(html)


async def test_public_pages_setting(pages: PageClient, service: PagesService) -> None:
    await pages.post("/settings/public-pages", [("public", "network"), ("public", "api")])
    from node.web.admin import AdminFile

    assert AdminFile(service.store.data_dir).read().public_pages == {"network", "api"}
    html = await pages.post("/settings/public-pages", [("public", "practices")], status=400)
    assert "public pages: choose from" in problem(html)


async def test_change_password(pages: PageClient, service: PagesService,
                               aiohttp_client: AiohttpClient) -> None:
    other = PageClient(await aiohttp_client(pages.client.app))
    await other.login()
    html = await pages.post("/settings/password", {
        "current_password": "wrong one!", "password": "new password 1",
        "password_again": "new password 1"}, status=400)
    assert "current password: that is not right" in problem(html)
    html = await pages.post("/settings/password", {
        "current_password": PASSWORD, "password": "short", "password_again": "short"},
        status=400)
    assert "at least 10" in problem(html)
    await pages.post("/settings/password", {
        "current_password": PASSWORD, "password": "new password 1",
        "password_again": "new password 1"})
    await pages.get("/settings")  # still logged in
    response = await other.client.get("/settings", allow_redirects=False)
    assert response.status == 303  # everyone else is logged out


async def test_backup_and_restore(pages: PageClient, service: PagesService,
                                  tmp_path: Path) -> None:
    await add_practice(pages, title="Kept in the backup")
    response = await pages.client.get("/settings/backup")
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = await response.read()
    assert data.startswith(b"SQLite format 3\x00")
    backup = tmp_path / "downloaded.db"
    backup.write_bytes(data)
    with sqlite3.connect(backup) as db:
        assert db.execute("SELECT title FROM practices").fetchall() == [
            ("Kept in the backup",)]
    store = pages_store(pages)
    await store.delete_practice("kept-in-the-backup")
    await pages.get("/settings")
    html = await pages.post("/settings/restore", [
        ("backup", backup.open("rb")), ("confirm", "yes")])
    assert "Restored the backup." in html
    assert [p.title for p in await store.list_practices()] == ["Kept in the backup"]
    assert not list(store.data_dir.glob(".upload-*")) and not list(
        store.data_dir.glob(".backup-*"))


@pytest.mark.parametrize(("parts", "words"), [
    ([("backup", ("empty.db", b""))], "choose the backup file"),
    ([("backup", ("b.db", b"SQLite format 3\x00" + b"\x00" * 100))], "backup"),
    ([("backup", ("b.db", b"not a database at all"))], ""),
    ([("backup", ("b.db", b"x"))], "tick the box"),
])
async def test_restore_refuses_bad_uploads(pages: PageClient, parts: list[tuple[str, Any]],
                                           words: str) -> None:
    await pages.get("/settings")
    data: list[tuple[str, Any]] = []
    for name, (filename, content) in parts:
        part = io.BytesIO(content)
        part.name = filename  # type: ignore[attr-defined]
        data.append((name, part))
    if words != "tick the box":
        data.append(("confirm", "yes"))
    html = await pages.post("/settings/restore", data, status=400)
    assert words in problem(html)


async def test_restore_checks_the_token_first(pages: PageClient, tmp_path: Path) -> None:
    await pages.get("/settings")
    response = await pages.client.post("/settings/restore", data=[
        ("backup", io.BytesIO(b"x")), ("csrf_token", pages.token)])
    assert response.status == 403
    response = await pages.client.post("/settings/restore", data=[
        ("csrf_token", "forged"), ("backup", io.BytesIO(b"x"))])
    assert response.status == 403


async def test_home_page(pages: PageClient) -> None:
    html = await pages.get("/")
    assert "Other groups do not know your organisation yet" in html
    assert "0 practice records" in text_of(html)


async def test_page_titles_name_the_group_once(pages: PageClient) -> None:
    def title(html: str) -> str:
        return html.split("<title>", 1)[1].split("</title>", 1)[0]

    assert title(await pages.get("/")) == "Your node · Hedgerow"
    await pages_store(pages).update_organisation({"name": "Chapeltown Play Out"})
    assert title(await pages.get("/")) == "Chapeltown Play Out · Hedgerow"
    assert title(await pages.get("/peers")) == "Peers · Chapeltown Play Out · Hedgerow"


def test_claim_helper_sets_a_password(tmp_path: Path) -> None:
    from node.web.admin import AdminFile, verify_password

    tmp_path.joinpath("n").mkdir()
    claim(tmp_path / "n")
    state = AdminFile(tmp_path / "n").read()
    assert verify_password(state.password, PASSWORD)
    assert not verify_password(state.password, PASSWORD + "!")


async def test_this_nodes_own_fork_is_explained_on_its_pages(
        pages: PageClient, service: PagesService) -> None:
    """A node that forked itself is told what happened and that publishing again resolves
    it; once resolved, the fork moves to the history on the health page."""
    from protocol import Entry, sign_entry

    store = service.store
    key = await add_practice(pages, "Repair café")
    signed = await store.publish_practice(key)
    version = decode_version(signed.payload)
    other = sign_entry(store.key, Entry(NETWORK, store.node_id, "practice", "repair-cafe",
                                        version, {"title": "Repair café (a copy elsewhere)",
                                                  "status": "active"}))
    assert (await store.ingest([other]))[0].status.value == "fork"
    html = text_of(await pages.get("/"))
    assert "This node signed two different entries with the same version" in html
    assert "the practice repair-cafe" in html
    await store.publish_practice(key)
    html = text_of(await pages.get("/network/health"))
    assert "Resolved forks" in html
    assert "signed two different entries" not in text_of(await pages.get("/"))


def decode_version(payload: bytes) -> int:
    from protocol import decode

    return int(decode(payload)["version"])
