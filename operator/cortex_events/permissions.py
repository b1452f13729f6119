"""The Kubernetes API access the operator needs: one list for ``check`` and the RBAC tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    group: str  # "" for the core API group
    resource: str  # plural, with "/status" for the subresource
    verbs: tuple[str, ...]
    why: str


REQUIRED: tuple[Permission, ...] = (
    Permission("", "pods", ("get", "list", "watch"), "Pod lifecycle events"),
    Permission("apps", "replicasets", ("get", "list", "watch"), "a Pod's owning Deployment"),
    Permission("apps", "deployments", ("get", "list", "watch"), "Deployment events"),
    Permission(
        "cortex.io", "cortexentities", ("get", "list", "watch", "patch"), "mapping, finalizer"
    ),
    Permission("cortex.io", "cortexentities/status", ("get", "patch"), "CortexEntity status"),
    Permission("", "events", ("create",), "Kubernetes Events on CortexEntity objects"),
)

LEADER_ELECTION: tuple[Permission, ...] = (
    Permission("coordination.k8s.io", "leases", ("get", "create", "update"), "leader election"),
    Permission("", "events", ("create",), "LeaderElected and LeaderLost Events on the Lease"),
)
"""What leader election needs, in the Lease's namespace only (the chart's own Role)."""
