"""Nightly backups: when one is due, which are kept, the job itself, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from node import Store
from node.backups import (
    STALE_AFTER_MS,
    NightlyBackups,
    backup_due,
    backup_health,
    backup_name,
    backups_to_keep,
    list_backups,
)
from node.events import BackupFailed, BackupTaken, Event, EventBus
from node.settings import Config

from .conftest import START_MS, FakeClock

DAY = 86_400_000
HOUR = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_a_backup_day_starts_at_the_backup_hour() -> None:
    due = lambda now, last: backup_due(ms(now), None if last is None else ms(last),  # noqa: E731
                                       hour=3, tz=UTC)
    assert due("2026-12-06 14:00", None)
    assert not due("2026-12-06 02:59", "2026-12-05 03:10")  # still yesterday's backup day
    assert due("2026-12-06 03:00", "2026-12-05 03:10")
    assert not due("2026-12-06 03:20", "2026-12-06 03:00")
    # A node that was off at night takes its backup once it runs again.
    assert due("2026-12-06 16:00", "2026-12-05 02:00")
    assert not due("2026-12-06 23:00", "2026-12-06 16:00")


def test_rotation_keeps_seven_daily_and_four_weekly() -> None:
    start = ms("2026-10-01 03:00")
    taken = [start + d * DAY + h * HOUR for d in range(70) for h in (0, 5)]  # twice a day
    keep = backups_to_keep(taken, daily=7, weekly=4, tz=UTC)
    kept = sorted(datetime.fromtimestamp(t / 1000, UTC) for t in keep)
    newest = datetime.fromtimestamp(max(taken) / 1000, UTC)
    assert all(d.hour == 8 for d in kept)  # the newest of each day or week
    daily = [d for d in kept if d > newest - timedelta(days=7)]
    assert len(daily) == 7
    # The newest of each of the last four weeks (this week's is today's).
    weeks = {d.isocalendar()[:2] for d in kept}
    assert len(weeks) == 4 and {d.isocalendar()[:2] for d in daily} <= weeks
    assert kept[0] > newest - timedelta(days=28)
    assert len(keep) == 7 + 2  # the seven days span two of the four weeks


@given(st.lists(st.integers(min_value=START_MS, max_value=START_MS + 400 * DAY), max_size=60),
       st.integers(1, 10), st.integers(0, 6))
def test_rotation_properties(taken: list[int], daily: int, weekly: int) -> None:
    keep = backups_to_keep(taken, daily=daily, weekly=weekly, tz=UTC)
    assert keep <= set(taken)
    assert len(keep) <= daily + weekly
    if taken:
        assert max(taken) in keep
    # Rotating again changes nothing: what was kept stays kept.
    assert backups_to_keep(keep, daily=daily, weekly=weekly, tz=UTC) == keep


async def test_the_nightly_job_backs_up_rotates_and_copies(
        store: Store, clock: FakeClock, tmp_path: Path) -> None:
    second = tmp_path / "usb"
    second.mkdir()
    config = Config(backup_copy_dir=str(second), backup_keep_daily=2, backup_keep_weekly=0)
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    job = NightlyBackups(store, config, bus, tz=UTC)
    await store.create_practice({"title": "Repair café"})
    assert (await job.run_if_due()) is not None
    assert (await job.run_if_due()) is None  # one a backup day
    for _ in range(3):
        clock.advance(DAY)
        assert (await job.run_if_due()) is not None
    kept = list_backups(store.data_dir / "backups")
    assert len(kept) == 2 and kept[0].path.name == backup_name(clock.now_ms)
    assert [b.path.name for b in list_backups(second)] == [b.path.name for b in kept]
    assert sum(isinstance(e, BackupTaken) for e in events) == 4

    for path in second.iterdir():  # the stick is taken out: the backup still counts
        path.unlink()
    second.rmdir()
    clock.advance(DAY)
    report = await job.run_if_due()
    assert report is not None and report.copy_error and "not there" in report.copy_error
    assert job.last_copy_error == report.copy_error and job.last_error is None

    config = Config(backup_dir=str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("not a folder")
    failing = NightlyBackups(store, config, bus, tz=UTC)
    assert await failing.run_now() is None
    assert failing.last_error and isinstance(events[-1], BackupFailed)


async def test_staleness(store: Store, clock: FakeClock) -> None:
    config = Config()
    created = (await store.state()).created_ms
    fresh = backup_health(store.data_dir, config, now_ms=clock.now_ms, created_ms=created)
    assert fresh.last_ms is None and not fresh.stale  # a new node has had no night yet
    old = backup_health(store.data_dir, config, now_ms=created + STALE_AFTER_MS + 1,
                        created_ms=created)
    assert old.stale
    job = NightlyBackups(store, config, EventBus(), tz=UTC)
    await job.run_now()
    health = backup_health(store.data_dir, config, now_ms=clock.now_ms + STALE_AFTER_MS,
                           created_ms=created)
    assert health.count == 1 and not health.stale
    health = backup_health(store.data_dir, config, now_ms=clock.now_ms + STALE_AFTER_MS + 1,
                           created_ms=created)
    assert health.stale
