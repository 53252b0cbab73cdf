"""Membership with real processes: three groups joined as the README says, and an outsider.

Three ``hedgerow up`` processes on 127.0.0.1: the first founds the network,
the second joins with an invitation from the first, the third with one from
the second. A publication reaches all three. Then an outsider who knows the
network id (it is not a secret) signs every kind of sync request correctly
with a fresh key, to every node: each is refused, and nothing changes on
any node.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from protocol import (
    HttpMessage,
    Negentropy,
    NegentropyStorage,
    NodeKey,
    id_from_text,
    parse_invitation,
    sign_hedgerow,
)
from protocol.messages import (
    encode_fetch_request,
    encode_join_request,
    encode_push_request,
    encode_reconcile,
)

from ..node.peer_entries import practice
from .conftest import Process, chain_of_nodes, node_info, ok

pytestmark = pytest.mark.slow

FAST = {"HEDGEROW_SYNC_INTERVAL": "1"}
SYNC_TYPE = "application/vnd.hedgerow.sync+msgpack"


def held(data_dir: Path) -> list[tuple[int, bytes]]:
    with sqlite3.connect(f"file:{data_dir / 'hedgerow.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT version, id FROM entries ORDER BY version, id").fetchall()


def pending(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'hedgerow.db'}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM pending_entries").fetchone()[0])


def wait_until(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def post(url: str, body: bytes, key: NodeKey, network: bytes) -> int:
    msg = HttpMessage.for_request("POST", url, {"content-type": SYNC_TYPE}, body)
    headers = {"Content-Type": SYNC_TYPE, **sign_hedgerow(
        msg, key=key.private_key, keyid=key.node_id, network_id=network,
        now=int(time.time()), nonce=hashlib.sha256(url.encode() + body).hexdigest()[:24])}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_three_groups_join_as_the_readme_says_and_an_outsider_changes_nothing(
        tmp_path: Path, processes: list[Process]) -> None:
    chain = chain_of_nodes(tmp_path, ["Leeds Play Out", "Easton Fridge", "Rusholme Tenants"],
                           processes, env=FAST, typed_address=True)
    dirs, running = chain.dirs, chain.running
    ok("record", "add", "--title", "Play street", "--data-dir", str(dirs[0]))
    ok("share", "publish", "play-street", "--data-dir", str(dirs[0]))
    wait_until(lambda: len({tuple(held(d)) for d in dirs}) == 1 and len(held(dirs[0])) >= 7,
               "the three nodes did not converge")
    members = json.loads(ok("view", "members", "--json", "--data-dir", str(dirs[2])))
    assert members["count"] == 3
    assert members["tree"]["name"] == "Leeds Play Out"

    # The outsider: the network id from a member's status (not a secret), a fresh key.
    network = id_from_text(node_info(dirs[0])["network"], "network")
    assert parse_invitation(chain.codes[-1]).network == network
    outsider = NodeKey.from_seed(hashlib.sha256(b"an outsider").digest())
    before = [held(d) for d in dirs]
    first = Negentropy(NegentropyStorage.from_sorted([])).initiate()
    for _, url in running:
        for endpoint, body, refused in (
            ("reconcile", encode_reconcile({"members": first, "all": first}), 401),
            ("fetch", encode_fetch_request([i for _, i in before[0]][:10]), 401),
            ("push", encode_push_request([practice(outsider, "spam", int(time.time() * 1000))]),
             401),
            ("join", encode_join_request(b"\1" * 8, b"\2" * 32), 403),
        ):
            assert post(f"{url}/sync/v2/{endpoint}", body, outsider, network) == refused, \
                (url, endpoint)
    time.sleep(1.5)  # a sync round at every node, for anything that would have spread
    assert [held(d) for d in dirs] == before
    assert [pending(d) for d in dirs] == [0, 0, 0]
    for process, _ in running:
        assert process.signal(signal.SIGTERM) == 0
        assert "Traceback" not in "".join(process.errors)
