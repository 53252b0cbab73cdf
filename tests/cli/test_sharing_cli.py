"""``hedgerow share``, ``retract`` and ``credit`` through click's runner."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from node import Store

from .conftest import fails, join_with_invitation, node_info, ok

CANARY = "CANARY-private-do-not-share"


@pytest.fixture
def practice(node_dir: Path) -> str:
    """A practice with private fields, two lessons and a measure with observations."""
    ok("record", "add", "--data-dir", str(node_dir), "--title", "Repair café",
       "--description", "We fix things together.", "--themes", "repair,reuse",
       "--area", "LS6", "--context", CANARY, "--community", CANARY, "--run-by", CANARY,
       "--notes", CANARY, "--lesson", "Test every electrical item.",
       "--lesson", "Have a greeter.")
    ok("record", "measure", "repair-cafe", "visitors", "--unit", "people", "--why", CANARY,
       "--data-dir", str(node_dir))
    for day, value in (("2025-01-11", 30), ("2025-02-08", 2), ("2024-12-14", 40)):
        ok("record", "observe", "1", str(value), "--on", day, "--note", CANARY,
           "--data-dir", str(node_dir))
    return "repair-cafe"


def preview(node_dir: Path, *options: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok("share", "preview", "repair-cafe", *options,
                                            "--data-dir", str(node_dir)))
    return data


def test_a_new_practice_shares_only_title_and_status(node_dir: Path, practice: str) -> None:
    entry = preview(node_dir)
    assert entry["body"] == {"status": "active", "title": "Repair café"}
    assert (entry["kind"], entry["key"], entry["author"]) == \
        ("practice", practice, node_info(node_dir)["node_id"])
    assert entry["network"] == node_info(node_dir)["network"]


def test_policy_options_choose_fields_lessons_and_measures(node_dir: Path,
                                                           practice: str) -> None:
    entry = preview(node_dir, "--fields", "description,themes", "--lessons", "2",
                    "--measure", "visitors:sum:2025")
    assert entry["body"] == {
        "description": "We fix things together.", "lessons": ["Have a greeter."],
        "measures": [{"defined_by": "own", "name": "visitors", "period": "2025, total",
                      "unit": "people", "value": 32}],
        "status": "active", "themes": ["repair", "reuse"], "title": "Repair café"}
    # The options were saved: the policy says so, and a plain preview is the same.
    policy = json.loads(ok("share", "policy", practice, "--json", "--data-dir",
                           str(node_dir)))
    assert policy["fields"] == ["description", "lessons", "measures", "status", "themes",
                                "title"]
    assert policy["lessons"] == [2]
    assert policy["measures"] == [{"measure": "visitors", "id": 1, "aggregate": "sum",
                                   "period": "2025"}]
    assert preview(node_dir)["body"] == entry["body"]
    # A month with a small total is published as "<5", never exactly.
    small = preview(node_dir, "--measure", "#1:sum:2025-02")
    assert small["body"]["measures"][0]["value"] == "<5"
    # Clearing: no lessons, no measures, only the always-shared fields.
    cleared = preview(node_dir, "--fields", "none", "--lessons", "none", "--measure", "none")
    assert cleared["body"] == {"status": "active", "title": "Repair café"}
    text = ok("share", "policy", practice, "--data-dir", str(node_dir))
    assert "never shared: context, community, run_by, notes" in text


def test_private_fields_never_appear(node_dir: Path, practice: str) -> None:
    everything = ok("share", "preview", practice, "--fields", "all", "--lessons", "all",
                    "--measure", "visitors:latest", "--data-dir", str(node_dir))
    assert CANARY not in everything
    published = ok("share", "publish", practice, "--json", "--data-dir", str(node_dir))
    assert CANARY not in published


def test_policy_refusals(node_dir: Path, practice: str) -> None:
    assert "context is private and can never be shared" in fails(
        "share", "preview", practice, "--fields", "description,context",
        "--data-dir", str(node_dir))
    assert "colour is not a summary field" in fails(
        "share", "preview", practice, "--fields", "colour", "--data-dir", str(node_dir))
    assert "3 is not a lesson number" in fails(
        "share", "preview", practice, "--lessons", "1,3", "--data-dir", str(node_dir)) \
        .replace("'", "")
    assert "no measure 'weight'" in fails(
        "share", "preview", practice, "--measure", "weight", "--data-dir", str(node_dir))
    assert "sum, latest" in fails(
        "share", "preview", practice, "--measure", "visitors:average",
        "--data-dir", str(node_dir))
    assert "period" in fails(
        "share", "preview", practice, "--measure", "visitors:sum:last-year",
        "--data-dir", str(node_dir))
    assert "no practice with the key" in fails("share", "preview", "nope", "--data-dir",
                                               str(node_dir))
    # None of the refused options were saved.
    assert preview(node_dir)["body"] == {"status": "active", "title": "Repair café"}


def test_publish_is_what_preview_showed(node_dir: Path, practice: str) -> None:
    shown = preview(node_dir, "--fields", "description,area")
    published = json.loads(ok("share", "publish", practice, "--json", "--data-dir",
                              str(node_dir)))
    assert published["body"] == shown["body"]
    assert published["version"] >= shown["version"]
    assert len(published["entry_id"]) == 64
    out = ok("share", "publish", practice, "--data-dir", str(node_dir))
    assert out.startswith(f"published {practice} (version ")
    assert "hedgerow sync" in out  # no node running: says how it will spread
    listing = json.loads(ok("record", "list", "--json", "--data-dir", str(node_dir)))
    assert listing[0]["summary"] == "published"


def test_retract(node_dir: Path, practice: str) -> None:
    assert "no published practice" in fails("retract", practice, "--data-dir", str(node_dir))
    ok("share", "publish", practice, "--data-dir", str(node_dir))
    assert ok("retract", practice, "--reason", "We stopped in 2025.", "--data-dir",
              str(node_dir)).startswith(f"retracted {practice} (version ")
    listing = json.loads(ok("record", "list", "--json", "--data-dir", str(node_dir)))
    assert listing[0]["summary"] == "retracted"
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["own_entries"] == {"genesis": 1, "retract": 1}


def _deliver(source: Path, target: Path) -> None:
    """Give ``target`` every entry ``source`` holds, as a sync would."""

    async def copy() -> None:
        async with await Store.open(source) as a, await Store.open(target) as b:
            ids = [entry_id for _, entry_id in await a.current_set()]
            await b.ingest(await a.get_entries(ids))

    asyncio.run(copy())


def _member(node_dir: Path, other: Path) -> str:
    """A second node, admitted by the first and knowing it: it may publish."""
    them = join_with_invitation(node_dir, other)["node_id"]
    ok("admit", them, "--data-dir", str(node_dir))
    _deliver(node_dir, other)
    return them


def test_credit(node_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    them = _member(node_dir, other)
    ok("record", "add", "--title", "Play street", "--data-dir", str(other))
    ok("share", "publish", "play-street", "--data-dir", str(other))
    # Not arrived here yet: refused, saying why and what to do.
    line = fails("credit", them, "play-street", "--data-dir", str(node_dir))
    assert f"has not seen a practice 'play-street' from node {them[:7]}" in line
    assert "not have arrived here yet" in line and "--anyway" in line
    _deliver(other, node_dir)
    out = ok("credit", them, "play-street", "--note", "Your letter got us started.",
             "--data-dir", str(node_dir))
    assert out.startswith(f"credited {them[:7]} for play-street")
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["own_entries"] == {"genesis": 1, "admit": 1, "credit": 1}
    # A mistyped practice key is refused; --anyway credits it all the same.
    assert "not seen a practice 'play-streets'" in fails("credit", them, "play-streets",
                                                          "--data-dir", str(node_dir))
    ok("credit", them, "not-here-yet", "--anyway", "--data-dir", str(node_dir))
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["own_entries"] == {"genesis": 1, "admit": 1, "credit": 2}
    assert "cannot credit itself" in fails("credit", node_info(node_dir)["node_id"],
                                           "play-street", "--data-dir", str(node_dir))
    assert "character" in fails("credit", them.replace(them[2], "U", 1), "play-street",
                                "--data-dir", str(node_dir))
    assert "practice key" in fails("credit", them, "Play Street!", "--data-dir",
                                   str(node_dir))


def test_credit_takes_the_short_id_that_lists_show(node_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    them = _member(node_dir, other)
    ok("record", "add", "--title", "Play street", "--data-dir", str(other))
    ok("share", "publish", "play-street", "--data-dir", str(other))
    _deliver(other, node_dir)
    listed = ok("view", "directory", "--data-dir", str(node_dir))
    assert them[:7] in listed
    assert ok("credit", them[:7], "play-street", "--data-dir", str(node_dir)).startswith(
        f"credited {them[:7]} for play-street")
    # The views, the pages and the API read it the same way.
    lineage = json.loads(ok("view", "lineage", "--node", them[:7], "--json", "--data-dir",
                            str(node_dir)))
    assert lineage["params"]["node"] == them
    unknown = "0000000" if not them.startswith("0000") else "ZZZZZZZ"
    line = fails("credit", unknown, "play-street", "--data-dir", str(node_dir))
    assert f"no node known here has an id starting {unknown}" in line
    assert "at least 4" in fails("credit", them[:3], "play-street", "--data-dir",
                                 str(node_dir))


def test_a_credit_is_withdrawn(node_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    them = _member(node_dir, other)
    ok("record", "add", "--title", "Play street", "--data-dir", str(other))
    ok("share", "publish", "play-street", "--data-dir", str(other))
    _deliver(other, node_dir)
    line = fails("credit", "withdraw", them[:7], "play-street", "--data-dir", str(node_dir))
    assert f"has not given a credit to node {them[:7]} for 'play-street'" in line
    # `credit NODE PRACTICE` is `credit give NODE PRACTICE`, options before or after.
    ok("credit", "--data-dir", str(node_dir), them[:7], "play-street")
    out = ok("credit", "withdraw", them[:7], "play-street", "--reason", "Wrong group",
             "--data-dir", str(node_dir))
    assert out.startswith(f"withdrew the credit to {them[:7]} for play-street (version ")
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["own_entries"] == {"genesis": 1, "admit": 1, "retract": 1}
    assert "withdrew its credit" in fails("credit", "withdraw", them, "play-street",
                                          "--data-dir", str(node_dir))
    ok("credit", "give", them[:7], "play-street", "--data-dir", str(node_dir))
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["own_entries"] == {"genesis": 1, "admit": 1, "credit": 1}
    # The credited node, given what this one holds (as a sync would), sees the credit ...
    _deliver(node_dir, other)
    lineage = json.loads(ok("view", "lineage", "--json", "--data-dir", str(other)))
    assert [link["via"] for by in lineage["learned_by"] for link in by["links"]] == ["credit"]
    # ... and then its withdrawal, which takes it away.
    ok("credit", "withdraw", them[:7], "play-street", "--data-dir", str(node_dir))
    _deliver(node_dir, other)
    lineage = json.loads(ok("view", "lineage", "--json", "--data-dir", str(other)))
    assert lineage["learned_by"] == []
