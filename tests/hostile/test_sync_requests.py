"""Hostile sync requests: signatures, bodies, codings and types, frames and entries.

Each case asserts the status, that nothing was stored, and that the node
still answers (:meth:`HostileNode.refused`).
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from dataclasses import replace
from pathlib import Path

import msgpack
import pytest

from protocol import PROTOCOL_VERSION, encode
from protocol.messages import (
    MAX_FETCH_IDS,
    MAX_REPLY_FRAME,
    encode_fetch_request,
    encode_push_request,
    encode_reconcile,
    encode_reconcile_request,
)
from protocol.negentropy import encode_varint

from ..node.conftest import FakeClock
from ..node.peer_entries import practice, retract
from .conftest import MakeNode
from .harness import (
    CONFIG,
    NETWORK,
    OTHER_NETWORK,
    SYNC_TYPE,
    HostileNode,
    RawHttp,
    Reply,
    Signer,
    close_node,
    key_of,
    make_node_dir,
    open_node,
    post,
)

START_MS = 1_700_000_000_000


def push_body(signer: Signer, key: str = "not-welcome", version: int = START_MS) -> bytes:
    return encode_push_request([practice(signer.key, key, version)])


# --- signatures ----------------------------------------------------------------------


async def test_unsigned_requests_are_401(node: HostileNode, member: Signer) -> None:
    body = push_body(member)
    await node.refused(401, lambda: post(f"{node.url}/sync/v2/push", body,
                                         {"Content-Type": SYNC_TYPE}))


async def test_a_signature_for_another_network_is_401(node: HostileNode,
                                                      clock: FakeClock) -> None:
    outsider = Signer(key_of("member"), OTHER_NETWORK, node, clock)
    reply = await node.refused(401, lambda: outsider.post("push", push_body(outsider)))
    assert "network" in reply.text.lower()


async def test_a_signature_claiming_another_key_is_401(node: HostileNode,
                                                       member: Signer) -> None:
    body = push_body(member)
    headers = member.headers("push", body)
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        member.key.node_id, key_of("victim").node_id)
    await node.refused(401, lambda: member.post("push", body, headers))


async def test_a_signature_over_other_bytes_is_401(node: HostileNode, member: Signer) -> None:
    body = push_body(member)
    headers = member.headers("push", body)
    headers["Signature"] = headers["Signature"][:-8] + "AAAAAAA="
    await node.refused(401, lambda: member.post("push", body, headers))


async def test_a_body_that_does_not_match_its_digest_is_401(node: HostileNode,
                                                            member: Signer) -> None:
    body = push_body(member)
    headers = member.headers("push", body)
    await node.refused(401, lambda: member.post("push", body, headers,
                                                send_body=body[:-1] + b"\x00"))


@pytest.mark.parametrize("offset_s", [-301, +121])
async def test_stale_and_future_signatures_are_401(node: HostileNode, member: Signer,
                                                   clock: FakeClock, offset_s: int) -> None:
    body = push_body(member)
    headers = member.headers("push", body, now_s=clock() // 1000 + offset_s)
    await node.refused(401, lambda: member.post("push", body, headers))


async def test_a_replayed_request_is_401(node: HostileNode, member: Signer) -> None:
    body = encode_fetch_request([])
    headers = member.headers("fetch", body)
    assert (await member.post("fetch", body, headers)).status == 200
    await node.refused(401, lambda: member.post("fetch", body, headers))


async def test_a_request_replayed_after_a_restart_is_401(tmp_path: Path,
                                                         clock: FakeClock) -> None:
    """Finding 7: the nonces of accepted signatures outlive the process."""
    data_dir = make_node_dir(tmp_path, "restarted")
    first = await open_node(data_dir, clock)
    member = Signer(key_of("member"), NETWORK, first, clock)
    body = push_body(member, "first-publication")
    headers = member.headers("push", body)
    first_authority = f"127.0.0.1:{first.port}"
    try:
        assert (await member.post("push", body, headers)).status == 200
    finally:
        await close_node(first)
    clock.advance(5_000)  # well within the signature's 300 s
    again = await open_node(data_dir, clock)
    try:
        member.node = again
        # The replay names the old port in its signed authority: send it to the old
        # authority's Host, so only the nonce can refuse it.
        await again.refused(401, lambda: post(f"{again.url}/sync/v2/push", body,
                                              {**headers, "Host": first_authority}))
    finally:
        await close_node(again)


# --- bodies ----------------------------------------------------------------------------


async def test_a_declared_oversized_body_is_413_before_it_is_read(node: HostileNode,
                                                                  member: Signer) -> None:
    big = b"\x00" * (256 * 1024 + 1)
    await node.refused(413, lambda: member.post("push", big))


async def test_a_body_shorter_than_its_content_length_times_out(make_node: MakeNode,
                                                                 clock: FakeClock) -> None:
    node = await make_node("impatient", config=replace(CONFIG, request_timeout=1))
    member = Signer(key_of("member"), NETWORK, node, clock)
    body = push_body(member)
    head = "".join(f"{k}: {v}\r\n" for k, v in member.headers("push", body).items())
    request = (f"POST /sync/v2/push HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n{head}"
               f"Content-Length: {len(body) + 100}\r\n\r\n").encode() + body
    # The rest never comes, and the connection stays open: 408 after request_timeout.
    await node.refused(408, lambda: RawHttp(node.port).exchange(request, timeout=10))


async def test_a_client_that_hangs_up_mid_body_leaves_no_trace(node: HostileNode,
                                                               member: Signer) -> None:
    body = push_body(member)
    head = "".join(f"{k}: {v}\r\n" for k, v in member.headers("push", body).items())
    request = (f"POST /sync/v2/push HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n{head}"
               f"Content-Length: {len(body) + 100}\r\n\r\n").encode() + body

    async def hang_up() -> int:
        _, writer = await asyncio.open_connection("127.0.0.1", node.port)
        writer.write(request)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        return 0  # no answer: there is nobody left to answer

    await node.refused(0, hang_up)


async def test_a_body_longer_than_its_content_length_is_refused(node: HostileNode,
                                                                member: Signer) -> None:
    body = push_body(member)
    head = "".join(f"{k}: {v}\r\n" for k, v in member.headers("push", body).items())
    # The rest of the body is read as a second request, which is garbage.
    request = (f"POST /sync/v2/push HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n{head}"
               f"Content-Length: {len(body) - 10}\r\n\r\n").encode() + body
    await node.refused((400, 401), lambda: RawHttp(node.port).exchange(request))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "identity, gzip", "x-unknown"])
async def test_any_content_coding_is_415(node: HostileNode, member: Signer,
                                         coding: str) -> None:
    """Finding 1: the sync API takes no content coding, signed or not."""
    inner = push_body(member)
    body = gzip.compress(inner) if "gzip" in coding else zlib.compress(inner)
    headers = {**member.headers("push", body), "Content-Encoding": coding}
    reply = await node.refused(415, lambda: member.post("push", body, headers))
    assert "content-coded" in reply.text


async def test_a_compressed_body_is_refused_before_a_byte_of_it_arrives(
        node: HostileNode) -> None:
    """Finding 1: 415 comes from the headers alone; the body is never read nor inflated."""
    raw = RawHttp(node.port)
    bomb = gzip.compress(bytes(250 * 1024 * 64))  # 16 MB of zeros, in ~16 KiB
    head = (f"POST /sync/v2/push HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
            f"Content-Type: {SYNC_TYPE}\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(bomb)}\r\n\r\n").encode()
    # Only the headers are sent; the answer must come without waiting for the body.
    reply = await node.refused(415, lambda: raw.exchange(head, timeout=2, then=bomb))
    assert reply.headers.get("Connection", "").lower() == "close"


@pytest.mark.parametrize("content_type", ["text/plain", "application/json",
                                          "application/msgpack", "multipart/form-data"])
async def test_a_signed_request_of_the_wrong_content_type_is_415(
        node: HostileNode, member: Signer, content_type: str) -> None:
    """Finding 8: the content type is part of the protocol, not a hint."""
    body = encode_fetch_request([])
    headers = member.headers("fetch", body, content_type=content_type)
    await node.refused(415, lambda: member.post("fetch", body, headers))


async def test_a_request_with_no_content_type_is_415(node: HostileNode,
                                                     member: Signer) -> None:
    raw = RawHttp(node.port)
    body = encode_fetch_request([])
    headers = member.headers("fetch", body)
    del headers["Content-Type"]
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"POST /sync/v2/fetch HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n{head}"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    await node.refused(415, lambda: raw.exchange(request))


# --- what a signed member may still send wrong ------------------------------------------


def _nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\x00"  # [[[[…0…]]]]


@pytest.mark.parametrize("body", [
    pytest.param(b"\xdd\xff\xff\xff\xff", id="array claiming 4 billion items"),
    pytest.param(b"\xdf\xff\xff\xff\xff", id="map claiming 4 billion pairs"),
    pytest.param(b"\xc6\xff\xff\xff\xff" + b"x" * 16, id="bin claiming 4 GiB"),
    pytest.param(b"\x81\xa7entries" + _nested(100_000), id="100000 levels deep"),
    pytest.param(msgpack.packb({"entries": [[]] * 60_000}), id="60000 empty lists"),
    pytest.param(b"\x82\xa7entries\x90\xa7entries\x90", id="duplicate keys"),
    pytest.param(b"\xc1", id="reserved byte"),
    pytest.param(msgpack.packb({"entries": []}) + b"\x00", id="trailing bytes"),
    pytest.param(b"\x81\xa7entries\xcb" + b"\x00" * 8, id="a float"),
    pytest.param(b"\x81\xa7entries\xd4\x01\x00", id="an ext type"),
])
async def test_msgpack_bombs_are_400(node: HostileNode, member: Signer, body: bytes) -> None:
    await node.refused(400, lambda: member.post("push", body))


@pytest.mark.parametrize("neg", [
    pytest.param(b"\x61" + encode_varint(5), id="truncated range"),
    pytest.param(b"\x61" + b"\xff" * 11, id="varint too long"),
    pytest.param(b"\x61" + b"\x80\x01" + b"\x00\x00", id="varint not in shortest form"),
    pytest.param(b"\x61\x00\x00\x02" + encode_varint(10**6), id="id list claiming 1e6 ids"),
    pytest.param(b"\x61\x05\x01\x80\x01" + bytes(16) + b"\x01\x01\x10\x01" + bytes(16),
                 id="bounds going backwards"),
    pytest.param(b"\x61\x00\x00\x07", id="unknown mode"),
    pytest.param(b"\x61\x00\x21" + bytes(33), id="id prefix longer than an id"),
    pytest.param(b"\x61\x00\x00\x00\x00\x01\xaa\x00", id="range after infinity"),
])
async def test_malformed_negentropy_frames_are_400(node: HostileNode, member: Signer,
                                                   neg: bytes) -> None:
    body = encode_reconcile({"all": neg})
    await node.refused(400, lambda: member.post("reconcile", body))


@pytest.mark.parametrize("frame", [
    pytest.param(4095, id="below Negentropy's smallest frame"),
    pytest.param(MAX_REPLY_FRAME + 1, id="above the largest reply frame"),
    pytest.param(-1, id="negative"),
    pytest.param("60000", id="not a number"),
])
async def test_reconcile_frames_out_of_range_are_400(node: HostileNode, member: Signer,
                                                     frame: object) -> None:
    body = encode({"frame": frame, "sets": {"all": b"\x61"}})
    await node.refused(400, lambda: member.post("reconcile", body))


async def test_a_large_frame_is_answered_within_the_servers_own_limit(
        node: HostileNode, member: Signer) -> None:
    """A client may ask for any frame up to MAX_REPLY_FRAME; the reply stays within it."""
    body = encode_reconcile_request({"all": b"\x61"}, MAX_REPLY_FRAME)
    reply = await node.refused(200, lambda: member.post("reconcile", body))
    assert reply.status == 200


async def test_another_negentropy_version_gets_the_version_we_speak(
        node: HostileNode, member: Signer) -> None:
    # spec rule 4: answered (200) with the single byte 0x61, nothing stored.
    reply = await node.refused(200, lambda: member.post("reconcile",
                                                        encode_reconcile({"all": b"\x62"})))
    assert reply.status == 200


@pytest.mark.parametrize("body", [
    pytest.param(encode({"ids": [b"short"]}), id="short id"),
    pytest.param(encode({"ids": [bytes(32)] * (MAX_FETCH_IDS + 1)}), id="too many ids"),
    pytest.param(encode({"ids": "nope"}), id="ids not a list"),
    pytest.param(encode({"ids": [], "more": 1}), id="unknown field"),
])
async def test_malformed_fetches_are_400(node: HostileNode, member: Signer,
                                         body: bytes) -> None:
    await node.refused(400, lambda: member.post("fetch", body))


async def test_invalid_entries_are_rejected_and_not_stored(node: HostileNode,
                                                           member: Signer) -> None:
    good = practice(member.key, "real", START_MS)
    forged_sig = type(good)(good.payload, bytes(64))
    other_network = practice(member.key, "elsewhere", START_MS, network=OTHER_NETWORK)
    future = practice(member.key, "later", START_MS + 2 * 3600 * 1000)
    for entry in (forged_sig, other_network, future):
        body = encode_push_request([entry])

        async def send(body: bytes = body) -> int:
            reply = await member.post("push", body)
            if reply.status == 200:
                assert b"rejected" in reply.text.encode("latin-1", "replace") \
                    or "rejected" in reply.text
            return reply.status
        await node.refused((200, 400), send)


async def test_duplicates_store_one_entry(node: HostileNode, member: Signer) -> None:
    entry = practice(member.key, "twice", START_MS)
    body = encode_push_request([entry, entry])
    reply = await member.post("push", body)
    assert reply.status in (200, 400)
    held = node.state()
    # Sent again: a duplicate, nothing changes.
    await node.refused(200, lambda: member.post("push", encode_push_request([entry])))
    assert node.state() == held


async def test_a_fork_is_kept_as_proof_once(node: HostileNode, member: Signer) -> None:
    one = practice(member.key, "forked", START_MS, title="One")
    two = practice(member.key, "forked", START_MS, title="Two")
    assert (await member.post("push", encode_push_request([one]))).status == 200
    assert (await member.post("push", encode_push_request([two]))).status == 200
    proof = node.state()
    # The same fork sent again changes nothing.
    await node.refused(200, lambda: member.post("push", encode_push_request([one, two])))
    assert node.state() == proof


async def test_a_tombstone_for_someone_elses_practice_changes_nothing(
        node: HostileNode, member: Signer, clock: FakeClock) -> None:
    victim = Signer(key_of("victim"), NETWORK, node, clock)
    await victim.post("push", push_body(victim, "their-practice"))
    # A retract by the member names the victim's key: it can only withdraw its own slot.
    forged = retract(member.key, "their-practice", START_MS + 10)
    reply = await member.post("push", encode_push_request([forged]))
    assert reply.status == 200
    conn_state = node.state()
    assert any(k.startswith("table entries") for k in conn_state)


@pytest.mark.parametrize("endpoint", ["nothing", "push/../fetch", "PUSH", "reconcile.json"])
async def test_unknown_sync_endpoints_are_404(node: HostileNode, member: Signer,
                                              endpoint: str) -> None:
    body = encode_fetch_request([])
    await node.refused((404, 400, 401), lambda: post(f"{node.url}/sync/v2/{endpoint}", body,
                                                member.headers(endpoint, body)))


@pytest.mark.parametrize("version", ["v1", "v3", "v99999999999", "latest"])
async def test_a_node_of_another_protocol_version_is_told_both_versions(
        node: HostileNode, member: Signer, version: str) -> None:
    """DESIGN.md "Membership", the clean break: a request of another version is 400,
    naming this node's version and the request's, before anything else is read."""
    body = push_body(member)
    headers = member.headers("push", body)

    async def send() -> Reply:
        return await post(f"{node.url}/sync/{version}/push", body, headers)

    reply = await node.refused(400, send)
    assert f"protocol version {PROTOCOL_VERSION}" in reply.text
    assert repr(version.removeprefix("v")[:8]) in reply.text
