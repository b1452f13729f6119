"""The simulated deployment controller: a ReplicaSet per pod-template revision, and rollouts.

A new template gets a new ReplicaSet (named by the template's hash, with the next revision);
a rolling update scales it up and the old ones down within maxSurge and maxUnavailable, a
Recreate update removes the old pods first. Going back to an earlier template reuses its
ReplicaSet with the next revision and records the old one in the revision-history annotation.
Old idle ReplicaSets beyond revisionHistoryLimit are deleted. The status is `deployment_status`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from .deployment_status import ProgressClock, deployment_status
from .objects import DEPLOYMENTS, REPLICASETS, REVISION_ANNOTATION, revision
from .owners import OwnerIndex

HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
_HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_CHARS[byte % len(_HASH_CHARS)] for byte in digest[:10])


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * float(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


class DeploymentController:
    """Syncs changed Deployments, and those mid-rollout every round until the rollout ends."""

    def __init__(self, owners: OwnerIndex) -> None:
        self.owners = owners
        self.store = owners.store
        self.progress = ProgressClock()
        self._dirty: set[tuple[str, str]] = set()
        self._rolling: set[tuple[str, str]] = set()

    def mark(self, namespace: str, name: str) -> None:
        """The Deployment, or one of its ReplicaSets, changed: sync it in the next round."""
        self._dirty.add((namespace, name))

    def forget(self, namespace: str, name: str, uid: str) -> None:
        """The Deployment is gone."""
        self._rolling.discard((namespace, name))
        self.progress.forget(uid)

    def take_due(self) -> list[tuple[str, str]]:
        """The Deployments to `sync` this round, as (namespace, name)."""
        due = self._dirty | self._rolling
        self._dirty = set()
        return sorted(due)

    def sync(self, namespace: str, name: str) -> None:
        deployment = self.store.peek(DEPLOYMENTS, name, namespace)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            self._rolling.discard((namespace, name))
            return
        spec = deployment["spec"]
        uid = deployment["metadata"]["uid"]
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        surge = _scaled(rolling.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
        if strategy.get("type") == "Recreate":
            surge, unavailable = 0, desired
        elif surge == 0 and unavailable == 0:
            unavailable = 1
        template_hash = _template_hash(template)
        sets = self.owners.owned(deployment, REPLICASETS)
        new_rs = next(
            (
                rs
                for rs in sets
                if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == template_hash
            ),
            None,
        )
        olds = [rs for rs in sets if rs is not new_rs]
        top_revision = max((revision(rs) for rs in olds), default=0)
        created = False
        loop_time = asyncio.get_running_loop().time()
        if new_rs is None and not spec.get("paused"):
            old_total = sum(int(rs["spec"].get("replicas", 0)) for rs in olds)
            start = desired if not old_total else max(0, min(desired, desired + surge - old_total))
            if strategy.get("type") == "Recreate" and old_total:
                start = 0
            new_rs = self._create_replicaset(
                deployment, template, template_hash, top_revision + 1, start, desired + surge
            )
            created = True
            self.progress.mark(uid, loop_time)
        elif new_rs is not None and revision(new_rs) <= top_revision:
            # A rollback: the earlier ReplicaSet gets the next revision and remembers its old
            # ones, as the real controller's revision-history annotation does.
            annotations = new_rs["metadata"].get("annotations") or {}
            history = [h for h in str(annotations.get(HISTORY_ANNOTATION, "")).split(",") if h]
            history.append(str(revision(new_rs)))
            self._annotate(
                REPLICASETS,
                new_rs,
                {REVISION_ANNOTATION: str(top_revision + 1), HISTORY_ANNOTATION: ",".join(history)},
            )
            new_rs = self.store.get(REPLICASETS, new_rs["metadata"]["name"], namespace)
            self.progress.mark(uid, loop_time)
        if new_rs is not None:
            self._annotate(DEPLOYMENTS, deployment, {REVISION_ANNOTATION: str(revision(new_rs))})
            if not created:
                self._scale(deployment, new_rs, olds, desired, surge, unavailable, strategy)
            self._cleanup(deployment, olds)
        self._update_status(namespace, name, desired, unavailable, created)

    def _create_replicaset(
        self,
        deployment: Mapping[str, Any],
        template: Mapping[str, Any],
        template_hash: str,
        revision: int,
        replicas: int,
        max_replicas: int,
    ) -> Mapping[str, Any]:
        metadata = deployment["metadata"]
        template_meta = dict(template.get("metadata") or {})
        labels = {**(template_meta.get("labels") or {}), HASH_LABEL: template_hash}
        selector = json.loads(json.dumps(deployment["spec"].get("selector") or {}))
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        return self.store.create(
            REPLICASETS,
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{metadata['name']}-{template_hash}",
                    "namespace": metadata["namespace"],
                    "labels": labels,
                    "annotations": {
                        REVISION_ANNOTATION: str(revision),
                        "deployment.kubernetes.io/desired-replicas": str(
                            deployment["spec"].get("replicas", 1)
                        ),
                        "deployment.kubernetes.io/max-replicas": str(max_replicas),
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": metadata["name"],
                            "uid": metadata["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": replicas,
                    "minReadySeconds": int(deployment["spec"].get("minReadySeconds") or 0),
                    "selector": selector,
                    "template": {**template, "metadata": {**template_meta, "labels": labels}},
                },
            },
        )

    def _annotate(self, key: str, obj: Mapping[str, Any], annotations: Mapping[str, str]) -> None:
        current = obj["metadata"].get("annotations") or {}
        if any(current.get(k) != v for k, v in annotations.items()):
            metadata = obj["metadata"]
            self.store.patch(
                key,
                metadata["name"],
                {"metadata": {"annotations": annotations}},
                metadata["namespace"],
            )

    def _set_replicas(self, rs: Mapping[str, Any], replicas: int) -> None:
        if int(rs["spec"].get("replicas", 0)) != replicas:
            metadata = rs["metadata"]
            self.store.patch(
                REPLICASETS,
                metadata["name"],
                {"spec": {"replicas": replicas}},
                metadata["namespace"],
            )

    def _scale(
        self,
        deployment: Mapping[str, Any],
        new_rs: Mapping[str, Any],
        olds: list[Mapping[str, Any]],
        desired: int,
        surge: int,
        max_unavailable: int,
        strategy: Mapping[str, Any],
    ) -> None:
        def replicas(rs: Mapping[str, Any]) -> int:
            return int(rs["spec"].get("replicas", 0))

        def available(rs: Mapping[str, Any]) -> int:
            return int((rs.get("status") or {}).get("availableReplicas", 0))

        active_olds = [rs for rs in olds if replicas(rs) > 0]
        if strategy.get("type") == "Recreate":
            for rs in active_olds:
                self._set_replicas(rs, 0)
            if not any(int((rs.get("status") or {}).get("replicas", 0)) for rs in olds):
                self._set_replicas(new_rs, desired)
            return
        if not active_olds:
            self._set_replicas(new_rs, desired)
            return
        total = replicas(new_rs) + sum(replicas(rs) for rs in active_olds)
        new_count = replicas(new_rs)
        if new_count < desired and desired + surge - total > 0:
            new_count = min(desired, new_count + desired + surge - total)
            self._set_replicas(new_rs, new_count)
        total = new_count + sum(replicas(rs) for rs in active_olds)
        min_available = desired - max_unavailable
        scale_down = total - min_available - (new_count - available(new_rs))
        counts = {rs["metadata"]["name"]: replicas(rs) for rs in active_olds}
        for rs in active_olds:  # unhealthy old replicas go first, as they serve nothing
            unhealthy = counts[rs["metadata"]["name"]] - available(rs)
            cut = min(unhealthy, scale_down)
            if cut > 0:
                counts[rs["metadata"]["name"]] -= cut
                scale_down -= cut
        healthy_cut = sum(available(rs) for rs in [new_rs, *active_olds]) - min_available
        for rs in active_olds:
            cut = min(counts[rs["metadata"]["name"]], healthy_cut)
            if cut > 0:
                counts[rs["metadata"]["name"]] -= cut
                healthy_cut -= cut
        for rs in active_olds:
            self._set_replicas(rs, counts[rs["metadata"]["name"]])

    def _cleanup(self, deployment: Mapping[str, Any], olds: list[Mapping[str, Any]]) -> None:
        limit = int(deployment["spec"].get("revisionHistoryLimit", 10))
        idle = [
            rs
            for rs in olds
            if not int(rs["spec"].get("replicas", 0))
            and not int((rs.get("status") or {}).get("replicas", 0))
        ]
        idle.sort(key=revision)
        for rs in idle[: max(0, len(idle) - limit)]:
            self.store.delete(REPLICASETS, rs["metadata"]["name"], rs["metadata"]["namespace"])

    def _update_status(
        self, namespace: str, name: str, desired: int, max_unavailable: int, created: bool
    ) -> None:
        deployment = self.store.get(DEPLOYMENTS, name, namespace)
        status, ended = deployment_status(
            deployment,
            self.owners.owned(deployment, REPLICASETS),
            desired=desired,
            max_unavailable=max_unavailable,
            created=created,
            progress=self.progress,
            now=asyncio.get_running_loop().time(),
        )
        if ended:
            self._rolling.discard((namespace, name))
        else:
            self._rolling.add((namespace, name))
        if status != (deployment.get("status") or {}):
            self.store.replace(
                DEPLOYMENTS, name, {**deployment, "status": status}, namespace, subresource="status"
            )
