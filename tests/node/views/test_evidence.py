"""Verifiable figures: export a view with its signed entries, verify it offline."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import sqlite_utils

from node.views import VIEWS, VerificationFailed, prepare, verifiable_export, verify_export
from protocol import id_to_text

from ..peer_entries import OTHER_NETWORK, peer_key, practice
from .network import AT, Network


def export(db: sqlite_utils.Database, name: str, **params: Any) -> dict[str, Any]:
    me = db.conn.execute("SELECT node_id FROM node_state").fetchone()[0]
    return verifiable_export(db, name, prepare(name, params, me=me, now_ms=AT))


@pytest.fixture(scope="module")
def themes_export(vdb: sqlite_utils.Database) -> dict[str, Any]:
    return export(vdb, "themes", status="active")


@pytest.mark.parametrize("name", list(VIEWS))
def test_every_view_verifies_from_its_evidence(vdb: sqlite_utils.Database, net: Network,
                                               name: str) -> None:
    params = {"node": id_to_text(net.keys["L0"].public), "key": "repair-cafe"} \
        if name in ("spread", "similar") else {"q": "repair"} if name == "directory" else {}
    doc = export(vdb, name, **params)
    report = verify_export(doc)
    assert report.view == name
    assert report.entries == vdb.conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    assert bool(report.notes) == (name == "health")


def test_a_tampered_figure_is_named(themes_export: dict[str, Any]) -> None:
    doc = copy.deepcopy(themes_export)
    doc["figures"]["rows"][2]["practices"] += 1
    with pytest.raises(VerificationFailed) as err:
        verify_export(doc)
    theme = doc["figures"]["rows"][2]["theme"]
    assert err.value.message.startswith("figure rows[2].practices: the export says")
    assert theme  # the row is named by its index; its value is in the export
    doc = copy.deepcopy(themes_export)
    doc["figures"]["totals"]["nodes"] = 1
    with pytest.raises(VerificationFailed, match=r"^figure totals\.nodes: "):
        verify_export(doc)


def test_a_tampered_signature_or_payload_is_refused(themes_export: dict[str, Any]) -> None:
    doc = copy.deepcopy(themes_export)
    sig = bytearray(base64.b64decode(doc["evidence"][7]["sig"]))
    sig[0] ^= 1
    doc["evidence"][7]["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(VerificationFailed, match=r"^evidence\[7\]: "):
        verify_export(doc)
    doc = copy.deepcopy(themes_export)
    doc["evidence"][3]["payload"] = "!!!"
    with pytest.raises(VerificationFailed, match=r"^evidence\[3\]: "):
        verify_export(doc)


def test_evidence_left_out_changes_the_figures(themes_export: dict[str, Any]) -> None:
    doc = copy.deepcopy(themes_export)
    doc["evidence"] = doc["evidence"][:-40]
    with pytest.raises(VerificationFailed, match=r"^figure "):
        verify_export(doc)


def test_entries_of_another_network_are_refused(themes_export: dict[str, Any]) -> None:
    doc = copy.deepcopy(themes_export)
    alien = practice(peer_key("alien"), "x", 5, network=OTHER_NETWORK)
    doc["evidence"].append({"payload": base64.b64encode(alien.payload).decode(),
                            "sig": base64.b64encode(alien.sig).decode(), "received_ms": 1})
    with pytest.raises(VerificationFailed, match="another network"):
        verify_export(doc)
    doc = copy.deepcopy(themes_export)
    doc["network"] = OTHER_NETWORK.hex()
    with pytest.raises(VerificationFailed, match=r"^evidence\[0\]: "):
        verify_export(doc)


@pytest.mark.parametrize("doc", [None, [], {"format": "something else"},
                                 {"format": "hedgerow-verifiable-view/1", "network": "zz"}])
def test_not_an_export(doc: Any) -> None:
    with pytest.raises(VerificationFailed):
        verify_export(doc)
