"""The simulated CronJob controller's own reading of a schedule.

Written apart from the operator's (`cortex_events.domain.cron`) and by another method, so that
the simulated cluster can catch a bug there rather than share it: each of the five fields is
expanded to the set of values it allows, and a minute is due when it is in all of them (the
day of month or the day of week, when both are restricted, as Kubernetes' cron library does).
The controller only needs the latest minute due since the last run, found by walking back from
now one minute at a time, over at most `LOOK_BACK` (a simulated cluster lives for minutes).

Supported: numbers, ``*``, ``?``, ranges, steps, lists, month and day names, the macros
(``@hourly``, ``@daily``, ...) and ``@every <n>s|m|h``. Times are in ``spec.timeZone`` (UTC when
it is unset or unknown).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOOK_BACK = timedelta(days=8)
_MACRO = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {name: n for n, name in enumerate(_MONTHS, 1)} | {n: i for i, n in enumerate(_WEEKDAYS)}
_EVERY = re.compile(r"@every\s+(\d+)(s|m|h)")
_UNIT = {"s": 1, "m": 60, "h": 3600}
# (low, high) of minute, hour, day of month, month, day of week (7 is Sunday too).
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class BadSchedule(ValueError):
    """A schedule this controller cannot read: the CronJob starts nothing."""


def _value(text: str) -> int:
    if text.upper() in _NAMES:
        return _NAMES[text.upper()]
    if not text.isdigit():
        raise BadSchedule(f"not a number: {text!r}")
    return int(text)


def _allowed(field: str, low: int, high: int) -> tuple[set[int], bool]:
    """The values ``field`` allows, and whether it counts as restricted for the day rule: it
    does not where a part is ``*`` or ``?`` with no step above 1 (``*/2`` restricts)."""
    values: set[int] = set()
    unrestricted = False
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = _value(step_text) if step_text else 1
        if step < 1:
            raise BadSchedule(f"a step of {step}")
        if span in ("*", "?"):
            first, last = low, high
            unrestricted = unrestricted or step == 1
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _value(start), _value(end)
        else:
            first = _value(span)
            last = high if step_text else first
        if not low <= first <= last <= high:
            raise BadSchedule(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return values, not unrestricted


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def latest_due(
    schedule: str, since: datetime, now: datetime, time_zone: str | None = None
) -> datetime | None:
    """The latest time after ``since`` and not after ``now`` at which ``schedule`` runs (UTC),
    or None. Raises `BadSchedule`."""
    text = schedule.strip()
    every = _EVERY.fullmatch(text)
    if every:
        period = int(every[1]) * _UNIT[every[2]]
        if period <= 0:
            raise BadSchedule("@every needs a positive period")
        count = int((now - since).total_seconds() // period)
        return since + timedelta(seconds=count * period) if count >= 1 else None
    fields = _MACRO.get(text.lower(), text).split()
    if len(fields) != 5:
        raise BadSchedule(f"{len(fields)} fields, not 5")
    (minutes, _), (hours, _), (days, some_days), (months, _), (weekdays, some_weekdays) = (
        _allowed(field, low, high) for field, (low, high) in zip(fields, _BOUNDS, strict=True)
    )
    if 7 in weekdays:
        weekdays.add(0)
    day_ok: Callable[[datetime], bool]
    if some_days and some_weekdays:
        day_ok = lambda t: t.day in days or t.isoweekday() % 7 in weekdays  # noqa: E731
    else:
        day_ok = lambda t: t.day in days and t.isoweekday() % 7 in weekdays  # noqa: E731
    zone = _zone(time_zone)
    moment = now.astimezone(UTC).replace(second=0, microsecond=0)
    floor = max(since, now - LOOK_BACK)
    while moment > floor:
        local = moment.astimezone(zone)
        if (
            local.minute in minutes
            and local.hour in hours
            and local.month in months
            and day_ok(local)
        ):
            return moment
        moment -= timedelta(minutes=1)
    return None
