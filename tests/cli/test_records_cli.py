"""``hedgerow record …`` through click's runner: flags, $EDITOR, and every refusal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import fails, hedgerow_in_terminal, invoke, join_with_invitation, node_info, ok


def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str | None) -> Path:
    """Make $EDITOR a script that replaces the file with ``text`` (None: leave it)."""
    script = tmp_path / "fake_editor.py"
    seen = tmp_path / "template.toml"
    write = "" if text is None else f"path.write_text({text!r}, encoding='utf-8')"
    script.write_text(
        "import sys, pathlib, shutil\n"
        "path = pathlib.Path(sys.argv[-1])\n"
        f"shutil.copy(path, {str(seen)!r})\n"
        f"{write}\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    return seen


def show(node_dir: Path, key: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok("record", "show", key, "--json",
                                            "--data-dir", str(node_dir)))
    return data


def test_add_with_flags_list_and_show(node_dir: Path) -> None:
    out = ok("record", "add", "--data-dir", str(node_dir), "--title", "Repair café",
             "--description", "We fix things together.", "--themes", "Repair, reuse",
             "--level", "neighbourhood", "--area", "LS6", "--since", "2016-09",
             "--context", "Student area", "--community", "Students and neighbours",
             "--run-by", "Volunteers", "--notes", "Insurance renews in May",
             "--lesson", "Test every electrical item.", "--lesson", "Have a greeter.")
    assert out.strip() == "added repair-cafe: Repair café"
    record = show(node_dir, "repair-cafe")
    assert record["themes"] == ["repair", "reuse"]
    assert record["context"] == "Student area" and record["run_by"] == "Volunteers"
    assert [lesson["number"] for lesson in record["lessons"]] == [1, 2]
    listing = ok("record", "list", "--data-dir", str(node_dir)).splitlines()
    assert listing[0].split() == ["key", "title", "status", "themes", "summary"]
    assert listing[1].split()[0] == "repair-cafe" and listing[1].split()[-1] == "private"
    text = ok("record", "show", "repair-cafe", "--data-dir", str(node_dir))
    assert "-- private --" in text and "1. Test every electrical item." in text
    assert json.loads(ok("record", "list", "--json", "--data-dir", str(node_dir)))[0][
        "summary"] == "private"


def test_add_with_an_explicit_key_and_a_source(node_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    join_with_invitation(node_dir, other)
    source = node_info(other)["node_id"]
    ok("record", "add", "--data-dir", str(node_dir), "--key", "fixing", "--title", "Fixing",
       "--adapted-from", f"{source}/repair-cafe")
    record = show(node_dir, "fixing")
    assert record["adapted_from"] == [{"id": 1, "author": source, "key": "repair-cafe",
                                       "note": ""}]


def test_add_refusals(node_dir: Path) -> None:
    assert "title: must not be empty" in fails("record", "add", "--data-dir", str(node_dir),
                                               "--description", "no title")
    assert "Invalid value for '--status'" in fails(
        "record", "add", "--data-dir", str(node_dir), "--title", "x", "--status", "dormant",
        code=2)
    assert "NODE/KEY" in fails("record", "add", "--data-dir", str(node_dir), "--title", "x",
                               "--adapted-from", "just-a-key")
    assert "--adapted-from: type at least 4 characters" in fails(
        "record", "add", "--data-dir", str(node_dir), "--title", "x", "--adapted-from",
        "ABC/repair-cafe")
    assert "--adapted-from: no node known here has an id starting 54TXMKB" in fails(
        "record", "add", "--data-dir", str(node_dir), "--title", "x", "--adapted-from",
        "54TXMKB/repair-cafe")
    assert "since" in fails("record", "add", "--data-dir", str(node_dir), "--title", "x",
                            "--since", "last year")
    ok("record", "add", "--data-dir", str(node_dir), "--title", "Play street")
    assert "already uses this key" in fails("record", "add", "--data-dir", str(node_dir),
                                            "--title", "x", "--key", "play-street")
    # Nothing half-saved by the refusals above.
    keys = [r["key"] for r in json.loads(ok("record", "list", "--json", "--data-dir",
                                            str(node_dir)))]
    assert keys == ["play-street"]


def test_add_in_the_editor(node_dir: Path, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen = editor(tmp_path, monkeypatch, (
        'title = "Community fridge"\n'
        'status = "active"\n'
        "description = '''\nSurplus food for anyone.\nNo questions asked.\n'''\n"
        'themes = ["food", "waste"]\n'
        'level = ""\n'
        'context = "Two fridges in the centre"\n'
        'lessons = ["Keep a temperature log."]\n'))
    assert ok("record", "add", "--data-dir", str(node_dir)).strip() == \
        "added community-fridge: Community fridge"
    template = seen.read_text()
    assert "# --- private: never shared ---" in template and "lessons = []" in template
    record = show(node_dir, "community-fridge")
    assert record["description"] == "Surplus food for anyone.\nNo questions asked."
    assert record["themes"] == ["food", "waste"] and record["level"] is None
    assert record["lessons"][0]["text"] == "Keep a temperature log."


def test_editor_mistakes_save_nothing(node_dir: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    editor(tmp_path, monkeypatch, 'title = "Unclosed\n')
    assert "not valid TOML" in fails("record", "add", "--data-dir", str(node_dir))
    editor(tmp_path, monkeypatch, 'title = "x"\ncolour = "red"\n')
    assert "colour" in fails("record", "add", "--data-dir", str(node_dir))
    editor(tmp_path, monkeypatch, None)  # closed without saving
    assert "without saving" in fails("record", "add", "--data-dir", str(node_dir))
    assert json.loads(ok("record", "list", "--json", "--data-dir", str(node_dir))) == []


@pytest.mark.timeout(30)
def test_without_a_terminal_or_an_editor_it_says_to_use_the_flags(
        node_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No terminal, no $EDITOR: refused at once, not left waiting in sensible-editor."""
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    line = fails("record", "add", "--data-dir", str(node_dir))
    assert "needs a terminal" in line and "--title" in line
    ok("record", "add", "--title", "Play street", "--data-dir", str(node_dir))
    line = fails("record", "edit", "play-street", "--data-dir", str(node_dir))
    assert "needs a terminal" in line and "flags" in line
    assert json.loads(ok("record", "list", "--json", "--data-dir", str(node_dir)))[0][
        "title"] == "Play street"


