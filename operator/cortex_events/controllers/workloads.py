"""What the operator knows of the cluster's workloads: small snapshots and the links between them.

One snapshot per Pod and Deployment (never whole objects), the ReplicaSets that link a Pod to
its Deployment and hold each revision's template, the Deployments deleted while their Pods
still exist (garbage collection deletes the Pods after their owners), and, per Deployment, the
last state whose status reported on its revision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cortex_events.domain.deployments import Revision, revision_of
from cortex_events.domain.keys import rollout_key
from cortex_events.domain.mapping import OwnerInfo
from cortex_events.domain.model import DeploymentSnapshot, PodSnapshot, ReplicaSetSnapshot

NsName = tuple[str, str]


@dataclass(slots=True)
class KnownReplicaSet:
    snapshot: ReplicaSetSnapshot
    # When a rollback made this ReplicaSet's revision current, if the operator saw it happen.
    revised_at: datetime | None = None
    deleted: bool = False

    @property
    def deployment(self) -> str | None:
        return self.snapshot.deployment


class WorkloadIndex:
    """Single event loop; no locking needed."""

    def __init__(self) -> None:
        self.pods: dict[str, PodSnapshot] = {}
        self.deployments: dict[NsName, DeploymentSnapshot] = {}
        self.replicasets: dict[NsName, KnownReplicaSet] = {}
        self._pods_by_rs: dict[NsName, set[str]] = defaultdict(set)
        self._departed: dict[NsName, DeploymentSnapshot] = {}
        self.reported: dict[str, DeploymentSnapshot] = {}

    # -- Pods ----------------------------------------------------------------------------------

    def put_pod(self, pod: PodSnapshot) -> PodSnapshot | None:
        """Keep the Pod's snapshot; returns the one it replaces."""
        previous = self.pods.get(pod.ref.uid)
        self.pods[pod.ref.uid] = pod
        if pod.owner_replicaset:
            self._pods_by_rs[(pod.ref.namespace, pod.owner_replicaset)].add(pod.ref.uid)
        return previous

    def drop_pod(self, pod: PodSnapshot) -> None:
        """Forget a deleted Pod, and the ReplicaSet and Deployment only it still kept."""
        self.pods.pop(pod.ref.uid, None)
        if not pod.owner_replicaset:
            return
        key = (pod.ref.namespace, pod.owner_replicaset)
        members = self._pods_by_rs.get(key)
        if members is not None:
            members.discard(pod.ref.uid)
            if not members:
                del self._pods_by_rs[key]
                rs = self.replicasets.get(key)
                if rs is not None and rs.deleted:
                    self._forget_replicaset(key)

    def pods_in(self, namespace: str) -> list[str]:
        return [uid for uid, pod in self.pods.items() if pod.ref.namespace == namespace]

    def owner_of(self, pod: PodSnapshot) -> tuple[OwnerInfo | None, DeploymentSnapshot | None]:
        """The Pod's Deployment (Pod -> ReplicaSet -> Deployment), as far as it is known."""
        if not pod.owner_replicaset:
            return None, None
        rs = self.replicasets.get((pod.ref.namespace, pod.owner_replicaset))
        if rs is None or rs.deployment is None:
            return None, None
        owner_key = (pod.ref.namespace, rs.deployment)
        deployment = self.deployments.get(owner_key) or self._departed.get(owner_key)
        if deployment is None:
            return None, None
        owner = OwnerInfo(
            name=deployment.ref.name,
            uid=deployment.ref.uid,
            labels=deployment.labels,
            annotations=deployment.annotations,
        )
        return owner, deployment

    # -- Deployments -------------------------------------------------------------------------

    def put_deployment(self, deployment: DeploymentSnapshot) -> DeploymentSnapshot | None:
        key = (deployment.ref.namespace, deployment.ref.name)
        previous = self.deployments.get(key)
        self.deployments[key] = deployment
        return previous

    def drop_deployment(self, deployment: DeploymentSnapshot) -> DeploymentSnapshot | None:
        """Forget a deleted Deployment, keeping it while Pods of it remain; returns the last
        snapshot seen before."""
        key = (deployment.ref.namespace, deployment.ref.name)
        previous = self.deployments.pop(key, None)
        if self.pods_of_deployment(key):
            self._departed[key] = deployment
        self.reported.pop(deployment.ref.uid, None)
        return previous

    def deployment_by_uid(self, uid: str) -> DeploymentSnapshot | None:
        return next((d for d in self.deployments.values() if d.ref.uid == uid), None)

    def pods_of_deployment(self, key: NsName) -> set[str]:
        namespace, name = key
        uids: set[str] = set()
        for (rs_namespace, rs_name), rs in self.replicasets.items():
            if rs_namespace == namespace and rs.deployment == name:
                uids |= self._pods_by_rs.get((rs_namespace, rs_name), set())
        return uids

    def revisions(
        self,
        deployment: DeploymentSnapshot,
        *,
        now: datetime,
        recorded_time: Callable[[str], datetime | None] | None = None,
    ) -> dict[int, Revision]:
        """The Deployment's revisions by number, from the ReplicaSets it controls."""
        namespace, name = deployment.ref.namespace, deployment.ref.name
        held = sorted(
            (
                rs
                for (rs_namespace, _), rs in self.replicasets.items()
                if rs_namespace == namespace
                and rs.deployment == name
                and rs.snapshot.revision is not None
            ),
            key=lambda rs: rs.snapshot.revision or 0,
        )
        revisions: dict[int, Revision] = {}
        previous: ReplicaSetSnapshot | None = None
        for rs in held:
            started = rs.revised_at
            if started is None and rs.snapshot.reused and rs.snapshot.revision is not None:
                # A rollback the operator did not see begin: when it was first recorded, else now.
                key = rollout_key(deployment.ref.uid, rs.snapshot.revision)
                started = (recorded_time(key) if recorded_time else None) or now
                rs.revised_at = started
            revision = revision_of(rs.snapshot, previous, started=started)
            if revision is not None:
                revisions[revision.number] = revision
            previous = rs.snapshot
        return revisions

    # -- ReplicaSets -------------------------------------------------------------------------

    def put_replicaset(self, rs: ReplicaSetSnapshot, *, now: datetime) -> KnownReplicaSet | None:
        """Keep the ReplicaSet; returns what was known of it before."""
        key = (rs.namespace, rs.name)
        previous = self.replicasets.get(key)
        revised_at = None
        if previous is not None:
            revised_at = previous.revised_at
            before = previous.snapshot.revision
            if before is not None and rs.revision is not None and before != rs.revision:
                revised_at = now  # an older ReplicaSet given a new revision: a rollback
        self.replicasets[key] = KnownReplicaSet(rs, revised_at)
        return previous

    def pods_of_replicaset(self, key: NsName) -> set[str]:
        return set(self._pods_by_rs.get(key, set()))

    def replicaset_deleted(self, key: NsName) -> None:
        if self._pods_by_rs.get(key):
            known = self.replicasets.get(key)
            if known is not None:
                known.deleted = True  # forgotten with its last Pod
        else:
            self._forget_replicaset(key)

    def _forget_replicaset(self, key: NsName) -> None:
        rs = self.replicasets.pop(key, None)
        if rs is None or rs.deployment is None:
            return
        owner = (key[0], rs.deployment)
        if owner in self._departed and not self.pods_of_deployment(owner):
            del self._departed[owner]

    # -- what exists ---------------------------------------------------------------------------

    def knows(self, uid: str) -> bool:
        """Whether a Pod or Deployment with this uid is currently in the cluster, as watched."""
        return uid in self.pods or self.deployment_by_uid(uid) is not None

    def known(self, kind: str, namespace: str | None) -> dict[str, tuple[str, str]]:
        """Identity (uid) -> (namespace, name) of the Pods, Deployments or ReplicaSets known."""
        found: dict[str, tuple[str, str]] = {}
        if kind == "Pod":
            for uid, pod in self.pods.items():
                found[uid] = (pod.ref.namespace, pod.ref.name)
        elif kind == "Deployment":
            for deployment in self.deployments.values():
                found[deployment.ref.uid] = (deployment.ref.namespace, deployment.ref.name)
        elif kind == "ReplicaSet":
            for (rs_namespace, rs_name), rs in self.replicasets.items():
                if not rs.deleted:
                    found[rs.snapshot.uid] = (rs_namespace, rs_name)
        if namespace is None:
            return found
        return {k: v for k, v in found.items() if v[0] == namespace}

    def is_empty(self) -> bool:
        return not (self.pods or self.deployments or self.replicasets or self._departed)
