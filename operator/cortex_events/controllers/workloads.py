"""What the operator knows of the cluster's workloads: small snapshots and the links between them.

One snapshot per Pod and per workload (never whole objects): Deployments and the ReplicaSets
that link a Pod to its Deployment (or Argo Rollout) and hold each revision's template;
StatefulSets, DaemonSets, Jobs, CronJobs and Argo Rollouts by kind; the ControllerRevisions of
StatefulSets and DaemonSets (`cortex_events.controllers.revisions`). Owners deleted while Pods
of theirs still exist are kept until those are gone (garbage collection deletes the Pods after
their owners), so the Pods' deletions map as their lives did. Per Deployment it keeps the last
state whose status reported on its revision. Beside each workload it keeps the marks routing
leaves on it (`Marks`), and `forget` drops everything held on a workload at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cortex_events.controllers.revisions import RevisionIndex
from cortex_events.domain.changes import Changed, ChangeDetails, revision_change
from cortex_events.domain.deployments import Revision, revision_of
from cortex_events.domain.keys import rollout_key
from cortex_events.domain.mapping import OwnerInfo
from cortex_events.domain.model import DeploymentSnapshot, PodSnapshot, ReplicaSetSnapshot

NsName = tuple[str, str]
OwnerKey = tuple[str, str, str]  # (namespace, kind, name)
KINDS = ("StatefulSet", "DaemonSet", "Job", "CronJob", "Rollout")
"""The workload kinds kept by kind, besides Pods, Deployments and ReplicaSets."""


@dataclass(slots=True)
class KnownReplicaSet:
    snapshot: ReplicaSetSnapshot
    # When a rollback made this ReplicaSet's revision current, if the operator saw it happen.
    revised_at: datetime | None = None
    deleted: bool = False
    # Who made its revision and what changed from the one before, once both were known: kept
    # after the ReplicaSet before it is gone.
    change: ChangeDetails | None = None

    @property
    def deployment(self) -> str | None:
        return self.snapshot.deployment

    def owner(self) -> tuple[str, str] | None:
        """(kind, name) of the Deployment or Argo Rollout that controls it."""
        if self.snapshot.deployment:
            return "Deployment", self.snapshot.deployment
        if self.snapshot.rollout:
            return "Rollout", self.snapshot.rollout
        return None


@dataclass(slots=True)
class Marks:
    """What routing marks on each workload, by uid."""

    mapped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The CortexEntities (keys) it currently maps to, for their status."""
    tag_told: dict[str, str] = field(default_factory=dict)
    """The ``cortex.io/tag`` value last told as unusable on it."""

    def tell_tags_again(self) -> None:
        """Every unusable tag is told again when next seen."""
        self.tag_told.clear()


def owner_info(snapshot: Any, owner: OwnerInfo | None = None) -> OwnerInfo:
    ref = snapshot.ref
    return OwnerInfo(ref.name, ref.uid, snapshot.labels, snapshot.annotations, ref.kind, owner)


def with_details(
    rs: KnownReplicaSet,
    revision: Revision,
    previous: ReplicaSetSnapshot | None,
    workload: Changed,
) -> Revision:
    """``revision`` with who made it and what it changed from ``previous``'s template."""
    before = previous.template if previous is not None else None
    after = rs.snapshot
    change = revision_change(
        workload, revision.started, before, after.template, after.annotations, kept=rs.change
    )
    rs.change = change if change.diff is not None else rs.change
    return replace(revision, details=change)


