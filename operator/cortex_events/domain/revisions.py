"""Rollouts of workloads whose revisions are ControllerRevisions: StatefulSets and DaemonSets.

A rollout is one revision's event (key ``<kind>/<uid>/rollout/<revision>``), created when the
workload's status first reports on that revision and updated in place as it goes on: in
progress, completed, partial (a StatefulSet partition holds part of it back), or superseded by a
newer revision before it ended. It describes its own revision's ControllerRevision (images,
start), so the order in which the controller writes spec, revision and status cannot make one
revision's event describe another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cortex_events.domain.apps import ControllerRevisionSnapshot
from cortex_events.domain.deployments import (
    ROLLOUT_COMPLETED,
    ROLLOUT_IN_PROGRESS,
    ROLLOUT_SUPERSEDED,
    Revision,
    change_of,
    rollout_intent,
    rollout_name,
)
from cortex_events.domain.intents import EventIntent, format_duration, iso, utc
from cortex_events.domain.model import EventType, WorkloadRef

ROLLOUT_PARTIAL = "Partial"
RESTING_RESULTS = frozenset({ROLLOUT_COMPLETED, ROLLOUT_PARTIAL})


@dataclass(frozen=True, slots=True)
class Progress:
    """How a revision's rollout stands: ``updated`` of ``desired`` pods run it; ``held`` says
    what keeps the rest on an earlier revision (a partition), for a partial rollout."""

    result: str
    updated: int
    desired: int
    held: str | None = None


def controller_revision(
    cr: ControllerRevisionSnapshot,
    previous: ControllerRevisionSnapshot | None,
    *,
    started: datetime | None = None,
) -> Revision:
    """The revision ``cr`` holds; ``previous`` is the one numbered before it, if known;
    ``started`` (when its number was raised, if seen) marks a rollback to an earlier template."""
    change = change_of(cr, previous, rollback=started is not None)
    return Revision(cr.revision, cr.images, utc(started or cr.created), change)


def _details(revision: Revision, progress: Progress, result: str) -> dict[str, Any]:
    return {
        "revision": revision.number,
        "images": list(revision.images),
        "change": revision.change,
        "result": result,
        "updatedReplicas": progress.updated,
        "replicas": progress.desired,
    }


def record_duration(
    details: dict[str, Any], started: datetime, ended: datetime | None
) -> str | None:
    """Put a rollout's ``durationSeconds`` and ``finishedAt`` into ``details`` and return the
    duration as text, when it ended (not before it started)."""
    if ended is None or ended < started:
        return None
    duration = (utc(ended) - started).total_seconds()
    details["durationSeconds"] = round(duration)
    details["finishedAt"] = iso(ended)
    return format_duration(duration)


def rollout_event(
    event_type: EventType,
    ref: WorkloadRef,
    revision: Revision,
    progress: Progress,
    *,
    ended: datetime | None,
) -> EventIntent:
    """The rollout event of ``revision`` as ``progress`` stands; ``ended`` is when it reached
    a resting result (completed or partial), when known."""
    where = f"{ref.namespace}/{ref.name}"
    what = rollout_name(ref.name, revision)
    details = _details(revision, progress, progress.result)
    counts = f"{progress.updated} of {progress.desired}"
    took = (
        record_duration(details, revision.started, ended)
        if progress.result in RESTING_RESULTS
        else None
    )
    if progress.result == ROLLOUT_COMPLETED:
        title = f"{what} completed" + (f" in {took}" if took else "")
        description = f"Revision {revision.number} of {where} runs on {counts} pods" + (
            f"; the rollout took {took}" if took else ""
        )
    elif progress.result == ROLLOUT_PARTIAL:
        title = f"{what} partial: {counts} pods" + (f" after {took}" if took else "")
        description = (
            f"Revision {revision.number} of {where} runs on {counts} pods; {progress.held}"
        )
        details["heldBack"] = progress.held
    else:
        title = f"{what} started"
        description = f"Revision {revision.number} of {where} is rolling out ({counts} pods)"
    return rollout_intent(event_type, ref, revision, title, description, details)


def superseded_event(
    event_type: EventType,
    ref: WorkloadRef,
    revision: Revision,
    progress: Progress,
    by: int,
) -> EventIntent:
    """``revision``'s rollout, closed because revision ``by`` replaced it before it ended."""
    details = _details(revision, progress, ROLLOUT_SUPERSEDED) | {"supersededBy": by}
    description = (
        f"Revision {revision.number} of {ref.namespace}/{ref.name} was replaced "
        f"before it completed ({progress.updated} of {progress.desired} pods had it)"
    )
    title = f"{rollout_name(ref.name, revision)} superseded by revision {by}"
    return rollout_intent(event_type, ref, revision, title, description, details)


def revision_events(
    event_type: EventType,
    ref: WorkloadRef,
    current: tuple[Revision, Progress] | None,
    reported: tuple[Revision, Progress] | None,
    *,
    ended: datetime | None,
) -> list[EventIntent]:
    """The rollout events of a workload: the current revision's (from revision 2: revision 1
    is the workload's creation), and the one ``reported`` earlier if a newer one replaced it
    while it was still in progress."""
    events: list[EventIntent] = []
    if (
        reported is not None
        and current is not None
        and reported[0].number >= 2
        and current[0].number > reported[0].number
        and reported[1].result == ROLLOUT_IN_PROGRESS
    ):
        events.append(superseded_event(event_type, ref, *reported, current[0].number))
    if current is not None and current[0].number >= 2:
        events.append(rollout_event(event_type, ref, *current, ended=ended))
    return events
