"""``hedgerow init``, ``invite``, ``keys`` and ``profile`` through click's runner."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from node import init_node
from node.home import config_template
from node.settings import SETTINGS, load_config
from protocol import Invitation, format_invitation, id_from_text, id_to_text, parse_invitation

from .conftest import fails, invoke, node_info, ok


def test_init_new_network_creates_key_database_and_settings(tmp_path: Path) -> None:
    home = tmp_path / "fridge"
    out = ok("init", "--data-dir", str(home), "--name", "Easton Community Fridge",
             "--area", "BS5", "--level", "neighbourhood", "--new-network")
    assert f"Created a node in {home}" in out
    assert {"node.key", "hedgerow.db", "hedgerow.toml"} <= {p.name for p in home.iterdir()}
    assert stat.S_IMODE(os.stat(home / "node.key").st_mode) == 0o600
    info = node_info(home)
    assert info["node_id"] in out and info["network"] in out
    assert "(new: this node founded it)" in out and "invite" in out  # next steps
    # The founder is the network's first member: it holds the genesis.
    status = json.loads(ok("status", "--json", "--data-dir", str(home)))
    assert status["membership"]["member"] and status["membership"]["members"] == 1
    assert status["own_entries"] == {"genesis": 1}
    profile = json.loads(ok("profile", "show", "--json", "--data-dir", str(home)))
    assert (profile["name"], profile["area"], profile["level"]) == \
        ("Easton Community Fridge", "BS5", "neighbourhood")
    # The settings file lists every setting, commented out, and loads to the defaults.
    text = (home / "hedgerow.toml").read_text()
    assert text == config_template()
    assert all(f"# {s.name} = " in text and s.env in text for s in SETTINGS)
    assert load_config(home, environ={}) == load_config(tmp_path / "nowhere", environ={})


def test_init_json_and_the_default_data_dir(tmp_path: Path) -> None:
    data = json.loads(ok("init", "--new-network", "--json"))
    assert data["data_dir"] == str(tmp_path / "default-node")  # $HEDGEROW_DATA_DIR
    assert data["config_written"] is True and data["first_peer"] is None
    assert node_info(tmp_path / "default-node")["node_id"] == data["node_id"]


def test_init_with_a_network_id_is_gone_and_says_what_to_do(tmp_path: Path,
                                                            node_dir: Path) -> None:
    network = node_info(node_dir)["network"]
    err = fails("init", "--data-dir", str(tmp_path / "b"), "--network", network.lower())
    assert "invitation code" in err and "hedgerow init --join CODE" in err
    assert not (tmp_path / "b").exists()


def test_init_with_an_invitation_adds_the_inviter_as_a_peer(tmp_path: Path,
                                                            node_dir: Path) -> None:
    code = ok("invite", "--data-dir", str(node_dir), "--address", "http://192.168.1.20:8470")
    code = code.strip()
    out = ok("init", "--data-dir", str(tmp_path / "b"), "--join", code, "--name", "Splott")
    assert "through http://192.168.1.20:8470, the node that invited it" in out
    assert f"hedgerow admit {node_info(tmp_path / 'b')['node_id']}" in out
    assert node_info(tmp_path / "b")["network"] == node_info(node_dir)["network"]
    # Not a member until it has joined: it says so, and does not publish.
    status = json.loads(ok("status", "--json", "--data-dir", str(tmp_path / "b")))
    assert not status["membership"]["member"]
    assert "joining through http://192.168.1.20:8470" in status["membership"]["joining"]
    ok("profile", "set", "--level", "local", "--data-dir", str(tmp_path / "b"))
    assert "not a member of its network yet" in fails(
        "profile", "publish", "--data-dir", str(tmp_path / "b"))
    peers = json.loads(ok("peer", "list", "--json", "--data-dir", str(tmp_path / "b")))
    assert [(p["address"], p["source"], p["node_id"]) for p in peers["peers"]] == \
        [("http://192.168.1.20:8470", "invitation", node_info(node_dir)["node_id"])]


def test_init_needs_exactly_one_way_to_choose_a_network(tmp_path: Path) -> None:
    err = fails("init", "--data-dir", str(tmp_path / "x"), code=2)
    assert "choose one of --new-network or --join CODE" in err
    err = fails("init", "--data-dir", str(tmp_path / "x"), "--new-network", "--join", "HR2-X",
                code=2)
    assert "(not both)" in err
    assert not (tmp_path / "x").exists()


def test_init_failures_say_what_to_do_and_leave_nothing_behind(tmp_path: Path,
                                                               node_dir: Path) -> None:
    target = tmp_path / "new"
    assert "does not check out" in fails("init", "--data-dir", str(target), "--join",
                                         "HR2-AAAAAAAA-BBBBBBBB")
    assert "older version" in fails("init", "--data-dir", str(target), "--join",
                                    "HR1-AAAAAAAA-BBBBBBBB")
    assert "starts with HR2-" in fails("init", "--data-dir", str(target), "--join", "hello")
    expired = format_invitation(Invitation(bytes(32), bytes(range(32)), "http://a.example:1",
                                           b"\1" * 8, b"\2" * 16, 1))
    assert "expired" in fails("init", "--data-dir", str(target), "--join", expired)
    # A name the profile schema refuses: nothing is left half-made.
    assert "name" in fails("init", "--data-dir", str(target), "--new-network", "--name",
                           "x" * 500)
    assert not target.exists()
    assert "already holds a node" in fails("init", "--data-dir", str(node_dir),
                                           "--new-network")
    assert "Invalid value for '--level'" in fails("init", "--data-dir", str(target),
                                                  "--new-network", "--level", "galactic",
                                                  code=2)


def test_init_keeps_an_existing_settings_file(tmp_path: Path) -> None:
    home = tmp_path / "n"
    home.mkdir(mode=0o700)
    (home / "hedgerow.toml").write_text("port = 9000\n")
    out = ok("init", "--data-dir", str(home), "--new-network")
    assert "settings:" not in out
    assert (home / "hedgerow.toml").read_text() == "port = 9000\n"


def test_invite_encodes_network_node_address_and_a_secret(node_dir: Path) -> None:
    info = node_info(node_dir)
    code = ok("invite", "--data-dir", str(node_dir), "--address", "https://fridge.example.org/")
    invitation = parse_invitation(code.strip())
    assert (invitation.network, invitation.inviter, invitation.address) == (
        id_from_text(info["network"], "network"), id_from_text(info["node_id"]),
        "https://fridge.example.org")
    assert len(invitation.secret) == 16 and invitation.secret != bytes(16)
    # Every code is new: another id and another secret.
    again = parse_invitation(ok("invite", "--data-dir", str(node_dir), "--address",
                                "https://fridge.example.org").strip())
    assert again.id != invitation.id and again.secret != invitation.secret
    # Without --address: the public_url setting, else a LAN address with the port setting.
    (node_dir / "hedgerow.toml").write_text('public_url = "https://pi.example.org"\n')
    data = json.loads(ok("invite", "--json", "--data-dir", str(node_dir)))
    assert data["address"] == "https://pi.example.org"
    (node_dir / "hedgerow.toml").write_text("port = 9123\n")
    assert parse_invitation(ok("invite", "--data-dir", str(node_dir)).strip()) \
        .address.endswith(":9123")


def test_invite_failures(node_dir: Path, tmp_path: Path) -> None:
    assert "http:// or https://" in fails("invite", "--data-dir", str(node_dir), "--address",
                                          "ftp://example.org")
    assert "no node in" in fails("invite", "--data-dir", str(tmp_path / "missing"))
    (node_dir / "hedgerow.toml").write_text("port = 'high'\n")
    assert "port (hedgerow.toml): must be a whole number" in fails(
        "invite", "--data-dir", str(node_dir))


def test_keys_show(node_dir: Path) -> None:
    info = node_info(node_dir)
    assert info["short_id"] == info["node_id"][:7]
    out = ok("keys", "show", "--data-dir", str(node_dir))
    assert info["node_id"] in out and info["network"] in out and "node.key" in out


def test_keys_export_needs_confirmation_and_writes_a_key_file(node_dir: Path,
                                                              tmp_path: Path) -> None:
    assert "add --yes" in fails("keys", "export", "--data-dir", str(node_dir))
    done = invoke("keys", "export", "--yes", "--data-dir", str(node_dir))
    assert done.code == 0
    assert done.out == (node_dir / "node.key").read_text()
    assert "anyone who has it can sign as this node" in done.err
    target = tmp_path / "exported.key"
    ok("keys", "export", "--yes", "-o", str(target), "--data-dir", str(node_dir))
    assert target.read_text() == (node_dir / "node.key").read_text()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert "refusing to overwrite" in fails("keys", "export", "--yes", "-o", str(target),
                                            "--data-dir", str(node_dir))
    # The exported key is a key file: a node can be rebuilt from it.
    rebuilt = tmp_path / "rebuilt"
    rebuilt.mkdir(mode=0o700)
    (rebuilt / "node.key").write_text(target.read_text())
    os.chmod(rebuilt / "node.key", 0o600)
    assert "database" in fails("status", "--data-dir", str(rebuilt))


def test_keys_refuse_an_insecure_key_file(node_dir: Path) -> None:
    os.chmod(node_dir / "node.key", 0o644)
    assert "chmod 600" in fails("keys", "show", "--data-dir", str(node_dir))


def test_profile_set_preview_publish(node_dir: Path) -> None:
    ok("profile", "set", "--data-dir", str(node_dir), "--description", "We fix things.",
       "--principle", "free to use", "--principle", "volunteer-led", "--address",
       "https://repair.example.org", "--org-id", "gb chc 1234567")
    preview = json.loads(ok("profile", "preview", "--data-dir", str(node_dir)))
    assert preview["kind"] == "profile"
    assert preview["body"] == {
        "addresses": ["https://repair.example.org"], "area": "LS6",
        "description": "We fix things.", "level": "neighbourhood",
        "name": "Headingley Repair Café", "org_id": "GB-CHC-1234567",
        "principles": ["free to use", "volunteer-led"]}
    published = json.loads(ok("profile", "publish", "--json", "--data-dir", str(node_dir)))
    assert published["body"] == preview["body"]
    assert "published the profile of Headingley Repair Café" in ok(
        "profile", "publish", "--data-dir", str(node_dir))
    status = json.loads(ok("status", "--json", "--data-dir", str(node_dir)))
    assert status["own_entries"] == {"genesis": 1, "profile": 1}


def test_profile_failures(tmp_path: Path, node_dir: Path) -> None:
    bare = tmp_path / "bare"
    ok("init", "--data-dir", str(bare), "--new-network")
    assert "set the organisation's name and level" in fails("profile", "publish",
                                                            "--data-dir", str(bare))
    assert "say what to change" in fails("profile", "set", "--data-dir", str(bare), code=2)
    assert "org-id.guide" in fails("profile", "set", "--org-id", "charity 12",
                                   "--data-dir", str(node_dir))
    assert "GB-CHC-" in fails("profile", "set", "--org-id", "GB-CHC-12",
                              "--data-dir", str(node_dir))


@pytest.mark.parametrize("command", [["status"], ["keys", "show"], ["invite"],
                                     ["record", "list"], ["peer", "list"], ["sync"],
                                     ["backup", "x.db"], ["profile", "show"]])
def test_every_command_says_when_there_is_no_node(command: list[str], tmp_path: Path) -> None:
    line = fails(*command, "--data-dir", str(tmp_path / "nowhere"))
    assert "hedgerow init" in line


def test_the_group_data_dir_option_and_the_environment(tmp_path: Path,
                                                       node_dir: Path) -> None:
    node_id = node_info(node_dir)["node_id"]
    assert node_id in ok("--data-dir", str(node_dir), "keys", "show")
    assert node_id in ok("keys", "show", env={"HEDGEROW_DATA_DIR": str(node_dir)})
    # The command's own option wins over the group's.
    assert node_id in ok("--data-dir", str(tmp_path / "nowhere"), "keys", "show",
                         "--data-dir", str(node_dir))


def test_a_database_of_another_node_is_refused(tmp_path: Path, node_dir: Path) -> None:
    other = tmp_path / "other"
    init_node(other, network=bytes(32), seed=bytes(range(32)), now_ms=1)
    (node_dir / "hedgerow.db").unlink()
    (node_dir / "hedgerow.db").write_bytes((other / "hedgerow.db").read_bytes())
    assert "belongs to another node" in fails("status", "--data-dir", str(node_dir))


def test_invitation_codes_round_trip_ids() -> None:
    # The invitation the CLI prints is the protocol's: checked here once, by value.
    code = format_invitation(Invitation(bytes(32), bytes(range(32)), "http://a.example:1",
                                        b"\1" * 8, b"\2" * 16, 2_000_000_000))
    assert id_to_text(parse_invitation(code).inviter) == id_to_text(bytes(range(32)))
