"""The node's own feed: share policy, preview, publish, retract, credit, profile, versions."""

from __future__ import annotations

import pytest
import sqlite_utils

from node import (
    InvalidInput,
    LocalProblem,
    NeedsCatchUp,
    NotFound,
    SharedMeasure,
    SharePolicy,
    Store,
    normalise_org_id,
)
from node.store.feed import UNSEEN_PRACTICE
from node.store.node_state import mark_needs_catch_up
from protocol import credit_key, decode, retract_key, verify_entry

from ..conftest import FakeClock, held
from ..peer_entries import NETWORK, peer_key, practice, retract


def body_of(payload: bytes) -> dict[str, object]:
    body: dict[str, object] = decode(payload)["body"]
    return body


async def make_play_street(store: Store) -> None:
    await store.create_practice({
        "title": "Play street", "description": "We close the road so children can play.",
        "themes": ["children", "streets"], "level": "neighbourhood", "area": "Hulme",
        "since": "2021-06", "context": "private context"})


async def test_a_new_practice_shares_only_title_and_status(store: Store) -> None:
    await make_play_street(store)
    assert (await store.get_share_policy("play-street")).fields == {"title", "status"}
    entry = await store.preview_practice("play-street")
    assert entry.body == {"status": "active", "title": "Play street"}


async def test_preview_is_exactly_what_is_signed(store: Store) -> None:
    await make_play_street(store)
    await store.set_share_policy("play-street", SharePolicy.of(
        {"description", "themes", "level", "area", "since"}))
    preview = await store.preview_practice("play-street")
    signed = await store.publish_practice("play-street")
    assert signed.payload == preview.payload()
    verified = verify_entry(signed, NETWORK)
    assert verified.entry == preview
    assert await held(store) == [(preview.version, signed.id)]


async def test_republishing_supersedes_and_versions_only_increase(
        store: Store, clock: FakeClock) -> None:
    await make_play_street(store)
    first = await store.publish_practice("play-street")
    await store.update_practice("play-street", {"status": "ended"})
    second = await store.publish_practice("play-street")   # same millisecond
    clock.advance(-3_600_000)                                # the clock jumps back an hour
    third = await store.publish_practice("play-street")
    versions = [decode(s.payload)["version"] for s in (first, second, third)]
    assert versions == [clock.now_ms + 3_600_000 + i for i in range(3)]
    assert await held(store) == [(versions[2], third.id)]
    assert body_of(third.payload)["status"] == "ended"
    assert await store.own_highest_version() == versions[2]


async def test_private_fields_cannot_be_in_a_policy(store: Store) -> None:
    await make_play_street(store)
    for name in ("context", "community", "run_by", "notes", "voices", "observations"):
        with pytest.raises(InvalidInput, match="private and can never be shared"):
            await store.set_share_policy("play-street", SharePolicy.of({"themes", name}))
    with pytest.raises(InvalidInput, match="not a summary field"):
        await store.set_share_policy("play-street", SharePolicy.of({"postcode"}))
    assert (await store.get_share_policy("play-street")).fields == {"title", "status"}


async def test_measures_are_aggregated_and_small_counts_suppressed(store: Store) -> None:
    await make_play_street(store)
    kids = await store.add_measure("play-street", {"name": "children", "unit": "children",
                                                   "defined_by": "community"})
    helpers = await store.add_measure("play-street", {"name": "stewards",
                                                      "defined_by": "own"})
    funder = await store.add_measure("play-street", {"name": "sessions",
                                                     "defined_by": "funder"})
    empty = await store.add_measure("play-street", {"name": "complaints"})
    for day, n in (("2024-05-04", 3), ("2024-05-11", 4), ("2024-06-01", 30)):
        await store.record_observation(kids.id, {"observed_on": day, "value": n})
    for day, n in (("2024-05-04", 6), ("2024-05-11", 2)):
        await store.record_observation(helpers.id, {"observed_on": day, "value": n})
    await store.record_observation(funder.id, {"observed_on": "2023-12-01", "value": 0})
    await store.set_share_policy("play-street", SharePolicy.of({"measures"}, measures=[
        SharedMeasure(kids.id, "sum", "2024-05"),       # 3 + 4 = 7: exact
        SharedMeasure(helpers.id, "latest", "all"),     # 2: suppressed
        SharedMeasure(funder.id, "sum", "2023"),        # 0: suppressed, never "0"
        SharedMeasure(empty.id, "sum", "all"),          # no observations: left out
    ]))
    measures = (await store.preview_practice("play-street")).body["measures"]
    assert measures == [
        {"defined_by": "community", "name": "children", "period": "2024-05, total",
         "unit": "children", "value": 7},
        {"defined_by": "own", "name": "stewards", "period": "all time, latest", "value": "<5"},
        {"defined_by": "funder", "name": "sessions", "period": "2023, total", "value": "<5"},
    ]
    signed = await store.publish_practice("play-street")
    verify_entry(signed, NETWORK)  # receivers accept it: no count under 5 in it
    await store.set_share_policy("play-street", SharePolicy.of({"measures"}, measures=[
        SharedMeasure(kids.id, "sum", "all")]))
    assert (await store.preview_practice("play-street")).body["measures"][0]["value"] == 37


