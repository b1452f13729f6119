"""Small, immutable snapshots of Pods and Deployments, taken from raw Kubernetes objects.

The operator keeps one snapshot per watched workload in memory (thousands of pods), so a
snapshot holds only what the mapping and the lifecycle rules read: labels (for selectors),
the ``cortex.io/`` annotations, and the status fields that decide which events a state implies.
Parsing is tolerant: a missing or malformed field becomes its empty value, never an exception.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """The Cortex custom event types this operator records."""

    POD_CREATION = "POD_CREATION"
    POD_FAILURE = "POD_FAILURE"
    POD_DELETION = "POD_DELETION"
    DEPLOYMENT_CREATION = "DEPLOYMENT_CREATION"
    DEPLOYMENT_ROLLOUT = "DEPLOYMENT_ROLLOUT"
    DEPLOYMENT_SCALE = "DEPLOYMENT_SCALE"
    DEPLOYMENT_DELETION = "DEPLOYMENT_DELETION"


ALL_EVENT_TYPES: frozenset[EventType] = frozenset(EventType)

ANNOTATION_PREFIX = "cortex.io/"
TAG_ANNOTATION = "cortex.io/tag"
"""The Cortex entity tag(s) of a workload, comma separated (the annotation Cortex itself reads)."""
EVENTS_ANNOTATION = "cortex.io/events"
"""Set to ``disabled`` (any case) on a workload or its Deployment to record no events for it."""
EVENTS_DISABLED = "disabled"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
"""Set by the deployment controller on a Deployment and on each of its ReplicaSets."""
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
"""The earlier revisions of a ReplicaSet that a rollback made current again."""
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
"""Set on the pod template by ``kubectl rollout restart``."""
VERSION_LABEL = "app.kubernetes.io/version"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Stands in for a creation time the object does not carry (the API server always sets one)."""


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    """Identifies a workload: ``kind`` is ``"Pod"`` or ``"Deployment"``."""

    kind: str
    namespace: str
    name: str
    uid: str


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


@dataclass(frozen=True, slots=True)
class PodSnapshot:
    """What the operator keeps of a Pod.

    ``containers`` lists init containers first (``init=True``), then the app containers;
    ``images`` are the app containers' images only.
    """

    ref: WorkloadRef
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    created: datetime
    deleted_at: datetime | None
    owner_replicaset: str | None
    node_name: str | None
    phase: str
    ready: bool
    reason: str | None
    message: str | None
    containers: tuple[ContainerState, ...]
    images: tuple[str, ...]

    @property
    def events_disabled(self) -> bool:
        return is_disabled(self.annotations)

    def __hash__(self) -> int:
        # The label and annotation dicts cannot be hashed; equal snapshots share these fields.
        return hash((self.ref, self.created, self.deleted_at))


@dataclass(frozen=True, slots=True)
class DeploymentSnapshot:
    """What the operator keeps of a Deployment. ``replicas`` is the desired count
    (``spec.replicas``, 1 when unset as Kubernetes defaults it); the other counts come
    from ``status``."""

    ref: WorkloadRef
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    created: datetime
    deleted_at: datetime | None
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

    @property
    def events_disabled(self) -> bool:
        return is_disabled(self.annotations)

    def __hash__(self) -> int:
        # The label and annotation dicts cannot be hashed; equal snapshots share these fields.
        return hash((self.ref, self.created, self.deleted_at))


@dataclass(frozen=True, slots=True)
class ReplicaSetSnapshot:
    """What the operator keeps of a ReplicaSet: which Deployment revision it holds.

    ``deployment`` is the name of the Deployment that controls it; ``images`` are its pod
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
    annotations: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None


def is_disabled(annotations: Mapping[str, str]) -> bool:
    """True when ``cortex.io/events`` opts the object out of events."""
    value = annotations.get(EVENTS_ANNOTATION)
    return isinstance(value, str) and value.strip().lower() == EVENTS_DISABLED


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None when absent or malformed."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def _intern(value: str) -> str:
    # Label keys and values, namespaces, node names and images repeat across thousands of pods.
    return sys.intern(value)


def _labels(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {
        _intern(k): _intern(v)
        for k, v in _map(metadata.get("labels")).items()
        if isinstance(k, str) and isinstance(v, str)
    }


def _cortex_annotations(
    metadata: Mapping[str, Any], keep: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The ``cortex.io/`` annotations, and the others named in ``keep``."""
    return {
        _intern(k): v
        for k, v in _map(metadata.get("annotations")).items()
        if isinstance(k, str)
        and (k.startswith(ANNOTATION_PREFIX) or k in keep)
        and isinstance(v, str)
    }


