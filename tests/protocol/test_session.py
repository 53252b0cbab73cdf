"""The sync session state machine, driven against an in-memory server."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Entry, NodeKey, SignedEntry, sign_entry
from protocol.errors import InvalidArgument, SessionError
from protocol.messages import (
    MAX_PUSH_ENTRIES,
    PushResult,
    decode_fetch_request,
    decode_push_request,
    decode_reconcile,
    encode_fetch_reply,
    encode_push_reply,
    encode_reconcile,
)
from protocol.negentropy import NegentropyStorage
from protocol.session import (
    Finished,
    IngestEntries,
    LoadEntries,
    SendRequest,
    SessionState,
    SyncSession,
    answer_reconcile,
)

NET = hashlib.sha256(b"session net").digest()
KEY = NodeKey.from_seed(hashlib.sha256(b"session author").digest())
ENTRIES = [
    sign_entry(KEY, Entry(NET, KEY.public, "practice", f"p{i}", 1_000 + i,
                          {"title": f"Practice {i}", "status": "active"}))
    for i in range(300)
]


VERSIONS = {e.id: 1_000 + i for i, e in enumerate(ENTRIES)}


def storage_of(held: dict[bytes, SignedEntry]) -> NegentropyStorage:
    return NegentropyStorage.from_sorted(sorted((VERSIONS[i], i) for i in held))


class Server:
    """A server that answers from a dict, as node/ does from its store."""

    def __init__(self, held: dict[bytes, SignedEntry],
                 members: dict[bytes, SignedEntry] | None = None) -> None:
        self.held = held
        self.members = members or {}

    def handle(self, request: SendRequest) -> bytes:
        if request.endpoint == "reconcile":
            messages = decode_reconcile(request.body)
            return answer_reconcile({name: storage_of(self.held if name == "all" else
                                                      self.members)
                                     for name in messages}, messages)
        if request.endpoint == "fetch":
            ids = decode_fetch_request(request.body)
            return encode_fetch_reply(ids, [self.held[i] for i in ids if i in self.held])
        entries = decode_push_request(request.body)
        assert len(entries) <= MAX_PUSH_ENTRIES
        results = []
        for e in entries:
            outcome = "duplicate" if e.id in self.held else "accepted"
            self.held[e.id] = e
            results.append(PushResult(e.id, outcome))
        return encode_push_reply(results)


def run(client: dict[bytes, SignedEntry], server: Server) -> Finished:
    session = SyncSession(storage_of(client))
    action = session.start()
    for _ in range(10_000):
        if isinstance(action, Finished):
            assert session.state is SessionState.DONE
            return action
        if isinstance(action, SendRequest):
            action = session.receive(server.handle(action))
        elif isinstance(action, IngestEntries):
            outcomes = []
            for e in action.entries:
                outcomes.append("duplicate" if e.id in client else "accepted")
                client[e.id] = e
            action = session.ingested(outcomes)
        elif isinstance(action, LoadEntries):
            action = session.loaded([client[i] for i in action.ids if i in client])
    raise AssertionError("session did not finish")


@given(st.integers(0, 2**32), st.integers(0, 300), st.integers(0, 300))
@settings(max_examples=25, deadline=None)
def test_both_directions_fill_in_one_session(seed: int, n_client: int, n_server: int) -> None:
    rng = random.Random(seed)
    client = {e.id: e for e in rng.sample(ENTRIES, n_client)}
    server = Server({e.id: e for e in rng.sample(ENTRIES, n_server)})
    union = set(client) | set(server.held)
    finished = run(client, server)
    assert set(client) == union == set(server.held)
    assert finished.stats.received == finished.stats.need
    assert finished.stats.pushed == finished.stats.have


def test_converged_peers_cost_one_round_trip() -> None:
    held = {e.id: e for e in ENTRIES}
    finished = run(dict(held), Server(dict(held)))
    assert finished.stats.rounds == 1 and finished.stats.requests == 1
    assert finished.stats.bytes_up + finished.stats.bytes_down < 1024


def test_unrequested_entries_in_a_fetch_reply_fail_the_session() -> None:
    client: dict[bytes, SignedEntry] = {}
    server = Server({e.id: e for e in ENTRIES[:3]})
    session = SyncSession(storage_of(client))
    action = session.start()
    assert isinstance(action, SendRequest)
    action = session.receive(server.handle(action))
    assert isinstance(action, SendRequest) and action.endpoint == "fetch"
    with pytest.raises(SessionError):
        session.receive(encode_fetch_reply([], [ENTRIES[10]]))
    assert session.state is SessionState.FAILED


def test_garbage_reply_is_a_peer_error() -> None:
    session = SyncSession(storage_of({}))
    session.start()
    with pytest.raises(SessionError):
        session.receive(b"\xc1")


def test_out_of_turn_calls_are_local_errors() -> None:
    session = SyncSession(storage_of({}))
    with pytest.raises(InvalidArgument):
        session.receive(encode_reconcile({"all": b"a"}))
    session.start()
    with pytest.raises(InvalidArgument):
        session.start()
    with pytest.raises(InvalidArgument):
        session.ingested([])


def test_the_members_set_is_fetched_first_and_nothing_twice() -> None:
    """With two sets, the members set's missing entries are fetched first; an
    entry in both sets, or one the client already holds elsewhere, is not
    fetched twice; converged peers learn it for both sets in one round trip."""
    held = {e.id: e for e in ENTRIES[:120]}
    members = {e.id: e for e in ENTRIES[100:120]}
    server = Server(held, members)
    skip = frozenset({ENTRIES[0].id})
    session = SyncSession({"members": storage_of({}), "all": storage_of({})}, skip=skip)
    action = session.start()
    fetched: list[bytes] = []
    while not isinstance(action, Finished):
        if isinstance(action, SendRequest):
            if action.endpoint == "fetch":
                fetched += decode_fetch_request(action.body)
            action = session.receive(server.handle(action))
        elif isinstance(action, IngestEntries):
            action = session.ingested(["accepted"] * len(action.entries))
        else:
            action = session.loaded([])
    assert sorted(fetched) == sorted(set(held) - skip) and len(fetched) == len(set(fetched))
    assert set(fetched[:20]) == set(members)
    converged = SyncSession({"members": storage_of(members), "all": storage_of(held)})
    action = converged.start()
    action = converged.receive(server.handle(action))
    assert isinstance(action, Finished) and action.stats.rounds == 1