async def test_policy_is_checked_as_a_whole(store: Store) -> None:
    await make_play_street(store)
    await store.create_practice({"title": "Other"})
    theirs = await store.add_lesson("other", "not ours")
    other_measure = await store.add_measure("other", {"name": "m"})
    mine = await store.add_measure("play-street", {"name": "m"})
    bad_policies = [
        SharePolicy.of({"lessons"}, lessons={theirs.id}),
        SharePolicy.of({"measures"}, measures=[SharedMeasure(other_measure.id)]),
        SharePolicy.of({"measures"}, measures=[SharedMeasure(mine.id, "mean")]),
        SharePolicy.of({"measures"}, measures=[SharedMeasure(mine.id, "sum", "last week")]),
        SharePolicy.of({"measures"}, measures=[SharedMeasure(mine.id), SharedMeasure(mine.id)]),
    ]
    for policy in bad_policies:
        with pytest.raises(InvalidInput):
            await store.set_share_policy("play-street", policy)
    assert await store.get_share_policy("play-street") == SharePolicy()


async def test_lessons_and_adaptations(store: Store) -> None:
    await make_play_street(store)
    keep = await store.add_lesson("play-street", "Tell the buses early.")
    await store.add_lesson("play-street", "The vicar is on our side.")
    source = peer_key("playing out")
    await store.add_adaptation("play-street", source.public, "playing-out",
                               note="we dropped the permit step")
    await store.set_share_policy("play-street", SharePolicy.of(
        {"lessons", "adapted_from"}, lessons={keep.id}))
    body = (await store.preview_practice("play-street")).body
    assert body["lessons"] == ["Tell the buses early."]
    assert body["adapted_from"] == [{"author": source.public, "key": "playing-out"}]
    # Deleting a shared lesson removes it from the policy too.
    await store.delete_lesson(keep.id)
    assert (await store.get_share_policy("play-street")).lessons == frozenset()
    assert "lessons" not in (await store.preview_practice("play-street")).body


async def test_too_large_a_summary_is_refused_and_changes_nothing(store: Store) -> None:
    await store.create_practice({"title": "Big", "description": "d" * 4000})
    lessons = [await store.add_lesson("big", f"{i} " + "l" * 990) for i in range(20)]
    await store.set_share_policy("big", SharePolicy.of(
        {"description", "lessons"}, lessons={lsn.id for lsn in lessons}))
    with pytest.raises(InvalidInput, match="limit"):
        await store.preview_practice("big")
    with pytest.raises(InvalidInput, match="limit"):
        await store.publish_practice("big")
    assert await held(store) == []
    assert await store.own_highest_version() == 0


async def test_retract(store: Store) -> None:
    await make_play_street(store)
    with pytest.raises(NotFound):
        await store.retract_practice("play-street")
    published = await store.publish_practice("play-street")
    tombstone = await store.retract_practice("play-street", reason="the road is a bus route now")
    assert decode(tombstone.payload)["kind"] == "retract"
    assert [eid for _, eid in await held(store)] == [tombstone.id]
    assert await store.get_entries([published.id]) == []
    with pytest.raises(NotFound):
        await store.retract_practice("play-street")
    republished = await store.publish_practice("play-street")
    assert [eid for _, eid in await held(store)] == [republished.id]


