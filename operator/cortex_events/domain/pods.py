"""Pod lifecycle rules: which events a Pod's state implies.

The rules are level-based: `pod_events` returns every event the Pod's *current* state implies
(its creation, each failure it shows (`cortex_events.domain.pod_failures`), its deletion), each
with a deterministic key. The delivery
layer creates an event for an unseen key, replaces (PUT) an updatable one whose content changed,
and otherwise does nothing; so the same state yields the same keys whichever replica or restart
of the operator sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cortex_events.domain.failure_model import DEFAULT_POLICY, EVICTED_REASON, FailurePolicy
from cortex_events.domain.intents import EventIntent, clip, utc
from cortex_events.domain.lifecycle import lifecycle_event
from cortex_events.domain.model import EventType, PodSnapshot
from cortex_events.domain.pod_failures import failure_summary, pod_failures
from cortex_events.domain.quiet import Quiet

__all__ = ["failure_summary", "first_deletion", "pod_events"]


def pod_events(
    prev: PodSnapshot | None,
    new: PodSnapshot,
    *,
    now: datetime,
    policy: FailurePolicy = DEFAULT_POLICY,
    not_ready_after: timedelta | None = None,
    loops: Mapping[str, int] | None = None,
) -> list[EventIntent]:
    """Every event ``new`` implies: its creation, each failure it shows, its deletion.

    ``prev`` is accepted for symmetry with :func:`deployment_events`; a Pod's events depend
    on its current state only (and, for a container's run of restarts, on where it began:
    ``loops``). ``policy`` and ``not_ready_after``: how long waiting states may last.
    """
    del prev
    now = utc(now)
    events = [_pod_created(new)]
    events.extend(
        pod_failures(new, now, policy=policy, not_ready_after=not_ready_after, loops=loops)
    )
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
    return lifecycle_event(
        EventType.POD_CREATION,
        pod.ref,
        "created",
        _pod_state_text(pod),
        pod.created,
        _pod_details(pod),
        updatable=True,
        quiet=_quiet(pod),
    )


def _pod_deleted(pod: PodSnapshot) -> EventIntent:
    assert pod.deleted_at is not None
    state = "ready" if pod.ready else pod.phase
    where = f" on {pod.node_name}" if pod.node_name else ""
    description = f"Deleted while {state}{where}"
    return lifecycle_event(
        EventType.POD_DELETION,
        pod.ref,
        "deleted",
        description,
        pod.deleted_at,
        _pod_details(pod),
        quiet=_quiet(pod),
    )


def _quiet(pod: PodSnapshot) -> Quiet | None:
    """A Job's Pods come and go with every run: their creation and deletion are quiet (their
    failures never are)."""
    return Quiet.JOB_POD if pod.owner is not None and pod.owner.kind == "Job" else None


def first_deletion(known: PodSnapshot | None, new: PodSnapshot) -> PodSnapshot:
    """``new``, with the deletion time ``known`` had if that one is earlier.

    A deletion that is forced after a graceful one (the kubelet's last, once the containers
    have stopped) moves ``deletionTimestamp`` to its own time: the first one tells when the
    deletion was asked for, and so whether a container failed before or because of it.
    """
    if known is None or known.deleted_at is None or new.deleted_at is None:
        return new
    return replace(new, deleted_at=known.deleted_at) if known.deleted_at < new.deleted_at else new
