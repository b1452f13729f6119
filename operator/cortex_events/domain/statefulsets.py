"""StatefulSet lifecycle rules: creation, rollouts by revision (partitioned ones too), scale,
deletion.

The StatefulSet controller writes a change in steps: the user's spec (generation moves on),
the new ControllerRevision, then the status naming it as ``updateRevision`` (observedGeneration
catches up). A rollout is described only from a status that reports on the current generation,
and from its own revision's ControllerRevision. It is complete when ``currentRevision`` is the
update revision (the controller moves it only once every replica runs it and is ready, and a
later restart of a pod does not move it back); with a partition, it rests as partial once every
pod at or above the partition runs the update revision and every replica is ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cortex_events.domain.apps import ROLLING_UPDATE, StatefulSetSnapshot
from cortex_events.domain.changes import change_source
from cortex_events.domain.deployments import ROLLOUT_COMPLETED, ROLLOUT_IN_PROGRESS, Revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.lifecycle import Facts, KindEvents, replicas_summary, workload_events
from cortex_events.domain.model import EventType
from cortex_events.domain.revisions import ROLLOUT_PARTIAL, Progress, revision_events
from cortex_events.domain.scaling import Scale, ScaleWindow

STATEFULSET_EVENTS = KindEvents(
    creation=EventType.STATEFULSET_CREATION,
    rollout=EventType.STATEFULSET_ROLLOUT,
    deletion=EventType.STATEFULSET_DELETION,
    scale=EventType.STATEFULSET_SCALE,
)


def reports_on_revision(s: StatefulSetSnapshot) -> bool:
    """Whether the status describes the current spec (and so names its update revision)."""
    return s.update_revision is not None and s.observed_generation >= s.generation


def statefulset_progress(s: StatefulSetSnapshot) -> Progress:
    """How the update revision's rollout stands (see the module docstring)."""
    all_ready = s.ready_replicas >= s.replicas
    if s.current_revision == s.update_revision:
        return Progress(ROLLOUT_COMPLETED, s.replicas, s.replicas)
    partition = min(s.partition, s.replicas)
    if (
        s.strategy == ROLLING_UPDATE
        and partition > 0
        and s.updated_replicas >= s.replicas - partition
        and all_ready
    ):
        held = (
            f"pods with an ordinal below {partition} keep the previous revision "
            f"(partition {partition})"
        )
        return Progress(ROLLOUT_PARTIAL, s.updated_replicas, s.replicas, held)
    return Progress(ROLLOUT_IN_PROGRESS, s.updated_replicas, s.replicas)


def current_rollout(
    s: StatefulSetSnapshot, revisions: Mapping[str, Revision]
) -> tuple[Revision, Progress] | None:
    """The update revision and its progress, once the status reports on it and its
    ControllerRevision is known."""
    revision = revisions.get(s.update_revision or "")
    if not reports_on_revision(s) or revision is None:
        return None
    return revision, statefulset_progress(s)


def statefulset_events(
    s: StatefulSetSnapshot,
    *,
    current: tuple[Revision, Progress] | None,
    reported: tuple[Revision, Progress] | None = None,
    ended: datetime | None = None,
    scale: Scale | None = None,
    window: ScaleWindow | None = None,
) -> list[EventIntent]:
    """Every event ``s`` implies. ``current``: its update revision's rollout
    (`current_rollout`); ``reported``: the rollout as last reported, closed as superseded if
    a newer revision replaced it mid-way; ``ended``: when the current rollout reached its
    resting result; ``scale``: a change of its replica count."""
    facts = Facts(
        s.ref,
        s.created,
        s.deleted_at,
        replicas_summary(s.replicas, s.images),
        {"replicas": s.replicas, "images": list(s.images)},
        change_source(s.labels, s.annotations),
    )
    rollouts = revision_events(STATEFULSET_EVENTS.rollout, s.ref, current, reported, ended=ended)
    return workload_events(STATEFULSET_EVENTS, facts, rollouts, scale=scale, window=window)
