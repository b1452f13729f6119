"""CronJob schedules: the standard five-field cron format as the CronJob controller reads it.

Fields are minute, hour, day of month, month and day of week, each ``*``, ``?``, a number or
name (``JAN``, ``MON``), a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n``, or a list of
those; ``@yearly``, ``@monthly``, ``@weekly``, ``@daily``, ``@hourly`` (and their aliases) and
``@every <duration>`` too. As in the controller's cron library, when both day fields are
restricted a day matches either one. Times are in ``spec.timeZone`` (UTC when unset or unknown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cortex_events.domain.durations import parse_duration

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_EVERY = re.compile(r"^@every\s+((?:\d+(?:\.\d+)?(?:h|m|s|ms))+)$")
SEARCH_YEARS = 5


class ScheduleError(ValueError):
    """The schedule cannot be read."""


@dataclass(frozen=True)
class _Field:
    values: frozenset[int]
    star: bool


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; `next_after` gives its runs."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: _Field = _Field(frozenset(), True)
    months: frozenset[int] = frozenset()
    weekdays: _Field = _Field(frozenset(), True)
    zone: tzinfo = UTC
    every: timedelta | None = None

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run strictly after ``moment`` (None if there is none within years, or
        before the end of the calendar)."""
        try:
            return self._next_after(moment)
        except OverflowError:  # past the year 9999
            return None

    def _next_after(self, moment: datetime) -> datetime | None:
        if self.every is not None:
            step = max(self.every, timedelta(seconds=1))
            # As the cron library does: the next run is the moment plus the interval, to the
            # second.
            return (moment + step).replace(microsecond=0)
        local = moment.astimezone(self.zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = local + timedelta(days=366 * SEARCH_YEARS)
        while local < limit:
            if local.month not in self.months:
                local = _next_month(local)
            elif not self._day_matches(local):
                local = (local + timedelta(days=1)).replace(hour=0, minute=0)
            elif local.hour not in self.hours:
                local = (local + timedelta(hours=1)).replace(minute=0)
            elif local.minute not in self.minutes:
                local = local + timedelta(minutes=1)
            else:
                return local.astimezone(UTC)
        return None

    def _day_matches(self, local: datetime) -> bool:
        day = local.day in self.days.values
        weekday = (local.isoweekday() % 7) in self.weekdays.values
        if self.days.star or self.weekdays.star:
            return day and weekday
        return day or weekday

    def runs(self, after: datetime, until: datetime, limit: int = 100) -> list[datetime]:
        """The runs in ``(after, until]``, at most ``limit`` of them (the earliest)."""
        found: list[datetime] = []
        moment = self.next_after(after)
        while moment is not None and moment <= until and len(found) < limit:
            found.append(moment)
            moment = self.next_after(moment)
        return found


def _next_month(local: datetime) -> datetime:
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local.replace(year=year, month=month, day=1, hour=0, minute=0)


def _number(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    # ASCII digits only ('²' is a digit to str.isdigit), and few: no field goes past 59.
    if not (text.isascii() and text.isdigit()) or len(text) > 4:
        raise ScheduleError(f"{text[:20]!r} is not a number")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> _Field:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, {}) if step_text else 1
        if step < 1:
            raise ScheduleError(f"step {step_text!r} must be at least 1")
        if span in ("*", "?"):
            start, end = low, high
            star = star or not step_text or step == 1
        else:
            first, dash, last = span.partition("-")
            start = _number(first, names or {})
            end = _number(last, names or {}) if dash else (high if step_text else start)
        if not low <= start <= end <= high:
            raise ScheduleError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if names is DAYS:
        values = {value % 7 for value in values}  # day of week 7 is Sunday too
    return _Field(frozenset(values), star)


def _zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a name no file can have
        return UTC


def parse_schedule(text: str, time_zone: str | None = None) -> Schedule:
    """Read a CronJob's ``spec.schedule``; raises `ScheduleError` when it cannot."""
    expression = " ".join(text.split())
    every = _EVERY.match(expression)
    if every:
        try:
            interval = parse_duration(every.group(1), maximum=timedelta(days=366 * SEARCH_YEARS))
        except ValueError as error:
            raise ScheduleError(str(error)) from None
        return Schedule(every=interval, zone=_zone(time_zone))
    expression = MACROS.get(expression.lower(), expression)
    parts = expression.split(" ")
    if len(parts) != 5:
        raise ScheduleError(f"expected 5 fields, got {len(parts)}")
    minute, hour, day, month, weekday = parts
    return Schedule(
        minutes=_field(minute, 0, 59).values,
        hours=_field(hour, 0, 23).values,
        days=_field(day, 1, 31),
        months=_field(month, 1, 12, MONTHS).values,
        weekdays=_field(weekday, 0, 7, DAYS),
        zone=_zone(time_zone),
    )
