"""The sync session state machine, driven against an in-memory server."""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Entry, NodeKey, SignedEntry, sign_entry
from protocol.errors import InvalidArgument, SessionError
from protocol.messages import (
    MAX_PUSH_ENTRIES,
    MAX_REPLY_FRAME,
    PushResult,
    decode_fetch_request,
    decode_push_request,
    decode_reconcile_request,
    encode_fetch_reply,
    encode_push_reply,
    encode_reconcile,
    encode_reconcile_reply,
)
from protocol.negentropy import NegentropyStorage
from protocol.session import (
    MAX_QUIET_ROUNDS,
    Action,
    Finished,
    IngestEntries,
    LoadEntries,
    SendRequest,
    SessionState,
    SyncSession,
    answer_reconcile,
    drive,
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
                 members: dict[bytes, SignedEntry] | None = None, *,
                 frame_limit: int = 0) -> None:
        self.held = held
        self.members = members or {}
        self.frame_limit = frame_limit or MAX_REPLY_FRAME
        self.frames: list[int] = []

    def handle(self, request: SendRequest) -> bytes:
        if request.endpoint == "reconcile":
            messages, frame = decode_reconcile_request(request.body)
            self.frames.append(frame)
            return answer_reconcile({name: storage_of(self.held if name == "all" else
                                                      self.members)
                                     for name in messages}, messages,
                                    frame_size_limit=min(frame, self.frame_limit))
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


def run(client: dict[bytes, SignedEntry], server: Server, **options: Any) -> Finished:
    session = SyncSession(storage_of(client), **options)
    action: Action | None = session.start()
    for _ in range(10_000):
        if isinstance(action, Finished):
            assert session.state is SessionState.DONE
            return action
        if isinstance(action, SendRequest):
            session.receive(action, server.handle(action))
        elif isinstance(action, IngestEntries):
            outcomes = []
            for e in action.entries:
                outcomes.append("duplicate" if e.id in client else "accepted")
                client[e.id] = e
            session.ingested(outcomes)
        elif isinstance(action, LoadEntries):
            session.loaded([client[i] for i in action.ids if i in client])
        action = session.next_action()
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
    session.receive(action, server.handle(action))
    action = session.next_action()
    assert isinstance(action, SendRequest) and action.endpoint == "fetch"
    with pytest.raises(SessionError):
        session.receive(action, encode_fetch_reply([], [ENTRIES[10]]))
    # Nothing else is under way: the session has drained, and is over (rule 6).
    assert session.next_action() is None
    assert session.state is SessionState.FAILED


def test_garbage_reply_is_a_peer_error() -> None:
    session = SyncSession(storage_of({}))
    action = session.start()
    assert isinstance(action, SendRequest)
    with pytest.raises(SessionError):
        session.receive(action, b"\xc1")


def test_out_of_turn_calls_are_local_errors() -> None:
    session = SyncSession(storage_of({}))
    with pytest.raises(InvalidArgument):
        session.receive(SendRequest("reconcile", b"", 1), encode_reconcile({"all": b"a"}))
    with pytest.raises(InvalidArgument):
        session.next_action()
    session.start()
    with pytest.raises(InvalidArgument):
        session.start()
    with pytest.raises(InvalidArgument):
        session.ingested([])
    with pytest.raises(InvalidArgument):
        session.loaded([])


def test_the_members_set_is_fetched_first_and_nothing_twice() -> None:
    """With two sets, the members set's missing entries are fetched first; an
    entry in both sets, or one the client already holds elsewhere, is not
    fetched twice; converged peers learn it for both sets in one round trip."""
    held = {e.id: e for e in ENTRIES[:120]}
    members = {e.id: e for e in ENTRIES[100:120]}
    server = Server(held, members)
    skip = frozenset({ENTRIES[0].id})
    session = SyncSession({"members": storage_of({}), "all": storage_of({})}, skip=skip)
    fetched: list[bytes] = []

    def send(request: SendRequest) -> bytes:
        nonlocal fetched
        if request.endpoint == "fetch":
            fetched += decode_fetch_request(request.body)
        return server.handle(request)

    drive(session, send, lambda entries: ["accepted"] * len(entries), lambda ids: [])
    assert sorted(fetched) == sorted(set(held) - skip) and len(fetched) == len(set(fetched))
    assert set(fetched[:20]) == set(members)
    converged = SyncSession({"members": storage_of(members), "all": storage_of(held)})
    action = converged.start()
    assert isinstance(action, SendRequest)
    converged.receive(action, server.handle(action))
    action = converged.next_action()
    assert isinstance(action, Finished) and action.stats.rounds == 1


