"""Why a Pod is failing: the POD_FAILURE and POD_DISRUPTION events its state implies.

The rules are level-based, as every rule here: they read the Pod's current state and return
every failure it shows, each under a deterministic key (`cortex_events.domain.keys`), so one
cause on one Pod is one event, and a cause that comes back after it cleared is a new one: a
container's failures (`cortex_events.domain.pod_restarts`), the waiting states judged by how
long they last (`cortex_events.domain.pod_waits`), and how the Pod ended (disrupted by the
cluster, evicted by its kubelet, or failed on its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from cortex_events.domain.failure_model import (
    DEFAULT_POLICY,
    DISRUPTIONS,
    EVICTED_REASON,
    KUBELET_TERMINATION,
    TERMINAL_PHASES,
    FailurePolicy,
    failed_exit,
    failure_event,
)
from cortex_events.domain.intents import EventIntent, clip, upper_first, utc
from cortex_events.domain.keys import pod_key
from cortex_events.domain.model import EventType, PodSnapshot
from cortex_events.domain.pod_restarts import image_pull, loop_start, oom_kills, restart_loop
from cortex_events.domain.pod_waits import waits


def pod_failures(
    pod: PodSnapshot,
    now: datetime,
    *,
    policy: FailurePolicy = DEFAULT_POLICY,
    not_ready_after: timedelta | None = None,
    loops: Mapping[str, int] | None = None,
) -> list[EventIntent]:
    """Every failure (and disruption) ``pod``'s state shows at ``now``.

    ``not_ready_after`` overrides the policy's for this Pod (its Deployment's progress
    deadline); ``loops``: where each container's current run of restarts began, as far as the
    caller kept it (`loop_starts`).
    """
    now = utc(now)
    found: dict[str, EventIntent] = {}
    live = pod.deleted_at is None and pod.phase not in TERMINAL_PHASES
    for c in pod.containers:
        for intent in oom_kills(pod, c, now):
            found.setdefault(intent.key, intent)
        if live:
            start = loop_start(c, (loops or {}).get(c.name))
            loop = restart_loop(pod, c, start, policy, now)
            if loop is not None:
                found.setdefault(loop.key, loop)
        pull = image_pull(pod, c, now)
        if pull is not None:
            found.setdefault(pull.key, pull)
    for wait in waits(pod, policy, not_ready_after):
        if wait.due <= now:
            intent = wait.event()
            found.setdefault(intent.key, intent)
    ended = _ending(pod, now)
    if ended is not None:
        found[ended.key] = ended
    return list(found.values())


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


def _ending(pod: PodSnapshot, now: datetime) -> EventIntent | None:
    """How the Pod ended, if it did: disrupted by the cluster, evicted by its kubelet, or
    failed on its own."""
    finished = [c.terminated_at for c in pod.containers if c.terminated_at is not None]
    ended = max(finished) if finished else now
    failed_at = [
        c.terminated_at
        for c in pod.containers
        if c.terminated_at is not None and failed_exit(c.terminated_exit_code, None)
    ]
    base = {"phase": pod.phase, "node": pod.node_name, "images": list(pod.images)}
    name, node = pod.ref.name, pod.node_name
    disruption = pod.disruption
    if disruption is not None and disruption.reason != KUBELET_TERMINATION:
        reason = disruption.reason or "DisruptionTarget"
        happened = DISRUPTIONS.get(reason, f"disrupted ({reason})")
        return failure_event(
            pod,
            pod_key(pod.ref.uid, "disrupted"),
            f"Pod {name} {happened}" + (f" on {node}" if node else ""),
            disruption.message or f"{reason}: the cluster ended the Pod",
            disruption.since or pod.deleted_at or now,
            base | {"reason": reason, "message": disruption.message},
            event_type=EventType.POD_DISRUPTION,
        )
    if pod.reason == EVICTED_REASON:
        return failure_event(
            pod,
            pod_key(pod.ref.uid, "evicted"),
            f"Pod {name} evicted" + (f" from {node}" if node else ""),
            pod.message or "The node evicted the pod",
            ended,
            base | {"reason": EVICTED_REASON, "message": pod.message},
        )
    # A Pod whose deletion was asked for fails as the kubelet stops its containers: that is
    # no failure of its own, unless a container had failed before.
    deleted = pod.deleted_at
    if pod.phase == "Failed" and (deleted is None or (failed_at and min(failed_at) < deleted)):
        return failure_event(
            pod,
            pod_key(pod.ref.uid, "failed"),
            f"Pod {name} failed",
            upper_first(failure_summary(pod)),
            ended,
            base | {"reason": pod.reason or "Failed", "message": pod.message},
        )
    return None