def _ref(kind: str, metadata: Mapping[str, Any]) -> WorkloadRef:
    return WorkloadRef(
        kind=kind,
        namespace=_intern(_str(metadata.get("namespace")) or "default"),
        name=_str(metadata.get("name")) or "",
        uid=_str(metadata.get("uid")) or "",
    )


def _deleted_at(metadata: Mapping[str, Any], deleted_at: datetime | None) -> datetime | None:
    if deleted_at is not None:
        return parse_time(deleted_at)
    # The API server sets deletionTimestamp to the end of the grace period; the deletion was
    # asked for that many seconds earlier.
    ends = parse_time(metadata.get("deletionTimestamp"))
    if ends is None:
        return None
    grace = _int(metadata.get("deletionGracePeriodSeconds"), 0)
    return ends - timedelta(seconds=max(grace, 0))


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for condition in _list(status.get("conditions")):
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return {}


def _container_state(raw: Mapping[str, Any], *, init: bool) -> ContainerState:
    state = _map(raw.get("state"))
    waiting = _map(state.get("waiting"))
    terminated = _map(state.get("terminated"))
    last = _map(_map(raw.get("lastState")).get("terminated"))
    return ContainerState(
        name=_str(raw.get("name")) or "",
        image=_intern(_str(raw.get("image")) or ""),
        ready=raw.get("ready") is True,
        restart_count=_int(raw.get("restartCount")),
        waiting_reason=_str(waiting.get("reason")),
        waiting_message=_str(waiting.get("message")),
        terminated_reason=_str(terminated.get("reason")) if terminated else None,
        terminated_exit_code=_int(terminated.get("exitCode")) if terminated else None,
        last_terminated_reason=_str(last.get("reason")) if last else None,
        last_terminated_exit_code=_int(last.get("exitCode")) if last else None,
        last_terminated_at=parse_time(last.get("finishedAt")),
        terminated_at=parse_time(terminated.get("finishedAt")),
        init=init,
    )


def _spec_images(pod_spec: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        _intern(image)
        for container in _list(pod_spec.get("containers"))
        if isinstance(container, Mapping) and (image := _str(container.get("image")))
    )


def _owner_replicaset(metadata: Mapping[str, Any]) -> str | None:
    owners = [o for o in _list(metadata.get("ownerReferences")) if isinstance(o, Mapping)]
    replicasets = [o for o in owners if o.get("kind") == "ReplicaSet"]
    replicasets.sort(key=lambda o: o.get("controller") is not True)
    return _str(replicasets[0].get("name")) if replicasets else None


def pod_snapshot(obj: Mapping[str, Any], *, deleted_at: datetime | None = None) -> PodSnapshot:
    """Snapshot a raw Pod dict. ``deleted_at`` defaults to ``metadata.deletionTimestamp``."""
    metadata = _map(obj.get("metadata"))
    spec = _map(obj.get("spec"))
    status = _map(obj.get("status"))
    spec_images = {
        _str(c.get("name")): _str(c.get("image"))
        for key in ("initContainers", "containers")
        for c in _list(spec.get(key))
        if isinstance(c, Mapping)
    }
    containers: list[ContainerState] = []
    for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for raw in _list(status.get(key)):
            if not isinstance(raw, Mapping):
                continue
            container = _container_state(raw, init=init)
            if not container.image:
                # Before the image is resolved the status may carry no image: use the spec's.
                image = spec_images.get(container.name) or ""
                container = replace(container, image=_intern(image))
            containers.append(container)
    node = _str(spec.get("nodeName"))
    return PodSnapshot(
        ref=_ref("Pod", metadata),
        labels=_labels(metadata),
        annotations=_cortex_annotations(metadata),
        created=parse_time(metadata.get("creationTimestamp")) or EPOCH,
        deleted_at=_deleted_at(metadata, deleted_at),
        owner_replicaset=_owner_replicaset(metadata),
        node_name=_intern(node) if node else None,
        phase=_str(status.get("phase")) or "Pending",
        ready=_condition(status, "Ready").get("status") == "True",
        reason=_str(status.get("reason")),
        message=_str(status.get("message")),
        containers=tuple(containers),
        images=_spec_images(spec),
    )