def test_fetching_starts_while_reconciliation_goes_on() -> None:
    """Ids found in one round are fetched before the next round: with small
    frames a big difference takes several rounds, and every round stores
    something (no round cap ends a session with nothing fetched)."""
    server = Server({e.id: e for e in ENTRIES}, frame_limit=4096)
    session = SyncSession(storage_of({}), reply_frame=4096, fetch_ahead=50)
    order: list[str] = []
    stored: dict[bytes, SignedEntry] = {}

    def send(request: SendRequest) -> bytes:
        order.append(request.endpoint)
        return server.handle(request)

    def ingest(entries: tuple[SignedEntry, ...]) -> list[str]:
        stored.update((e.id, e) for e in entries)
        return ["accepted"] * len(entries)

    stats = drive(session, send, ingest, lambda ids: [])
    assert set(stored) == set(server.held)
    assert stats.rounds >= 3 and stats.complete and stats.peer_holds == len(ENTRIES)
    # A fetch between every two reconcile rounds.
    assert order[0] == "reconcile" and order.index("fetch") < order.index("reconcile", 1)
    rounds_at = [i for i, endpoint in enumerate(order) if endpoint == "reconcile"]
    assert all("fetch" in order[a:b] for a, b in itertools.pairwise(rounds_at))
    assert server.frames == [4096] * stats.rounds


def test_a_bounded_session_keeps_what_it_got_and_the_next_goes_on() -> None:
    """A session that reaches its window fetches what it found, says it is not
    complete, and the next session (over what the store then holds) goes on."""
    server = Server({e.id: e for e in ENTRIES}, frame_limit=4096)
    client: dict[bytes, SignedEntry] = {}
    sessions = []
    for _ in range(10):
        finished = run(client, server, reply_frame=4096, max_ids=100)
        sessions.append(finished.stats)
        if finished.stats.complete:
            break
    assert set(client) == set(server.held)
    assert len(sessions) >= 3
    assert all(s.accepted > 0 for s in sessions[:-1])
    assert not sessions[0].complete and sessions[-1].complete


def test_ids_are_streamed_not_piled_up() -> None:
    """Ids waiting to be fetched never exceed one frame's worth beyond FETCH_AHEAD."""
    server = Server({e.id: e for e in ENTRIES}, frame_limit=4096)
    session = SyncSession(storage_of({}), reply_frame=4096, fetch_ahead=50)
    action: Action | None = session.start()
    most = 0
    while not isinstance(action, Finished):
        if isinstance(action, SendRequest):
            session.receive(action, server.handle(action))
        elif isinstance(action, IngestEntries):
            session.ingested(["accepted"] * len(action.entries))
        most = max(most, session.waiting_ids)
        action = session.next_action()
    assert 0 < most <= 50 + 4096 // 32


def test_helpers_fetch_alongside_and_what_they_lack_comes_from_the_peer() -> None:
    """A fetch any peer may answer goes to a helper; ids the helper does not hold,
    or a helper that fails, go back to the session's own peer."""
    held = {e.id: e for e in ENTRIES}
    server = Server(held)
    helper = Server({e.id: e for e in ENTRIES[::2]})
    session = SyncSession(storage_of({}), max_fetches=2)
    got: dict[bytes, SignedEntry] = {}
    action: Action | None = session.start()
    helper_turn = True
    failed_once = False
    while not isinstance(action, Finished):
        if isinstance(action, SendRequest):
            if action.endpoint == "fetch" and action.any_peer and helper_turn:
                helper_turn = False
                if not failed_once:
                    failed_once = True
                    session.helper_failed(action)
                else:
                    session.receive(action, helper.handle(action), from_helper=True)
            else:
                helper_turn = True
                session.receive(action, server.handle(action))
        elif isinstance(action, IngestEntries):
            got.update((e.id, e) for e in action.entries)
            session.ingested(["accepted"] * len(action.entries))
        action = session.next_action()
    assert set(got) == set(held)
    assert action.stats.received == len(held)


def test_a_helper_reply_cannot_answer_a_fetch_only_the_peer_may() -> None:
    server = Server({e.id: e for e in ENTRIES[:40]})
    session = SyncSession(storage_of({}))
    action = session.start()
    assert isinstance(action, SendRequest)
    with pytest.raises(InvalidArgument):
        session.receive(action, server.handle(action), from_helper=True)


def test_a_server_that_never_settles_anything_ends_the_session() -> None:
    """No cap on rounds ends a session that makes progress, but a server whose
    replies find nothing new round after round is not reconciling."""
    session = SyncSession(storage_of({e.id: e for e in ENTRIES}))
    action = session.start()
    # A fingerprint to infinity that never matches: the client splits, again and again.
    stalling = encode_reconcile_reply({"all": b"\x61\x00\x00\x01" + bytes(16)}, {"all": 300})
    with pytest.raises(SessionError, match="nothing new"):
        for _ in range(MAX_QUIET_ROUNDS + 1):
            assert isinstance(action, SendRequest) and action.endpoint == "reconcile"
            session.receive(action, stalling)
            action = session.next_action()
    assert session.next_action() is None
    assert session.state is SessionState.FAILED


