"""CronJob rules: suspended, resumed, and runs missed (``CRONJOB_SCHEDULE`` events).

A change of ``spec.suspend`` is an event (``cronjob/<uid>/suspended/<generation>`` or
``resumed/<generation>``), at the time the field was written. A run is missed when it has not
started within ``startingDeadlineSeconds`` of its scheduled time (a minute when that is unset):
the controller was down or late, or ``concurrencyPolicy: Forbid`` held it back behind a running
Job. The runs missed since the last one that started are one event, keyed by the first of them
(``cronjob/<uid>/missed/<time>``) and updated in place as more are missed. Runs a suspension
skipped are not missed. The Jobs a CronJob starts are `cortex_events.domain.jobs`'s.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from cortex_events.domain.batch import CronJobSnapshot
from cortex_events.domain.cron import Schedule, ScheduleError, parse_schedule
from cortex_events.domain.intents import EventIntent, format_duration, iso, utc
from cortex_events.domain.keys import missed_runs_key, suspension_key
from cortex_events.domain.model import EventType

DEFAULT_GRACE = timedelta(seconds=60)
MISSED_LIMIT = 100


@functools.lru_cache(maxsize=1024)
def _schedule(text: str, zone: str | None) -> Schedule | None:
    try:
        return parse_schedule(text, zone)
    except ScheduleError:
        return None


def grace(cronjob: CronJobSnapshot) -> timedelta:
    """How late a run may start before it counts as missed."""
    if cronjob.starting_deadline is not None:
        return timedelta(seconds=max(cronjob.starting_deadline, 0))
    return DEFAULT_GRACE


def _resumed_at(cronjob: CronJobSnapshot) -> datetime | None:
    writer = cronjob.suspend_writer
    return writer.at if writer is not None and not cronjob.suspended else None


def missed_runs(
    prev: CronJobSnapshot | None, new: CronJobSnapshot, *, now: datetime
) -> list[datetime]:
    """The runs missed since the last one that started: those the last start skipped (seen
    as ``lastScheduleTime`` moving past them), else those overdue by now."""
    schedule = _schedule(new.schedule, new.time_zone)
    if schedule is None or new.suspended or new.deleted_at is not None:
        return []
    resumed = _resumed_at(new)
    if (
        prev is not None
        and prev.ref.uid == new.ref.uid
        and prev.last_scheduled is not None
        and new.last_scheduled is not None
        and new.last_scheduled > prev.last_scheduled
    ):
        since = max(prev.last_scheduled, resumed or prev.last_scheduled)
        runs = schedule.runs(since, new.last_scheduled, MISSED_LIMIT + 1)
        return [run for run in runs if run < new.last_scheduled][:MISSED_LIMIT]
    since = new.last_scheduled or new.created
    if resumed is not None and resumed > since:
        since = resumed
    return schedule.runs(utc(since), utc(now) - grace(new), MISSED_LIMIT)


def _suspension(prev: CronJobSnapshot, new: CronJobSnapshot, now: datetime) -> EventIntent:
    change = "suspended" if new.suspended else "resumed"
    writer = new.suspend_writer
    at = writer.at if writer is not None and writer.at is not None else now
    what = "no longer starts Jobs" if new.suspended else "starts Jobs again"
    return EventIntent(
        key=suspension_key(new.ref.uid, new.suspended, new.generation),
        type=EventType.CRONJOB_SCHEDULE,
        subject=new.ref,
        title=f"CronJob {new.ref.name} {change}",
        description=f"{new.ref.namespace}/{new.ref.name} ({new.schedule}) {what}",
        timestamp=utc(at),
        details={"change": change, "schedule": new.schedule, "suspended": new.suspended},
    )


def _missed(new: CronJobSnapshot, runs: list[datetime]) -> EventIntent:
    count = f"{len(runs)}{'+' if len(runs) >= MISSED_LIMIT else ''}"
    plural = "run" if len(runs) == 1 else "runs"
    late = format_duration(grace(new).total_seconds())
    last = f"; its last run started for {iso(new.last_scheduled)}" if new.last_scheduled else ""
    return EventIntent(
        key=missed_runs_key(new.ref.uid, runs[0]),
        type=EventType.CRONJOB_SCHEDULE,
        subject=new.ref,
        title=f"CronJob {new.ref.name} missed {count} scheduled {plural}",
        description=f"{new.ref.namespace}/{new.ref.name} ({new.schedule}) did not start the "
        f"{plural} due from {iso(runs[0])} within {late}{last}",
        timestamp=runs[0],
        details={
            "change": "missed",
            "schedule": new.schedule,
            "missedRuns": len(runs),
            "firstMissed": iso(runs[0]),
            "lastMissed": iso(runs[-1]),
            "lastScheduleTime": iso(new.last_scheduled),
        },
        updatable=True,
    )


def cronjob_events(
    prev: CronJobSnapshot | None, new: CronJobSnapshot, *, now: datetime
) -> list[EventIntent]:
    """Every event the change from ``prev`` to ``new`` implies, at ``now``: a suspension or
    resumption seen happening, and the runs missed."""
    events: list[EventIntent] = []
    if prev is not None and prev.ref.uid == new.ref.uid and prev.suspended != new.suspended:
        events.append(_suspension(prev, new, now))
    runs = missed_runs(prev, new, now=now)
    if runs:
        events.append(_missed(new, runs))
    return events
