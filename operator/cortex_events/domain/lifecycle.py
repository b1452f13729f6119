"""Lifecycle rules: which events a workload's state implies.

The rules are level-based: :func:`pod_events` and :func:`deployment_events` return every
event the *current* state implies, not only what changed since ``prev``. Each event carries a
deterministic ``key``; the delivery layer creates an event for an unseen key, replaces
(PUT) an ``updatable`` one whose content changed, and otherwise does nothing. So the same
object state yields the same keys whichever replica or restart of the operator sees it.

``prev`` matters for a Deployment scale only (``spec.replicas`` differing from the previous
state, or from ``recorded_replicas`` after a restart). A rollout is described from its own
revision's ReplicaSet and from the status once it reports on that revision, so the order in
which the deployment controller writes spec, ReplicaSet, annotation and status cannot make one
revision's event describe another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cortex_events.domain.model import (
    ContainerState,
    DeploymentSnapshot,
    EventType,
    PodSnapshot,
    ReplicaSetSnapshot,
    WorkloadRef,
)

IMAGE_PULL_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
)
CRASH_LOOP_REASON = "CrashLoopBackOff"
OOM_REASON = "OOMKilled"
EVICTED_REASON = "Evicted"
COMPLETE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"

ROLLOUT_IN_PROGRESS = "InProgress"
ROLLOUT_COMPLETED = "Completed"
ROLLOUT_FAILED = "Failed"
ROLLOUT_SUPERSEDED = "Superseded"

MESSAGE_LIMIT = 300
"""Kubernetes messages (pull errors in particular) can be long; titles and descriptions
carry at most this many characters of one."""


@dataclass(frozen=True, slots=True)
class EventIntent:
    """One event the state implies, before it is addressed to a Cortex entity.

    ``key`` is the eventKey (e.g. ``pod/<uid>/created``); ``details`` are the type-specific
    customData (JSON values only); ``updatable`` events are replaced in place (same uuid)
    when their title, description or details change.
    """

    key: str
    type: EventType
    subject: WorkloadRef
    title: str
    description: str
    timestamp: datetime
    details: Mapping[str, Any]
    updatable: bool = False

    def __hash__(self) -> int:
        return hash((self.key, self.title, self.description, self.timestamp))


# --- text helpers --------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def short_image(image: str) -> str:
    """An image as a title shows it: without registry and path, digests cut to 12 digits.

    ``registry.example.com/team/web:1.26`` -> ``web:1.26``.
    """
    name, at, digest = image.partition("@")
    name = name.rsplit("/", 1)[-1]
    if at:
        algorithm, _, value = digest.partition(":")
        return f"{name}@{algorithm}:{value[:12]}" if value else f"{name}@{digest}"
    return name


def format_duration(seconds: float) -> str:
    """``42`` -> ``42s``, ``600`` -> ``10m``, ``90`` -> ``1m30s``, ``7500`` -> ``2h5m``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def _replicas(count: int) -> str:
    return f"{count} replica" if count == 1 else f"{count} replicas"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _images_text(images: tuple[str, ...]) -> str:
    return ", ".join(short_image(i) for i in images) if images else "a new template"


def _iso(moment: datetime | None) -> str | None:
    return _utc(moment).isoformat().replace("+00:00", "Z") if moment else None


# --- pods ----------------------------------------------------------------------------------


def pod_events(prev: PodSnapshot | None, new: PodSnapshot, *, now: datetime) -> list[EventIntent]:
    """Every event ``new`` implies: its creation, each failure it shows, its deletion.

    ``prev`` is accepted for symmetry with :func:`deployment_events`; a Pod's events depend
    on its current state only.
    """
    del prev
    now = _utc(now)
    events = [_pod_created(new)]
    events.extend(_pod_failures(new, now))
    if new.deleted_at is not None:
        events.append(_pod_deleted(new))
    return events


