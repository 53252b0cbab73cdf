"""Build ``tests/vectors/protocol.json``: the protocol's test vectors.

The vectors are the contract for any other implementation of Hedgerow's
protocol: keys and ids, canonical encodings, signed entries byte for byte,
and invalid inputs with the exact error each must raise. Everything is
derived from fixed seeds, so running this again gives the same file;
``tests/protocol/test_vectors.py`` checks that the committed file is what the
code produces and that every vector behaves as recorded.

    python tests/vectors/make_vectors.py          # rewrite the file
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from protocol import (  # noqa: E402
    Entry,
    HedgerowError,
    Invitation,
    NodeKey,
    SignedEntry,
    admit_key,
    credit_key,
    decode,
    encode,
    encode_signed,
    format_invitation,
    id_from_text,
    id_to_text,
    join_proof,
    network_id_of,
    next_version,
    retract_key,
    sign_entry,
    verify_entry,
)
from protocol.entries import SIGNATURE_PREFIX  # noqa: E402

OUT = Path(__file__).with_name("protocol.json")


def seed(label: str) -> bytes:
    return hashlib.sha256(b"hedgerow test vector seed: " + label.encode()).digest()


def tagged(value: Any) -> Any:
    """JSON form of a wire value: bytes become {"$bytes": hex}."""
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    return value


def error_of(fn: Any) -> dict[str, str]:
    try:
        fn()
    except HedgerowError as err:
        return {"error": type(err).__name__, "code": err.code, "message": err.message}
    raise AssertionError("expected an error")


def build() -> dict[str, Any]:
    alice, bob = NodeKey.from_seed(seed("alice")), NodeKey.from_seed(seed("bob"))
    # The network alice founds: its id derives from her genesis entry.
    nonce = seed("genesis nonce")[:16]
    net = network_id_of(alice.public, nonce)
    other_net = network_id_of(bob.public, nonce)

    keys = [
        {"seed": k.seed.hex(), "public": k.public.hex(), "node_id": k.node_id}
        for k in (alice, bob)
    ]
    networks = [{"founder": founder.hex(), "nonce": nonce.hex(), "network": n.hex(),
                 "text": id_to_text(n, "network")}
                for founder, n in ((alice.public, net), (bob.public, other_net))]

    good_id = alice.node_id
    bad_ids = []
    for label, text in [
        ("one character mistyped", good_id[:10] + ("A" if good_id[10] != "A" else "B")
         + good_id[11:]),
        ("neighbours swapped", good_id[:3] + good_id[4] + good_id[3] + good_id[5:]),
        ("character outside the alphabet", good_id[:20] + "U" + good_id[21:]),
        ("a character missing", good_id[:-1]),
        ("network id given as node id", id_to_text(net, "network")),
    ]:
        err = error_of(lambda t=text: id_from_text(t, "node"))
        bad_ids.append({"case": label, "text": text, **err})
    lenient = [
        {"text": good_id.lower().replace("-", ""), "public": alice.public.hex()},
        {"text": good_id.replace("0", "o").replace("1", "l"), "public": alice.public.hex()},
    ]

    wire_values: list[Any] = [
        0, 127, 128, 255, 256, 65535, 65536, 2**32, 2**64 - 1, -1, -32, -33, -128, -129,
        -(2**63), "", "hedgerow", "é" * 40, b"", b"\x00\xff", True, False, None,
        [], [1, [2, [3]]], {}, {"b": 1, "a": 2, "aa": 3, "B": 4},
    ]
    wire_ok = [{"value": tagged(v), "hex": encode(v).hex()} for v in wire_values]
    wire_bad_inputs = {
        "duplicate key": "82a16101a16102",
        "unsorted keys": "82a16201a16102",
        "non-minimal integer": "cc05",
        "non-minimal negative integer": "d0ff",
        "non-minimal str length": "d903616263",
        "float64": "cb7ff8000000000000",
        "float32 NaN": "ca7fc00000",
        "ext type": "d40100",
        "reserved byte": "c1",
        "trailing bytes": "0102",
        "4 GiB array header": "ddffffffff",
        "depth 9": "91" * 9 + "01",
        "depth 2000": "91" * 2000 + "01",
        "integer map key": "810101",
        "invalid UTF-8": "a1ff",
        "truncated": "a5616263",
        "empty": "",
    }
    wire_bad = [
        {"case": label, "hex": h, **error_of(lambda h=h: decode(bytes.fromhex(h)))}
        for label, h in wire_bad_inputs.items()
    ]

    v0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
    entries_in = [
        Entry(net, alice.public, "genesis", "genesis", v0 - 10, {"nonce": nonce}),
        Entry(net, alice.public, "admit", admit_key(bob.public), v0 - 5,
              {"node": bob.public, "note": "Met at the Leeds gathering."}),
        Entry(net, alice.public, "profile", "profile", v0, {
            "name": "Alder Street Tenants", "level": "neighbourhood", "area": "M14",
            "principles": ["led by residents", "open to all"],
            "addresses": ["https://alder.example.org:8470"], "org_id": "GB-CHC-1234567",
            "contact": "hello@alder.example.org",
        }),
        Entry(net, alice.public, "practice", "play-street", v0 + 1, {
            "title": "Play street", "status": "active", "themes": ["play", "streets"],
            "level": "neighbourhood", "since": "2019-05",
            "description": "We close our street to traffic one Sunday a month.",
            "measures": [{"name": "children playing", "value": 23, "period": "2025",
                          "defined_by": "community"},
                         {"name": "complaints", "value": "<5", "defined_by": "own"}],
            "lessons": ["Knock on every door before the first one."],
        }),
        Entry(net, bob.public, "practice", "play-street-east", v0 + 5, {
            "title": "Play street (east side)", "status": "active",
            "adapted_from": [{"author": alice.public, "key": "play-street"}],
        }),
        Entry(net, bob.public, "credit", credit_key(alice.public, "play-street"), v0 + 6, {
            "to": alice.public, "practice": "play-street",
            "note": "Thank you for the door-knocking script.",
        }),
        Entry(net, alice.public, "retract", retract_key("practice", "play-street"), v0 + 9,
              {"reason": "paused"}),
        Entry(net, bob.public, "retract",
              retract_key("credit", credit_key(alice.public, "play-street")), v0 + 10, {}),
    ]
    signers = {alice.public: alice, bob.public: bob}
    entries = []
    for e in entries_in:
        s = sign_entry(signers[e.author], e)
        entries.append({
            "kind": e.kind, "key": e.key, "author": e.author.hex(), "version": e.version,
            "network": e.network.hex(), "body": tagged(e.body),
            "payload": s.payload.hex(), "sig": s.sig.hex(), "id": s.id.hex(),
            "wire": encode_signed(s).hex(),
        })

    good = sign_entry(alice, entries_in[3])

    def resign(entry: Entry) -> SignedEntry:
        payload = entry.payload()
        return SignedEntry(payload, alice.sign(SIGNATURE_PREFIX + entry.network + payload))

    def tweak(**changes: Any) -> Entry:
        fields = {"network": net, "author": alice.public, "kind": "practice",
                  "key": "play-street", "version": v0 + 1, "body": dict(entries_in[3].body)}
        body_changes = changes.pop("body_changes", {})
        fields.update(changes)
        fields["body"] = {**fields["body"], **body_changes}
        return Entry(**fields)

    flipped = bytearray(good.payload)
    flipped[40] ^= 0x01
    # An unsorted payload with a valid signature: only the canonical check catches it.
    fields = decode(good.payload)
    unsorted_payload = msgpack.packb(dict(reversed(list(fields.items()))), use_bin_type=True)
    invalid_cases: list[tuple[str, SignedEntry, bytes]] = [
        ("wrong network", good, other_net),
        ("wrong author (signed by another key)",
         SignedEntry(good.payload, bob.sign(SIGNATURE_PREFIX + net + good.payload)), net),
        ("truncated signature", SignedEntry(good.payload, good.sig[:63]), net),
        ("signature bit flipped", SignedEntry(good.payload, bytes([good.sig[0] ^ 1])
                                              + good.sig[1:]), net),
        ("payload bit flipped", SignedEntry(bytes(flipped), good.sig), net),
        ("oversized entry", resign(tweak(body_changes={
            "lessons": ["x" * 1000] * 17})), net),
        ("count under 5 published exactly", resign(tweak(body_changes={
            "measures": [{"name": "visitors", "value": 3}]})), net),
        ("unknown kind", resign(tweak(kind="poll")), net),
        ("unknown body field", resign(tweak(body_changes={"secret": "x"})), net),
        ("missing title", resign(Entry(net, alice.public, "practice", "p", v0,
                                       {"status": "active"})), net),
        ("bad practice key", resign(tweak(key="Play Street")), net),
        ("profile with wrong key", resign(Entry(net, alice.public, "profile", "me", v0,
                                                {"name": "A", "level": "local"})), net),
        ("bad org id", resign(Entry(net, alice.public, "profile", "profile", v0,
                                    {"name": "A", "level": "local", "org_id": "charity 12"})),
         net),
        ("bad contact", resign(Entry(net, alice.public, "profile", "profile", v0,
                                     {"name": "A", "level": "local",
                                      "contact": "javascript:alert(1)"})), net),
        ("credit key does not match body", resign(Entry(
            net, alice.public, "credit", "wrong", v0,
            {"to": bob.public, "practice": "play-street-east"})), net),
        ("practice adapted from itself", resign(tweak(body_changes={
            "adapted_from": [{"author": alice.public, "key": "play-street"}]})), net),
        ("version zero", resign(tweak(version=0)), net),
        ("non-canonical payload", SignedEntry(
            unsorted_payload, alice.sign(SIGNATURE_PREFIX + net + unsorted_payload)), net),
        ("genesis of another network", resign(Entry(net, alice.public, "genesis", "genesis", v0,
                                                    {"nonce": seed("other")[:16]})), net),
        ("genesis signed by a node that did not found the network", SignedEntry(
            (e := Entry(net, bob.public, "genesis", "genesis", v0, {"nonce": nonce})).payload(),
            bob.sign(SIGNATURE_PREFIX + net + e.payload())), net),
        ("node admits itself", resign(Entry(net, alice.public, "admit", admit_key(alice.public),
                                            v0, {"node": alice.public})), net),
        ("admission key does not name the admitted node", resign(Entry(
            net, alice.public, "admit", admit_key(alice.public), v0, {"node": bob.public})), net),
        ("retraction of a genesis", resign(Entry(net, alice.public, "retract",
                                                 "genesis:genesis", v0, {})), net),
        ("retraction key without a kind", resign(Entry(net, alice.public, "retract",
                                                       "play-street", v0, {})), net),
    ]
    invalid = []
    for label, signed, network in invalid_cases:
        invalid.append({
            "case": label, "payload": signed.payload.hex(), "sig": signed.sig.hex(),
            "network": network.hex(),
            **error_of(lambda s=signed, n=network: verify_entry(s, n)),
        })

    hlc = [
        {"now_ms": now, "highest_seen": seen, "next": next_version(now, seen)}
        for now, seen in [(v0, 0), (v0, v0), (v0, v0 + 500), (v0 - 86_400_000, v0), (v0 + 1, v0)]
    ]
    invitation = Invitation(net, alice.public, "https://alder.example.org:8470",
                            seed("invitation id")[:8], seed("invitation secret")[:16],
                            1_767_830_400)
    invitations = [{
        "network": net.hex(), "inviter": alice.public.hex(), "address": invitation.address,
        "id": invitation.id.hex(), "secret": invitation.secret.hex(),
        "expires_s": invitation.expires_s, "code": format_invitation(invitation),
        "joining_node": bob.public.hex(),
        "join_proof": join_proof(invitation.secret, net, invitation.id, bob.public).hex(),
    }]
    return {
        "about": "Hedgerow protocol v2 test vectors; see tests/vectors/make_vectors.py",
        "signature_prefix": SIGNATURE_PREFIX.hex(),
        "keys": keys,
        "networks": networks,
        "ids_lenient": lenient,
        "ids_invalid": bad_ids,
        "wire_ok": wire_ok,
        "wire_invalid": wire_bad,
        "entries": entries,
        "entries_invalid": invalid,
        "hlc": hlc,
        "invitations": invitations,
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
