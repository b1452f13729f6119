"""What the Pod failure rules share: the reasons Kubernetes gives, how long a waiting state
may last (`FailurePolicy`), and how a failure event is built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cortex_events.domain.intents import EventIntent, utc
from cortex_events.domain.model import ContainerState, EventType, PodSnapshot

IMAGE_PULL_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
)
CRASH_LOOP_REASON = "CrashLoopBackOff"
OOM_REASON = "OOMKilled"
EVICTED_REASON = "Evicted"
RUN_ERROR_REASON = "RunContainerError"
START_ERROR_REASONS = frozenset({"StartError", "ContainerCannotRun"})
"""``lastState.terminated.reason`` of a container the runtime created but could not start."""
CONFIG_ERRORS = {
    "CreateContainerConfigError": "has a configuration error",
    "CreateContainerError": "cannot be created",
}
"""Waiting reasons of a container that cannot be created, and what its title says of it
(its key's change word: `cortex_events.domain.keys.CREATE_ERROR_CHANGES`)."""
UNSCHEDULABLE_REASONS = frozenset({"Unschedulable", "SchedulerError"})
"""``PodScheduled=False`` reasons that are failures (``SchedulingGated`` is held on purpose)."""
KUBELET_TERMINATION = "TerminationByKubelet"
"""The kubelet ends the Pod itself (node pressure, node shutdown): it fails, as its own."""
DISRUPTIONS = {
    "EvictionByEvictionAPI": "evicted by the Eviction API",
    "PreemptionByScheduler": "preempted by the scheduler",
    "DeletionByTaintManager": "deleted by the taint manager",
    "DeletionByPodGC": "deleted by the Pod garbage collector",
}
"""``DisruptionTarget`` reasons, as a title says them; another reason is named as it is."""
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
KILLED_BY_SIGNAL = frozenset({137, 143})
RECOVERY = timedelta(minutes=10)
"""A container that ran this long has recovered: the kubelet resets its restart back-off after
as long, and a failure after that begins a new run of restarts."""


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """How long a waiting state may last, and how many restarts in a row are normal."""

    unschedulable_after: timedelta = timedelta(minutes=5)
    """A cluster autoscaler adds a node in a few minutes: a Pod waits for it meanwhile."""
    container_error_after: timedelta = timedelta(minutes=1)
    """A Secret or ConfigMap created just after the Pod that needs it arrives within this."""
    not_ready_after: timedelta = timedelta(minutes=10)
    """Where the Pod's Deployment says nothing (its ``progressDeadlineSeconds``, 600 by
    default, wins): how long a Pod may run without becoming ready."""
    restarts: int = 3
    """Failing restarts in a row that make a container's restarts an event (CrashLoopBackOff
    and a container that cannot start are one at once)."""


DEFAULT_POLICY = FailurePolicy()


def container_text(c: ContainerState) -> str:
    return f"init container {c.name}" if c.init else f"container {c.name}"


def container_details(pod: PodSnapshot, c: ContainerState) -> dict[str, Any]:
    details: dict[str, Any] = {
        "container": c.name,
        "image": c.image,
        "restartCount": c.restart_count,
        "node": pod.node_name,
    }
    if c.init:
        details["initContainer"] = True
    return details


def failure_event(
    pod: PodSnapshot,
    key: str,
    title: str,
    description: str,
    timestamp: datetime,
    details: dict[str, Any],
    *,
    updatable: bool = False,
    event_type: EventType = EventType.POD_FAILURE,
) -> EventIntent:
    return EventIntent(
        key=key,
        type=event_type,
        subject=pod.ref,
        title=title,
        description=description,
        timestamp=utc(timestamp),
        details=details,
        updatable=updatable,
    )


def failed_exit(code: int | None, reason: str | None) -> bool:
    return (code is not None and code != 0) or (reason is not None and reason != "Completed")


def waiting_failure(
    pod: PodSnapshot, c: ContainerState, key: str, title: str, who: str, timestamp: datetime
) -> EventIntent:
    """A container held waiting (a pull error, a configuration error): the description is
    ``who``, then the reason and message Kubernetes gives, which the details carry too."""
    details = container_details(pod, c) | {"reason": c.waiting_reason}
    if c.waiting_message:
        details["message"] = c.waiting_message
    why = f"{c.waiting_reason}" + (f": {c.waiting_message}" if c.waiting_message else "")
    return failure_event(pod, key, title, f"{who}: {why}", timestamp, details)