def _pod_state_text(pod: PodSnapshot) -> str:
    node = pod.node_name
    on = f" on {node}" if node else ""
    if pod.reason == EVICTED_REASON:
        detail = f": {_clip(pod.message)}" if pod.message else ""
        return f"Evicted{' from ' + node if node else ''}{detail}"
    if pod.phase == "Pending":
        return f"Pending{on}" if node else "Pending, not yet scheduled"
    if pod.phase == "Running":
        return f"Running and ready{on}" if pod.ready else f"Running{on}, not ready"
    if pod.phase == "Succeeded":
        return f"Succeeded{on}"
    if pod.phase == "Failed":
        return f"Failed{on}: {_failure_summary(pod)}"
    return f"{pod.phase}{on}"


def _failure_summary(pod: PodSnapshot) -> str:
    if pod.reason or pod.message:
        return _clip(": ".join(p for p in (pod.reason, pod.message) if p))
    for container in pod.containers:
        if container.terminated_exit_code:
            reason = container.terminated_reason or "Error"
            return (
                f"container {container.name} exited with code "
                f"{container.terminated_exit_code} ({reason})"
            )
    return "a container failed"


def _pod_details(pod: PodSnapshot) -> dict[str, Any]:
    details: dict[str, Any] = {
        "phase": pod.phase,
        "ready": pod.ready,
        "node": pod.node_name,
        "images": list(pod.images),
    }
    if pod.owner_replicaset:
        details["replicaSet"] = pod.owner_replicaset
    if pod.reason:
        details["reason"] = pod.reason
    return details


def _pod_created(pod: PodSnapshot) -> EventIntent:
    return EventIntent(
        key=f"pod/{pod.ref.uid}/created",
        type=EventType.POD_CREATION,
        subject=pod.ref,
        title=f"Pod {pod.ref.name} created",
        description=_pod_state_text(pod),
        timestamp=_utc(pod.created),
        details=_pod_details(pod),
        updatable=True,
    )


def _pod_deleted(pod: PodSnapshot) -> EventIntent:
    assert pod.deleted_at is not None
    state = "ready" if pod.ready else pod.phase
    where = f" on {pod.node_name}" if pod.node_name else ""
    return EventIntent(
        key=f"pod/{pod.ref.uid}/deleted",
        type=EventType.POD_DELETION,
        subject=pod.ref,
        title=f"Pod {pod.ref.name} deleted",
        description=f"Deleted while {state}{where}",
        timestamp=_utc(pod.deleted_at),
        details=_pod_details(pod),
    )


def _container_details(pod: PodSnapshot, container: ContainerState) -> dict[str, Any]:
    details: dict[str, Any] = {
        "container": container.name,
        "image": container.image,
        "restartCount": container.restart_count,
        "node": pod.node_name,
    }
    if container.init:
        details["initContainer"] = True
    return details


def _failure(
    pod: PodSnapshot,
    suffix: str,
    title: str,
    description: str,
    timestamp: datetime,
    details: dict[str, Any],
) -> EventIntent:
    return EventIntent(
        key=f"pod/{pod.ref.uid}/{suffix}",
        type=EventType.POD_FAILURE,
        subject=pod.ref,
        title=title,
        description=description,
        timestamp=_utc(timestamp),
        details=details,
    )


