"""``hedgerow invite``, ``invite list|withdraw``, ``admit`` (and ``--withdraw``), ``leave``,
``view members`` and ``peer block --with-admitted``, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from protocol import NodeKey, parse_invitation

from .conftest import fails, join_with_invitation, node_info, ok


def test_invitations_are_listed_and_withdrawn(node_dir: Path) -> None:
    made = json.loads(ok("invite", "--json", "--uses", "3", "--expires", "12h", "--note",
                         "Splott growers", "--address", "http://192.0.2.5:8470",
                         "--data-dir", str(node_dir)))
    assert parse_invitation(made["invitation"]).address == "http://192.0.2.5:8470"
    listed = json.loads(ok("invite", "list", "--json", "--data-dir", str(node_dir)))
    assert [(i["id"], i["status"], i["uses_allowed"], i["note"]) for i in listed] == [
        (made["id"], "open", 3, "Splott growers")]
    assert "Splott growers" in ok("invite", "list", "--data-dir", str(node_dir))
    out = ok("invite", "withdraw", made["id"][:5], "--data-dir", str(node_dir))
    assert f"withdrew invitation {made['id']}" in out
    listed = json.loads(ok("invite", "list", "--json", "--data-dir", str(node_dir)))
    assert listed[0]["status"] == "withdrawn"
    assert "no invitation" in fails("invite", "withdraw", "ffff", "--data-dir", str(node_dir))
    assert "7d, 12h or 2w" in fails("invite", "--expires", "soon", "--data-dir",
                                    str(node_dir))
    assert "Invalid value for '--uses'" in fails("invite", "--uses", "0", "--data-dir",
                                                 str(node_dir), code=2)


def test_admit_by_id_and_withdraw_with_a_preview(node_dir: Path, tmp_path: Path) -> None:
    them = join_with_invitation(node_dir, tmp_path / "them")["node_id"]
    out = ok("admit", them, "--note", "met at the hub", "--data-dir", str(node_dir))
    assert f"admitted {them}" in out
    members = json.loads(ok("view", "members", "--json", "--data-dir", str(node_dir)))
    assert {m["node"] for m in members["members"]} == {node_info(node_dir)["node_id"], them}
    assert "needs confirmation" in fails("admit", them, "--withdraw", "--data-dir",
                                         str(node_dir))
    out = ok("admit", them, "--withdraw", "--yes", "--reason", "moved away",
             "--data-dir", str(node_dir))
    assert "ends the membership of 1 node" in out and them in out
    assert json.loads(ok("view", "members", "--json", "--data-dir", str(node_dir)))[
        "count"] == 1
    assert "cannot admit itself" in fails("admit", node_info(node_dir)["node_id"],
                                          "--data-dir", str(node_dir))
    assert "character" in fails("admit", them.replace(them[3], "U", 1), "--data-dir",
                                str(node_dir))


def test_leave_previews_and_withdraws_what_was_published(node_dir: Path) -> None:
    ok("profile", "publish", "--data-dir", str(node_dir))
    ok("record", "add", "--title", "Repair café", "--data-dir", str(node_dir))
    ok("share", "publish", "repair-cafe", "--data-dir", str(node_dir))
    assert "needs confirmation" in fails("leave", "--data-dir", str(node_dir))
    out = ok("leave", "--yes", "--reason", "closing", "--data-dir", str(node_dir))
    assert "practice repair-cafe" in out and "profile profile" in out
    assert "withdrew 2 entries" in out
    assert "published nothing to withdraw" in ok("leave", "--yes", "--data-dir",
                                                 str(node_dir))


def test_blocking_with_the_nodes_admitted_through_it(node_dir: Path, tmp_path: Path) -> None:
    middle = NodeKey.from_seed(b"\3" * 32)
    ok("admit", middle.node_id, "--data-dir", str(node_dir))
    out = ok("peer", "block", middle.node_id, "--with-admitted", "--data-dir", str(node_dir))
    assert out.startswith(f"blocked {middle.short_id}")
