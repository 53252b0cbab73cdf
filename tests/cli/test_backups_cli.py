"""Backups from the command line: what a backup holds, restoring into a new directory,
``backup now``, ``backup list`` and ``backup test``."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from node.backups import backup_name
from node.settings import load_config
from node.web.admin import AdminFile, hash_password, verify_password

from .conftest import fails, node_info, ok

SETTINGS_TEXT = 'port = 9471\npublic_url = "https://fridge.example.org"\nmdns = false\n'


def _claim(data_dir: Path, password: str) -> None:
    admin = AdminFile(data_dir)
    admin.ensure_setup_code()
    admin.set_password(hash_password(password))
    admin.set_public_pages(frozenset({"network"}))


def test_restore_into_a_new_directory_brings_back_settings_and_password(
        node_dir: Path, tmp_path: Path) -> None:
    (node_dir / "hedgerow.toml").write_text(SETTINGS_TEXT, encoding="utf-8")
    _claim(node_dir, "the old admin password")
    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    backup = tmp_path / "backup.db"
    out = ok("backup", str(backup), "--data-dir", str(node_dir))
    assert "does not hold the node key" in out
    key = tmp_path / "node.key"
    ok("keys", "export", "--output", str(key), "--yes", "--data-dir", str(node_dir))

    fresh = tmp_path / "new-machine" / "hedgerow"
    out = ok("restore", str(backup), "--key", str(key), "--yes", "--data-dir", str(fresh))
    assert "hedgerow.toml" in out and "admin.json" in out
    assert (fresh / "hedgerow.toml").read_text(encoding="utf-8") == SETTINGS_TEXT
    config = load_config(fresh, environ={})
    assert (config.port, config.public_url, config.mdns) == (
        9471, "https://fridge.example.org", False)
    state = AdminFile(fresh).read()
    assert state.claimed and verify_password(state.password, "the old admin password")
    assert state.public_pages == {"network"}
    # No new setup code: the node is claimed, as it was.
    assert "password is set already" in fails("setup-code", "--data-dir", str(fresh))
    assert node_info(fresh)["node_id"] == node_info(node_dir)["node_id"]
    assert "repair-cafe" in ok("record", "list", "--data-dir", str(fresh))
    # The restored database does not keep the backup's copy of the files.
    with sqlite3.connect(fresh / "hedgerow.db") as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'backup_files'"
                            ).fetchone()[0] == 0


def test_restore_over_changed_settings_keeps_the_replaced_ones(node_dir: Path,
                                                               tmp_path: Path) -> None:
    (node_dir / "hedgerow.toml").write_text(SETTINGS_TEXT, encoding="utf-8")
    backup = tmp_path / "backup.db"
    ok("backup", str(backup), "--data-dir", str(node_dir))
    (node_dir / "hedgerow.toml").write_text("port = 9999\n", encoding="utf-8")
    ok("restore", str(backup), "--yes", "--data-dir", str(node_dir))
    assert (node_dir / "hedgerow.toml").read_text(encoding="utf-8") == SETTINGS_TEXT
    assert (node_dir / "hedgerow.toml.before-restore").read_text(encoding="utf-8") == \
        "port = 9999\n"


def test_a_backup_without_settings_still_restores(node_dir: Path, tmp_path: Path) -> None:
    backup = tmp_path / "old.db"
    ok("backup", str(backup), "--data-dir", str(node_dir))
    with sqlite3.connect(backup) as conn:  # as an older Hedgerow made it
        conn.execute("DROP TABLE backup_files")
    out = ok("restore", str(backup), "--yes", "--data-dir", str(node_dir))
    assert "database only" in out
    assert "settings   none" in ok("backup", "test", str(backup), "--data-dir", str(node_dir))


def test_restore_refuses_another_nodes_key_dir(node_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    ok("init", "--data-dir", str(other), "--new-network")
    backup, key = tmp_path / "b.db", tmp_path / "k.key"
    ok("backup", str(backup), "--data-dir", str(node_dir))
    ok("keys", "export", "--output", str(key), "--yes", "--data-dir", str(node_dir))
    assert "another node's key" in fails("restore", str(backup), "--key", str(key), "--yes",
                                         "--data-dir", str(other))


def test_backup_test_restores_into_a_scratch_folder(node_dir: Path, tmp_path: Path) -> None:
    (node_dir / "hedgerow.toml").write_text(SETTINGS_TEXT, encoding="utf-8")
    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    backup = tmp_path / "backup.db"
    ok("backup", str(backup), "--data-dir", str(node_dir))
    out = ok("backup", "test", str(backup), "--data-dir", str(node_dir))
    assert "restores cleanly" in out and "(this node)" in out
    assert "1 practice" in out and "hedgerow.toml" in out
    data = json.loads(ok("backup", "test", str(backup), "--json", "--data-dir", str(node_dir)))
    assert data["this_node"] is True and data["practices"] == 1
    assert data["node_id"] == node_info(node_dir)["node_id"]

    other = tmp_path / "other"
    ok("init", "--data-dir", str(other), "--new-network")
    assert "another node" in fails("backup", "test", str(backup), "--data-dir", str(other))
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 200)
    assert "damaged" in fails("backup", "test", str(tmp_path / "junk.db"),
                              "--data-dir", str(node_dir))
    # A backup whose settings file was spoiled is caught before anyone relies on it.
    with sqlite3.connect(backup) as conn:
        conn.execute("UPDATE backup_files SET content = ? WHERE name = 'hedgerow.toml'",
                     (b"port = [",))
    assert "not valid TOML" in fails("backup", "test", str(backup), "--data-dir", str(node_dir))


def test_backup_now_and_list(node_dir: Path, tmp_path: Path) -> None:
    second = tmp_path / "usb-stick"
    second.mkdir()
    (node_dir / "hedgerow.toml").write_text(f'backup_copy_dir = "{second}"\n',
                                            encoding="utf-8")
    out = ok("backup", "now", "--data-dir", str(node_dir))
    assert "checked" in out and f"copied to {second}" in out
    [made] = list((node_dir / "backups").glob("hedgerow-*Z.db"))
    assert (second / made.name).read_bytes() == made.read_bytes()
    listing = ok("backup", "list", "--data-dir", str(node_dir))
    assert made.name in listing and "1 kept" in listing and str(second) in listing
    data = json.loads(ok("backup", "list", "--json", "--data-dir", str(node_dir)))
    assert data["health"]["stale"] is False and len(data["backups"]) == 1

    for path in second.iterdir():  # the USB stick is taken out
        path.unlink()
    second.rmdir()
    line = fails("backup", "now", "--data-dir", str(node_dir))
    assert "the backup was taken" in line and "not there" in line


def test_status_says_when_the_last_backup_is_older_than_two_days(node_dir: Path) -> None:
    ok("backup", "now", "--data-dir", str(node_dir))
    assert "OLDER THAN 2 DAYS" not in ok("status", "--data-dir", str(node_dir))
    [made] = list((node_dir / "backups").glob("hedgerow-*Z.db"))
    three_days_ago = int(time.time() * 1000) - 3 * 86_400_000
    made.rename(made.with_name(backup_name(three_days_ago)))
    out = ok("status", "--data-dir", str(node_dir))
    assert "OLDER THAN 2 DAYS: run `hedgerow backup now`" in out
    assert json.loads(ok("backup", "list", "--json", "--data-dir",
                         str(node_dir)))["health"]["stale"] is True


def test_backup_file_with_options_first(node_dir: Path, tmp_path: Path) -> None:
    out = ok("backup", "--data-dir", str(node_dir), str(tmp_path / "b.db"))
    assert out.startswith(f"backed up to {tmp_path / 'b.db'}")
    assert "create" in ok("backup", "--help") and "test" in ok("backup", "--help")
