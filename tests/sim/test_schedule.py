"""The simulated CronJob controller reads schedules with code of its own; where it and the
operator's reader (`cortex_events.domain.cron`) disagree, one of them has a bug."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cortex_events.domain.cron import parse_schedule
from cortex_events_sim.cluster.schedule import BadSchedule, latest_due

T0 = datetime(2026, 3, 2, 9, 30, 20, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("schedule", "since", "expected"),
    [
        ("* * * * *", T0 - timedelta(minutes=5), T0.replace(second=0)),
        ("*/15 * * * *", T0 - timedelta(hours=1), T0.replace(minute=30, second=0)),
        ("0 9 * * MON-FRI", T0 - timedelta(days=1), T0.replace(minute=0, second=0)),
        ("0 9 * * SAT,SUN", T0 - timedelta(days=1), None),
        ("0 9 * * 0", T0 - timedelta(days=3), datetime(2026, 3, 1, 9, tzinfo=UTC)),
        ("0 9 * * 7", T0 - timedelta(days=3), datetime(2026, 3, 1, 9, tzinfo=UTC)),
        # Both day fields restricted: either one matches (the 1st, and Mondays).
        ("0 0 1 * MON", T0 - timedelta(days=3), datetime(2026, 3, 2, tzinfo=UTC)),
        # A step restricts a field: the 2nd matches although Monday is not an even weekday.
        ("0 0 2 * */2", T0 - timedelta(days=1), datetime(2026, 3, 2, tzinfo=UTC)),
        ("0 0 2 * *", T0 - timedelta(days=1), datetime(2026, 3, 2, tzinfo=UTC)),
        ("@hourly", T0 - timedelta(hours=2), T0.replace(minute=0, second=0)),
        ("@every 10m", T0 - timedelta(minutes=25), T0 - timedelta(minutes=5)),
        ("@every 10m", T0 - timedelta(minutes=5), None),
        ("31 * * * *", T0 - timedelta(seconds=30), None),  # nothing due since
    ],
)
def test_the_latest_run_due_since_the_last(
    schedule: str, since: datetime, expected: datetime | None
) -> None:
    assert latest_due(schedule, since, T0) == expected


def test_a_time_zone_moves_the_runs() -> None:
    # 09:00 in New York is 14:00 UTC on 2 March 2026 (daylight time begins on 8 March).
    found = latest_due("0 9 * * *", T0 - timedelta(days=1), T0 + timedelta(hours=5),
                       "America/New_York")  # fmt: skip
    assert found == datetime(2026, 3, 2, 14, tzinfo=UTC)


@pytest.mark.parametrize("schedule", ["", "* * * *", "61 * * * *", "*/0 * * * *", "x * * * *"])
def test_a_schedule_it_cannot_read_starts_nothing(schedule: str) -> None:
    with pytest.raises(BadSchedule):
        latest_due(schedule, T0 - timedelta(hours=1), T0)


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    single = number.map(str)
    span = st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}")
    step = st.tuples(st.sampled_from(["*", *map(str, range(low, high + 1))]),
                     st.integers(1, 7)).map(lambda p: f"{p[0]}/{p[1]}")  # fmt: skip
    part = st.one_of(single, span, step)
    return st.one_of(st.just("*"), st.lists(part, min_size=1, max_size=3).map(",".join))


SCHEDULES = st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6))


@settings(max_examples=100, deadline=None)
@given(fields=SCHEDULES, hours_back=st.integers(1, 72))
def test_it_agrees_with_the_operators_reader_on_every_schedule(
    fields: tuple[str, ...], hours_back: int
) -> None:
    schedule = " ".join(fields)
    since = T0 - timedelta(hours=hours_back)
    runs = parse_schedule(schedule).runs(since, T0, limit=100_000)
    assert latest_due(schedule, since, T0) == (runs[-1] if runs else None), schedule
