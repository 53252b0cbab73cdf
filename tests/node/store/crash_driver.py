"""Run by test_crash.py in a subprocess: ingest and publish until killed.

Usage: ``python -m tests.node.store.crash_driver <data dir> <seed>``

After each write commits, prints one line per entry the node now holds::

    stored <entry id hex> <author hex> <family> <key> <version>

and flushes, so the parent knows exactly what was reported before it sent
SIGKILL.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

from node import NotFound, Outcome, Store
from protocol import SignedEntry, decode, slot_of

from ..peer_entries import admitted, peer_key, practice, retract

PEERS = [peer_key(f"crash peer {i}") for i in range(6)]
SLOTS = [f"slot-{i}" for i in range(4)]
OWN_PRACTICES = ["tool-library", "play-street", "repair-cafe"]


def report(entries: list[SignedEntry], outcomes: list[Outcome]) -> None:
    for signed, outcome in zip(entries, outcomes, strict=True):
        if outcome.stored:
            report_entry(signed)


def report_entry(signed: SignedEntry) -> None:
    v = decode(signed.payload)
    slot = slot_of(v["author"], v["kind"], v["key"])
    print(f"stored {signed.id.hex()} {v['author'].hex()} {slot.family} {slot.key} "
          f"{v['version']}", flush=True)


async def run(data_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    sent: list[SignedEntry] = []
    last = 0
    async with await Store.open(data_dir) as store:
        await store.ingest(admitted(*PEERS))
        for key in OWN_PRACTICES:
            try:
                await store.get_practice(key)
            except NotFound:
                await store.create_practice({"title": key.replace("-", " "), "key": key})
        print("ready", flush=True)
        while True:
            roll = rng.random()
            if roll < 0.6:
                # Peers' entries: new versions of a few slots (superseding older
                # ones), retractions, and some entries sent again.
                # Milliseconds, as versions are, and never one used before.
                base = last = max(time.time_ns() // 1_000_000, last + 12)
                batch = []
                for i in range(rng.randint(1, 12)):
                    peer, slot = rng.choice(PEERS), rng.choice(SLOTS)
                    if rng.random() < 0.15:
                        batch.append(retract(peer, slot, base + i))
                    else:
                        batch.append(practice(peer, slot, base + i, title=f"t{base}"))
                batch += rng.sample(sent, min(len(sent), rng.randint(0, 3)))
                report(batch, await store.ingest(batch))
                sent = (sent + batch)[-50:]
            elif roll < 0.9:
                key = rng.choice(OWN_PRACTICES)
                await store.update_practice(key, {"description": f"update {time.time_ns()}"})
                report_entry(await store.publish_practice(key))
            else:
                key = rng.choice(OWN_PRACTICES)
                try:
                    report_entry(await store.retract_practice(key, reason="paused"))
                except NotFound:
                    report_entry(await store.publish_practice(key))


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1]), int(sys.argv[2])))