async def test_credit(store: Store) -> None:
    friend = peer_key("friend")
    [held_entry] = await store.ingest([practice(friend, "repair-cafe", 5, title="Repair café")])
    signed = await store.publish_credit(friend.public, "repair-cafe", note="You showed us how")
    entry = verify_entry(signed, NETWORK).entry
    assert (entry.kind, entry.key) == ("credit", credit_key(friend.public, "repair-cafe"))
    assert entry.body == {"note": "You showed us how", "practice": "repair-cafe",
                          "to": friend.public}
    again = await store.publish_credit(friend.public, "repair-cafe", note="Thanks again")
    assert [eid for _, eid in await held(store)] == [held_entry.entry_id, again.id]
    with pytest.raises(InvalidInput, match="itself"):
        await store.publish_credit(store.node_id, "repair-cafe")
    with pytest.raises(InvalidInput):
        await store.publish_credit(friend.public, "Not A Key")


async def test_a_credit_given_by_mistake_is_withdrawn(store: Store) -> None:
    friend = peer_key("friend")
    await store.ingest([practice(friend, "repair-cafe", 5)])
    with pytest.raises(NotFound, match=r"has not given a credit to node .* nothing to withdraw"):
        await store.withdraw_credit(friend.public, "repair-cafe")
    given = await store.publish_credit(friend.public, "repair-cafe", note="Thanks")
    withdrawn = await store.withdraw_credit(friend.public, "repair-cafe", reason="Wrong group")
    entry = verify_entry(withdrawn, NETWORK).entry
    # A signed withdrawal in the credit's slot, which replaces it (and spreads like it).
    assert entry.kind == "retract" and entry.version > decode(given.payload)["version"]
    assert entry.key == retract_key("credit", credit_key(friend.public, "repair-cafe"))
    assert entry.body == {"reason": "Wrong group"}
    held_now = await store.current_entry(store.node_id, "credit",
                                         credit_key(friend.public, "repair-cafe"))
    assert held_now is not None and held_now.id == withdrawn.id
    assert await store.current_entries(kind="credit") == []
    with pytest.raises(NotFound, match=r"withdrew its credit to node .* already"):
        await store.withdraw_credit(friend.public, "repair-cafe")
    # Crediting again replaces the withdrawal.
    again = await store.publish_credit(friend.public, "repair-cafe")
    assert [h.id for h in await store.current_entries(kind="credit")] == [again.id]


async def test_a_credit_names_a_practice_seen_from_that_node_unless_anyway(
        store: Store) -> None:
    friend, other = peer_key("friend"), peer_key("other")
    await store.ingest([practice(other, "repair-cafe", 5), practice(friend, "play-street", 6),
                        retract(friend, "play-street", 7)])
    # Never seen from that node (only from another): refused, saying it may not be here yet.
    with pytest.raises(LocalProblem, match="not seen a practice 'repair-cafe' from node") as info:
        await store.publish_credit(friend.public, "repair-cafe")
    assert info.value.code == UNSEEN_PRACTICE and "not have arrived" in info.value.message
    assert await store.current_entries(kind="credit") == []
    # Seen, even if withdrawn since: a thank-you for it still makes sense.
    await store.publish_credit(friend.public, "play-street")
    # And a practice on its way, credited knowingly.
    await store.publish_credit(friend.public, "repair-cafe", anyway=True)
    assert sorted(h.entry.body["practice"] for h in
                  await store.current_entries(kind="credit")) == ["play-street", "repair-cafe"]


@pytest.mark.parametrize(("typed", "canonical"), [
    ("GB-CHC-1234567", "GB-CHC-1234567"),
    ("gb-chc-123456", "GB-CHC-123456"),
    ("GB CHC 1234567", "GB-CHC-1234567"),
    ("GB-COH-01234567", "GB-COH-01234567"),
    ("gb-coh-sc123456", "GB-COH-SC123456"),
    ("GB-SC-SC012345", "GB-SC-SC012345"),
    ("XI-PB-ABC123", "XI-PB-ABC123"),
])
def test_org_ids_are_normalised(typed: str, canonical: str) -> None:
    assert normalise_org_id(typed) == canonical


