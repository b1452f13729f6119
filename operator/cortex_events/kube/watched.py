"""Every Kubernetes kind the operator watches, where it lives in the API, and why it is read.

One table for the watch handlers, the look-ups by name, ``check``'s listings, the RBAC the
operator needs (`cortex_events.kube.permissions`) and the Kubernetes Events it posts about a
workload. Every one is only read: the operator writes to none of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatchedKind:
    kind: str
    group: str  # "" for the core API group
    version: str
    plural: str
    why: str
    annotated: bool = True
    """Whether a ``cortex.io/tag`` on it maps it (ReplicaSets and ControllerRevisions only
    link Pods to their owners and hold revisions)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        scope = f"/namespaces/{namespace}" if namespace else ""
        return f"{self.prefix}{scope}/{self.plural}" + (f"/{name}" if name else "")


POD = WatchedKind("Pod", "", "v1", "pods", "Pod lifecycle events")
REPLICASET = WatchedKind(
    "ReplicaSet", "apps", "v1", "replicasets", "a Pod's Deployment, revisions", annotated=False
)
DEPLOYMENT = WatchedKind("Deployment", "apps", "v1", "deployments", "Deployment events")
STATEFULSET = WatchedKind("StatefulSet", "apps", "v1", "statefulsets", "StatefulSet events")
DAEMONSET = WatchedKind("DaemonSet", "apps", "v1", "daemonsets", "DaemonSet events")
CONTROLLER_REVISION = WatchedKind(
    "ControllerRevision",
    "apps",
    "v1",
    "controllerrevisions",
    "StatefulSet and DaemonSet revisions",
    annotated=False,
)
JOB = WatchedKind("Job", "batch", "v1", "jobs", "Job runs, a Pod's Job")
CRONJOB = WatchedKind("CronJob", "batch", "v1", "cronjobs", "CronJob schedules, a Job's CronJob")
ARGO_ROLLOUT = WatchedKind(
    "Rollout", "argoproj.io", "v1alpha1", "rollouts", "Argo Rollout events (when installed)"
)
NAMESPACE = WatchedKind(
    "Namespace", "", "v1", "namespaces", "the namespace selector", annotated=False
)

WORKLOADS: tuple[WatchedKind, ...] = (
    POD,
    REPLICASET,
    DEPLOYMENT,
    STATEFULSET,
    DAEMONSET,
    CONTROLLER_REVISION,
    JOB,
    CRONJOB,
)
"""Always watched."""
BY_KIND = {watched.kind: watched for watched in (*WORKLOADS, ARGO_ROLLOUT, NAMESPACE)}
