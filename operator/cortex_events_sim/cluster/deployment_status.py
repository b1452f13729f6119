"""What a simulated Deployment reports: replica counts, and the Available and Progressing
conditions, ProgressDeadlineExceeded included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_events_sim.kubeapi.objects import now_iso

from .objects import REVISION_ANNOTATION


def _condition(
    previous: Mapping[str, Any] | None,
    kind: str,
    status: str,
    reason: str,
    message: str,
    *,
    touch: bool,
) -> dict[str, Any]:
    """A deployment condition; times move only on a real change (or ``touch``)."""
    now = now_iso()
    same = previous is not None and previous.get("status") == status
    unchanged = same and previous is not None and previous.get("reason") == reason
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": previous.get("lastUpdateTime", now)
        if unchanged and not touch and previous is not None
        else now,
        "lastTransitionTime": previous.get("lastTransitionTime", now)
        if same and previous is not None
        else now,
        "reason": reason,
        "message": message,
    }


class ProgressClock:
    """When each Deployment (by uid) last made progress, in loop time: its deadline's start."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def mark(self, uid: str, now: float) -> None:
        self._last[uid] = now

    def since(self, uid: str, now: float) -> float:
        """When progress was last seen (``now`` if never: the clock starts)."""
        return self._last.setdefault(uid, now)

    def forget(self, uid: str) -> None:
        self._last.pop(uid, None)


def deployment_status(
    deployment: Mapping[str, Any],
    sets: list[Mapping[str, Any]],
    *,
    desired: int,
    max_unavailable: int,
    created: bool,
    progress: ProgressClock,
    now: float,
) -> tuple[dict[str, Any], bool]:
    """The status ``deployment`` reports with ReplicaSets ``sets``, and whether its rollout has
    ended (complete, or past its progress deadline). ``created``: its newest ReplicaSet was
    created in this round."""
    uid = deployment["metadata"]["uid"]
    revision = (deployment["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    new_rs = next(
        (
            rs
            for rs in sets
            if (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) == revision
        ),
        None,
    )

    def count(rs: Mapping[str, Any] | None, field: str) -> int:
        return int(((rs or {}).get("status") or {}).get(field, 0))

    replicas = sum(count(rs, "replicas") for rs in sets)
    updated = count(new_rs, "replicas")
    ready = sum(count(rs, "readyReplicas") for rs in sets)
    available = sum(count(rs, "availableReplicas") for rs in sets)
    spec_total = sum(int(rs["spec"].get("replicas", 0)) for rs in sets)
    previous = deployment.get("status") or {}
    conditions = {c["type"]: c for c in previous.get("conditions") or []}
    rs_name = new_rs["metadata"]["name"] if new_rs else deployment["metadata"]["name"]

    available_cond = (
        _condition(
            conditions.get("Available"),
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            touch=False,
        )
        if available >= desired - max_unavailable
        else _condition(
            conditions.get("Available"),
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            touch=False,
        )
    )
    complete = (
        new_rs is not None
        and updated == desired
        and replicas == desired
        and available >= desired
        and int(new_rs["spec"].get("replicas", 0)) == desired
    )
    progressed = (
        updated > int(previous.get("updatedReplicas", 0))
        or ready > int(previous.get("readyReplicas", 0))
        or available > int(previous.get("availableReplicas", 0))
        or replicas - updated
        < int(previous.get("replicas", 0)) - int(previous.get("updatedReplicas", 0))
    )
    prior = conditions.get("Progressing")
    in_rollout = (
        created
        or prior is None
        or prior.get("reason") != "NewReplicaSetAvailable"
        or any(int(rs["spec"].get("replicas", 0)) for rs in sets if rs is not new_rs)
    )
    progressing = prior
    if in_rollout:
        if created:
            progressing = _condition(
                prior,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{rs_name}"',
                touch=True,
            )
        elif complete:
            progressing = _condition(
                prior,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                touch=False,
            )
        elif progressed:
            progress.mark(uid, now)
            progressing = _condition(
                prior,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                touch=True,
            )
        elif prior is not None and prior.get("reason") != "ProgressDeadlineExceeded":
            deadline = int(deployment["spec"].get("progressDeadlineSeconds", 600))
            since = progress.since(uid, now)
            if now - since >= deadline:
                progressing = _condition(
                    prior,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                    touch=True,
                )
    ended = complete or (progressing or {}).get("reason") == "ProgressDeadlineExceeded"
    status: dict[str, Any] = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(0, spec_total - available),
        "conditions": [available_cond] + ([progressing] if progressing else []),
    }
    for zero in (
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ):
        if not status[zero]:
            del status[zero]
    return status, ended
