"""Private practice records: create, read, update, delete, list, search; bad input."""

from __future__ import annotations

import pytest

from node import InvalidInput, NotFound, Store
from node.store.records import MAX_ADAPTATIONS

from ..peer_entries import peer_key

SECRET = "Mrs Okafor at number 12"


async def test_practice_lifecycle(store: Store) -> None:
    created = await store.create_practice({
        "title": "Repair Café", "description": "Neighbours fix each other's things.",
        "themes": ["Repair", "waste"], "level": "neighbourhood", "since": "2019-03",
        "context": "The estate lost its hardware shop.", "community": "Older residents",
        "run_by": "Two volunteers", "notes": "Church hall, second Saturday",
    })
    assert created.key == "repair-cafe"
    assert created.status == "active"
    assert created.themes == ("repair", "waste")
    record = await store.get_practice("repair-cafe")
    assert record.practice == created
    assert record.measures == record.lessons == record.voices == record.adaptations == ()

    updated = await store.update_practice("repair-cafe", {"status": "paused", "since": ""})
    assert (updated.status, updated.since, updated.title) == ("paused", None, "Repair Café")
    assert [p.key for p in await store.list_practices()] == ["repair-cafe"]

    await store.delete_practice("repair-cafe")
    assert await store.list_practices() == []
    with pytest.raises(NotFound):
        await store.get_practice("repair-cafe")


async def test_keys_are_unique_and_derived(store: Store) -> None:
    first = await store.create_practice({"title": "Play Street!"})
    second = await store.create_practice({"title": "Play street"})
    assert (first.key, second.key) == ("play-street", "play-street-2")
    chosen = await store.create_practice({"title": "Anything", "key": "walks"})
    assert chosen.key == "walks"
    with pytest.raises(InvalidInput, match="already uses"):
        await store.create_practice({"title": "Again", "key": "walks"})
    with pytest.raises(InvalidInput) as caught:
        await store.create_practice({"title": "Bad key", "key": "Not A Slug"})
    assert caught.value.field == "key"


async def test_children(store: Store, clock: object) -> None:
    await store.create_practice({"title": "Play street"})
    measure = await store.add_measure("play-street", {
        "name": "children playing", "unit": "children", "defined_by": "community",
        "why": "Parents said this is what matters"})
    assert measure.defined_by == "community"
    renamed = await store.update_measure(measure.id, {"name": "children out"})
    assert renamed.name == "children out"
    first = await store.record_observation(measure.id, {"observed_on": "2024-05-04",
                                                        "value": 14, "note": "sunny"})
    await store.record_observation(measure.id, {"observed_on": "2024-05-11", "value": 3})
    assert [o.value for o in await store.list_observations(measure.id)] == [14, 3]
    await store.delete_observation(first.id)
    assert [o.value for o in await store.list_observations(measure.id)] == [3]

    lesson = await store.add_lesson("play-street", "Tell the bus company early.")
    assert (await store.update_lesson(lesson.id, "Tell the buses a month ahead.")).text \
        == "Tell the buses a month ahead."
    voice = await store.add_voice("play-street", {"speaker": SECRET, "quote": "Best day",
                                                  "recorded_on": "2024-05-04"})
    adaptation = await store.add_adaptation("play-street", peer_key("x").public,
                                            "play-out", note="We shortened it")
    record = await store.get_practice("play-street")
    assert record.measures == (renamed,)
    assert [lsn.text for lsn in record.lessons] == ["Tell the buses a month ahead."]
    assert record.voices == (voice,)
    assert record.adaptations == (adaptation,)

    await store.delete_voice(voice.id)
    await store.delete_lesson(lesson.id)
    await store.delete_adaptation(adaptation.id)
    await store.delete_measure(measure.id)
    record = await store.get_practice("play-street")
    assert record.measures == record.lessons == record.voices == record.adaptations == ()
    with pytest.raises(NotFound):
        await store.delete_voice(voice.id)
    with pytest.raises(NotFound):
        await store.list_observations(measure.id)


async def test_search_own_records_including_private_fields(store: Store) -> None:
    await store.create_practice({"title": "Play street", "context": "cul-de-sac by the park"})
    await store.create_practice({"title": "Repair cafe", "notes": "bring soldering irons"})
    assert [p.key for p in await store.search_practices("soldering")] == ["repair-cafe"]
    assert [p.key for p in await store.search_practices("park")] == ["play-street"]
    # FTS syntax is quoted away rather than raising.
    assert await store.search_practices('"unbalanced AND (') == []
    with pytest.raises(InvalidInput):
        await store.search_practices("   ")


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "ok", "status": "maybe"}, "status"),
    ({"title": "ok", "level": "galactic"}, "level"),
    ({"title": "ok", "since": "last spring"}, "since"),
    ({"title": "ok", "themes": ["no/slashes"]}, "themes"),
    ({"title": "ok", "themes": "not a list"}, "themes"),
    ({"title": "ok", "context": "x" * 20_001}, "context"),
    ({"title": "ok", "run_by": "two\nlines"}, "run_by"),
    ({"title": "ok", "favourite_colour": "green"}, "favourite_colour"),
])
async def test_bad_input_names_the_field_and_changes_nothing(
        store: Store, fields: dict[str, object], field: str) -> None:
    planted = {**fields}
    for name, value in planted.items():
        if isinstance(value, str) and name != "title" and value:
            planted[name] = value + SECRET if "\n" not in value else value
    with pytest.raises(InvalidInput) as caught:
        await store.create_practice(planted)
    assert caught.value.field == field
    assert SECRET not in caught.value.message
    assert await store.list_practices() == []


async def test_children_input_is_checked(store: Store) -> None:
    await store.create_practice({"title": "Play street"})
    measure = await store.add_measure("play-street", {"name": "children"})
    with pytest.raises(InvalidInput, match="already has a measure"):
        await store.add_measure("play-street", {"name": "children"})
    with pytest.raises(InvalidInput):
        await store.add_measure("play-street", {"name": "x", "defined_by": "the council"})
    for bad in ({"observed_on": "2024-02-30", "value": 3},
                {"observed_on": "2024-05-04", "value": -1},
                {"observed_on": "2024-05-04", "value": 2.5},
                {"observed_on": "2024-05-04", "value": True}):
        with pytest.raises(InvalidInput):
            await store.record_observation(measure.id, bad)
    assert await store.list_observations(measure.id) == []
    with pytest.raises(InvalidInput, match="1000"):
        await store.add_lesson("play-street", "x" * 1001)
    with pytest.raises(InvalidInput):
        await store.add_voice("play-street", {"speaker": SECRET, "quote": ""})
    with pytest.raises(InvalidInput, match="itself"):
        await store.add_adaptation("play-street", store.node_id, "play-street")
    with pytest.raises(InvalidInput):
        await store.add_adaptation("play-street", b"short", "play-out")
    for i in range(MAX_ADAPTATIONS):
        await store.add_adaptation("play-street", peer_key(i).public, "play-out")
    with pytest.raises(InvalidInput, match="at most"):
        await store.add_adaptation("play-street", peer_key("one more").public, "play-out")
    with pytest.raises(NotFound):
        await store.add_lesson("no-such-practice", "anything")
