"""``keys sheet`` and ``keys import``: a node brought back from paper and a backup."""

from __future__ import annotations

from pathlib import Path

from .conftest import fails, invoke, node_info, ok


def test_from_the_sheet_and_a_backup_to_the_same_node(node_dir: Path, tmp_path: Path) -> None:
    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    backup = tmp_path / "backup.db"
    ok("backup", str(backup), "--data-dir", str(node_dir))
    sheet = ok("keys", "sheet", "--yes", "--data-dir", str(node_dir))
    me = node_info(node_dir)["node_id"]
    assert me in sheet
    lines = [line.split(None, 1)[1].split("(")[0] for line in sheet.splitlines()
             if line.strip()[:1].isdigit() and line.split()[0] in "12345"
             and len(line.split()[0]) == 1]
    assert len(lines) == 5

    fresh = tmp_path / "new-machine"
    # A typo on line 3 is refused, naming the line; nothing is written.
    typo = lines[2].replace(lines[2].strip()[0], "Z" if lines[2].strip()[0] != "Z" else "Y", 1)
    done = invoke("keys", "import", "--data-dir", str(fresh),
                  input="\n".join([*lines[:2], typo, *lines[3:]]) + "\n")
    assert done.code == 1 and "Traceback" not in done.err
    assert done.err.strip().splitlines()[-1].startswith("error: line 3 does not check out")
    assert not (fresh / "node.key").exists()

    out = ok("keys", "import", "--data-dir", str(fresh), input="\n".join(lines) + "\n")
    assert f"imported the key of node {me}" in out
    assert (fresh / "node.key").read_bytes() == (node_dir / "node.key").read_bytes()
    assert (fresh / "node.key").stat().st_mode & 0o777 == 0o600
    ok("restore", str(backup), "--yes", "--data-dir", str(fresh))
    assert "repair-cafe" in ok("record", "list", "--data-dir", str(fresh))
    assert "already holds a node" in fails("keys", "import", "--data-dir", str(fresh))


def test_import_from_a_saved_sheet(node_dir: Path, tmp_path: Path) -> None:
    saved = tmp_path / "sheet.txt"
    out = ok("keys", "sheet", "--yes", "--output", str(saved), "--data-dir", str(node_dir))
    assert "print it, then delete the file" in out
    assert saved.stat().st_mode & 0o777 == 0o600
    assert "already exists" in fails("keys", "sheet", "--yes", "--output", str(saved),
                                     "--data-dir", str(node_dir))
    fresh = tmp_path / "fresh"
    ok("keys", "import", "--sheet", str(saved), "--data-dir", str(fresh))
    assert (fresh / "node.key").read_bytes() == (node_dir / "node.key").read_bytes()
    (tmp_path / "not-a-sheet.txt").write_text("hello\n")
    assert "does not look like a recovery sheet" in fails(
        "keys", "import", "--sheet", str(tmp_path / "not-a-sheet.txt"),
        "--data-dir", str(tmp_path / "x"))
    assert "needs confirmation" in fails("keys", "sheet", "--data-dir", str(node_dir))
