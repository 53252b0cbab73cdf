"""Many concurrent writers through the facade: zero "database is locked"."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from node import Store

from ..conftest import FakeClock, held
from ..peer_entries import admitted, peer_key, practice


async def test_many_concurrent_writers_never_see_a_locked_database(
        data_dir: Path, clock: FakeClock) -> None:
    # Two stores on one database: the node and, say, the CLI beside it. Each
    # has its own writer thread and connection, so they really contend for
    # SQLite's write lock; BEGIN IMMEDIATE + busy_timeout must absorb it.
    node = await Store.open(data_dir, clock=clock)
    cli = await Store.open(data_dir, clock=clock)
    rng = random.Random(7)
    errors: list[BaseException] = []

    async def worker(n: int, store: Store) -> None:
        try:
            key = (await store.create_practice({"title": f"Practice {n}"})).key
            for step in range(6):
                choice = rng.randrange(5)
                if choice == 0:
                    await store.add_lesson(key, f"lesson {step}")
                elif choice == 1:
                    keys = [peer_key(f"{n}/{step}/{i}") for i in range(5)]
                    await store.ingest([*admitted(*keys),
                                        *(practice(k, key, 10 + step) for k in keys)])
                elif choice == 2:
                    await store.publish_practice(key)
                elif choice == 3:
                    await held(store)
                else:
                    await store.update_practice(key, {"description": f"step {step}"})
        except BaseException as exc:  # collected: every failure is reported below
            errors.append(exc)

    try:
        await asyncio.gather(*(worker(n, node if n % 2 else cli) for n in range(120)))
    finally:
        await node.close()
        await cli.close()
    assert not any("locked" in str(e) for e in errors), errors[:3]
    assert errors == []
    async with await Store.open(data_dir, clock=clock) as store:
        assert len(await store.list_practices()) == 120
        items = await held(store)
        assert items == sorted(items)
