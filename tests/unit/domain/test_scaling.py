"""Quiet autoscaling: an autoscaler's scales summarized per window; who takes which event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cortex_events.domain.model import EventType, WorkloadRef
from cortex_events.domain.quiet import Quiet, QuietDefaults, ScaleEvents, most_verbose, wanted
from cortex_events.domain.scaling import (
    Scale,
    add_scale,
    summary_event,
    window_from_details,
    window_start,
)

REF = WorkloadRef("Deployment", "shop", "web", "dep-1")
TEN_MINUTES = timedelta(minutes=10)


def scale(before: int, after: int, minute: int, second: int = 0) -> Scale:
    at = datetime(2026, 3, 1, 12, minute, second, tzinfo=UTC)
    return Scale(before, after, minute, at, autoscaled=True)


def test_windows_are_aligned_so_every_replica_agrees_on_them() -> None:
    moment = datetime(2026, 3, 1, 12, 17, 42, tzinfo=UTC)
    assert window_start(moment, TEN_MINUTES) == datetime(2026, 3, 1, 12, 10, tzinfo=UTC)


def test_a_window_keeps_the_lowest_highest_and_last_counts() -> None:
    window = None
    for step in (scale(2, 4, 11), scale(4, 7, 12), scale(7, 3, 14), scale(3, 5, 15)):
        window = add_scale(window, step, TEN_MINUTES)
    assert window is not None
    assert (window.before, window.low, window.high, window.last, window.scales) == (2, 2, 7, 5, 4)
    event = summary_event(EventType.DEPLOYMENT_SCALE, REF, window)
    assert event.key == f"deployment/dep-1/autoscale/{int(window.start.timestamp())}"
    assert event.updatable
    assert event.quiet is Quiet.AUTOSCALE_SUMMARY
    assert event.title == "Autoscaled web 4 times: 2 to 7 replicas, now 5"
    assert event.timestamp == datetime(2026, 3, 1, 12, 11, tzinfo=UTC)


def test_the_same_scale_seen_again_is_not_counted_twice() -> None:
    window = add_scale(None, scale(2, 4, 11), TEN_MINUTES)
    assert add_scale(window, scale(2, 4, 11), TEN_MINUTES) == window


def test_a_scale_in_the_next_window_starts_a_new_summary() -> None:
    first = add_scale(None, scale(2, 4, 11), TEN_MINUTES)
    second = add_scale(first, scale(4, 6, 21), TEN_MINUTES)
    assert second.start == datetime(2026, 3, 1, 12, 20, tzinfo=UTC)
    assert (second.before, second.scales) == (4, 1)


def test_a_recorded_summary_gives_its_window_back_after_a_restart() -> None:
    window = add_scale(add_scale(None, scale(2, 4, 11), TEN_MINUTES), scale(4, 1, 13), TEN_MINUTES)
    again = window_from_details(window.details(), window.first_at)
    assert again == window


@pytest.mark.parametrize(
    ("quiet", "mode", "taken"),
    [
        (Quiet.AUTOSCALED, ScaleEvents.ALL, True),
        (Quiet.AUTOSCALED, ScaleEvents.MANUAL, False),
        (Quiet.AUTOSCALED, ScaleEvents.SUMMARY, False),
        (Quiet.AUTOSCALE_SUMMARY, ScaleEvents.ALL, False),
        (Quiet.AUTOSCALE_SUMMARY, ScaleEvents.MANUAL, False),
        (Quiet.AUTOSCALE_SUMMARY, ScaleEvents.SUMMARY, True),
        (None, ScaleEvents.MANUAL, True),
    ],
)
def test_each_scale_events_setting_takes_its_events(
    quiet: Quiet | None, mode: ScaleEvents, taken: bool
) -> None:
    defaults = QuietDefaults()
    assert wanted(quiet, scale_events=mode, job_pod_events=None, defaults=defaults) is taken


def test_job_pod_events_follow_the_entity_else_the_default() -> None:
    off, on = QuietDefaults(job_pod_events=False), QuietDefaults(job_pod_events=True)
    assert not wanted(Quiet.JOB_POD, scale_events=None, job_pod_events=None, defaults=off)
    assert wanted(Quiet.JOB_POD, scale_events=None, job_pod_events=None, defaults=on)
    assert wanted(Quiet.JOB_POD, scale_events=None, job_pod_events=True, defaults=off)
    assert not wanted(Quiet.JOB_POD, scale_events=None, job_pod_events=False, defaults=on)


def test_several_entities_on_one_tag_record_what_the_most_verbose_asks() -> None:
    assert most_verbose([ScaleEvents.MANUAL, ScaleEvents.SUMMARY]) is ScaleEvents.SUMMARY
    assert most_verbose([ScaleEvents.SUMMARY, ScaleEvents.ALL]) is ScaleEvents.ALL
    assert most_verbose([]) is None
