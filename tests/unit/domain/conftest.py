"""Builders for realistic Kubernetes Pod and Deployment dicts, shaped like API server output."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

PodFactory = Callable[..., dict[str, Any]]
ContainerFactory = Callable[..., dict[str, Any]]
DeploymentFactory = Callable[..., dict[str, Any]]

CREATED = "2026-03-01T10:00:00Z"


def build_container(
    name: str = "app",
    image: str = "nginx:1.25",
    *,
    ready: bool = True,
    restart_count: int = 0,
    state: Mapping[str, Any] | None = None,
    last_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": f"docker.io/library/{image}@sha256:0123",
        "ready": ready,
        "restartCount": restart_count,
        "started": ready,
        "state": dict(state) if state is not None else {"running": {"startedAt": CREATED}},
        "lastState": dict(last_state) if last_state is not None else {},
    }


def build_pod(
    name: str = "web-5d8f7c9b4-x2k9p",
    *,
    uid: str = "5f0c2a1e-pod-0001",
    namespace: str = "shop",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    phase: str = "Running",
    ready: bool = True,
    node: str | None = "sim-node-1",
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    replicaset: str | None = "web-5d8f7c9b4",
    deletion: str | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    statuses = containers if containers is not None else [build_container()]
    metadata: dict[str, Any] = {
        "name": name,
        "generateName": "web-5d8f7c9b4-",
        "namespace": namespace,
        "uid": uid,
        "resourceVersion": "48213",
        "creationTimestamp": CREATED,
        "labels": dict(labels)
        if labels is not None
        else {"app": "web", "pod-template-hash": "5d8f7c9b4"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-03-01T09:59:00Z"}
        | dict(annotations or {}),
        "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}],
    }
    if replicaset:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": replicaset,
                "uid": "rs-uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    if deletion:
        metadata["deletionTimestamp"] = deletion
        metadata["deletionGracePeriodSeconds"] = 30
    spec: dict[str, Any] = {
        "containers": [{"name": c["name"], "image": c["image"], "resources": {}} for c in statuses],
        "restartPolicy": "Always",
    }
    if init_containers:
        spec["initContainers"] = [{"name": c["name"], "image": c["image"]} for c in init_containers]
    if node:
        spec["nodeName"] = node
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True" if node else "False"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ],
        "containerStatuses": statuses,
        "startTime": CREATED,
    }
    if init_containers:
        status["initContainerStatuses"] = init_containers
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def build_deployment(
    name: str = "web",
    *,
    uid: str = "9a7d-deploy-0001",
    namespace: str = "shop",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    replicas: int | None = 3,
    generation: int = 1,
    observed_generation: int | None = None,
    revision: int | None = 1,
    images: tuple[str, ...] = ("nginx:1.25",),
    updated: int | None = None,
    available: int | None = None,
    ready: int | None = None,
    progressing_reason: str | None = "NewReplicaSetAvailable",
    progressing_message: str | None = None,
    progressing_updated: str | None = "2026-03-01T10:00:30Z",
    deletion: str | None = None,
) -> dict[str, Any]:
    count = replicas if replicas is not None else 1
    meta_annotations = dict(annotations or {})
    if revision is not None:
        meta_annotations["deployment.kubernetes.io/revision"] = str(revision)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "generation": generation,
        "creationTimestamp": CREATED,
        "labels": dict(labels) if labels is not None else {"app": "web"},
        "annotations": meta_annotations,
    }
    if deletion:
        metadata["deletionTimestamp"] = deletion
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
            },
        },
        "progressDeadlineSeconds": 600,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    conditions: list[dict[str, Any]] = [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
    ]
    if progressing_reason:
        conditions.append(
            {
                "type": "Progressing",
                "status": "False" if progressing_reason == "ProgressDeadlineExceeded" else "True",
                "reason": progressing_reason,
                "message": progressing_message
                or f'ReplicaSet "{name}-5d8f7c9b4" has successfully progressed.',
                "lastUpdateTime": progressing_updated,
                "lastTransitionTime": CREATED,
            }
        )
    status = {
        "observedGeneration": generation if observed_generation is None else observed_generation,
        "replicas": count,
        "updatedReplicas": count if updated is None else updated,
        "readyReplicas": count if ready is None else ready,
        "availableReplicas": count if available is None else available,
        "conditions": conditions,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


@pytest.fixture
def make_pod() -> PodFactory:
    return build_pod


@pytest.fixture
def make_container() -> ContainerFactory:
    return build_container


@pytest.fixture
def make_deployment() -> DeploymentFactory:
    return build_deployment
