"""DaemonSet lifecycle rules: creation, rollouts by revision, deletion.

A DaemonSet's status names no revision: its update revision is the newest of its
ControllerRevisions (a rollback raises an older one's number above the others), taken once the
status reports on the current generation and that revision holds the current template (its
images and restart mark: the status may come before the revision's own watch event). The
rollout is complete when every node that should run a pod runs an updated, available one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cortex_events.domain.apps import DaemonSetSnapshot
from cortex_events.domain.changes import change_source
from cortex_events.domain.deployments import ROLLOUT_COMPLETED, ROLLOUT_IN_PROGRESS, Revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.lifecycle import Facts, KindEvents, workload_events
from cortex_events.domain.model import EventType
from cortex_events.domain.revisions import Progress, revision_events

DAEMONSET_EVENTS = KindEvents(
    creation=EventType.DAEMONSET_CREATION,
    rollout=EventType.DAEMONSET_ROLLOUT,
    deletion=EventType.DAEMONSET_DELETION,
)


def daemonset_progress(d: DaemonSetSnapshot) -> Progress:
    done = d.updated >= d.desired and d.available >= d.desired
    return Progress(ROLLOUT_COMPLETED if done else ROLLOUT_IN_PROGRESS, d.updated, d.desired)


def current_rollout(
    d: DaemonSetSnapshot, revisions: Mapping[int, Revision], restarted: Mapping[int, str | None]
) -> tuple[Revision, Progress] | None:
    """The newest revision and its progress; ``restarted``: each revision's restart mark."""
    if d.observed_generation < d.generation or not revisions:
        return None
    newest = revisions[max(revisions)]
    if newest.images != d.images or restarted.get(newest.number) != d.restarted_at:
        return None  # the current template's revision is not known yet
    return newest, daemonset_progress(d)


def daemonset_events(
    d: DaemonSetSnapshot,
    *,
    current: tuple[Revision, Progress] | None,
    reported: tuple[Revision, Progress] | None = None,
    ended: datetime | None = None,
) -> list[EventIntent]:
    """Every event ``d`` implies; ``current`` is its newest revision's rollout
    (`current_rollout`; see `cortex_events.domain.statefulsets.statefulset_events` for the
    others)."""
    # Its creation names its images only: a creation event is sent once, when the DaemonSet is
    # first seen, and that is before its controller has counted the nodes it should run on
    # (its rollout events carry the count).
    facts = Facts(
        d.ref,
        d.created,
        d.deleted_at,
        ", ".join(d.images) or "no container",
        {"images": list(d.images)},
        change_source(d.labels, d.annotations),
    )
    rollouts = revision_events(DAEMONSET_EVENTS.rollout, d.ref, current, reported, ended=ended)
    return workload_events(DAEMONSET_EVENTS, facts, rollouts)
