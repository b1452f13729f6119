"""The recorder: what the operator knows of the cluster, and what it asks delivery to record.

Watch handlers feed it raw objects. It keeps a small snapshot per workload (never whole objects),
the ReplicaSet -> Deployment links that map a Pod to its Deployment, and the CortexEntity specs.
For each change it resolves the workload's Cortex entities, derives the events its state implies,
and submits them. Mapping changes (a CortexEntity created or edited, a Deployment annotated)
re-evaluate the affected workloads at once, so no restart is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cortex_events.delivery.pipeline import Outgoing
from cortex_events.domain.deployments import (
    Revision,
    deployment_events,
    reports_on_revision,
    revision_of,
)
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.keys import rollout_key
from cortex_events.domain.mapping import OwnerInfo, Resolution, TagIssue, resolve
from cortex_events.domain.model import (
    DeploymentSnapshot,
    PodSnapshot,
    ReplicaSetSnapshot,
    WorkloadRef,
    deployment_snapshot,
    pod_snapshot,
    replicaset_snapshot,
)
from cortex_events.domain.pods import pod_events
from cortex_events.domain.render import render
from cortex_events.domain.specs import EntitySpec, SpecError, parse_entity

logger = logging.getLogger("cortex_events.recorder")

# Mapping changes that arrive within this many seconds are applied in one pass.
REEVALUATION_DELAY = 0.2

NsName = tuple[str, str]


class Submitter(Protocol):
    async def submit(self, item: Outgoing) -> None: ...


class SkipListener(Protocol):
    def skipped(self, kind: str, reason: str) -> None: ...


class TagIssueListener(Protocol):
    def tag_issue(self, workload: WorkloadRef, issue: TagIssue) -> None:
        """A ``cortex.io/tag`` on ``workload`` names tags that are no tag, or none at all;
        told once per workload and annotation value."""


@dataclass(slots=True)
class _ReplicaSet:
    snapshot: ReplicaSetSnapshot
    # When a rollback made this ReplicaSet's revision current, if the operator saw it happen.
    revised_at: datetime | None = None
    deleted: bool = False

    @property
    def deployment(self) -> str | None:
        return self.snapshot.deployment


def _now() -> datetime:
    return datetime.now(UTC)


class Recorder:
    """Turns watch events into submitted events. Single event loop; no locking needed."""

    def __init__(
        self,
        delivery: Submitter,
        *,
        cluster: str,
        recorded_replicas: Callable[[str], int | None] | None = None,
        recorded_time: Callable[[str], datetime | None] | None = None,
        skips: SkipListener | None = None,
        tag_issues: TagIssueListener | None = None,
    ) -> None:
        self._delivery = delivery
        self._cluster = cluster
        self._recorded_replicas = recorded_replicas  # callable uid -> int | None, from the ledger
        self._recorded_time = recorded_time  # callable eventKey -> first timestamp, from the ledger
        self._skips = skips
        self._tag_issues = tag_issues
        # uid -> the cortex.io/tag value last reported as unusable on that workload.
        self._tag_reported: dict[str, str] = {}
        self.pods: dict[str, PodSnapshot] = {}
        self.deployments: dict[NsName, DeploymentSnapshot] = {}
        self.entities: dict[str, dict[str, EntitySpec]] = defaultdict(dict)
        self._replicasets: dict[NsName, _ReplicaSet] = {}
        self._pods_by_rs: dict[NsName, set[str]] = defaultdict(set)
        # Deployments deleted while some of their Pods still exist (garbage collection deletes
        # the Pods after their owners): kept so those Pods' deletions map like their lives did.
        self._departed: dict[NsName, DeploymentSnapshot] = {}
        # Per Deployment uid: the last state whose status reported on its revision.
        self._reported: dict[str, DeploymentSnapshot] = {}
        # What each workload currently maps to (uid -> entity keys), for CortexEntity status.
        self._matches: dict[str, tuple[str, ...]] = {}
        self._pending_namespaces: set[str] = set()
        self._review_deployments = False
        self.events_seen = 0  # watch events handled, for memory housekeeping
        self._reevaluation: asyncio.Task[None] | None = None

    # -- watch events ------------------------------------------------------------------------

    async def pod_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        self.events_seen += 1
        deleted = event_type == "DELETED"
        snapshot = pod_snapshot(body)
        if deleted and snapshot.deleted_at is None:
            snapshot = replace(snapshot, deleted_at=_now())
        await self._pod_seen(snapshot, deleted=deleted)

    async def _pod_seen(self, snapshot: PodSnapshot, *, deleted: bool) -> None:
        uid = snapshot.ref.uid
        previous = self.pods.get(uid)
        if not deleted:
            self.pods[uid] = snapshot
            if snapshot.owner_replicaset:
                self._pods_by_rs[(snapshot.ref.namespace, snapshot.owner_replicaset)].add(uid)
            if previous == snapshot:
                return  # nothing this operator reads has changed
        await self._evaluate_pod(previous, snapshot)
        if deleted:
            # Forgotten only now: its deletion maps through its owners like its life did.
            self.pods.pop(uid, None)
            self._unlink_pod(snapshot)
            self._matches.pop(uid, None)
            self._tag_reported.pop(uid, None)

    async def deployment_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        self.events_seen += 1
        deleted = event_type == "DELETED"
        snapshot = deployment_snapshot(body)
        if deleted and snapshot.deleted_at is None:
            snapshot = replace(snapshot, deleted_at=_now())
        await self._deployment_seen(snapshot, deleted=deleted)

    async def _deployment_seen(self, snapshot: DeploymentSnapshot, *, deleted: bool) -> None:
        key = (snapshot.ref.namespace, snapshot.ref.name)
        previous = self.deployments.get(key)
        if deleted:
            self.deployments.pop(key, None)
            if self._pods_of_deployment(key):
                self._departed[key] = snapshot
        else:
            self.deployments[key] = snapshot
            if previous == snapshot:
                return
        await self._evaluate_deployment(previous, snapshot)
        if reports_on_revision(snapshot):
            self._reported[snapshot.ref.uid] = snapshot
        if deleted:
            self._matches.pop(snapshot.ref.uid, None)
            self._reported.pop(snapshot.ref.uid, None)
            self._tag_reported.pop(snapshot.ref.uid, None)
        elif previous is None or (
            previous.annotations != snapshot.annotations or previous.labels != snapshot.labels
        ):
            # The Deployment's mapping feeds its Pods' mapping.
            await self._reevaluate_pods(self._pods_of_deployment(key))

    async def replicaset_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        self.events_seen += 1
        snapshot = replicaset_snapshot(body)
        key = (snapshot.namespace, snapshot.name)
        if event_type == "DELETED":
            self._replicaset_deleted(key)
            return
        previous = self._replicasets.get(key)
        revised_at = None
        if previous is not None:
            revised_at = previous.revised_at
            before = previous.snapshot.revision
            if before is not None and snapshot.revision is not None and before != snapshot.revision:
                revised_at = _now()  # an older ReplicaSet given a new revision: a rollback
        self._replicasets[key] = _ReplicaSet(snapshot, revised_at)
        if previous is None or previous.deployment != snapshot.deployment:
            # Pods seen before their ReplicaSet can now be mapped through their Deployment.
            await self._reevaluate_pods(self._pods_by_rs.get(key, set()))
        if snapshot.deployment and (previous is None or previous.snapshot != snapshot):
            # A rollout's event waits for its revision's ReplicaSet.
            owner = self.deployments.get((snapshot.namespace, snapshot.deployment))
            if owner is not None and owner.revision == snapshot.revision:
                await self._evaluate_deployment(owner, owner)

    def _replicaset_deleted(self, key: NsName) -> None:
        if self._pods_by_rs.get(key):
            known = self._replicasets.get(key)
            if known is not None:
                known.deleted = True  # forgotten with its last Pod
        else:
            self._forget_replicaset(key)

    # -- what a listing after a broken watch did not show ------------------------------------

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
            for (rs_namespace, rs_name), rs in self._replicasets.items():
                if not rs.deleted:
                    found[rs.snapshot.uid] = (rs_namespace, rs_name)
        if namespace is None:
            return found
        return {k: v for k, v in found.items() if v[0] == namespace}

    async def vanished(self, kind: str, identity: str) -> None:
        """An object deleted while no watch was running: as if its DELETED event had come."""
        if kind == "Pod":
            pod = self.pods.get(identity)
            if pod is not None:
                await self._pod_seen(
                    replace(pod, deleted_at=pod.deleted_at or _now()), deleted=True
                )
        elif kind == "Deployment":
            for deployment in list(self.deployments.values()):
                if deployment.ref.uid == identity:
                    gone = replace(deployment, deleted_at=deployment.deleted_at or _now())
                    await self._deployment_seen(gone, deleted=True)
        elif kind == "ReplicaSet":
            for key, rs in list(self._replicasets.items()):
                if rs.snapshot.uid == identity:
                    self._replicaset_deleted(key)

    def entity_changed(self, body: Mapping[str, Any]) -> EntitySpec | SpecError:
        """Record a CortexEntity's spec (or drop it when invalid); returns what was parsed."""
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
        parsed = parse_entity(body)
        if isinstance(parsed, SpecError):
            self.entities[namespace].pop(name, None)
        else:
            self.entities[namespace][name] = parsed
        return parsed

    def entity_removed(self, namespace: str, name: str) -> None:
        self.entities[namespace].pop(name, None)

    def request_reevaluation(self, namespace: str, delay: float = REEVALUATION_DELAY) -> None:
        """Re-evaluate a namespace's workloads soon, once for every request made meanwhile.

        At start-up every CortexEntity is resumed one after the other; each asks for its
        namespace to be re-evaluated, and this makes that one pass instead of one per entity.
        """
        self._pending_namespaces.add(namespace)
        self.request_reevaluation_soon(delay)

    def request_deployment_review(self, delay: float = REEVALUATION_DELAY) -> None:
        """Evaluate every Deployment again soon, against what the ledgers now hold.

        Called when an entity's ledger has been loaded from Cortex: a Deployment seen before
        that could not compare its replicas with the last recorded ones, so a scale made while
        the operator was down would go unnoticed.
        """
        self._review_deployments = True
        self.request_reevaluation_soon(delay)

    def request_reevaluation_soon(self, delay: float) -> None:
        if self._reevaluation is None or self._reevaluation.done():
            self._reevaluation = asyncio.get_running_loop().create_task(
                self._reevaluate_pending(delay), name="cortex-reevaluation"
            )

    async def _reevaluate_pending(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._review_deployments:
            self._review_deployments = False
            for snapshot in list(self.deployments.values()):
                try:
                    await self._evaluate_deployment(snapshot, snapshot)
                except Exception:
                    logger.exception("Reviewing Deployment %s failed", snapshot.ref.name)
        while self._pending_namespaces:
            namespace = self._pending_namespaces.pop()
            try:
                await self.reevaluate_namespace(namespace)
            except Exception:
                logger.exception("Applying a mapping change to namespace %s failed", namespace)

    async def reevaluate_namespace(self, namespace: str) -> None:
        """Apply a mapping change to every workload of a namespace now."""
        for key, snapshot in list(self.deployments.items()):
            if key[0] == namespace:
                await self._evaluate_deployment(snapshot, snapshot)
        await self._reevaluate_pods(
            uid for uid, pod in list(self.pods.items()) if pod.ref.namespace == namespace
        )

    # -- status support ----------------------------------------------------------------------

    def knows(self, uid: str) -> bool:
        """Whether a Pod or Deployment with this uid is currently in the cluster, as watched."""
        return uid in self.pods or any(d.ref.uid == uid for d in self.deployments.values())

    def allows(self, entity_keys: tuple[str, ...], event_type: str) -> bool:
        """Whether an event of this type may go to a target mapped by these CortexEntities."""
        if not entity_keys:
            return True  # mapped by annotation: every type
        for key in entity_keys:
            namespace, _, name = key.partition("/")
            spec = self.entities.get(namespace, {}).get(name)
            if spec is not None and event_type in spec.event_types:
                return True
        return False

    def matched_workloads(self) -> dict[str, int]:
        """Entity key -> how many workloads it currently maps."""
        counts: dict[str, int] = defaultdict(int)
        for keys in self._matches.values():
            for key in keys:
                counts[key] += 1
        return dict(counts)

    # -- evaluation --------------------------------------------------------------------------

    async def _reevaluate_pods(self, uids: Iterable[str]) -> None:
        for uid in list(uids):
            pod = self.pods.get(uid)
            if pod is not None:
                await self._evaluate_pod(pod, pod)

    def _owner_of(self, pod: PodSnapshot) -> tuple[OwnerInfo | None, DeploymentSnapshot | None]:
        if not pod.owner_replicaset:
            return None, None
        rs = self._replicasets.get((pod.ref.namespace, pod.owner_replicaset))
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

    def _resolve(
        self,
        kind: str,
        namespace: str,
        name: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: OwnerInfo | None,
    ) -> Resolution:
        return resolve(
            kind,
            namespace,
            name,
            labels,
            annotations,
            owner=owner,
            entities=self.entities.get(namespace, {}).values(),
        )

    async def _evaluate_pod(self, previous: PodSnapshot | None, pod: PodSnapshot) -> None:
        owner, owner_snapshot = self._owner_of(pod)
        resolution = self._resolve(
            "Pod", pod.ref.namespace, pod.ref.name, pod.labels, pod.annotations, owner
        )
        gone = {pod.ref.uid} if pod.deleted_at is not None else set()
        if owner_snapshot is not None and owner_snapshot.deleted_at is not None:
            gone.add(owner_snapshot.ref.uid)
        self._report_tag_issues(pod.ref, owner, resolution, frozenset(gone))
        if not await self._admit(pod.ref, resolution, first=previous is None):
            return
        await self._submit(resolution, pod_events(previous, pod, now=_now()))

    async def _evaluate_deployment(
        self, previous: DeploymentSnapshot | None, deployment: DeploymentSnapshot
    ) -> None:
        ref = deployment.ref
        resolution = self._resolve(
            "Deployment", ref.namespace, ref.name, deployment.labels, deployment.annotations, None
        )
        gone = frozenset({ref.uid} if deployment.deleted_at is not None else ())
        self._report_tag_issues(ref, None, resolution, gone)
        if not await self._admit(ref, resolution, first=previous is None):
            return
        recorded = self._recorded_replicas(ref.uid) if self._recorded_replicas else None
        intents = deployment_events(
            previous if previous is not deployment else None,
            deployment,
            now=_now(),
            revisions=self._revisions(deployment),
            reported=self._reported.get(ref.uid),
            recorded_replicas=recorded,
        )
        await self._submit(resolution, intents)

    def _report_tag_issues(
        self,
        ref: WorkloadRef,
        owner: OwnerInfo | None,
        resolution: Resolution,
        gone: frozenset[str] = frozenset(),
    ) -> None:
        """Tell about each unusable ``cortex.io/tag`` once per annotated workload and value:
        a Deployment's bad annotation is reported on the Deployment, not once per Pod."""
        if not any(not issue.on_owner for issue in resolution.tag_issues):
            # Fixed or removed: should the same value come back, it is reported again.
            self._tag_reported.pop(ref.uid, None)
        for issue in resolution.tag_issues:
            subject = ref
            if issue.on_owner and owner is not None:
                subject = WorkloadRef("Deployment", ref.namespace, owner.name, owner.uid)
            if subject.uid in gone:
                continue  # being deleted: nothing to fix any more
            if self._tag_reported.get(subject.uid) == issue.value:
                continue
            self._tag_reported[subject.uid] = issue.value
            if self._tag_issues is not None:
                self._tag_issues.tag_issue(subject, issue)

    async def _admit(self, ref: WorkloadRef, resolution: Resolution, *, first: bool) -> bool:
        entity_keys = tuple(sorted({key for t in resolution.targets for key in t.entities}))
        if entity_keys:
            self._matches[ref.uid] = entity_keys
        else:
            self._matches.pop(ref.uid, None)
        if resolution.targets and not resolution.disabled:
            return True
        if first:
            logger.debug(
                "No event for %s %s/%s: %s", ref.kind, ref.namespace, ref.name, resolution.reason
            )
            if self._skips is not None:
                self._skips.skipped(ref.kind, "disabled" if resolution.disabled else "unmapped")
        return False

    async def _submit(self, resolution: Resolution, intents: list[EventIntent]) -> None:
        now = _now()
        for intent in intents:
            for target in resolution.for_type(intent.type):
                retention = self._retention(target.entities)
                if retention is not None and intent.timestamp < now - retention:
                    continue  # retention would delete it again: history that old is not recorded
                body = render(intent, target, cluster=self._cluster)
                await self._delivery.submit(
                    Outgoing(
                        tag=target.tag,
                        key=intent.key,
                        body=body,
                        updatable=intent.updatable,
                        entities=target.entities,
                    )
                )

    def _retention(self, entity_keys: tuple[str, ...]) -> timedelta | None:
        """The shortest retention among the CortexEntities behind a target, if any."""
        periods = []
        for key in entity_keys:
            namespace, _, name = key.partition("/")
            spec = self.entities.get(namespace, {}).get(name)
            if spec is not None and spec.retention is not None:
                periods.append(spec.retention)
        return min(periods, default=None)

    def _revisions(self, deployment: DeploymentSnapshot) -> dict[int, Revision]:
        """The Deployment's revisions by number, from the ReplicaSets it controls."""
        namespace, name = deployment.ref.namespace, deployment.ref.name
        held = sorted(
            (
                rs
                for (rs_namespace, _), rs in self._replicasets.items()
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
                recorded = self._recorded_time(key) if self._recorded_time else None
                started = recorded or _now()
                rs.revised_at = started
            revision = revision_of(rs.snapshot, previous, started=started)
            if revision is not None:
                revisions[revision.number] = revision
            previous = rs.snapshot
        return revisions

    def _pods_of_deployment(self, key: NsName) -> set[str]:
        namespace, name = key
        uids: set[str] = set()
        for (rs_namespace, rs_name), rs in self._replicasets.items():
            if rs_namespace == namespace and rs.deployment == name:
                uids |= self._pods_by_rs.get((rs_namespace, rs_name), set())
        return uids

    def _unlink_pod(self, pod: PodSnapshot) -> None:
        if pod.owner_replicaset:
            key = (pod.ref.namespace, pod.owner_replicaset)
            members = self._pods_by_rs.get(key)
            if members is not None:
                members.discard(pod.ref.uid)
                if not members:
                    del self._pods_by_rs[key]
                    rs = self._replicasets.get(key)
                    if rs is not None and rs.deleted:
                        self._forget_replicaset(key)

    def _forget_replicaset(self, key: NsName) -> None:
        rs = self._replicasets.pop(key, None)
        if rs is None or rs.deployment is None:
            return
        owner = (key[0], rs.deployment)
        if owner in self._departed and not self._pods_of_deployment(owner):
            del self._departed[owner]
