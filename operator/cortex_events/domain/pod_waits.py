"""Waiting states, judged by how long they last: a Pod that cannot be scheduled, a container
that cannot be created, a Pod that runs without becoming ready.

Each is a failure once it has lasted longer than its threshold (`FailurePolicy`), and its
event's time is when the state began. `next_due` says when a state still within its threshold
would become one, for the recorder to look at the Pod again then: no watch event comes while a
state merely lasts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from cortex_events.domain.failure_model import (
    CONFIG_ERRORS,
    DEFAULT_POLICY,
    TERMINAL_PHASES,
    UNSCHEDULABLE_REASONS,
    FailurePolicy,
    container_text,
    failed_exit,
    failure_event,
    waiting_failure,
)
from cortex_events.domain.intents import EventIntent, format_duration, iso, upper_first, utc
from cortex_events.domain.keys import create_error_key, not_ready_key, pod_key
from cortex_events.domain.model import ContainerState, PodSnapshot
from cortex_events.domain.parsing import ConditionState


@dataclass(frozen=True, slots=True)
class Wait:
    """A waiting state the Pod is in: since when, how long it may last, its event."""

    since: datetime
    after: timedelta
    event: Callable[[], EventIntent]

    @property
    def due(self) -> datetime:
        return self.since + self.after


def next_due(
    pod: PodSnapshot,
    now: datetime,
    *,
    policy: FailurePolicy = DEFAULT_POLICY,
    not_ready_after: timedelta | None = None,
) -> datetime | None:
    """When a waiting state of ``pod`` that is still within its threshold becomes a failure,
    if it lasts (the earliest, if several): when to look at the Pod again."""
    now = utc(now)
    later = [w.due for w in waits(pod, policy, not_ready_after) if w.due > now]
    return min(later, default=None)


def waits(
    pod: PodSnapshot, policy: FailurePolicy, not_ready_after: timedelta | None
) -> Iterator[Wait]:
    """Every waiting state ``pod`` is in, whether or not it has lasted past its threshold; a
    Pod that is being deleted or has ended waits for nothing."""
    if pod.deleted_at is not None or pod.phase in TERMINAL_PHASES:
        return
    for c in pod.containers:
        wait = _config_error(pod, c, policy)
        if wait is not None:
            yield wait
    unscheduled = pod.unscheduled if not pod.node_name else None
    if unscheduled is not None and unscheduled.reason in UNSCHEDULABLE_REASONS:
        yield _unschedulable(pod, unscheduled, policy)
    if pod.not_ready is not None and pod.node_name and not any(map(_explains, pod.containers)):
        yield _not_ready(pod, pod.not_ready, not_ready_after or policy.not_ready_after)


def _unschedulable(pod: PodSnapshot, condition: ConditionState, policy: FailurePolicy) -> Wait:
    since = condition.since or pod.created

    def event() -> EventIntent:
        return failure_event(
            pod,
            pod_key(pod.ref.uid, "unschedulable"),
            f"Pod {pod.ref.name} cannot be scheduled",
            condition.message or f"{condition.reason}: no node can run it",
            since,
            {
                "reason": condition.reason,
                "message": condition.message,
                "phase": pod.phase,
                "images": list(pod.images),
            },
        )

    return Wait(since, policy.unschedulable_after, event)


def _explains(c: ContainerState) -> bool:
    """The container shows why the Pod is not ready (a failure with an event of its own)."""
    waiting = c.waiting_reason
    if waiting is not None and waiting not in ("ContainerCreating", "PodInitializing"):
        return True
    return failed_exit(c.terminated_exit_code, None)


def _not_ready(pod: PodSnapshot, condition: ConditionState, tolerated: timedelta) -> Wait:
    since = condition.since or pod.started_at or pod.created

    def event() -> EventIntent:
        why = ": ".join(p for p in (condition.reason, condition.message) if p)
        where = f" on {pod.node_name}" if pod.node_name else ""
        return failure_event(
            pod,
            not_ready_key(pod.ref.uid, since),
            f"Pod {pod.ref.name} not ready for {format_duration(tolerated.total_seconds())}",
            f"{pod.phase}{where}, not ready" + (f": {why}" if why else ""),
            since,
            {
                "reason": condition.reason or "NotReady",
                "message": condition.message,
                "phase": pod.phase,
                "node": pod.node_name,
                "notReadySince": iso(since),
                "toleratedSeconds": int(tolerated.total_seconds()),
            },
        )

    return Wait(since, tolerated, event)


def _config_error(pod: PodSnapshot, c: ContainerState, policy: FailurePolicy) -> Wait | None:
    reason = c.waiting_reason or ""
    trouble = CONFIG_ERRORS.get(reason)
    if trouble is None:
        return None
    # Waiting to be created since the Pod started, or since the container's last run ended.
    since = max(t for t in (pod.started_at or pod.created, c.last_terminated_at) if t)
    ran = c.restart_count + (1 if c.last_terminated_at or c.last_terminated_reason else 0)

    def event() -> EventIntent:
        return waiting_failure(
            pod,
            c,
            create_error_key(pod.ref.uid, reason, c.name, ran),
            f"Pod {pod.ref.name}: {container_text(c)} {trouble}",
            f"{upper_first(container_text(c))} ({c.image})",
            since,
        )

    return Wait(since, policy.container_error_after, event)