def revision_number(annotations: Mapping[str, Any]) -> int | None:
    """The ``deployment.kubernetes.io/revision`` annotation as a number (1 and up), if set."""
    revision = _int(annotations.get(REVISION_ANNOTATION), default=-1)
    return revision if revision >= 1 else None


def replicaset_snapshot(
    obj: Mapping[str, Any], *, keep: frozenset[str] = frozenset()
) -> ReplicaSetSnapshot:
    """Snapshot a raw ``apps/v1`` ReplicaSet dict; ``keep`` names annotations to keep beside
    the ``cortex.io/`` ones."""
    metadata = _map(obj.get("metadata"))
    annotations = _map(metadata.get("annotations"))
    template = _map(_map(obj.get("spec")).get("template"))
    owners = [o for o in _list(metadata.get("ownerReferences")) if isinstance(o, Mapping)]
    deployment = next(
        (
            _str(o.get("name"))
            for o in owners
            if o.get("kind") == "Deployment" and o.get("controller", True) is not False
        ),
        None,
    )
    template_metadata = _map(template.get("metadata"))
    restarted = _map(template_metadata.get("annotations")).get(RESTARTED_AT_ANNOTATION)
    version = _labels(template_metadata).get(VERSION_LABEL)
    return ReplicaSetSnapshot(
        namespace=_intern(_str(metadata.get("namespace")) or "default"),
        name=_str(metadata.get("name")) or "",
        uid=_str(metadata.get("uid")) or "",
        deployment=deployment,
        revision=revision_number(annotations),
        images=_spec_images(_map(template.get("spec"))),
        created=parse_time(metadata.get("creationTimestamp")) or EPOCH,
        reused=bool(_str(annotations.get(REVISION_HISTORY_ANNOTATION))),
        restarted_at=_str(restarted),
        annotations=_cortex_annotations(metadata, keep)
        | _cortex_annotations(template_metadata, keep),
        version=version or None,
    )


def deployment_snapshot(
    obj: Mapping[str, Any],
    *,
    deleted_at: datetime | None = None,
    keep: frozenset[str] = frozenset(),
) -> DeploymentSnapshot:
    """Snapshot a raw ``apps/v1`` Deployment dict; ``keep`` names annotations to keep beside
    the ``cortex.io/`` ones."""
    metadata = _map(obj.get("metadata"))
    spec = _map(obj.get("spec"))
    status = _map(obj.get("status"))
    template_spec = _map(_map(spec.get("template")).get("spec"))
    progressing = _condition(status, "Progressing")
    return DeploymentSnapshot(
        ref=_ref("Deployment", metadata),
        labels=_labels(metadata),
        annotations=_cortex_annotations(metadata, keep),
        created=parse_time(metadata.get("creationTimestamp")) or EPOCH,
        deleted_at=_deleted_at(metadata, deleted_at),
        generation=_int(metadata.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        replicas=_int(spec.get("replicas"), default=1),
        ready_replicas=_int(status.get("readyReplicas")),
        updated_replicas=_int(status.get("updatedReplicas")),
        available_replicas=_int(status.get("availableReplicas")),
        revision=revision_number(_map(metadata.get("annotations"))),
        images=_spec_images(template_spec),
        progressing_reason=_str(progressing.get("reason")),
        progressing_message=_str(progressing.get("message")),
        progressing_updated=parse_time(progressing.get("lastUpdateTime")),
    )