def test_at_a_terminal_the_editor_opens(node_dir: Path) -> None:
    """A person at a terminal gets the editor (here one that fills in the title)."""
    fill = "sed -i -e 's/^title = \"\"/title = \"Seed swap\"/'"
    code, shown = hedgerow_in_terminal("record", "add", "--data-dir", str(node_dir),
                                       env={"EDITOR": fill, "VISUAL": ""})
    assert code == 0, shown
    assert "added seed-swap: Seed swap" in shown


def test_edit_with_flags_and_in_the_editor(node_dir: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ok("record", "add", "--data-dir", str(node_dir), "--title", "Play street",
       "--themes", "play")
    assert ok("record", "edit", "play-street", "--status", "paused", "--themes",
              "play, streets", "--lesson", "Knock on doors.", "--data-dir",
              str(node_dir)).strip() == "saved play-street"
    record = show(node_dir, "play-street")
    assert record["status"] == "paused" and record["themes"] == ["play", "streets"]
    seen = editor(tmp_path, monkeypatch, 'title = "Monthly play street"\nstatus = "active"\n'
                  'themes = ["play", "streets"]\narea = "LS7"\n')
    ok("record", "edit", "play-street", "--data-dir", str(node_dir))
    assert 'title = "Play street"' in seen.read_text() and "key =" not in seen.read_text()
    record = show(node_dir, "play-street")
    assert (record["title"], record["status"], record["area"]) == \
        ("Monthly play street", "active", "LS7")
    editor(tmp_path, monkeypatch, None)
    assert ok("record", "edit", "play-street", "--data-dir", str(node_dir)).strip() == \
        "nothing changed in play-street"
    editor(tmp_path, monkeypatch, "title = [")
    assert "not valid TOML" in fails("record", "edit", "play-street", "--data-dir",
                                     str(node_dir))
    assert "no practice with the key" in fails("record", "edit", "nope", "--title", "x",
                                               "--data-dir", str(node_dir))


def test_delete(node_dir: Path) -> None:
    ok("record", "add", "--data-dir", str(node_dir), "--title", "Play street")
    declined = invoke("record", "delete", "play-street", "--data-dir", str(node_dir),
                      input="n\n")
    assert declined.code == 1 and "Aborted" in declined.err
    assert "play-street" in ok("record", "list", "--data-dir", str(node_dir))
    ok("share", "publish", "play-street", "--data-dir", str(node_dir))
    out = ok("record", "delete", "play-street", "--data-dir", str(node_dir), input="y\n")
    assert "deleted play-street" in out and "hedgerow retract play-street" in out
    assert "no practice with the key" in fails("record", "delete", "play-street", "--yes",
                                               "--data-dir", str(node_dir))


def test_measures_and_observations(node_dir: Path) -> None:
    ok("record", "add", "--data-dir", str(node_dir), "--title", "Repair café")
    out = ok("record", "measure", "repair-cafe", "items repaired", "--unit", "items",
             "--data-dir", str(node_dir))
    assert out.startswith("added measure #1 items repaired")
    assert "recorded 12" in ok("record", "observe", "1", "12", "--on", "2025-03-08",
                               "--data-dir", str(node_dir))
    ok("record", "observe", "1", "3", "--note", "rainy", "--data-dir", str(node_dir))  # today
    shown = ok("record", "show", "repair-cafe", "--data-dir", str(node_dir))
    assert "#1 items repaired (items), defined by own" in shown
    # The figures recorded are shown too (record show shows everything kept).
    lines = shown.splitlines()
    at = lines.index("  #1 items repaired (items), defined by own")
    assert lines[at + 1].split() == ["2025-03-08", "12"]
    assert lines[at + 2].split()[1:] == ["3", "rainy"]
    figures = show(node_dir, "repair-cafe")["measures"][0]["observations"]
    assert (figures[0]["observed_on"], figures[0]["value"]) == ("2025-03-08", 12)
    for day in range(1, 12):
        ok("record", "observe", "1", str(day), "--on", f"2024-01-{day:02}", "--data-dir",
           str(node_dir))
    shown = ok("record", "show", "repair-cafe", "--data-dir", str(node_dir))
    assert "(13 figures: the latest 10 shown; --json lists them all)" in shown
    assert "2024-01-01" not in shown and "2025-03-08" in shown
    assert len(show(node_dir, "repair-cafe")["measures"][0]["observations"]) == 13
    # A value that is not a number is refused in plain words.
    line = fails("record", "observe", "1", "abc", "--data-dir", str(node_dir), code=2)
    assert "'abc' is not a whole number" in line and "integer range" not in line
    assert "observed_on" in fails("record", "observe", "1", "5", "--on", "08/03/2025",
                                  "--data-dir", str(node_dir))
    assert "no measure" in fails("record", "observe", "99", "5", "--data-dir",
                                 str(node_dir)).lower()
    fails("record", "observe", "1", "-4", "--data-dir", str(node_dir), code=2)