@pytest.mark.parametrize("typed", [
    "1234567", "GB-CHC-12345", "GB-CHC-12345678", "GB-CHC-12A4567", "GB-COH-1234567",
    "GB-COH-ABC12345", "GB-SC-012345", "GB", "GB-CHC-", "G-CHC-1234567", "x" * 200,
])
def test_bad_org_ids_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_org_id(typed)
    assert caught.value.field == "org_id"


async def test_profile(store: Store) -> None:
    with pytest.raises(InvalidInput, match="name and level"):
        await store.publish_profile()
    await store.update_organisation({"name": "Hulme Tenants", "org_id": "gb chc 1122334"})
    with pytest.raises(InvalidInput, match="name and level"):
        await store.preview_profile()
    with pytest.raises(InvalidInput):
        await store.update_organisation({"addresses": ["ftp://nope"]})
    organisation = await store.update_organisation({
        "level": "neighbourhood", "area": "Hulme", "principles": ["Local first"],
        "addresses": ["https://hulme.example.org"]})
    assert organisation.org_id == "GB-CHC-1122334"
    preview = await store.preview_profile()
    signed = await store.publish_profile()
    assert signed.payload == preview.payload()
    assert preview.body == {"addresses": ["https://hulme.example.org"], "area": "Hulme",
                            "level": "neighbourhood", "name": "Hulme Tenants",
                            "org_id": "GB-CHC-1122334", "principles": ["Local first"]}
    await store.update_organisation({"org_id": None, "principles": []})
    assert "org_id" not in (await store.preview_profile()).body
    assert [h.kind for h in await store.search_summaries("Hulme")] == ["profile"]


@pytest.mark.parametrize(("typed", "published"), [
    ("hello@hulme.example.org", "hello@hulme.example.org"),
    ("  mailto:Hello.Tenants+web@hulme.example.org ", "Hello.Tenants+web@hulme.example.org"),
    ("https://hulme.example.org/contact", "https://hulme.example.org/contact"),
    ("hulme.example.org/contact", "https://hulme.example.org/contact"),
    ("http://192.0.2.7:8080", "http://192.0.2.7:8080"),
])
async def test_a_contact_is_published_with_the_profile(store: Store, typed: str,
                                                       published: str) -> None:
    await store.update_organisation({"name": "Hulme Tenants", "level": "local"})
    assert "contact" not in (await store.preview_profile()).body  # never required
    organisation = await store.update_organisation({"contact": typed})
    assert organisation.contact == published
    preview = await store.preview_profile()  # shown before it is signed
    assert preview.body["contact"] == published
    signed = await store.publish_profile()
    assert body_of(signed.payload)["contact"] == published
    verify_entry(signed, NETWORK)
    await store.update_organisation({"contact": ""})
    assert "contact" not in (await store.preview_profile()).body


@pytest.mark.parametrize("typed", [
    "hello at hulme", "javascript:alert(1)", "ftp://hulme.example.org", "hello@hulme",
    "https://someone@hulme.example.org", "a?cc=b@hulme.example.org", "two\nlines@x.org",
    "x" * 300 + "@hulme.example.org", "<b>@hulme.example.org",
])
async def test_a_bad_contact_is_refused_and_changes_nothing(store: Store, typed: str) -> None:
    await store.update_organisation({"name": "Hulme Tenants", "level": "local",
                                     "contact": "hello@hulme.example.org"})
    with pytest.raises(InvalidInput) as caught:
        await store.update_organisation({"contact": typed})
    assert caught.value.field == "contact"
    assert typed[:10] not in caught.value.message  # the rule, never the value
    assert (await store.get_organisation()).contact == "hello@hulme.example.org"


async def test_publishing_waits_for_catch_up_after_a_restore(
        store: Store, db: sqlite_utils.Database) -> None:
    await make_play_street(store)
    mark_needs_catch_up(db, highest_known=0, now_ms=1)
    assert await store.needs_catch_up()
    for publish in (store.publish_practice("play-street"), store.publish_profile(),
                    store.publish_credit(peer_key("f").public, "x")):
        with pytest.raises(NeedsCatchUp, match="catch up"):
            await publish
    await store.mark_caught_up()
    await store.publish_practice("play-street")
