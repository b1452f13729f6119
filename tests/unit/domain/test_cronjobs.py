"""CronJob schedules, and the events of a CronJob: suspended, resumed, runs missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cortex_events.domain.batch import cronjob_snapshot
from cortex_events.domain.cron import ScheduleError, parse_schedule
from cortex_events.domain.cronjobs import cronjob_events, missed_runs
from cortex_events.domain.model import EventType
from tests.support.kinds import CREATED, cronjob


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("*/15 9-17 * * MON-FRI", datetime(2026, 3, 6, 17, 50, tzinfo=UTC), at(9, 0, 9)),
        ("0 0 1 * *", at(10), datetime(2026, 4, 1, tzinfo=UTC)),
        ("@hourly", at(10, 5), at(11)),
        ("30 2 * * 7", at(10), datetime(2026, 3, 8, 2, 30, tzinfo=UTC)),
        ("0 12 13 * FRI", at(10), datetime(2026, 3, 6, 12, tzinfo=UTC)),  # either day field
        ("5/20 * * * *", at(10), at(10, 5)),
    ],
)
def test_a_schedule_gives_its_next_run(schedule: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(schedule).next_after(after) == expected


def test_a_time_zone_moves_the_runs() -> None:
    berlin = parse_schedule("0 2 * * *", "Europe/Berlin")
    assert berlin.next_after(at(0)) == at(1)  # 02:00 in Berlin is 01:00 UTC in March


@pytest.mark.parametrize("schedule", ["* * * *", "61 * * * *", "* * * * MOO", "*/0 * * * *"])
def test_a_schedule_that_cannot_be_read_says_so(schedule: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(schedule)


def test_suspending_and_resuming_are_events_at_the_time_the_field_was_written() -> None:
    running = cronjob_snapshot(cronjob(last=at(2)))
    suspended = cronjob_snapshot(cronjob(suspend=True, generation=2, suspended_at=at(9)))
    (event,) = cronjob_events(running, suspended, now=at(9, 1))
    assert event.type is EventType.CRONJOB_SCHEDULE
    assert event.key == "cronjob/cj-1/suspended/2"
    assert event.title == "CronJob nightly suspended"
    assert event.timestamp == at(9)
    resumed = cronjob_snapshot(cronjob(generation=3, suspended_at=at(11), last=at(2)))
    (event,) = cronjob_events(suspended, resumed, now=at(11, 1))
    assert (event.key, event.title) == ("cronjob/cj-1/resumed/3", "CronJob nightly resumed")
    # Seen again as it is, or first seen after a restart: no transition, no event.
    assert cronjob_events(None, resumed, now=at(11, 1)) == []
    assert cronjob_events(resumed, resumed, now=at(11, 1)) == []


def test_runs_overdue_by_more_than_the_grace_are_one_missed_event_that_grows() -> None:
    hourly = cronjob(schedule="0 * * * *", last=at(10), created=CREATED - timedelta(days=1))
    snapshot = cronjob_snapshot(hourly)
    assert cronjob_events(None, snapshot, now=at(11, 0)) == []  # due, not yet late
    (missed,) = cronjob_events(None, snapshot, now=at(11, 2))
    assert missed.key == f"cronjob/cj-1/missed/{int(at(11).timestamp())}"
    assert missed.updatable
    assert missed.title == "CronJob nightly missed 1 scheduled run"
    assert missed.timestamp == at(11)
    (later,) = cronjob_events(None, snapshot, now=at(13, 30))
    assert later.key == missed.key
    assert later.title == "CronJob nightly missed 3 scheduled runs"
    assert later.details["lastMissed"] == "2026-03-01T13:00:00Z"


def test_the_starting_deadline_is_the_grace() -> None:
    late = cronjob_snapshot(cronjob(schedule="0 * * * *", last=at(10), deadline=600))
    assert missed_runs(None, late, now=at(11, 9)) == []
    assert missed_runs(None, late, now=at(11, 11)) == [at(11)]


def test_runs_a_late_start_skipped_are_missed() -> None:
    # The controller was down: when it is back it starts only the latest run.
    before = cronjob_snapshot(cronjob(schedule="*/10 * * * *", last=at(10)))
    after = cronjob_snapshot(cronjob(schedule="*/10 * * * *", last=at(10, 40)))
    (missed,) = cronjob_events(before, after, now=at(10, 41))
    assert missed.details["missedRuns"] == 3
    assert (missed.details["firstMissed"], missed.details["lastMissed"]) == (
        "2026-03-01T10:10:00Z",
        "2026-03-01T10:30:00Z",
    )


def test_runs_skipped_while_suspended_are_not_missed() -> None:
    suspended = cronjob_snapshot(cronjob(schedule="0 * * * *", last=at(2), suspend=True))
    assert missed_runs(None, suspended, now=at(9)) == []
    resumed = cronjob_snapshot(cronjob(schedule="0 * * * *", last=at(2), suspended_at=at(8, 30)))
    assert missed_runs(None, resumed, now=at(9, 5)) == [at(9)]
