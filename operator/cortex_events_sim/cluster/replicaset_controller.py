"""The simulated ReplicaSet controller: as many running Pods as ``spec.replicas`` asks for."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from .objects import PODS, REPLICASETS, is_ready, owner_ref, pod_from_template
from .owners import OwnerController

#: Failed pods a ReplicaSet tolerates before it stops replacing them (stands in for back-off).
MAX_FAILED_REPLACEMENTS = 5


def _active(pods: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods that count towards ``spec.replicas``: not being deleted, not finished."""
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
    ]


def _available(pod: Mapping[str, Any], min_ready_seconds: int) -> bool:
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            since = datetime.datetime.fromisoformat(
                condition["lastTransitionTime"].replace("Z", "+00:00")
            )
            age = datetime.datetime.now(datetime.UTC) - since
            return age.total_seconds() >= min_ready_seconds
    return False


class ReplicaSetController(OwnerController):
    """Creates and deletes a ReplicaSet's Pods, and reports them in its status."""

    def sync(self, namespace: str, name: str) -> None:
        rs = self.live(REPLICASETS, namespace, name)
        if rs is None:
            return
        spec = rs["spec"]
        desired = int(spec.get("replicas", 1))
        pods = self.owners.owned(rs, PODS)
        active = _active(pods)
        failed = (
            len(pods) - len(active) - sum(1 for p in pods if p["metadata"].get("deletionTimestamp"))
        )
        if len(active) < desired and failed < MAX_FAILED_REPLACEMENTS:
            template = spec.get("template") or {}
            owner = owner_ref(rs, "ReplicaSet", "apps/v1")
            for _ in range(desired - len(active)):
                replica = pod_from_template(template, owner, namespace, generate_name=f"{name}-")
                self.store.create(PODS, replica, namespace)
        elif len(active) > desired:
            # Not ready first, then the newest: what the real controller removes first.
            ranked = sorted(active, key=lambda p: (is_ready(p), p["metadata"]["creationTimestamp"]))
            doomed = ranked[: len(active) - desired]
            for pod in doomed:
                self.store.delete(PODS, pod["metadata"]["name"], namespace)
        min_ready = int(spec.get("minReadySeconds") or 0)
        # The status counts the pods as they are after this round's creations and deletions.
        current_active = _active(self.owners.owned(rs, PODS))
        status = {
            "replicas": len(current_active),
            "fullyLabeledReplicas": len(current_active),
            "readyReplicas": sum(1 for p in current_active if is_ready(p)),
            "availableReplicas": sum(1 for p in current_active if _available(p, min_ready)),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if min_ready and status["readyReplicas"] != status["availableReplicas"]:
            self._dirty.add((namespace, name))  # check availability again
        if {k: (rs.get("status") or {}).get(k) for k in status} != status:
            self.store.patch(REPLICASETS, name, {"status": status}, namespace, subresource="status")
