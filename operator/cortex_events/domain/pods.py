"""Pod lifecycle rules: which events a Pod's state implies.

The rules are level-based: `pod_events` returns every event the Pod's *current* state implies
(its creation, each failure it shows, its deletion), each with a deterministic key. The delivery
layer creates an event for an unseen key, replaces (PUT) an updatable one whose content changed,
and otherwise does nothing; so the same state yields the same keys whichever replica or restart
of the operator sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cortex_events.domain.intents import EventIntent, clip, short_image, upper_first, utc
from cortex_events.domain.keys import pod_key
from cortex_events.domain.model import ContainerState, EventType, PodSnapshot
from cortex_events.domain.quiet import Quiet

IMAGE_PULL_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
)
CRASH_LOOP_REASON = "CrashLoopBackOff"
OOM_REASON = "OOMKilled"
EVICTED_REASON = "Evicted"


def pod_events(prev: PodSnapshot | None, new: PodSnapshot, *, now: datetime) -> list[EventIntent]:
    """Every event ``new`` implies: its creation, each failure it shows, its deletion.

    ``prev`` is accepted for symmetry with :func:`deployment_events`; a Pod's events depend
    on its current state only.
    """
    del prev
    now = utc(now)
    events = [_pod_created(new)]
    events.extend(_pod_failures(new, now))
    if new.deleted_at is not None:
        events.append(_pod_deleted(new))
    return events


def _pod_state_text(pod: PodSnapshot) -> str:
    node = pod.node_name
    on = f" on {node}" if node else ""
    if pod.reason == EVICTED_REASON:
        detail = f": {clip(pod.message)}" if pod.message else ""
        return f"Evicted{' from ' + node if node else ''}{detail}"
    if pod.phase == "Pending":
        return f"Pending{on}" if node else "Pending, not yet scheduled"
    if pod.phase == "Running":
        return f"Running and ready{on}" if pod.ready else f"Running{on}, not ready"
    if pod.phase == "Succeeded":
        return f"Succeeded{on}"
    if pod.phase == "Failed":
        return f"Failed{on}: {failure_summary(pod)}"
    return f"{pod.phase}{on}"


def failure_summary(pod: PodSnapshot) -> str:
    """Why the Pod failed, in a few words: its reason and message, or its failed container."""
    if pod.reason or pod.message:
        return clip(": ".join(p for p in (pod.reason, pod.message) if p))
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
        key=pod_key(pod.ref.uid, "created"),
        type=EventType.POD_CREATION,
        subject=pod.ref,
        title=f"Pod {pod.ref.name} created",
        description=_pod_state_text(pod),
        timestamp=utc(pod.created),
        details=_pod_details(pod),
        updatable=True,
        quiet=_quiet(pod),
    )


def _pod_deleted(pod: PodSnapshot) -> EventIntent:
    assert pod.deleted_at is not None
    state = "ready" if pod.ready else pod.phase
    where = f" on {pod.node_name}" if pod.node_name else ""
    return EventIntent(
        key=pod_key(pod.ref.uid, "deleted"),
        type=EventType.POD_DELETION,
        subject=pod.ref,
        title=f"Pod {pod.ref.name} deleted",
        description=f"Deleted while {state}{where}",
        timestamp=utc(pod.deleted_at),
        details=_pod_details(pod),
        quiet=_quiet(pod),
    )


def _quiet(pod: PodSnapshot) -> Quiet | None:
    """A Job's Pods come and go with every run: their creation and deletion are quiet (their
    failures never are)."""
    return Quiet.JOB_POD if pod.owner is not None and pod.owner.kind == "Job" else None


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
        key=pod_key(pod.ref.uid, suffix),
        type=EventType.POD_FAILURE,
        subject=pod.ref,
        title=title,
        description=description,
        timestamp=utc(timestamp),
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
                f"{upper_first(what)} ({c.image}) was killed for exceeding its memory "
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
                f"{upper_first(what)} ({c.image}) keeps crashing after "
                f"{c.restart_count} restarts{last}",
                c.last_terminated_at or now,
                details,
            )
            found.setdefault(intent.key, intent)
        if c.waiting_reason in IMAGE_PULL_REASONS:
            details = _container_details(pod, c) | {"reason": c.waiting_reason}
            if c.waiting_message:
                details["message"] = clip(c.waiting_message)
            intent = _failure(
                pod,
                f"imagepull/{c.name}/{c.image}",
                f"Pod {name}: cannot pull image {short_image(c.image)}",
                f"{upper_first(what)}: {c.waiting_reason}"
                + (f": {clip(c.waiting_message)}" if c.waiting_message else ""),
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
            clip(pod.message) if pod.message else "The node evicted the pod",
            ended,
            base | {"reason": EVICTED_REASON, "message": pod.message},
        )
        found[intent.key] = intent
    elif pod.phase == "Failed":
        intent = _failure(
            pod,
            "failed",
            f"Pod {name} failed",
            upper_first(failure_summary(pod)),
            ended,
            base | {"reason": pod.reason or "Failed", "message": pod.message},
        )
        found[intent.key] = intent
    return list(found.values())
