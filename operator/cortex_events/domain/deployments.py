"""Deployment lifecycle rules: creation, rollouts with result and duration, scale, deletion.

Level-based like the Pod rules (`cortex_events.domain.pods`). ``prev`` matters for a scale only
(``spec.replicas`` differing from the previous state, or from ``recorded_replicas`` after a
restart). A rollout is described from its own revision's ReplicaSet and from the status once it
reports on that revision, so the order in which the deployment controller writes spec,
ReplicaSet, annotation and status cannot make one revision's event describe another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cortex_events.domain.changes import ChangeDetails, change_source, with_change
from cortex_events.domain.intents import (
    EventIntent,
    clip,
    format_duration,
    images_text,
    iso,
    utc,
)
from cortex_events.domain.keys import rollout_key
from cortex_events.domain.lifecycle import lifecycle_event, replicas_summary
from cortex_events.domain.model import (
    DeploymentSnapshot,
    EventType,
    ReplicaSetSnapshot,
    WorkloadRef,
)
from cortex_events.domain.scaling import scale_event, scale_of

COMPLETE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"

ROLLOUT_IN_PROGRESS = "InProgress"
ROLLOUT_COMPLETED = "Completed"
ROLLOUT_FAILED = "Failed"
ROLLOUT_SUPERSEDED = "Superseded"


CHANGE_UPDATE = "update"
CHANGE_ROLLBACK = "rollback"
CHANGE_RESTART = "restart"

# The Progressing reasons with which the deployment controller reports on the current
# revision. Any other (DeploymentPaused, DeploymentResumed, ReplicaSetCreateError, none at all)
# says nothing about how that revision's rollout is going.
REPORTING_REASONS = frozenset(
    {
        "NewReplicaSetCreated",
        "FoundNewReplicaSet",
        "ReplicaSetUpdated",
        COMPLETE_REASON,
        TIMED_OUT_REASON,
    }
)


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of a Deployment, as its ReplicaSet holds it.

    ``images`` are that ReplicaSet's (a Deployment's own template may already belong to the
    next revision); ``started`` is when the revision began rolling out; ``change`` tells an
    update from a rollback (an earlier ReplicaSet made current again) and a restart (a new
    ReplicaSet that differs from the previous one by ``kubectl rollout restart`` only).
    """

    number: int
    images: tuple[str, ...]
    started: datetime
    change: str = CHANGE_UPDATE
    annotations: Mapping[str, str] = field(default_factory=dict)
    """The ReplicaSet's kept annotations (see `ReplicaSetSnapshot.annotations`)."""
    version: str | None = None
    details: ChangeDetails | None = None
    """Who made this revision and what it changed from the one before, where known."""


def revision_of(
    replicaset: ReplicaSetSnapshot,
    previous: ReplicaSetSnapshot | None,
    *,
    started: datetime | None = None,
) -> Revision | None:
    """The revision ``replicaset`` holds; ``previous`` is the one before it, if still known.

    ``started`` overrides the ReplicaSet's creation as the start: a rollback reuses an old
    ReplicaSet, so its start is when its revision changed.
    """
    if replicaset.revision is None:
        return None
    return Revision(
        number=replicaset.revision,
        images=replicaset.images,
        started=utc(started or replicaset.created),
        change=change_of(replicaset, previous, rollback=replicaset.reused),
        annotations=replicaset.annotations,
        version=replicaset.version,
    )


class Template(Protocol):
    """What tells one revision's pod template from the one before: its images and restart."""

    @property
    def images(self) -> tuple[str, ...]: ...

    @property
    def restarted_at(self) -> str | None: ...


def change_of(revision: Template, previous: Template | None, *, rollback: bool) -> str:
    """A rollback, a restart (a new template that differs from the previous one by
    ``kubectl rollout restart`` only) or an update."""
    if rollback:
        return CHANGE_ROLLBACK
    if (
        previous is not None
        and revision.restarted_at
        and revision.restarted_at != previous.restarted_at
        and previous.images == revision.images
    ):
        return CHANGE_RESTART
    return CHANGE_UPDATE


