"""Small, immutable snapshots of Pods, Deployments and ReplicaSets, the event types and the
annotation names.

The operator keeps one snapshot per watched workload in memory (thousands of pods), so a
snapshot holds only what the mapping and the lifecycle rules read: labels (for selectors),
the ``cortex.io/`` annotations, and the status fields that decide which events a state implies.
`cortex_events.domain.snapshots` reads raw objects into them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from cortex_events.domain.parsing import (
    ANNOTATION_PREFIX,
    EPOCH,
    ConditionState,
    FieldWriter,
    OwnerRef,
    as_int,
    as_str,
    cortex_annotations,
    created_of,
    deleted_at_of,
    labels_of,
    namespace_of,
    parse_time,
)
from cortex_events.domain.templates import TemplatePrint

__all__ = [
    "ANNOTATION_PREFIX",
    "EPOCH",
    "FieldWriter",
    "OwnerRef",
    "parse_time",
]


class EventType(StrEnum):
    """The Cortex custom event types this operator records."""

    POD_CREATION = "POD_CREATION"
    POD_FAILURE = "POD_FAILURE"
    POD_DELETION = "POD_DELETION"
    POD_DISRUPTION = "POD_DISRUPTION"
    DEPLOYMENT_CREATION = "DEPLOYMENT_CREATION"
    DEPLOYMENT_ROLLOUT = "DEPLOYMENT_ROLLOUT"
    DEPLOYMENT_SCALE = "DEPLOYMENT_SCALE"
    DEPLOYMENT_DELETION = "DEPLOYMENT_DELETION"
    STATEFULSET_CREATION = "STATEFULSET_CREATION"
    STATEFULSET_ROLLOUT = "STATEFULSET_ROLLOUT"
    STATEFULSET_SCALE = "STATEFULSET_SCALE"
    STATEFULSET_DELETION = "STATEFULSET_DELETION"
    DAEMONSET_CREATION = "DAEMONSET_CREATION"
    DAEMONSET_ROLLOUT = "DAEMONSET_ROLLOUT"
    DAEMONSET_DELETION = "DAEMONSET_DELETION"
    JOB_RUN = "JOB_RUN"
    CRONJOB_SCHEDULE = "CRONJOB_SCHEDULE"
    ARGO_ROLLOUT_CREATION = "ARGO_ROLLOUT_CREATION"
    ARGO_ROLLOUT_REVISION = "ARGO_ROLLOUT_REVISION"
    ARGO_ROLLOUT_SCALE = "ARGO_ROLLOUT_SCALE"
    ARGO_ROLLOUT_DELETION = "ARGO_ROLLOUT_DELETION"
    # The Pods of one workload over a window, folded into one event (domain/podsummary.py).
    DEPLOYMENT_PODS = "DEPLOYMENT_PODS"
    STATEFULSET_PODS = "STATEFULSET_PODS"
    DAEMONSET_PODS = "DAEMONSET_PODS"
    JOB_PODS = "JOB_PODS"
    ARGO_ROLLOUT_PODS = "ARGO_ROLLOUT_PODS"


ALL_EVENT_TYPES: frozenset[EventType] = frozenset(EventType)

TAG_ANNOTATION = "cortex.io/tag"
"""The Cortex entity tag(s) of a workload, comma separated (the annotation Cortex itself reads)."""
EVENTS_ANNOTATION = "cortex.io/events"
"""Set to ``disabled`` (any case), as an annotation or a label, on a workload or on an owner of
it (its Deployment, StatefulSet, DaemonSet, Job, CronJob or Rollout) to record no events for
it."""
EVENTS_DISABLED = "disabled"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
"""Set by the deployment controller on a Deployment and on each of its ReplicaSets."""
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
"""The earlier revisions of a ReplicaSet that a rollback made current again."""
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
"""Set on the pod template by ``kubectl rollout restart``."""
ARGO_REVISION_ANNOTATION = "rollout.argoproj.io/revision"
"""Set by the Argo Rollouts controller on a Rollout and on each of its ReplicaSets."""
VERSION_LABEL = "app.kubernetes.io/version"

POD_OWNER_KINDS = frozenset({"ReplicaSet", "StatefulSet", "DaemonSet", "Job"})
"""The controllers whose Pods map through them."""


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """Identifies a workload: ``kind`` is ``"Pod"``, ``"Deployment"``, ``"StatefulSet"``,
    ``"DaemonSet"``, ``"Job"``, ``"CronJob"`` or ``"Rollout"``."""

    kind: str
    namespace: str
    name: str
    uid: str


class Described(Protocol):
    """What mapping and deploys read of any workload's snapshot."""

    @property
    def ref(self) -> WorkloadRef: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Workload:
    """What every snapshot of a workload holds: identity, labels (for selectors), the
    ``cortex.io/`` annotations, and when it was created and deleted."""

    ref: WorkloadRef
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    created: datetime
    deleted_at: datetime | None

    @property
    def events_disabled(self) -> bool:
        return is_disabled(self.annotations, self.labels)

    def __hash__(self) -> int:
        # The label and annotation dicts cannot be hashed; equal snapshots share these fields.
        return hash((self.ref, self.created, self.deleted_at))