def test_a_bad_reply_from_the_peer_still_hands_out_what_was_fetched() -> None:
    """Rule 6: the session drains. Entries fetched before the bad reply are handed out
    to ingest, and only then is the session over."""
    server = Server({e.id: e for e in ENTRIES}, frame_limit=4096)  # several rounds
    session = SyncSession(storage_of({}), reply_frame=4096)
    action = session.start()
    assert isinstance(action, SendRequest)
    session.receive(action, server.handle(action))
    under_way = [session.next_action(), session.next_action()]
    fetch = next(a for a in under_way if isinstance(a, SendRequest) and a.endpoint == "fetch")
    reconcile = next(a for a in under_way
                     if isinstance(a, SendRequest) and a.endpoint == "reconcile")
    session.receive(fetch, server.handle(fetch))
    with pytest.raises(SessionError):
        session.receive(reconcile, b"\xc1")
    assert session.state is SessionState.RUNNING
    ingested = 0
    while isinstance(action := session.next_action(), IngestEntries):
        session.ingested(["accepted"] * len(action.entries), of=action)
        ingested += len(action.entries)
    assert action is None and ingested == len(decode_fetch_request(fetch.body)) > 0
    assert session.state is SessionState.FAILED
    with pytest.raises(InvalidArgument):
        session.next_action()


def test_a_helpers_bad_reply_gives_its_ids_back_to_the_peer() -> None:
    """Rule 6, from a helper: its ids go back to this session's own peer, which then
    fetches them, and the session finishes as usual."""
    entries = {e.id: e for e in ENTRIES[:40]}
    server = Server(entries)
    session = SyncSession(storage_of({}))
    action = session.start()
    assert isinstance(action, SendRequest)
    session.receive(action, server.handle(action))
    helped = session.next_action()
    assert isinstance(helped, SendRequest) and helped.any_peer
    with pytest.raises(SessionError):
        session.receive(helped, b"\xc1", from_helper=True)
    assert session.state is SessionState.RUNNING
    got: set[bytes] = set()
    action = session.next_action()
    while not isinstance(action, Finished):
        if isinstance(action, SendRequest):
            session.receive(action, server.handle(action))
        elif isinstance(action, IngestEntries):
            got.update(e.id for e in action.entries)
            session.ingested(["accepted"] * len(action.entries), of=action)
        else:
            raise AssertionError(action)
        action = session.next_action()
    assert got == set(entries)


def test_a_session_beside_one_that_claimed_everything_still_makes_progress() -> None:
    """Rule 4 with shared claims: ids another session is fetching are found, so the
    session beside it is not "quiet", however many rounds it takes; it says how many it
    left to the other (``left_to_others``), so it is not taken as proof of holding them."""
    held = sorted((1_000 + i, hashlib.sha256(b"%d" % i).digest()) for i in range(6000))
    server = NegentropyStorage.from_sorted(held)
    claims: set[bytes] = set()

    def reconcile_only(session: SyncSession) -> int:
        rounds = 0
        action: Action | None = session.start()
        while action is not None and not isinstance(action, Finished):
            if isinstance(action, SendRequest) and action.endpoint == "reconcile":
                rounds += 1
                messages, frame = decode_reconcile_request(action.body)
                session.receive(action, answer_reconcile({"all": server}, messages,
                                                         frame_size_limit=frame))
            action = session.next_action()  # fetches stay under way: not needed here
        return rounds

    first = SyncSession(storage_of({}), reply_frame=4096, fetch_ahead=10**9, claims=claims)
    reconcile_only(first)
    assert len(claims) == len(held) == first.stats.need
    beside = SyncSession(storage_of({}), reply_frame=4096, fetch_ahead=10**9, claims=claims)
    assert reconcile_only(beside) > MAX_QUIET_ROUNDS
    assert beside.stats.need == 0 and beside.stats.left_to_others == len(held)


def test_the_window_bounds_the_push_direction_too() -> None:
    """Rule 4: a node far ahead of an empty peer holds a window's worth of ids to push
    per session, not its whole store's; the sessions after it push the rest."""
    mine = {e.id: e for e in ENTRIES}
    server = Server({})
    sessions = 0
    while True:
        sessions += 1
        session = SyncSession(storage_of(mine), max_ids=100)
        stats = drive(session, server.handle, lambda entries: ["accepted"] * len(entries),
                      lambda ids: [mine[i] for i in ids])
        assert stats.have <= 100 and stats.pushed == stats.have
        if stats.complete:
            break
    assert sessions == 3 and set(server.held) == set(mine)