def deployment_events(
    prev: DeploymentSnapshot | None,
    new: DeploymentSnapshot,
    *,
    now: datetime,
    revisions: Mapping[int, Revision] | None = None,
    reported: DeploymentSnapshot | None = None,
    recorded_replicas: int | None = None,
) -> list[EventIntent]:
    """Every event ``new`` implies: creation, the current rollout (revision 2 and later),
    the end of a rollout a newer revision replaced, a scale, deletion.

    ``revisions``: the Deployment's revisions by number, from its ReplicaSets; a rollout's
    event describes its own revision's images and start, and waits until that ReplicaSet is
    known. ``reported``: the last earlier state whose status reported on its revision (see
    `reports_on_revision`); a rollout still in progress there and replaced since is closed as
    superseded. ``recorded_replicas``: the replica count last recorded for this Deployment,
    used when there is no ``prev`` (after a restart) to notice a scale made meanwhile.
    """
    now = utc(now)
    revisions = revisions or {}
    if prev is not None and prev.ref.uid != new.ref.uid:
        prev = None  # a Deployment recreated under the same name starts afresh
    if reported is not None and reported.ref.uid != new.ref.uid:
        reported = None
    events = [_deployment_created(new)]
    superseded = _superseded(reported, new, revisions)
    if superseded is not None:
        events.append(superseded)
    rollout = _rollout(new, revisions.get(new.revision) if new.revision else None)
    if rollout is not None:
        events.append(rollout)
    scale = scale_of(
        prev.replicas if prev is not None else recorded_replicas,
        new.replicas,
        generation=new.generation,
        writer=new.replicas_writer,
        now=now,
    )
    if scale is not None:
        source = change_source(new.labels, new.annotations)
        events.append(scale_event(EventType.DEPLOYMENT_SCALE, new.ref, scale, source))
    if new.deleted_at is not None:
        events.append(_deployment_deleted(new))
    return events


def _deployment_created(d: DeploymentSnapshot) -> EventIntent:
    description = replicas_summary(d.replicas, d.images)
    return lifecycle_event(
        EventType.DEPLOYMENT_CREATION, d.ref, "created", description, d.created, _facts(d)
    )


def _facts(d: DeploymentSnapshot) -> dict[str, Any]:
    """What a Deployment's creation and deletion say of it: replicas, images, revision, and
    its GitOps source where it tells one."""
    source = change_source(d.labels, d.annotations)
    details = {"replicas": d.replicas, "images": list(d.images), "revision": d.revision}
    return details | ({"changeSource": source} if source else {})


def reports_on_revision(d: DeploymentSnapshot) -> bool:
    """Whether the Deployment's status describes the revision its annotation names.

    The deployment controller writes a change in three steps: the user's spec (generation
    moves on, the revision annotation still names the previous revision), then the new
    ReplicaSet and the annotation, then the status (observedGeneration catches up). Only the
    last state, with a Progressing reason about the rollout, tells how the revision is doing.
    """
    return (
        d.revision is not None
        and d.observed_generation >= d.generation
        and d.progressing_reason in REPORTING_REASONS
    )


def rollout_result(d: DeploymentSnapshot) -> str:
    """``Completed``, ``Failed`` or ``InProgress`` for the Deployment's current revision.

    Completed needs the ``NewReplicaSetAvailable`` condition reported for the current
    generation with every available pod an updated one. (A scale after completion leaves
    the updated count below ``spec.replicas`` for a while; that does not reopen the rollout.)
    """
    current = d.observed_generation >= d.generation
    if d.progressing_reason == TIMED_OUT_REASON and current:
        return ROLLOUT_FAILED
    if (
        d.progressing_reason == COMPLETE_REASON
        and current
        and d.updated_replicas >= d.available_replicas
        and (d.updated_replicas > 0 or d.replicas == 0)
    ):
        return ROLLOUT_COMPLETED
    return ROLLOUT_IN_PROGRESS


def rollout_name(name: str, revision: Revision) -> str:
    images = images_text(revision.images)
    if revision.change == CHANGE_ROLLBACK:
        return f"Rollback of {name} to {images}"
    if revision.change == CHANGE_RESTART:
        return f"Restart of {name} ({images})"
    return f"Rollout of {name} to {images}"


