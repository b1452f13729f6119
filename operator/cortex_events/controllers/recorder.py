"""The recorder: watch events in, the events their workloads' states imply submitted out.

Watch handlers feed it raw objects; it keeps small snapshots in a `WorkloadIndex`. For each
change it resolves the workload's Cortex entities (annotations and the CortexEntity specs of
the `EntityStore`), derives the events its state implies, and submits them. Mapping changes
(a CortexEntity created or edited, a Deployment annotated) re-evaluate the affected workloads
at once, so no restart is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cortex_events.controllers.deploys import DeployRecorder
from cortex_events.controllers.workloads import WorkloadIndex
from cortex_events.delivery.queue import Outgoing
from cortex_events.domain.deployments import deployment_events, reports_on_revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import OwnerInfo, Resolution, TagIssue, resolve
from cortex_events.domain.model import (
    DeploymentSnapshot,
    PodSnapshot,
    WorkloadRef,
    deployment_snapshot,
    pod_snapshot,
    replicaset_snapshot,
)
from cortex_events.domain.pods import pod_events
from cortex_events.domain.render import render
from cortex_events.domain.specs import EntitySpec

logger = logging.getLogger("cortex_events.recorder")

# Mapping changes that arrive within this many seconds are applied in one pass.
REEVALUATION_DELAY = 0.2


class Submitter(Protocol):
    async def submit(self, item: Outgoing) -> None: ...


class EntitySpecs(Protocol):
    def in_namespace(self, namespace: str) -> list[EntitySpec]: ...

    def spec(self, key: str) -> EntitySpec | None: ...


class History(Protocol):
    """What Cortex already holds, as far as the recorder asks (the ledger)."""

    def recorded_replicas(self, uid: str) -> int | None: ...

    def recorded_time(self, key: str) -> datetime | None: ...


class SkipListener(Protocol):
    def skipped(self, kind: str, reason: str) -> None: ...


class TagIssueListener(Protocol):
    def tag_issue(self, workload: WorkloadRef, issue: TagIssue) -> None:
        """A ``cortex.io/tag`` on ``workload`` names tags that are no tag, or none at all;
        told once per workload and annotation value."""


class Recorder:
    """Turns watch events into submitted events. Single event loop; no locking needed."""

    def __init__(
        self,
        submitter: Submitter,
        entities: EntitySpecs,
        *,
        cluster: str,
        history: History | None = None,
        skips: SkipListener | None = None,
        tag_issues: TagIssueListener | None = None,
        deploys: DeployRecorder | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._submitter = submitter
        self._entities = entities
        self._cluster = cluster
        self._history = history
        self._skips = skips
        self._tag_issues = tag_issues
        self._clock = clock
        self._deploys = deploys
        self._keep = deploys.annotations if deploys is not None else frozenset()
        self.index = WorkloadIndex()
        # uid -> the cortex.io/tag value last reported as unusable on that workload.
        self._tag_reported: dict[str, str] = {}
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
            snapshot = replace(snapshot, deleted_at=self._clock())
        await self._pod_seen(snapshot, deleted=deleted)

    async def _pod_seen(self, snapshot: PodSnapshot, *, deleted: bool) -> None:
        uid = snapshot.ref.uid
        if deleted:
            previous = self.index.pods.get(uid)
        else:
            previous = self.index.put_pod(snapshot)
            if previous == snapshot:
                return  # nothing this operator reads has changed
        await self._evaluate_pod(previous, snapshot)
        if deleted:
            # Forgotten only now: its deletion maps through its owners like its life did.
            self.index.drop_pod(snapshot)
            self._matches.pop(uid, None)
            self._tag_reported.pop(uid, None)

    async def deployment_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        self.events_seen += 1
        deleted = event_type == "DELETED"
        snapshot = deployment_snapshot(body, keep=self._keep)
        if deleted and snapshot.deleted_at is None:
            snapshot = replace(snapshot, deleted_at=self._clock())
        await self._deployment_seen(snapshot, deleted=deleted)

    async def _deployment_seen(self, snapshot: DeploymentSnapshot, *, deleted: bool) -> None:
        key = (snapshot.ref.namespace, snapshot.ref.name)
        if deleted:
            previous = self.index.drop_deployment(snapshot)
        else:
            previous = self.index.put_deployment(snapshot)
            if previous == snapshot:
                return
        await self._evaluate_deployment(previous, snapshot)
        if deleted:
            self._matches.pop(snapshot.ref.uid, None)
            self._tag_reported.pop(snapshot.ref.uid, None)
            return
        if reports_on_revision(snapshot):
            self.index.reported[snapshot.ref.uid] = snapshot
        if previous is None or (
            previous.annotations != snapshot.annotations or previous.labels != snapshot.labels
        ):
            # The Deployment's mapping feeds its Pods' mapping.
            await self._reevaluate_pods(self.index.pods_of_deployment(key))

    async def replicaset_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        self.events_seen += 1
        snapshot = replicaset_snapshot(body, keep=self._keep)
        key = (snapshot.namespace, snapshot.name)
        if event_type == "DELETED":
            self.index.replicaset_deleted(key)
            return
        previous = self.index.put_replicaset(snapshot, now=self._clock())
        if previous is None or previous.deployment != snapshot.deployment:
            # Pods seen before their ReplicaSet can now be mapped through their Deployment.
            await self._reevaluate_pods(self.index.pods_of_replicaset(key))
        if snapshot.deployment and (previous is None or previous.snapshot != snapshot):
            # A rollout's event waits for its revision's ReplicaSet.
            owner = self.index.deployments.get((snapshot.namespace, snapshot.deployment))
            if owner is not None and owner.revision == snapshot.revision:
                await self._evaluate_deployment(owner, owner)

    # -- what a listing after a broken watch did not show ------------------------------------

    def known(self, kind: str, namespace: str | None) -> dict[str, tuple[str, str]]:
        return self.index.known(kind, namespace)

    async def vanished(self, kind: str, identity: str) -> None:
        """An object deleted while no watch was running: as if its DELETED event had come."""
        now = self._clock()
        if kind == "Pod":
            pod = self.index.pods.get(identity)
            if pod is not None:
                await self._pod_seen(replace(pod, deleted_at=pod.deleted_at or now), deleted=True)
        elif kind == "Deployment":
            deployment = self.index.deployment_by_uid(identity)
            if deployment is not None:
                gone = replace(deployment, deleted_at=deployment.deleted_at or now)
                await self._deployment_seen(gone, deleted=True)
        elif kind == "ReplicaSet":
            for key, rs in list(self.index.replicasets.items()):
                if rs.snapshot.uid == identity:
                    self.index.replicaset_deleted(key)

    # -- mapping changes -----------------------------------------------------------------------

    def request_reevaluation(self, namespace: str, delay: float = REEVALUATION_DELAY) -> None:
        """Re-evaluate a namespace's workloads soon, once for every request made meanwhile.

        At start-up every CortexEntity is resumed one after the other; each asks for its
        namespace to be re-evaluated, and this makes that one pass instead of one per entity.
        """
        self._pending_namespaces.add(namespace)
        self._soon(delay)

    def request_deployment_review(self, _tag: str = "", delay: float = REEVALUATION_DELAY) -> None:
        """Evaluate every Deployment again soon, against what the ledgers now hold.

        Called when an entity's ledger has been loaded from Cortex: a Deployment seen before
        that could not compare its replicas with the last recorded ones, so a scale made while
        the operator was down would go unnoticed.
        """
        self._review_deployments = True
        self._soon(delay)

    def request_full_review(self, delay: float = REEVALUATION_DELAY) -> None:
        """Evaluate every workload again soon (this replica has become the leader: what the
        previous one had not sent yet is derived again from the current state), and report
        unusable tags again."""
        self._tag_reported.clear()
        self._pending_namespaces.update(namespace for namespace, _ in self.index.deployments)
        self._pending_namespaces.update(pod.ref.namespace for pod in self.index.pods.values())
        self._soon(delay)

    def _soon(self, delay: float) -> None:
        if self._reevaluation is None or self._reevaluation.done():
            self._reevaluation = asyncio.get_running_loop().create_task(
                self._reevaluate_pending(delay), name="cortex-reevaluation"
            )

    async def _reevaluate_pending(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._review_deployments:
            self._review_deployments = False
            for snapshot in list(self.index.deployments.values()):
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
        for key, snapshot in list(self.index.deployments.items()):
            if key[0] == namespace:
                await self._evaluate_deployment(snapshot, snapshot)
        await self._reevaluate_pods(self.index.pods_in(namespace))

    # -- status support ----------------------------------------------------------------------

    def knows(self, uid: str) -> bool:
        return self.index.knows(uid)

    def allows(self, entity_keys: tuple[str, ...], event_type: str) -> bool:
        """Whether an event of this type may go to a target mapped by these CortexEntities."""
        if not entity_keys:
            return True  # mapped by annotation: every type
        for key in entity_keys:
            spec = self._entities.spec(key)
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
            pod = self.index.pods.get(uid)
            if pod is not None:
                await self._evaluate_pod(pod, pod)

    def _resolve(
        self,
        ref: WorkloadRef,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: OwnerInfo | None,
    ) -> Resolution:
        entities = self._entities.in_namespace(ref.namespace)
        return resolve(
            ref.kind, ref.namespace, ref.name, labels, annotations, owner=owner, entities=entities
        )

    async def _evaluate_pod(self, previous: PodSnapshot | None, pod: PodSnapshot) -> None:
        owner, owner_snapshot = self.index.owner_of(pod)
        resolution = self._resolve(pod.ref, pod.labels, pod.annotations, owner)
        gone = {pod.ref.uid} if pod.deleted_at is not None else set()
        if owner_snapshot is not None and owner_snapshot.deleted_at is not None:
            gone.add(owner_snapshot.ref.uid)
        self._report_tag_issues(pod.ref, owner, resolution, frozenset(gone))
        if not await self._admit(pod.ref, resolution, first=previous is None):
            return
        await self._submit(resolution, pod_events(previous, pod, now=self._clock()))

    async def _evaluate_deployment(
        self, previous: DeploymentSnapshot | None, deployment: DeploymentSnapshot
    ) -> None:
        ref = deployment.ref
        resolution = self._resolve(ref, deployment.labels, deployment.annotations, None)
        gone = frozenset({ref.uid} if deployment.deleted_at is not None else ())
        self._report_tag_issues(ref, None, resolution, gone)
        if not await self._admit(ref, resolution, first=previous is None):
            return
        now = self._clock()
        history = self._history
        revisions = self.index.revisions(
            deployment, now=now, recorded_time=history.recorded_time if history else None
        )
        intents = deployment_events(
            previous if previous is not deployment else None,
            deployment,
            now=now,
            revisions=revisions,
            reported=self.index.reported.get(ref.uid),
            recorded_replicas=history.recorded_replicas(ref.uid) if history else None,
        )
        await self._submit(resolution, intents)
        if self._deploys is not None:
            await self._deploys.deployment(resolution, deployment, intents, revisions)

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
        now = self._clock()
        for intent in intents:
            for target in resolution.for_type(intent.type):
                retention = self._retention(target.entities)
                if retention is not None and intent.timestamp < now - retention:
                    continue  # retention would delete it again: history that old is not recorded
                body = render(intent, target, cluster=self._cluster)
                await self._submitter.submit(
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
        periods = [
            spec.retention
            for key in entity_keys
            if (spec := self._entities.spec(key)) is not None and spec.retention is not None
        ]
        return min(periods, default=None)
