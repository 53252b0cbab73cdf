"""Files of signed entries for the benchmarks: signed in worker processes, read back in batches.

Signing is not what the benchmarks time, so it runs on every core; the
file then holds the entries as concatenated msgpack ``[payload, signature]``
items, exactly as they travel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgpack

from protocol import SignedEntry


def write_signed(path: Path, sign_chunk: Callable[..., bytes],
                 jobs: Iterable[tuple[object, ...]]) -> None:
    """Write ``sign_chunk(*job)`` for every job to ``path``, in the jobs' order."""
    with ProcessPoolExecutor() as pool, path.open("wb") as out:
        futures = [pool.submit(sign_chunk, *job) for job in jobs]
        for future in futures:
            out.write(future.result())


def read_entries(path: Path, batch: int) -> Iterator[list[SignedEntry]]:
    """The entries of ``path`` in batches of ``batch`` (the last may be smaller)."""
    with path.open("rb") as f:
        current: list[SignedEntry] = []
        for payload, sig in msgpack.Unpacker(f, raw=False, use_list=True):
            current.append(SignedEntry(payload, sig))
            if len(current) == batch:
                yield current
                current = []
        if current:
            yield current
