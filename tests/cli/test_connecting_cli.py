"""Connecting groups on the command line: ``view similar|introductions|travelled``, the
profile's contact, and where the group's ideas travelled in ``hedgerow status``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from node import Store
from protocol import SignedEntry, id_to_text
from tests.node.peer_entries import credit, peer_key, practice, profile
from tests.node.views.conftest import make_node, network

from .conftest import fails, ok


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_node(tmp_path_factory.mktemp("connecting") / "node", network())


def test_view_similar_names_a_practice_as_key_or_node_slash_key(data_dir: Path) -> None:
    alpha = id_to_text(network().keys["L0"].public)
    out = ok("view", "similar", f"{alpha}/repair-cafe", "--data-dir", str(data_dir))
    lines = out.splitlines()
    assert lines[0] == "Practices of other groups like “Repair cafe” (Alpha), most alike first:"
    assert lines[2].startswith("1. Repair cafe too (active) — Group L1")
    assert "   why: 1 shared theme: repair; 1 word in common: cafe; already linked" in out
    assert lines[-1].startswith("left out: forked authors 1")
    assert "total: " in out and "(showing 1–10)" in out
    as_json = json.loads(ok("view", "similar", "--node", alpha, "--key", "repair-cafe",
                            "--limit", "3", "--json", "--data-dir", str(data_dir)))
    assert as_json["view"] == "similar" and len(as_json["results"]) == 3
    assert as_json["results"][0]["title"] == "Repair cafe too"
    # One of this node's own, by its key alone.
    own = json.loads(ok("view", "similar", "own-practice", "--json", "--data-dir",
                        str(data_dir)))
    assert own["practice"]["title"] == "Our own"
    assert all("gardens" in r["shared_themes"] for r in own["results"])


def test_view_similar_failures_are_one_line(data_dir: Path) -> None:
    assert "key: similar needs a practice" in fails("view", "similar", "--data-dir",
                                                     str(data_dir))
    assert "no summary of that practice" in fails("view", "similar", "nope", "--data-dir",
                                                  str(data_dir))
    assert "key: must be a practice key" in fails("view", "similar", "Not A Key",
                                                  "--data-dir", str(data_dir))
    assert "node: " in fails("view", "similar", "54TXMKB/repair-cafe", "--data-dir",
                             str(data_dir))
    assert "name the practice once" in fails("view", "similar", "x", "--key", "y",
                                             "--data-dir", str(data_dir), code=2)


def test_view_introductions_and_travelled(data_dir: Path) -> None:
    out = ok("view", "introductions", "--theme", "repair", "--data-dir", str(data_dir))
    assert out.startswith("Introductions to make: groups on the same theme")
    assert "\nrepair (" in out and "    why: both work on repair; " in out
    result = json.loads(ok("view", "introductions", "--per-theme", "1", "--json",
                           "--data-dir", str(data_dir)))
    assert result["params"] == {"limit": 10, "offset": 0, "per_theme": 1}
    assert all(len(t["suggestions"]) <= 1 for t in result["themes"])
    alpha = id_to_text(network().keys["L0"].public)
    out = ok("view", "travelled", "--node", alpha, "--data-dir", str(data_dir))
    assert out.splitlines()[0] == "Where the ideas of Alpha travelled:"
    assert "credited it: “We learned a lot”" in out
    assert "adapted it as “Fix it”" in out


def test_export_introductions_as_csv_and_kumu(data_dir: Path, tmp_path: Path) -> None:
    out = ok("export", "--format", "csv", "--view", "introductions", "--data-dir",
             str(data_dir))
    header = out.splitlines()[0].split(",")
    assert header[:4] == ["theme", "groups_in_theme", "node_a", "name_a"]
    assert len(out.splitlines()) > 10
    target = tmp_path / "introductions.xlsx"
    ok("export", "--format", "kumu", "--view", "introductions", "-o", str(target),
       "--data-dir", str(data_dir))
    assert target.stat().st_size > 1000
    assert "--view introductions" in fails("export", "--format", "graphml", "--view",
                                           "themes", "--data-dir", str(data_dir))


def test_profile_contact_is_set_previewed_and_checked(node_dir: Path) -> None:
    ok("profile", "set", "--contact", "mailto:hello@repair.example.org", "--data-dir",
       str(node_dir))
    shown = json.loads(ok("profile", "show", "--json", "--data-dir", str(node_dir)))
    assert shown["contact"] == "hello@repair.example.org"
    preview = json.loads(ok("profile", "preview", "--data-dir", str(node_dir)))
    assert preview["body"]["contact"] == "hello@repair.example.org"
    line = fails("profile", "set", "--contact", "call us", "--data-dir", str(node_dir))
    assert line == "error: contact: must be an email address or an http:// or https:// address"
    ok("profile", "set", "--contact", "", "--data-dir", str(node_dir))
    assert "contact" not in json.loads(ok("profile", "preview", "--data-dir",
                                          str(node_dir)))["body"]


def _arrive(data_dir: Path, peer: bytes,
            make: Callable[[bytes, bytes], list[SignedEntry]]) -> None:
    """Admit ``peer`` (this node founded its network) and store entries it made
    (``make(network, this node's id)``)."""
    async def ingest() -> None:
        store = await Store.open(data_dir)
        try:
            network = (await store.state()).network
            await store.admit(peer)
            outcomes = await store.ingest(make(network, store.node_id))
            assert all(o.stored for o in outcomes), outcomes
        finally:
            await store.close()

    asyncio.run(ingest())


def test_status_shows_where_our_ideas_travelled_new_ones_marked(node_dir: Path) -> None:
    ok("record", "add", "--title", "Repair café", "--themes", "repair", "--data-dir",
       str(node_dir))
    ok("share", "publish", "repair-cafe", "--data-dir", str(node_dir))
    assert "ideas         not adapted or credited by another group yet" in ok(
        "status", "--data-dir", str(node_dir))
    easton, now = peer_key("easton"), 1_760_000_000_000
    _arrive(node_dir, easton.public, lambda network, me: [
        profile(easton, now, name="Easton Fixers", level="neighbourhood", network=network),
        practice(easton, "fix-it", now + 1, title="Fix-it Fridays", network=network,
                 adapted_from=[{"author": me, "key": "repair-cafe"}]),
        credit(easton, me, "repair-cafe", now + 2, note="Your sign-in sheet helped.",
               network=network)])
    # A script reading --json sees what is new, and leaves it new for the person.
    for _ in range(2):
        data = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
        assert [g["new"] for g in data["ideas_travelled"][0]["groups"]] == [True]
    out = ok("status", "--data-dir", str(node_dir))
    assert "ideas         where your practices travelled (1 new since you last looked):" in out
    assert "  Repair café (repair-cafe)" in out
    assert "    new Easton Fixers (neighbourhood) — adapted it as “Fix-it Fridays”; " \
           "credited it: “Your sign-in sheet helped.”" in out
    # Looked at once: no longer new, here or in the JSON.
    again = ok("status", "--data-dir", str(node_dir))
    assert "new since" not in again and "        Easton Fixers" in again
    data = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    (travelled,) = data["ideas_travelled"]
    assert travelled["key"] == "repair-cafe"
    assert [(g["name"], g["new"], g["note"]) for g in travelled["groups"]] == [
        ("Easton Fixers", False, "Your sign-in sheet helped.")]


def test_share_preview_on_a_terminal_says_where_the_contact_shows(
        node_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cli.sharing

    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    monkeypatch.setattr(cli.sharing, "is_terminal", lambda: True)
    out = ok("share", "preview", "repair-cafe", "--data-dir", str(node_dir))
    assert "get in touch" not in out  # no contact yet: nothing to say
    ok("profile", "set", "--contact", "hello@repair.example.org", "--data-dir", str(node_dir))
    out = ok("share", "preview", "repair-cafe", "--data-dir", str(node_dir))
    assert "This is exactly what `hedgerow share publish repair-cafe` would sign" in out
    assert "other groups see “get in touch”: hello@repair.example.org" in " ".join(out.split())
