"""Catch-up progress as people see it: a progress bar while it runs, one line in ``status``.

:class:`CatchUpBar` follows the node's :class:`~node.events.CatchUpProgress`
and :class:`~node.events.CaughtUp` events (node/sync/progress.py) with a rich
progress bar — entries held of entries expected, and the rate — on a
terminal, and shows nothing elsewhere (a pipe, a journal: the log's one
line per completed catch-up says it there). ``hedgerow sync`` and
``hedgerow up`` use it. :func:`catch_up_line` is the same figures as one
line, for ``hedgerow status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from node.events import CatchUpProgress, CaughtUp, Event

from .output import ago, console, is_terminal

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["CatchUpBar", "catch_up_line"]


class CatchUpBar:
    """A progress bar for a catch-up, driven by events; a context manager around the run."""

    def __init__(self, *, enabled: bool | None = None, progress: Progress | None = None) -> None:
        """``progress``: a running rich progress display to add the bar to (its columns
        show ``{task.description}``, the bar, M/N and ``{task.fields[rate]}``);
        without one, the bar is a display of its own while the catch-up runs."""
        self.enabled = is_terminal() if enabled is None else enabled
        self._shared = progress
        self._progress: Progress | None = progress
        self._task: TaskID | None = None

    def __enter__(self) -> CatchUpBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def echo(self, line: str) -> None:
        """Print a line: above the bar while it is shown, else as ``click.echo`` does."""
        if self._progress is not None and self._shared is None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(line)

    def on_event(self, event: Event) -> None:
        """An event-bus subscriber."""
        if not self.enabled:
            return
        if isinstance(event, CatchUpProgress):
            self._show(event)
        elif isinstance(event, CaughtUp):
            self._stop()

    def _show(self, event: CatchUpProgress) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} entries"),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                console=console(), transient=True)
            self._progress.start()
        if self._task is None:
            self._task = self._progress.add_task("catching up", total=event.expected, rate="")
        peers = f" from {event.peers} peers" if event.peers > 1 else ""
        self._progress.update(self._task, completed=event.held, total=event.expected,
                              rate=f"{event.per_s:,.0f}/s{peers}")

    def _stop(self) -> None:
        if self._progress is None:
            return
        if self._shared is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
        else:
            self._progress.stop()
            self._progress = None
        self._task = None


def catch_up_line(state: Mapping[str, Any], *, now_ms: int) -> str:
    """The last or current catch-up in one line (``status``)."""
    held, expected = state["held"], state["expected"]
    share = f" ({held * 100 // expected}%)" if expected else ""
    if state["state"] == "catching_up":
        if state.get("active"):
            return (f"catching up: {held:,} of {expected:,} entries{share}, "
                    f"{state['per_s']:,.0f} a second from {state['peers']} "
                    f"peer{'s' if state['peers'] != 1 else ''}")
        return (f"a catch-up stopped at {held:,} of {expected:,} entries{share}; it goes on "
                "when the node runs (`hedgerow up` or `hedgerow sync`)")
    seconds = max(0.0, ((state["finished_ms"] or state["updated_ms"]) - state["started_ms"])
                  / 1000)
    return (f"caught up {ago(state['finished_ms'], now_ms=now_ms)}: {state['received']:,} "
            f"entries in {seconds:,.1f} s ({state['per_s']:,.0f} a second); "
            f"{held:,} held")
