"""The workload index's links from a Deployment or Argo Rollout to its ReplicaSets and Pods."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cortex_events.controllers.workloads import WorkloadIndex
from cortex_events.domain.snapshots import pod_snapshot, replicaset_snapshot

NOW = datetime(2026, 5, 20, 5, 16, 49, tzinfo=UTC)


def replicaset(name: str, kind: str | None, owner: str = "", revision: int = 1) -> Any:
    refs = [{"kind": kind, "name": owner, "uid": f"{owner}-uid", "controller": True}]
    return replicaset_snapshot(
        {
            "metadata": {
                "name": name,
                "namespace": "shop",
                "uid": f"{name}-uid",
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                "ownerReferences": refs if kind else [],
            },
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}},
        }
    )


def pod(name: str, rs: str) -> Any:
    return pod_snapshot(
        {
            "metadata": {
                "name": name,
                "namespace": "shop",
                "uid": f"{name}-uid",
                "ownerReferences": [
                    {"kind": "ReplicaSet", "name": rs, "uid": f"{rs}-uid", "controller": True}
                ],
            },
            "spec": {"containers": [{"name": "app", "image": "a:1"}]},
            "status": {"phase": "Running"},
        }
    )


def names(index: WorkloadIndex, kind: str, owner: str) -> list[str]:
    return sorted(rs.snapshot.name for rs in index.replicasets_of(kind, "shop", owner))


def test_each_owner_reaches_its_own_replicasets_and_their_pods() -> None:
    index = WorkloadIndex()
    index.put_replicaset(replicaset("web-1", "Deployment", "web"), now=NOW)
    index.put_replicaset(replicaset("web-2", "Deployment", "web", revision=2), now=NOW)
    index.put_replicaset(replicaset("api-1", "Deployment", "api"), now=NOW)
    index.put_replicaset(replicaset("canary-1", "Rollout", "canary"), now=NOW)
    index.put_replicaset(replicaset("loose-1", None), now=NOW)
    for name, rs in (("web-a", "web-1"), ("web-b", "web-2"), ("api-a", "api-1")):
        index.put_pod(pod(name, rs))
    index.put_pod(pod("canary-a", "canary-1"))
    assert names(index, "Deployment", "web") == ["web-1", "web-2"]
    assert names(index, "Rollout", "canary") == ["canary-1"]
    assert names(index, "Deployment", "canary") == []
    assert index.pods_of("Deployment", "shop", "web") == {"web-a-uid", "web-b-uid"}
    assert index.pods_of("Rollout", "shop", "canary") == {"canary-a-uid"}
    assert index.pods_of("Deployment", "other", "web") == set()


def test_a_replicaset_that_changes_hands_leaves_its_first_owner() -> None:
    index = WorkloadIndex()
    index.put_replicaset(replicaset("web-1", "Deployment", "web"), now=NOW)
    index.put_pod(pod("web-a", "web-1"))
    # Orphaned, then adopted by another Deployment (the same labels).
    index.put_replicaset(replicaset("web-1", None), now=NOW)
    assert names(index, "Deployment", "web") == []
    index.put_replicaset(replicaset("web-1", "Deployment", "web-v2"), now=NOW)
    assert names(index, "Deployment", "web-v2") == ["web-1"]
    assert index.pods_of("Deployment", "shop", "web") == set()
    assert index.pods_of("Deployment", "shop", "web-v2") == {"web-a-uid"}


def test_a_deleted_replicaset_counts_until_its_last_pod_is_gone() -> None:
    index = WorkloadIndex()
    index.put_replicaset(replicaset("web-1", "Deployment", "web"), now=NOW)
    index.put_replicaset(replicaset("web-2", "Deployment", "web", revision=2), now=NOW)
    index.put_pod(pod("web-a", "web-1"))
    index.replicaset_deleted(("shop", "web-1"))
    index.replicaset_deleted(("shop", "web-2"))  # no Pods: forgotten at once
    assert names(index, "Deployment", "web") == ["web-1"]
    assert index.pods_of("Deployment", "shop", "web") == {"web-a-uid"}
    index.forget("web-a-uid")
    assert names(index, "Deployment", "web") == []
    assert index.is_empty()