def _pod_failures(pod: PodSnapshot, now: datetime) -> list[EventIntent]:
    found: dict[str, EventIntent] = {}
    name = pod.ref.name
    for c in pod.containers:
        what = f"init container {c.name}" if c.init else f"container {c.name}"
        # An OOM kill shows as the current state until the container restarts, then as
        # lastState with the restart count one higher: both give the same occurrence number.
        kills: list[tuple[int, int | None, datetime | None]] = []
        if c.terminated_reason == OOM_REASON:
            kills.append((c.restart_count, c.terminated_exit_code, c.terminated_at))
        if c.last_terminated_reason == OOM_REASON:
            kills.append(
                (max(c.restart_count - 1, 0), c.last_terminated_exit_code, c.last_terminated_at)
            )
        for occurrence, exit_code, finished in kills:
            details = _container_details(pod, c) | {"reason": OOM_REASON, "exitCode": exit_code}
            code = f" (exit code {exit_code})" if exit_code is not None else ""
            intent = _failure(
                pod,
                f"oomkilled/{c.name}/{occurrence}",
                f"Pod {name}: {what} OOMKilled",
                f"{_upper_first(what)} ({c.image}) was killed for exceeding its memory "
                f"limit{code}; restarts so far: {c.restart_count}",
                finished or now,
                details,
            )
            found.setdefault(intent.key, intent)
        if c.waiting_reason == CRASH_LOOP_REASON:
            details = _container_details(pod, c) | {"reason": CRASH_LOOP_REASON}
            last = ""
            if c.last_terminated_reason or c.last_terminated_exit_code is not None:
                details["lastExitCode"] = c.last_terminated_exit_code
                details["lastReason"] = c.last_terminated_reason
                last = (
                    f"; last exit code {c.last_terminated_exit_code}"
                    f" ({c.last_terminated_reason or 'Error'})"
                )
            intent = _failure(
                pod,
                f"crashloop/{c.name}",
                f"Pod {name}: {what} in CrashLoopBackOff",
                f"{_upper_first(what)} ({c.image}) keeps crashing after "
                f"{c.restart_count} restarts{last}",
                c.last_terminated_at or now,
                details,
            )
            found.setdefault(intent.key, intent)
        if c.waiting_reason in IMAGE_PULL_REASONS:
            details = _container_details(pod, c) | {"reason": c.waiting_reason}
            if c.waiting_message:
                details["message"] = _clip(c.waiting_message)
            intent = _failure(
                pod,
                f"imagepull/{c.name}/{c.image}",
                f"Pod {name}: cannot pull image {short_image(c.image)}",
                f"{_upper_first(what)}: {c.waiting_reason}"
                + (f": {_clip(c.waiting_message)}" if c.waiting_message else ""),
                now,
                details,
            )
            found.setdefault(intent.key, intent)
    finished_times = [c.terminated_at for c in pod.containers if c.terminated_at is not None]
    ended = max(finished_times) if finished_times else now
    base = {"phase": pod.phase, "node": pod.node_name, "images": list(pod.images)}
    if pod.reason == EVICTED_REASON:
        intent = _failure(
            pod,
            "evicted",
            f"Pod {name} evicted" + (f" from {pod.node_name}" if pod.node_name else ""),
            _clip(pod.message) if pod.message else "The node evicted the pod",
            ended,
            base | {"reason": EVICTED_REASON, "message": pod.message},
        )
        found[intent.key] = intent
    elif pod.phase == "Failed":
        intent = _failure(
            pod,
            "failed",
            f"Pod {name} failed",
            _upper_first(_failure_summary(pod)),
            ended,
            base | {"reason": pod.reason or "Failed", "message": pod.message},
        )
        found[intent.key] = intent
    return list(found.values())


# --- deployments ---------------------------------------------------------------------------

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
    change = CHANGE_UPDATE
    if replicaset.reused:
        change = CHANGE_ROLLBACK
    elif (
        previous is not None
        and replicaset.restarted_at
        and replicaset.restarted_at != previous.restarted_at
        and previous.images == replicaset.images
    ):
        change = CHANGE_RESTART
    return Revision(
        number=replicaset.revision,
        images=replicaset.images,
        started=_utc(started or replicaset.created),
        change=change,
    )


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
    now = _utc(now)
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
    before = prev.replicas if prev is not None else recorded_replicas
    if before is not None and before != new.replicas:
        events.append(_scaled(new, before, now))
    if new.deleted_at is not None:
        events.append(_deployment_deleted(new))
    return events


def _deployment_created(d: DeploymentSnapshot) -> EventIntent:
    replicas = _replicas(d.replicas)
    return EventIntent(
        key=f"deployment/{d.ref.uid}/created",
        type=EventType.DEPLOYMENT_CREATION,
        subject=d.ref,
        title=f"Deployment {d.ref.name} created",
        description=f"{replicas} of {', '.join(d.images) or 'no container'}",
        timestamp=_utc(d.created),
        details={"replicas": d.replicas, "images": list(d.images), "revision": d.revision},
    )


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


