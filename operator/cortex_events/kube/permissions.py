"""The Kubernetes API access the operator needs: one list for ``check`` and the RBAC tests.

The kinds it watches are read only (`cortex_events.kube.watched`); Namespaces only with a namespace
selector, Argo Rollouts only where they are installed (`optional`)."""

from __future__ import annotations

from dataclasses import dataclass

from cortex_events.kube.watched import ARGO_ROLLOUT, NAMESPACE, WORKLOADS


@dataclass(frozen=True)
class Permission:
    group: str  # "" for the core API group
    resource: str  # plural, with "/status" for the subresource
    verbs: tuple[str, ...]
    why: str
    named: bool = False
    """Granted on one object, by name (``resourceNames``): asked about that object."""


READ = ("get", "list", "watch")

REQUIRED: tuple[Permission, ...] = (
    *(Permission(w.group, w.plural, READ, w.why) for w in WORKLOADS),
    Permission(
        "cortex.io", "cortexentities", ("get", "list", "watch", "patch"), "mapping, finalizer"
    ),
    Permission("cortex.io", "cortexentities/status", ("get", "patch"), "CortexEntity status"),
    Permission("", "events", ("create",), "Kubernetes Events on CortexEntity objects"),
)

LEADER_ELECTION: tuple[Permission, ...] = (
    Permission(
        "coordination.k8s.io", "leases", ("get", "create", "update"), "leader election", True
    ),
    Permission("", "events", ("create",), "LeaderElected and LeaderLost Events on the Lease"),
)
"""What leader election needs, in the Lease's namespace only (the chart's own Role)."""


def optional(*, namespace_selector: bool, argo_rollouts: bool) -> tuple[Permission, ...]:
    """What the features that are off by default or depend on the cluster need as well."""
    found: list[Permission] = []
    if namespace_selector:
        found.append(Permission("", NAMESPACE.plural, READ, NAMESPACE.why))
    if argo_rollouts:
        found.append(Permission(ARGO_ROLLOUT.group, ARGO_ROLLOUT.plural, READ, ARGO_ROLLOUT.why))
    return tuple(found)