def rollout_intent(
    event_type: EventType,
    ref: WorkloadRef,
    revision: Revision,
    title: str,
    description: str,
    details: dict[str, Any],
) -> EventIntent:
    """One revision's rollout event, for every kind: dated when the revision began, updated in
    place as the rollout goes on, and saying who made the revision and what it changed
    (`with_change`, into ``description`` and ``details``)."""
    description = with_change(details, description, revision.details)
    return EventIntent(
        key=rollout_key(ref.kind, ref.uid, revision.number),
        type=event_type,
        subject=ref,
        title=title,
        description=description,
        timestamp=revision.started,
        details=details,
        updatable=True,
    )


def _rollout_details(revision: Revision, result: str) -> dict[str, Any]:
    return {
        "revision": revision.number,
        "images": list(revision.images),
        "change": revision.change,
        "result": result,
    }


def _rollout(new: DeploymentSnapshot, revision: Revision | None) -> EventIntent | None:
    if revision is None or revision.number < 2 or not reports_on_revision(new):
        return None  # revision 1 is the Deployment's creation
    result = rollout_result(new)
    start = revision.started
    where = f"{new.ref.namespace}/{new.ref.name}"
    what = rollout_name(new.ref.name, revision)
    details = _rollout_details(revision, result)
    if result == ROLLOUT_IN_PROGRESS:
        title = f"{what} started"
        description = f"Revision {revision.number} of {where} is rolling out"
    else:
        # The end is the condition's update time: ``now`` would change the content on every
        # look and replace the event for nothing.
        end = utc(new.progressing_updated) if new.progressing_updated else None
        duration = (end - start).total_seconds() if end is not None and end >= start else None
        took = format_duration(duration) if duration is not None else None
        if duration is not None:
            details["durationSeconds"] = round(duration)
        if end is not None:
            details["finishedAt"] = iso(end)
        if result == ROLLOUT_COMPLETED:
            title = f"{what} completed" + (f" in {took}" if took else "")
            description = f"Revision {revision.number} of {where} is available" + (
                f"; the rollout took {took}" if took else ""
            )
        else:
            message = clip(new.progressing_message or "progress deadline exceeded")
            details["message"] = message
            title = f"{what} failed" + (f" after {took}" if took else "") + f": {message}"
            description = f"Revision {revision.number} of {where} did not progress: {message}"
    return rollout_intent(
        EventType.DEPLOYMENT_ROLLOUT, new.ref, revision, title, description, details
    )


def _superseded(
    reported: DeploymentSnapshot | None,
    new: DeploymentSnapshot,
    revisions: Mapping[int, Revision],
) -> EventIntent | None:
    """The rollout of ``reported``'s revision, closed because a newer revision replaced it
    before it completed.

    Seen only on the transition itself: after a restart there is no earlier state to compare.
    """
    if reported is None or reported.revision is None or new.revision is None:
        return None
    if reported.revision < 2 or new.revision <= reported.revision:
        return None
    if not reports_on_revision(reported) or rollout_result(reported) != ROLLOUT_IN_PROGRESS:
        return None
    revision = revisions.get(reported.revision)
    if revision is None:
        return None
    where = f"{reported.ref.namespace}/{reported.ref.name}"
    details = _rollout_details(revision, ROLLOUT_SUPERSEDED) | {"supersededBy": new.revision}
    description = f"Revision {revision.number} of {where} was replaced before it completed"
    title = f"{rollout_name(reported.ref.name, revision)} superseded by revision {new.revision}"
    return rollout_intent(
        EventType.DEPLOYMENT_ROLLOUT, reported.ref, revision, title, description, details
    )


def _deployment_deleted(d: DeploymentSnapshot) -> EventIntent:
    assert d.deleted_at is not None
    revision = f" (revision {d.revision})" if d.revision is not None else ""
    description = f"Deleted with {replicas_summary(d.replicas, d.images)}{revision}"
    return lifecycle_event(
        EventType.DEPLOYMENT_DELETION, d.ref, "deleted", description, d.deleted_at, _facts(d)
    )