def _rollout_name(name: str, revision: Revision) -> str:
    images = _images_text(revision.images)
    if revision.change == CHANGE_ROLLBACK:
        return f"Rollback of {name} to {images}"
    if revision.change == CHANGE_RESTART:
        return f"Restart of {name} ({images})"
    return f"Rollout of {name} to {images}"


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
    what = _rollout_name(new.ref.name, revision)
    details = _rollout_details(revision, result)
    if result == ROLLOUT_IN_PROGRESS:
        title = f"{what} started"
        description = f"Revision {revision.number} of {where} is rolling out"
    else:
        # The end is the condition's update time: ``now`` would change the content on every
        # look and replace the event for nothing.
        end = _utc(new.progressing_updated) if new.progressing_updated else None
        duration = (end - start).total_seconds() if end is not None and end >= start else None
        took = format_duration(duration) if duration is not None else None
        if duration is not None:
            details["durationSeconds"] = round(duration)
        if end is not None:
            details["finishedAt"] = _iso(end)
        if result == ROLLOUT_COMPLETED:
            title = f"{what} completed" + (f" in {took}" if took else "")
            description = f"Revision {revision.number} of {where} is available" + (
                f"; the rollout took {took}" if took else ""
            )
        else:
            message = _clip(new.progressing_message or "progress deadline exceeded")
            details["message"] = message
            title = f"{what} failed" + (f" after {took}" if took else "") + f": {message}"
            description = f"Revision {revision.number} of {where} did not progress: {message}"
    return EventIntent(
        key=rollout_key(new.ref.uid, revision.number),
        type=EventType.DEPLOYMENT_ROLLOUT,
        subject=new.ref,
        title=title,
        description=description,
        timestamp=start,
        details=details,
        updatable=True,
    )


def rollout_key(uid: str, revision: int) -> str:
    return f"deployment/{uid}/rollout/{revision}"


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
    return EventIntent(
        key=rollout_key(reported.ref.uid, revision.number),
        type=EventType.DEPLOYMENT_ROLLOUT,
        subject=reported.ref,
        title=f"{_rollout_name(reported.ref.name, revision)} superseded by revision {new.revision}",
        description=f"Revision {revision.number} of {where} was replaced before it completed",
        timestamp=revision.started,
        details=_rollout_details(revision, ROLLOUT_SUPERSEDED) | {"supersededBy": new.revision},
        updatable=True,
    )


def _scaled(d: DeploymentSnapshot, before: int, now: datetime) -> EventIntent:
    direction = "up" if d.replicas > before else "down"
    return EventIntent(
        key=f"deployment/{d.ref.uid}/scale/{d.generation}",
        type=EventType.DEPLOYMENT_SCALE,
        subject=d.ref,
        title=f"Scaled {d.ref.name} from {before} to {_replicas(d.replicas)}",
        description=f"Scaled {direction} {d.ref.namespace}/{d.ref.name} "
        f"from {before} to {_replicas(d.replicas)}",
        timestamp=now,
        details={
            "fromReplicas": before,
            "toReplicas": d.replicas,
            "direction": direction,
            "generation": d.generation,
        },
    )


def _deployment_deleted(d: DeploymentSnapshot) -> EventIntent:
    assert d.deleted_at is not None
    revision = f" (revision {d.revision})" if d.revision is not None else ""
    return EventIntent(
        key=f"deployment/{d.ref.uid}/deleted",
        type=EventType.DEPLOYMENT_DELETION,
        subject=d.ref,
        title=f"Deployment {d.ref.name} deleted",
        description=f"Deleted with {_replicas(d.replicas)} of "
        f"{', '.join(d.images) or 'no container'}{revision}",
        timestamp=_utc(d.deleted_at),
        details={"replicas": d.replicas, "images": list(d.images), "revision": d.revision},
    )
