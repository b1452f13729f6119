"""What the simulated controllers read from the objects they work on.

Resource keys, owner references, readiness and revisions: plain functions of stored objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PODS = "pods"
DEPLOYMENTS = "deployments.apps"
REPLICASETS = "replicasets.apps"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

Key = tuple[str, str, str]  # (resource key, namespace, name)


def owner_uids(obj: Mapping[str, Any] | None) -> set[str]:
    if obj is None:
        return set()
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return {ref["uid"] for ref in refs if ref.get("uid")}


def controller_of(obj: Mapping[str, Any], kind: str) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("controller", True):
            return str(ref["name"])
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def revision(rs: Mapping[str, Any]) -> int:
    text = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0")
    return int(text) if text.isdigit() else 0


class Marked:
    """What a controller's objects changed since its last round, as (namespace, name): the
    store's listener marks them, each round takes them."""

    def __init__(self) -> None:
        self._dirty: set[tuple[str, str]] = set()

    def mark(self, namespace: str, name: str) -> None:
        """The object, or one of its dependents, changed: sync it in the next round."""
        self._dirty.add((namespace, name))

    def take_due(self) -> list[tuple[str, str]]:
        """The objects to sync this round."""
        due, self._dirty = self._dirty, set()
        return sorted(due)


def owner_ref(obj: Mapping[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    """The controller owner reference to ``obj``, as its controller writes it."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(
    template: Mapping[str, Any],
    owner: dict[str, Any],
    namespace: str,
    *,
    name: str | None = None,
    generate_name: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Pod of ``template`` (a pod template) owned by ``owner``, with ``labels`` added."""
    meta = template.get("metadata") or {}
    metadata: dict[str, Any] = {
        "namespace": namespace,
        "labels": {**(meta.get("labels") or {}), **(labels or {})},
        "annotations": dict(meta.get("annotations") or {}),
        "ownerReferences": [owner],
    }
    if name is not None:
        metadata["name"] = name
    if generate_name is not None:
        metadata["generateName"] = generate_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": template.get("spec") or {}}  # fmt: skip
