"""Job states -> one run event, started, then completed or failed with why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cortex_events.domain.batch import job_snapshot
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.jobs import job_events
from cortex_events.domain.model import EventType, PodSnapshot
from cortex_events.domain.snapshots import pod_snapshot
from tests.support.kinds import CREATED, job, job_pod


def run_of(body: dict[str, Any], failed_pod: PodSnapshot | None = None) -> EventIntent:
    (event,) = job_events(job_snapshot(body), failed_pod=failed_pod)
    return event


def test_a_started_job_is_one_updatable_run_event_on_its_start() -> None:
    event = run_of(job())
    assert event.key == "job/job-1/run"
    assert event.type is EventType.JOB_RUN
    assert event.updatable
    assert event.title == "Job nightly-29000000 started"
    assert event.description == "Running busybox:1.36 (a run of CronJob nightly)"
    assert event.timestamp == CREATED
    assert event.details["result"] == "InProgress"


def test_a_completed_job_keeps_its_key_and_says_how_long_it_ran() -> None:
    event = run_of(job(ended=("Complete", CREATED + timedelta(seconds=75), None)))
    assert event.key == "job/job-1/run"
    assert event.title == "Job nightly-29000000 completed in 1m15s"
    assert event.details["result"] == "Succeeded"
    assert event.details["durationSeconds"] == 75


def test_a_failed_job_says_why_and_why_its_pod_failed() -> None:
    ended = ("Failed", CREATED + timedelta(seconds=3), "BackoffLimitExceeded")
    pod = pod_snapshot(job_pod("nightly-29000000-x", "nightly-29000000", uid="p", phase="Failed",
                               exit_code=1))  # fmt: skip
    event = run_of(job(ended=ended), failed_pod=pod)
    assert event.title == "Job nightly-29000000 failed after 3s: BackoffLimitExceeded"
    assert event.description == (
        "BackoffLimitExceeded: Job has reached the specified backoff limit (a run of CronJob "
        "nightly); pod nightly-29000000-x: container app exited with code 1 (Error)"
    )
    assert event.details["podFailure"] == "container app exited with code 1 (Error)"
    assert event.details["result"] == "Failed"
