"""Sample workload manifests for the demo and the tests, as plain dicts.

``behavior`` sets the simulated kubelet's fate for the pods (see
`cortex_events_sim.cluster.kubelet`): ``Running`` (default), ``OOMKilled``, ``CrashLoopBackOff``,
``ImagePullBackOff``, ``Failed`` or ``Evicted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cortex_events_sim.cluster import BEHAVIOR_ANNOTATION

TAG_ANNOTATION = "cortex.io/tag"


def _annotations(
    tag: str | None, behavior: str | None, extra: Mapping[str, str] | None
) -> dict[str, str]:
    annotations = dict(extra or {})
    if tag:
        annotations[TAG_ANNOTATION] = tag
    if behavior:
        annotations[BEHAVIOR_ANNOTATION] = behavior
    return annotations


def deployment(
    name: str,
    *,
    namespace: str = "default",
    image: str = "nginx:1.25",
    replicas: int = 2,
    tag: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    behavior: str | None = None,
    progress_deadline_seconds: int = 600,
) -> dict[str, Any]:
    """An ``apps/v1`` Deployment; ``tag`` sets ``cortex.io/tag`` on the Deployment."""
    pod_labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": pod_labels,
            "annotations": _annotations(tag, None, annotations),
        },
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": progress_deadline_seconds,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": _annotations(None, behavior, None),
                },
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def statefulset(
    name: str,
    *,
    namespace: str = "default",
    image: str = "nginx:1.25",
    replicas: int = 2,
    tag: str | None = None,
    parallel: bool = False,
) -> dict[str, Any]:
    """An ``apps/v1`` StatefulSet; ``tag`` sets ``cortex.io/tag`` on the StatefulSet;
    ``parallel``: its Pods are started all at once (``podManagementPolicy: Parallel``)."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        },
    }
    if parallel:
        spec["podManagementPolicy"] = "Parallel"
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name},
            "annotations": _annotations(tag, None, None),
        },
        "spec": spec,
    }


def job(
    name: str,
    *,
    namespace: str = "default",
    image: str = "busybox:1.36",
    pods: int = 1,
    tag: str | None = None,
) -> dict[str, Any]:
    """A ``batch/v1`` Job of ``pods`` Pods run at once; ``tag`` sets ``cortex.io/tag`` on the
    Job."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": _annotations(tag, None, None),
        },
        "spec": {
            "parallelism": pods,
            "completions": pods,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "job", "image": image}],
                }
            },
        },
    }


def pod(
    name: str,
    *,
    namespace: str = "default",
    image: str = "busybox:1.36",
    tag: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    behavior: str | None = None,
) -> dict[str, Any]:
    """A bare Pod (no owner)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels or {"app": name}),
            "annotations": _annotations(tag, behavior, annotations),
        },
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def cortex_entity(
    name: str,
    tag: str,
    *,
    namespace: str = "default",
    match_labels: Mapping[str, str] | None = None,
    workloads: Sequence[tuple[str, str]] = (),
    event_types: Sequence[str] | None = None,
    custom_data: Mapping[str, Any] | None = None,
    retention: str | None = None,
    cleanup_on_delete: bool | None = None,
) -> dict[str, Any]:
    """A ``CortexEntity``."""
    spec: dict[str, Any] = {"tag": tag}
    if match_labels is not None:
        spec["selector"] = {"matchLabels": dict(match_labels)}
    if workloads:
        spec["workloads"] = [{"kind": kind, "name": name} for kind, name in workloads]
    if event_types is not None:
        spec["eventTypes"] = list(event_types)
    if custom_data is not None:
        spec["customData"] = dict(custom_data)
    if retention is not None:
        spec["retention"] = retention
    if cleanup_on_delete is not None:
        spec["cleanupOnDelete"] = cleanup_on_delete
    return {
        "apiVersion": "cortex.io/v1alpha1",
        "kind": "CortexEntity",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