def workload_fields(
    kind: str,
    metadata: Mapping[str, Any],
    deleted_at: datetime | None,
    keep: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The `Workload` fields of a raw object's metadata, as keyword arguments; ``keep`` names
    annotations to keep beside the ``cortex.io/`` ones."""
    return {
        "ref": workload_ref(kind, metadata),
        "labels": labels_of(metadata),
        "annotations": cortex_annotations(metadata, keep),
        "created": created_of(metadata),
        "deleted_at": deleted_at_of(metadata, deleted_at),
    }


def replica_fields(
    metadata: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any]:
    """The generation and replica counts of a workload with ``spec.replicas`` (a Deployment,
    an Argo Rollout), as keyword arguments: ``replicas`` is 1 where unset, as the API server
    defaults it; ``ready_replicas`` and ``updated_replicas`` are the status's counts."""
    return {
        "generation": as_int(metadata.get("generation")),
        "replicas": as_int(spec.get("replicas"), default=1),
        "ready_replicas": as_int(status.get("readyReplicas")),
        "updated_replicas": as_int(status.get("updatedReplicas")),
    }


@dataclass(frozen=True, slots=True)
class ContainerState:
    """One container's status. ``last_terminated_*`` come from ``lastState.terminated``."""

    name: str
    image: str
    ready: bool
    restart_count: int
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    terminated_exit_code: int | None = None
    last_terminated_reason: str | None = None
    last_terminated_exit_code: int | None = None
    last_terminated_at: datetime | None = None
    terminated_at: datetime | None = None
    """``state.terminated.finishedAt`` of the current state."""
    init: bool = False
    """An init container: included because its failures (pull errors, crashes) block the Pod."""
    running_since: datetime | None = None  # state.running.startedAt, once it has restarted
    last_started_at: datetime | None = None  # lastState.terminated.startedAt: its last run's length
    last_terminated_message: str | None = None  # why it could not start, or what it wrote
    probes: tuple[str, ...] = ()
    """The probes whose failures restart it (``liveness``, ``startup``), from its spec."""


@dataclass(frozen=True, slots=True)
class PodSnapshot(Workload):
    """What the operator keeps of a Pod.

    ``containers`` lists init containers first (``init=True``), then the app containers;
    ``images`` are the app containers' images only.
    """

    owner: OwnerRef | None
    """The controller of the Pod (ReplicaSet, StatefulSet, DaemonSet or Job), if any."""
    node_name: str | None
    phase: str
    ready: bool
    reason: str | None
    message: str | None
    containers: tuple[ContainerState, ...]
    images: tuple[str, ...]
    started_at: datetime | None = None  # status.startTime, while not ready (read only then)
    unscheduled: ConditionState | None = None  # PodScheduled, while False
    not_ready: ConditionState | None = None  # Ready, while False
    disruption: ConditionState | None = None  # DisruptionTarget, once True: who ends it and why

    __hash__ = Workload.__hash__

    @property
    def owner_replicaset(self) -> str | None:
        owner = self.owner
        return owner.name if owner is not None and owner.kind == "ReplicaSet" else None


@dataclass(frozen=True, slots=True)
class DeploymentSnapshot(Workload):
    """What the operator keeps of a Deployment. ``replicas`` is the desired count
    (``spec.replicas``, 1 when unset as Kubernetes defaults it); the other counts come
    from ``status``."""

    generation: int
    observed_generation: int
    replicas: int
    ready_replicas: int
    updated_replicas: int
    available_replicas: int
    revision: int | None
    images: tuple[str, ...]
    progressing_reason: str | None
    progressing_message: str | None
    progressing_updated: datetime | None
    replicas_writer: FieldWriter | None = None
    """Who last wrote ``spec.replicas``: tells an autoscaler's scale from a person's."""
    progress_deadline: int | None = None
    """``spec.progressDeadlineSeconds``: how long its Pods may take to become ready."""
    template_writers: tuple[FieldWriter, ...] = ()
    """Who wrote ``spec.template``, newest first: who made each revision."""

    __hash__ = Workload.__hash__


@dataclass(frozen=True, slots=True)
class ReplicaSetSnapshot:
    """What the operator keeps of a ReplicaSet: which Deployment (or Argo Rollout) revision it
    holds.

    ``deployment`` is the name of the Deployment that controls it (``rollout``: of the Argo
    Rollout); ``images`` are its pod
    template's (fixed for the life of a ReplicaSet, whatever the Deployment's template says
    now); ``reused`` is true once a rollback has given it a later revision than its first;
    ``annotations`` are its ``cortex.io/`` ones and those asked to be kept, the pod template's
    over its own (copied from the Deployment); ``version`` its template's version label.
    """

    namespace: str
    name: str
    uid: str
    deployment: str | None
    revision: int | None
    images: tuple[str, ...]
    created: datetime
    reused: bool
    restarted_at: str | None
    rollout: str | None = None
    rollout_revision: int | None = None
    """``rollout.argoproj.io/revision``: the revision of an Argo Rollout it holds."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None
    template: TemplatePrint | None = None
    """Its pod template without values, to tell what the next revision changed."""


def is_disabled(annotations: Mapping[str, str], labels: Mapping[str, str] | None = None) -> bool:
    """True when ``cortex.io/events`` (an annotation or a label) opts the object out of events."""
    for source in (annotations, labels or {}):
        value = source.get(EVENTS_ANNOTATION)
        if isinstance(value, str) and value.strip().lower() == EVENTS_DISABLED:
            return True
    return False


def workload_ref(kind: str, metadata: Mapping[str, Any]) -> WorkloadRef:
    return WorkloadRef(
        kind=kind,
        namespace=namespace_of(metadata),
        name=as_str(metadata.get("name")) or "",
        uid=as_str(metadata.get("uid")) or "",
    )
