"""The catch-up as people see it: the progress bar, the status line, the log line."""

from __future__ import annotations

import io
import logging

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cli.progress import CatchUpBar, catch_up_line
from node.events import CatchUpProgress, CaughtUp
from node.logview import describe


def test_the_bar_follows_the_events_and_goes_when_caught_up() -> None:
    out = io.StringIO()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"),
                        console=Console(file=out, force_terminal=True, width=120))
    with progress, CatchUpBar(enabled=True, progress=progress) as bar:
        bar.on_event(CatchUpProgress(held=2_000, expected=100_000, per_s=8_000.0, peers=2))
        bar.on_event(CatchUpProgress(held=50_000, expected=100_000, per_s=9_000.0, peers=2))
        (task,) = progress.tasks
        assert (task.description, task.completed, task.total) == ("catching up", 50_000,
                                                                  100_000)
        assert task.fields["rate"] == "9,000/s from 2 peers"
        progress.refresh()
        assert "catching up" in out.getvalue() and "50000/100000" in out.getvalue()
        bar.on_event(CaughtUp(received=100_000, seconds=12.5, peers=2, held=100_000,
                              requests=60, bytes_down=61_000_000))
        assert progress.tasks == []


def test_no_bar_off_a_terminal() -> None:
    bar = CatchUpBar(enabled=False)
    bar.on_event(CatchUpProgress(held=1, expected=5_000, per_s=1.0, peers=1))
    assert bar._progress is None


def test_the_status_line_and_the_log_line() -> None:
    running = {"state": "catching_up", "started_ms": 0, "updated_ms": 5_000,
               "finished_ms": None, "held": 25_000, "expected": 100_000, "received": 25_000,
               "per_s": 5_000.0, "peers": 1, "active": True}
    assert catch_up_line(running, now_ms=5_000) == (
        "catching up: 25,000 of 100,000 entries (25%), 5,000 a second from 1 peer")
    stopped = {**running, "active": False}
    assert "stopped at 25,000 of 100,000" in catch_up_line(stopped, now_ms=5_000)
    done = {**running, "state": "caught_up", "finished_ms": 20_000, "held": 100_000,
            "received": 100_000}
    assert catch_up_line(done, now_ms=20_000).startswith(
        "caught up just now: 100,000 entries in 20.0 s")
    level, line = describe(CaughtUp(received=100_000, seconds=14.2, peers=1, held=100_003,
                                    requests=58, bytes_down=65_100_000))
    assert level == logging.INFO
    assert line == ("caught up with the network: +100,000 entries in 14.2 s from 1 peer "
                    "(100,003 held; 58 requests, 65.1 MB received)")
