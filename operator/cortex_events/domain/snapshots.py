"""Raw Pods, Deployments and ReplicaSets read into their snapshots (`cortex_events.domain.model`).

Reading is tolerant: a missing or malformed field becomes its empty value, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from cortex_events.domain.model import (
    ARGO_REVISION_ANNOTATION,
    POD_OWNER_KINDS,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    VERSION_LABEL,
    ContainerState,
    DeploymentSnapshot,
    PodSnapshot,
    ReplicaSetSnapshot,
    replica_fields,
    workload_fields,
)
from cortex_events.domain.parsing import (
    as_int,
    as_list,
    as_map,
    as_str,
    bounded,
    condition,
    condition_if,
    controller_owner,
    cortex_annotations,
    created_of,
    field_writer,
    intern,
    labels_of,
    namespace_of,
    object_parts,
    optional_int,
    parse_time,
    restart_probes,
    spec_images,
    template_images,
)
from cortex_events.domain.templates import template_print, template_writers


def _container_state(
    raw: Mapping[str, Any], *, init: bool, probes: tuple[str, ...] = ()
) -> ContainerState:
    state = as_map(raw.get("state"))
    waiting = as_map(state.get("waiting"))
    terminated = as_map(state.get("terminated"))
    last = as_map(as_map(raw.get("lastState")).get("terminated"))
    restarts = as_int(raw.get("restartCount"))
    return ContainerState(
        name=as_str(raw.get("name")) or "",
        image=intern(as_str(raw.get("image")) or ""),
        ready=raw.get("ready") is True,
        restart_count=restarts,
        waiting_reason=as_str(waiting.get("reason")),
        waiting_message=bounded(waiting.get("message")),
        terminated_reason=as_str(terminated.get("reason")) if terminated else None,
        terminated_exit_code=as_int(terminated.get("exitCode")) if terminated else None,
        last_terminated_reason=as_str(last.get("reason")) if last else None,
        last_terminated_exit_code=as_int(last.get("exitCode")) if last else None,
        last_terminated_at=parse_time(last.get("finishedAt")),
        terminated_at=parse_time(terminated.get("finishedAt")),
        init=init,
        running_since=parse_time(as_map(state.get("running")).get("startedAt"))
        if restarts
        else None,
        last_started_at=parse_time(last.get("startedAt")),
        last_terminated_message=bounded(last.get("message")),
        probes=probes,
    )


def pod_snapshot(
    obj: Mapping[str, Any],
    *,
    deleted_at: datetime | None = None,
    keep: frozenset[str] = frozenset(),
) -> PodSnapshot:
    """Snapshot a raw Pod dict. ``deleted_at`` defaults to ``metadata.deletionTimestamp``;
    ``keep`` names annotations to keep beside the ``cortex.io/`` ones."""
    metadata, spec, status = object_parts(obj)
    specs = {
        as_str(c.get("name")): c
        for key in ("initContainers", "containers")
        for c in as_list(spec.get(key))
        if isinstance(c, Mapping)
    }
    containers: list[ContainerState] = []
    for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for raw in as_list(status.get(key)):
            if not isinstance(raw, Mapping):
                continue
            container_spec = as_map(specs.get(as_str(raw.get("name"))))
            container = _container_state(raw, init=init, probes=restart_probes(container_spec))
            if not container.image:
                # Before the image is resolved the status may carry no image: use the spec's.
                image = as_str(container_spec.get("image")) or ""
                container = replace(container, image=intern(image))
            containers.append(container)
    node = as_str(spec.get("nodeName"))
    ready = condition(status, "Ready").get("status") == "True"
    return PodSnapshot(
        **workload_fields("Pod", metadata, deleted_at, keep),
        owner=controller_owner(metadata, POD_OWNER_KINDS),
        node_name=intern(node) if node else None,
        phase=as_str(status.get("phase")) or "Pending",
        ready=ready,
        reason=as_str(status.get("reason")),
        message=bounded(status.get("message")),
        containers=tuple(containers),
        images=spec_images(spec),
        started_at=None if ready else parse_time(status.get("startTime")),
        unscheduled=condition_if(status, "PodScheduled", "False"),
        not_ready=condition_if(status, "Ready", "False"),
        disruption=condition_if(status, "DisruptionTarget", "True"),
    )


def revision_number(
    annotations: Mapping[str, Any], annotation: str = REVISION_ANNOTATION
) -> int | None:
    """The ``deployment.kubernetes.io/revision`` annotation (or ``annotation``) as a number
    (1 and up), if set."""
    revision = as_int(annotations.get(annotation), default=-1)
    return revision if revision >= 1 else None


def replicaset_snapshot(
    obj: Mapping[str, Any], *, keep: frozenset[str] = frozenset()
) -> ReplicaSetSnapshot:
    """Snapshot a raw ``apps/v1`` ReplicaSet dict; ``keep`` names annotations to keep beside
    the ``cortex.io/`` ones."""
    metadata = as_map(obj.get("metadata"))
    annotations = as_map(metadata.get("annotations"))
    template = as_map(as_map(obj.get("spec")).get("template"))
    owners = [o for o in as_list(metadata.get("ownerReferences")) if isinstance(o, Mapping)]
    deployment, rollout = (
        next(
            (
                as_str(o.get("name"))
                for o in owners
                if o.get("kind") == kind and o.get("controller", True) is not False
            ),
            None,
        )
        for kind in ("Deployment", "Rollout")
    )
    template_metadata = as_map(template.get("metadata"))
    template_annotations = as_map(template_metadata.get("annotations"))
    restarted = template_annotations.get(RESTARTED_AT_ANNOTATION)
    version = labels_of(template_metadata).get(VERSION_LABEL)
    return ReplicaSetSnapshot(
        namespace=namespace_of(metadata),
        name=as_str(metadata.get("name")) or "",
        uid=as_str(metadata.get("uid")) or "",
        deployment=deployment,
        revision=revision_number(annotations),
        images=spec_images(as_map(template.get("spec"))),
        created=created_of(metadata),
        reused=bool(as_str(annotations.get(REVISION_HISTORY_ANNOTATION))),
        restarted_at=as_str(restarted),
        rollout=rollout,
        rollout_revision=revision_number(annotations, ARGO_REVISION_ANNOTATION),
        annotations=cortex_annotations(metadata, keep)
        | cortex_annotations(template_metadata, keep),
        version=version or None,
        template=template_print(template),
    )


def deployment_snapshot(
    obj: Mapping[str, Any],
    *,
    deleted_at: datetime | None = None,
    keep: frozenset[str] = frozenset(),
) -> DeploymentSnapshot:
    """Snapshot a raw ``apps/v1`` Deployment dict; ``keep`` names annotations to keep beside
    the ``cortex.io/`` ones."""
    metadata, spec, status = object_parts(obj)
    progressing = condition(status, "Progressing")
    return DeploymentSnapshot(
        **workload_fields("Deployment", metadata, deleted_at, keep),
        **replica_fields(metadata, spec, status),
        observed_generation=as_int(status.get("observedGeneration")),
        available_replicas=as_int(status.get("availableReplicas")),
        revision=revision_number(as_map(metadata.get("annotations"))),
        images=template_images(spec),
        progressing_reason=as_str(progressing.get("reason")),
        progressing_message=as_str(progressing.get("message")),
        progressing_updated=parse_time(progressing.get("lastUpdateTime")),
        replicas_writer=field_writer(metadata, "spec", "replicas"),
        progress_deadline=optional_int(spec.get("progressDeadlineSeconds")),
        template_writers=template_writers(metadata),
    )
