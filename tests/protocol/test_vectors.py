"""The committed test vectors are what the code produces, and behave as recorded."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

import protocol
from protocol import (
    Entry,
    HedgerowError,
    NodeKey,
    SignedEntry,
    decode,
    encode,
    encode_signed,
    format_invitation,
    id_from_text,
    id_to_text,
    join_proof,
    network_id_of,
    next_version,
    parse_invitation,
    sign_entry,
    verify_entry,
)

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"
VECTORS = json.loads((VECTORS_DIR / "protocol.json").read_text(encoding="utf-8"))


def untag(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {k: untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


def test_committed_file_is_reproduced_byte_for_byte() -> None:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS_DIR / "make_vectors.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (VECTORS_DIR / "protocol.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("vector", VECTORS["keys"], ids=lambda v: v["node_id"][:7])
def test_keys(vector: dict[str, str]) -> None:
    key = NodeKey.from_seed(bytes.fromhex(vector["seed"]))
    assert key.public.hex() == vector["public"]
    assert key.node_id == vector["node_id"]
    assert id_from_text(vector["node_id"]) == key.public


def test_network_ids() -> None:
    for v in VECTORS["networks"]:
        network = network_id_of(bytes.fromhex(v["founder"]), bytes.fromhex(v["nonce"]))
        assert network.hex() == v["network"]
        assert id_to_text(bytes.fromhex(v["network"]), "network") == v["text"]
        assert id_from_text(v["text"], "network").hex() == v["network"]


def test_lenient_id_reading() -> None:
    for v in VECTORS["ids_lenient"]:
        assert id_from_text(v["text"]).hex() == v["public"]


def expect_error(vector: dict[str, str], fn: Any) -> None:
    with pytest.raises(HedgerowError) as info:
        fn()
    assert type(info.value).__name__ == vector["error"]
    assert info.value.code == vector["code"]
    assert str(info.value) == vector["message"]
    assert isinstance(info.value, getattr(protocol, vector["error"]))


@pytest.mark.parametrize("vector", VECTORS["ids_invalid"], ids=lambda v: v["case"])
def test_invalid_ids(vector: dict[str, str]) -> None:
    expect_error(vector, lambda: id_from_text(vector["text"]))


@pytest.mark.parametrize("vector", VECTORS["wire_ok"], ids=lambda v: v["hex"][:16])
def test_wire_encodings(vector: dict[str, Any]) -> None:
    value = untag(vector["value"])
    assert encode(value).hex() == vector["hex"]
    decoded = decode(bytes.fromhex(vector["hex"]))
    assert encode(decoded).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS["wire_invalid"], ids=lambda v: v["case"])
def test_wire_rejections(vector: dict[str, str]) -> None:
    expect_error(vector, lambda: decode(bytes.fromhex(vector["hex"])))


@pytest.mark.parametrize("vector", VECTORS["entries"], ids=lambda v: f"{v['kind']}:{v['key'][:9]}")
def test_entries(vector: dict[str, Any]) -> None:
    seeds = {v["public"]: bytes.fromhex(v["seed"]) for v in VECTORS["keys"]}
    entry = Entry(
        bytes.fromhex(vector["network"]), bytes.fromhex(vector["author"]), vector["kind"],
        vector["key"], vector["version"], untag(vector["body"]),
    )
    signed = sign_entry(NodeKey.from_seed(seeds[vector["author"]]), entry)
    assert signed.payload.hex() == vector["payload"]
    assert signed.sig.hex() == vector["sig"]
    assert signed.id.hex() == vector["id"]
    assert encode_signed(signed).hex() == vector["wire"]
    verified = verify_entry(signed, bytes.fromhex(vector["network"]))
    assert verified.entry == entry
    assert verified.id.hex() == vector["id"]


@pytest.mark.parametrize("vector", VECTORS["entries_invalid"], ids=lambda v: v["case"])
def test_invalid_entries(vector: dict[str, str]) -> None:
    signed = SignedEntry(bytes.fromhex(vector["payload"]), bytes.fromhex(vector["sig"]))
    expect_error(vector, lambda: verify_entry(signed, bytes.fromhex(vector["network"])))


def test_hybrid_logical_clock() -> None:
    for v in VECTORS["hlc"]:
        assert next_version(v["now_ms"], v["highest_seen"]) == v["next"]


@pytest.mark.parametrize("vector", VECTORS["invitations"], ids=lambda v: v["id"])
def test_invitations_and_join_proofs(vector: dict[str, Any]) -> None:
    invitation = parse_invitation(vector["code"])
    assert invitation.network.hex() == vector["network"]
    assert invitation.inviter.hex() == vector["inviter"]
    assert invitation.address == vector["address"]
    assert invitation.id.hex() == vector["id"] and invitation.secret.hex() == vector["secret"]
    assert invitation.expires_s == vector["expires_s"]
    assert format_invitation(invitation) == vector["code"]
    proof = join_proof(invitation.secret, invitation.network, invitation.id,
                       bytes.fromhex(vector["joining_node"]))
    assert proof.hex() == vector["join_proof"]