class WorkloadIndex:
    """Single event loop; no locking needed."""

    def __init__(self) -> None:
        self.pods: dict[str, PodSnapshot] = {}
        self.deployments: dict[NsName, DeploymentSnapshot] = {}
        self.replicasets: dict[NsName, KnownReplicaSet] = {}
        # (namespace, "Deployment" or "Rollout", name) -> its ReplicaSets' names: evaluating
        # one workload reads its own ReplicaSets, not every ReplicaSet in the cluster.
        self._sets_by_owner: dict[OwnerKey, set[str]] = defaultdict(set)
        self.kinds: dict[str, dict[NsName, Any]] = {kind: {} for kind in KINDS}
        self.revisions = RevisionIndex()
        self._pods_by_owner: dict[OwnerKey, set[str]] = defaultdict(set)
        self._departed: dict[OwnerKey, Any] = {}
        self.reported: dict[str, DeploymentSnapshot] = {}
        self.marks = Marks()

    def forget(self, uid: str) -> None:
        """A workload or Pod is gone and its deletion recorded: drop what is kept of it (a
        Pod's snapshot and links, and what routing marked on either)."""
        pod = self.pods.get(uid)
        if pod is not None:
            self._drop_pod(pod)
        self.marks.mapped.pop(uid, None)
        self.marks.tag_told.pop(uid, None)

    # -- Pods ----------------------------------------------------------------------------------

    def put_pod(self, pod: PodSnapshot) -> PodSnapshot | None:
        """Keep the Pod's snapshot; returns the one it replaces."""
        previous = self.pods.get(pod.ref.uid)
        self.pods[pod.ref.uid] = pod
        if pod.owner is not None:
            self._pods_by_owner[(pod.ref.namespace, pod.owner.kind, pod.owner.name)].add(
                pod.ref.uid
            )
        return previous

    def _drop_pod(self, pod: PodSnapshot) -> None:
        """Forget a deleted Pod, and the ReplicaSet and owner only it still kept."""
        self.pods.pop(pod.ref.uid, None)
        if pod.owner is None:
            return
        key = (pod.ref.namespace, pod.owner.kind, pod.owner.name)
        members = self._pods_by_owner.get(key)
        if members is None:
            return
        members.discard(pod.ref.uid)
        if members:
            return
        del self._pods_by_owner[key]
        if pod.owner.kind == "ReplicaSet":
            rs_key = (pod.ref.namespace, pod.owner.name)
            rs = self.replicasets.get(rs_key)
            if rs is not None and rs.deleted:
                self._forget_replicaset(rs_key)
        else:
            self._departed.pop(key, None)

    def pods_in(self, namespace: str) -> list[str]:
        return [uid for uid, pod in self.pods.items() if pod.ref.namespace == namespace]

    def owner_of(self, pod: PodSnapshot) -> tuple[OwnerInfo | None, Any]:
        """The Pod's owner for mapping (Pod -> ReplicaSet -> Deployment or Rollout; Pod ->
        StatefulSet, DaemonSet or Job -> CronJob), as far as it is known, and its snapshot."""
        if pod.owner is None:
            return None, None
        namespace, kind, name = pod.ref.namespace, pod.owner.kind, pod.owner.name
        if kind == "ReplicaSet":
            rs = self.replicasets.get((namespace, name))
            owner = rs.owner() if rs is not None else None
            if owner is None:
                return None, None
            kind, name = owner
        snapshot = self.workload(kind, namespace, name)
        if snapshot is None:
            return None, None
        return self.info(kind, snapshot), snapshot

    def info(self, kind: str, snapshot: Any) -> OwnerInfo:
        """``snapshot`` as an owner, with the owners above it (a Job's CronJob, an Argo
        Rollout's referenced Deployment)."""
        above: OwnerInfo | None = None
        namespace = snapshot.ref.namespace
        if kind == "Job" and snapshot.owner is not None:
            cronjob = self.workload("CronJob", namespace, snapshot.owner.name)
            above = owner_info(cronjob) if cronjob is not None else None
        elif kind == "Rollout" and snapshot.workload_ref is not None:
            deployment = self.workload("Deployment", namespace, snapshot.workload_ref)
            above = owner_info(deployment) if deployment is not None else None
        return owner_info(snapshot, above)

    def workload(self, kind: str, namespace: str, name: str) -> Any:
        """A Deployment's or another kind's snapshot by name, a deleted one while Pods remain."""
        key = (namespace, name)
        table = self.deployments if kind == "Deployment" else self.kinds.get(kind, {})
        return table.get(key) or self._departed.get((namespace, kind, name))

    # -- the other kinds -----------------------------------------------------------------------

    def put(self, kind: str, snapshot: Any) -> Any:
        """Keep a workload's snapshot; returns the one it replaces."""
        table = self.kinds[kind]
        key = (snapshot.ref.namespace, snapshot.ref.name)
        previous = table.get(key)
        table[key] = snapshot
        return previous

    def drop(self, kind: str, snapshot: Any) -> Any:
        """Forget a deleted workload, keeping it while Pods of it remain; returns the last
        snapshot seen before."""
        namespace, name = snapshot.ref.namespace, snapshot.ref.name
        previous = self.kinds[kind].pop((namespace, name), None)
        if self.pods_of(kind, namespace, name):
            self._departed[(namespace, kind, name)] = snapshot
        return previous

    def templates_a_rollout(self, namespace: str, name: str) -> bool:
        """Whether an Argo Rollout takes its pod template from Deployment ``name`` (its
        ``workloadRef``): that Rollout rolls the template out, not the Deployment."""
        return any(
            key[0] == namespace and rollout.workload_ref == name
            for key, rollout in self.kinds.get("Rollout", {}).items()
        )

    def by_uid(self, kind: str, uid: str) -> Any:
        if kind == "Pod":
            return self.pods.get(uid)
        table = self.deployments if kind == "Deployment" else self.kinds.get(kind, {})
        return next((s for s in table.values() if s.ref.uid == uid), None)

    def pods_of(self, kind: str, namespace: str, name: str) -> set[str]:
        """The Pods of a workload: through its ReplicaSets for a Deployment or Rollout."""
        if kind in ("Deployment", "Rollout"):
            uids: set[str] = set()
            for rs_name in self._sets_by_owner.get((namespace, kind, name), ()):
                uids |= self._pods_by_owner.get((namespace, "ReplicaSet", rs_name), set())
            return uids
        return set(self._pods_by_owner.get((namespace, kind, name), set()))

    def jobs_of(self, namespace: str, cronjob: str) -> list[Any]:
        return [
            job
            for (job_namespace, _), job in self.kinds["Job"].items()
            if job_namespace == namespace and job.owner is not None and job.owner.name == cronjob
        ]

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
            self._departed[(key[0], "Deployment", key[1])] = deployment
        self.reported.pop(deployment.ref.uid, None)
        return previous

    def deployment_by_uid(self, uid: str) -> DeploymentSnapshot | None:
        return next((d for d in self.deployments.values() if d.ref.uid == uid), None)

    def pods_of_deployment(self, key: NsName) -> set[str]:
        return self.pods_of("Deployment", *key)

    def revisions_of(
        self,
        deployment: DeploymentSnapshot,
        *,
        now: datetime,
        recorded_time: Callable[[str], datetime | None] | None = None,
    ) -> dict[int, Revision]:
        """The Deployment's revisions by number, from the ReplicaSets it controls."""
        ref = deployment.ref
        held = sorted(
            (
                rs
                for rs in self.replicasets_of("Deployment", ref.namespace, ref.name)
                if rs.snapshot.revision is not None
            ),
            key=lambda rs: rs.snapshot.revision or 0,
        )
        revisions: dict[int, Revision] = {}
        previous: ReplicaSetSnapshot | None = None
        for rs in held:
            started = rs.revised_at
            if started is None and rs.snapshot.reused and rs.snapshot.revision is not None:
                # A rollback the operator did not see begin: when it was first recorded, else now.
                key = rollout_key(deployment.ref.kind, deployment.ref.uid, rs.snapshot.revision)
                started = (recorded_time(key) if recorded_time else None) or now
                rs.revised_at = started
            revision = revision_of(rs.snapshot, previous, started=started)
            if revision is not None:
                revisions[revision.number] = with_details(rs, revision, previous, deployment)
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
        known = self.replicasets[key] = KnownReplicaSet(rs, revised_at)
        owner = known.owner()
        if previous is None or previous.owner() != owner:  # new, orphaned or adopted
            self._unlink_replicaset(key, previous)
            if owner is not None:
                self._sets_by_owner[(rs.namespace, *owner)].add(rs.name)
        return previous

    def replicasets_of(self, kind: str, namespace: str, name: str) -> list[KnownReplicaSet]:
        """The ReplicaSets a Deployment or an Argo Rollout controls."""
        names = self._sets_by_owner.get((namespace, kind, name), ())
        return [self.replicasets[(namespace, rs_name)] for rs_name in names]

    def _unlink_replicaset(self, key: NsName, known: KnownReplicaSet | None) -> None:
        owner = known.owner() if known is not None else None
        if owner is None:
            return
        owner_key = (key[0], *owner)
        names = self._sets_by_owner.get(owner_key)
        if names is not None:
            names.discard(key[1])
            if not names:
                del self._sets_by_owner[owner_key]

    def pods_of_replicaset(self, key: NsName) -> set[str]:
        return set(self._pods_by_owner.get((key[0], "ReplicaSet", key[1]), set()))

    def replicaset_deleted(self, key: NsName) -> None:
        if self._pods_by_owner.get((key[0], "ReplicaSet", key[1])):
            known = self.replicasets.get(key)
            if known is not None:
                known.deleted = True  # forgotten with its last Pod
        else:
            self._forget_replicaset(key)

    def _forget_replicaset(self, key: NsName) -> None:
        rs = self.replicasets.pop(key, None)
        self._unlink_replicaset(key, rs)
        owner = rs.owner() if rs is not None else None
        if owner is None:
            return
        departed = (key[0], owner[0], owner[1])
        if departed in self._departed and not self.pods_of(owner[0], key[0], owner[1]):
            del self._departed[departed]

    # -- what exists ---------------------------------------------------------------------------

    def knows(self, uid: str) -> bool:
        """Whether a Pod or workload with this uid is currently in the cluster, as watched."""
        if uid in self.pods or self.deployment_by_uid(uid) is not None:
            return True
        return any(self.by_uid(kind, uid) is not None for kind in KINDS)

    def known(self, kind: str, namespace: str | None) -> dict[str, tuple[str, str]]:
        """Identity (uid) -> (namespace, name) of the objects of ``kind`` known."""
        found: dict[str, tuple[str, str]] = {}
        if kind == "Pod":
            for uid, pod in self.pods.items():
                found[uid] = (pod.ref.namespace, pod.ref.name)
        elif kind == "ReplicaSet":
            for (rs_namespace, rs_name), rs in self.replicasets.items():
                if not rs.deleted:
                    found[rs.snapshot.uid] = (rs_namespace, rs_name)
        elif kind == "ControllerRevision":
            found = self.revisions.known()
        else:
            table = self.deployments if kind == "Deployment" else self.kinds.get(kind, {})
            for snapshot in table.values():
                found[snapshot.ref.uid] = (snapshot.ref.namespace, snapshot.ref.name)
        if namespace is None:
            return found
        return {k: v for k, v in found.items() if v[0] == namespace}

    def namespaces(self) -> set[str]:
        """Every namespace a workload is known in."""
        found = {namespace for namespace, _ in self.deployments}
        found |= {pod.ref.namespace for pod in self.pods.values()}
        for table in self.kinds.values():
            found |= {namespace for namespace, _ in table}
        return found

    def is_empty(self) -> bool:
        return not (
            self.pods
            or self.deployments
            or self.replicasets
            or self._departed
            or self.marks.mapped
            or self.marks.tag_told
            or any(self.kinds.values())
            or not self.revisions.is_empty()
        )
