"""The per-peer work budget, the per-peer queue, and the reconciliation worker process."""

from __future__ import annotations

import asyncio
import os

import pytest

from node.store.reconciliation import ReconciliationSet
from node.store.store import Store
from node.sync.limits import PeerQueue, QueueFull, WorkBudget
from node.sync.reconcile_worker import ReconcileWorker
from protocol import Negentropy, ReconcileError, answer_reconcile
from protocol.messages import encode_reconcile

from ..peer_entries import peer_key, practice


def test_a_spent_budget_slows_a_peer_down_and_comes_back() -> None:
    budget = WorkBudget(rate=0.5, burst=1.0)
    assert budget.wait_for("p", 0.0) == 0.0
    budget.spend("p", 1.5, 0.0)  # more than it had: a debt of 0.5 s of work
    assert budget.wait_for("p", 0.0) == pytest.approx(1.0)  # waits, is never refused
    assert budget.wait_for("p", 1.0) == 0.0
    assert budget.wait_for("other", 0.0) == 0.0  # peers are independent
    budget.spend("p", 0.1, 100.0)
    assert budget.balance("p", 100.0) == pytest.approx(0.9)  # refilled to the burst, no more


async def test_a_peer_waits_its_turn_and_a_flood_is_held_back() -> None:
    queue = PeerQueue(max_waiting=2)
    order: list[str] = []
    release = asyncio.Event()

    async def work(name: str) -> None:
        async with queue.turn("p"):
            order.append(name)
            await release.wait()

    tasks = [asyncio.create_task(work(f"w{i}")) for i in range(3)]
    await asyncio.sleep(0)
    assert order == ["w0"]  # one at a time
    with pytest.raises(QueueFull):
        async with queue.turn("p"):
            pass
    async with queue.turn("q"):  # another peer is not held back by this one
        pass
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["w0", "w1", "w2"]


async def test_the_worker_answers_as_the_loop_would_and_exits_when_idle(
        store: Store) -> None:
    key = peer_key("author")
    await store.ingest([practice(key, f"p{i}", 1_700_000_000_000 + i) for i in range(50)])
    sets = ReconciliationSet(store.db)
    storages = {name: await sets.storage(name) for name in ("members", "all")}
    messages = {name: Negentropy(storage).initiate() for name, storage in storages.items()}
    body = encode_reconcile(messages)
    worker = ReconcileWorker(store.db.path, frame_size_limit=60_000, idle_s=0.3)
    try:
        reply, cpu = await worker.answer(body)
        assert reply == answer_reconcile(storages, messages, frame_size_limit=60_000)
        assert cpu >= 0
        with pytest.raises(ReconcileError):
            await worker.answer(encode_reconcile({"all": b"\x61\xff"}))
        pid = worker.pid
        assert pid is not None
        for _ in range(300):  # exits by itself once idle: an idle node runs no worker
            if not _alive(pid):
                break
            await asyncio.sleep(0.01)
        assert not _alive(pid)
        again, _ = await worker.answer(body)  # the next frame starts another
        assert again == reply and worker.started == 2
    finally:
        await worker.close()
    assert worker.pid is None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return os.path.exists(f"/proc/{pid}")
