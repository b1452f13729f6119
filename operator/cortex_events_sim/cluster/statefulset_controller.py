"""The simulated StatefulSet controller: ordered Pods, a ControllerRevision per template, rolling
updates from the highest ordinal down (those at or above the partition only), and the status
fields the real controller writes (``updateRevision``, ``currentRevision``, the counts)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .objects import PODS, is_ready, owner_ref, pod_from_template
from .owners import OwnerController

STATEFULSETS = "statefulsets.apps"
CONTROLLER_REVISIONS = "controllerrevisions.apps"
REVISION_LABEL = "controller-revision-hash"


def _hash(template: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _revision_of(pod: Mapping[str, Any]) -> str | None:
    return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL)


class StatefulSetController(OwnerController):
    """Syncs each marked StatefulSet: its revision, one Pod step, its status."""

    def _revision(self, sts: Mapping[str, Any]) -> str:
        """The name of the ControllerRevision holding the current template, made if new (a
        template seen before gets its old revision back, with the next number)."""
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        template = sts["spec"].get("template") or {}
        revision_name = f"{name}-{_hash(template)}"
        revisions = self.owners.owned(sts, CONTROLLER_REVISIONS)
        newest = max((int(r.get("revision", 0)) for r in revisions), default=0)
        existing = next((r for r in revisions if r["metadata"]["name"] == revision_name), None)
        if existing is None:
            self.store.create(
                CONTROLLER_REVISIONS,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ControllerRevision",
                    "metadata": {
                        "name": revision_name,
                        "namespace": namespace,
                        "labels": {REVISION_LABEL: revision_name},
                        "ownerReferences": [owner_ref(sts, "StatefulSet", "apps/v1")],
                    },
                    "revision": newest + 1,
                    "data": {"spec": {"template": {"$patch": "replace", **template}}},
                },
                namespace,
            )
        elif int(existing.get("revision", 0)) != newest:
            self.store.patch(
                CONTROLLER_REVISIONS, revision_name, {"revision": newest + 1}, namespace
            )
        return revision_name

    def sync(self, namespace: str, name: str) -> None:
        sts = self.live(STATEFULSETS, namespace, name)
        if sts is None:
            return
        spec = sts["spec"]
        desired = int(spec.get("replicas", 1))
        update = self._revision(sts)
        rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        partition = int(rolling.get("partition") or 0)
        pods = {p["metadata"]["name"]: p for p in self.owners.owned(sts, PODS)}
        status = sts.get("status") or {}
        current = status.get("currentRevision") or update
        template = spec.get("template") or {}
        # One step a round, as the real controller waits for each pod to be ready.
        for ordinal in range(desired):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name)
            wanted = update if ordinal >= partition else current
            if pod is None:
                self._create_pod(sts, pod_name, wanted, template)
                self.mark(namespace, name)
                break
            if pod["metadata"].get("deletionTimestamp"):
                self.mark(namespace, name)
                break
            if not is_ready(pod):
                break
        else:
            for ordinal in reversed(range(desired)):
                pod = pods[f"{name}-{ordinal}"]
                wanted = update if ordinal >= partition else current
                if _revision_of(pod) != wanted:
                    self.store.delete(PODS, pod["metadata"]["name"], namespace)
                    self.mark(namespace, name)
                    break
        for pod_name in pods:
            ordinal = pod_name.rsplit("-", 1)[-1]
            if ordinal.isdigit() and int(ordinal) >= desired:
                self.store.delete(PODS, pod_name, namespace)
        self._report(sts, update, current)

    def _create_pod(
        self, sts: Mapping[str, Any], pod_name: str, revision: str, template: Mapping[str, Any]
    ) -> None:
        namespace = sts["metadata"]["namespace"]
        source = template
        if revision != f"{sts['metadata']['name']}-{_hash(template)}":
            stored = self.store.peek(CONTROLLER_REVISIONS, revision, namespace)
            if stored is not None:
                source = dict(stored["data"]["spec"]["template"])
                source.pop("$patch", None)
        owner = owner_ref(sts, "StatefulSet", "apps/v1")
        labels = {REVISION_LABEL: revision}
        pod = pod_from_template(source, owner, namespace, name=pod_name, labels=labels)
        self.store.create(PODS, pod, namespace)

    def _report(self, sts: Mapping[str, Any], update: str, current: str) -> None:
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        desired = int(sts["spec"].get("replicas", 1))
        pods = [
            p for p in self.owners.owned(sts, PODS) if not p["metadata"].get("deletionTimestamp")
        ]
        ready = [p for p in pods if is_ready(p)]
        updated = [
            p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == update
        ]
        updated_ready = [p for p in updated if is_ready(p)]
        if len(updated_ready) >= desired:
            current = update
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "currentReplicas": len(pods) - len(updated) if current != update else len(pods),
            "updatedReplicas": len(updated),
            "currentRevision": current,
            "updateRevision": update,
        }
        if {k: (sts.get("status") or {}).get(k) for k in status} != status:
            self.store.patch(
                STATEFULSETS, name, {"status": status}, namespace, subresource="status"
            )
