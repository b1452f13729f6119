"""The recorder: watch events in, the events their workloads' states imply submitted out.

Watch handlers feed it raw objects; it keeps small snapshots in a `WorkloadIndex`. For each
change it derives the events the workload's state implies and hands them to the `Router`,
which resolves the workload's Cortex entities (annotations, owners and the CortexEntity specs of
the `EntityStore`) and submits them. Pods, Deployments and ReplicaSets are handled here; the
other kinds by their trackers (`cortex_events.controllers.kinds`). Mapping changes (a
CortexEntity created or edited, a Deployment annotated, a namespace joining the namespace
selector) re-evaluate the affected workloads at once, so no restart is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cortex_events.controllers.apps_kinds import (
    DaemonSetTracker,
    StatefulSetTracker,
    revision_changed,
)
from cortex_events.controllers.batch_kinds import CronJobTracker, JobTracker
from cortex_events.controllers.catalog import MappingOptions
from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.kinds import Context, KindTracker
from cortex_events.controllers.namespaces import NamespaceGate
from cortex_events.controllers.pod_failures import PodFailures
from cortex_events.controllers.routing import (
    EntitySpecs,
    Router,
    SkipListener,
    Submitter,
    TagIssueListener,
)
from cortex_events.controllers.scales import ScaleWindows
from cortex_events.controllers.workloads import WorkloadIndex
from cortex_events.domain.deployments import Revision, deployment_events, reports_on_revision
from cortex_events.domain.failure_model import FailurePolicy
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import Resolution
from cortex_events.domain.model import DeploymentSnapshot, PodSnapshot
from cortex_events.domain.pods import first_deletion
from cortex_events.domain.quiet import QuietDefaults
from cortex_events.domain.snapshots import deployment_snapshot, pod_snapshot, replicaset_snapshot

__all__ = ["EntitySpecs", "History", "Recorder", "SkipListener", "Submitter", "TagIssueListener"]

logger = logging.getLogger("cortex_events.recorder")

# Mapping changes that arrive within this many seconds are applied in one pass.
REEVALUATION_DELAY = 0.2
DEFAULT_SUMMARY_WINDOW = timedelta(minutes=10)


class History(Protocol):
    """What Cortex already holds, as far as the recorder asks (the ledger)."""

    def recorded_replicas(self, uid: str) -> int | None: ...

    def recorded_time(self, key: str) -> datetime | None: ...

    def recorded_summary(self, uid: str) -> tuple[datetime, Mapping[str, Any]] | None: ...


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
        quiet: QuietDefaults | None = None,
        summary_window: timedelta = DEFAULT_SUMMARY_WINDOW,
        namespaces: NamespaceGate | None = None,
        failures: FailurePolicy | None = None,
        mapping: MappingOptions | None = None,
    ) -> None:
        self._history, self._clock, self._deploys = history, clock, deploys
        mapping = mapping or MappingOptions()
        self._pod_keep, self._keep = mapping.kept(deploys.annotations if deploys else frozenset())
        self.namespaces = namespaces
        self.router = Router(
            submitter,
            entities,
            cluster=cluster,
            clock=clock,
            skips=skips,
            tag_issues=tag_issues,
            defaults=quiet,
            namespaces=namespaces,
            mapping=mapping,
        )
        self.index = WorkloadIndex()
        self.failures = PodFailures(failures)
        self.scales = ScaleWindows(summary_window, history)
        context = Context(
            self.index,
            self.router,
            self.scales,
            clock,
            self._reevaluate_pods,
            history,
            deploys=deploys,
            keep=self._keep,
        )
        self.jobs = JobTracker(context)
        self.cronjobs = CronJobTracker(context, self.jobs)
        self.trackers: dict[str, KindTracker[Any]] = {
            "StatefulSet": StatefulSetTracker(context),
            "DaemonSet": DaemonSetTracker(context),
            "Job": self.jobs,
            "CronJob": self.cronjobs,
        }
        self._context = context
        self._pending_namespaces: set[str] = set()
        self._review_tags: set[str] = set()
        self.events_seen = 0  # watch events handled, for memory housekeeping
        self._reevaluation: asyncio.Task[None] | None = None

    def add_tracker(self, tracker: KindTracker[Any]) -> None:
        """Record another kind (Argo Rollouts, when the cluster has them)."""
        self.trackers[tracker.kind] = tracker

    @property
    def context(self) -> Context:
        return self._context

    # -- watch events ------------------------------------------------------------------------

    async def changed(self, kind: str, body: Mapping[str, Any], event_type: str | None) -> None:
        """A watch event of any watched kind (type None: an object listed)."""
        if kind == "Pod":
            await self.pod_changed(body, event_type)
            return
        if kind == "ReplicaSet":
            await self.replicaset_changed(body, event_type)
            return
        if kind == "Deployment":
            await self.deployment_changed(body, event_type)
            return
        self.events_seen += 1
        if kind == "ControllerRevision":
            await revision_changed(self._context, self.trackers, body, event_type)
        elif kind == "Namespace":
            await self.namespace_changed(body, event_type)
        else:
            await self.trackers[kind].changed(body, event_type)

    async def namespace_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        if self.namespaces is None:
            return
        changed = self.namespaces.observed(body, event_type)
        if changed is not None:
            logger.info(
                "Namespace %s %s the namespace selector: its workloads are %s",
                changed,
                "matches" if self.namespaces.admits(changed) else "no longer matches",
                "recorded" if self.namespaces.admits(changed) else "no longer recorded",
            )
            self.request_reevaluation(changed)

    async def pod_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        self.events_seen += 1
        deleted = event_type == "DELETED"
        snapshot = pod_snapshot(body, keep=self._pod_keep)
        snapshot = first_deletion(self.index.pods.get(snapshot.ref.uid), snapshot)
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
        owner = snapshot.owner
        failed = snapshot.phase == "Failed" and (previous is None or previous.phase != "Failed")
        if failed and owner is not None and owner.kind == "Job":
            await self.jobs.pod_failed(snapshot)
        if deleted:
            # Forgotten only now: its deletion maps through its owners like its life did.
            self.index.drop_pod(snapshot)
            self.router.forget(uid)
            self.failures.forget(uid)

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
            self.router.forget(snapshot.ref.uid)
            self.scales.forget(snapshot.ref.uid)
            return
        if reports_on_revision(snapshot):
            self.index.reported[snapshot.ref.uid] = snapshot
        if previous is None or (
            previous.annotations != snapshot.annotations or previous.labels != snapshot.labels
        ):
            # The Deployment's mapping feeds its Pods' mapping (and an Argo Rollout's that
            # names it in its workloadRef).
            await self._reevaluate_pods(self.index.pods_of_deployment(key))
            rollouts = self.trackers.get("Rollout")
            if rollouts is not None:
                await rollouts.reevaluate(snapshot.ref.namespace)

    async def replicaset_changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        self.events_seen += 1
        snapshot = replicaset_snapshot(body, keep=self._keep)
        key = (snapshot.namespace, snapshot.name)
        if event_type == "DELETED":
            self.index.replicaset_deleted(key)
            return
        previous = self.index.put_replicaset(snapshot, now=self._clock())
        if previous is None or previous.owner() != self.index.replicasets[key].owner():
            # Pods seen before their ReplicaSet can now be mapped through their owner.
            await self._reevaluate_pods(self.index.pods_of_replicaset(key))
        if previous is not None and previous.snapshot == snapshot:
            return
        if snapshot.deployment:
            # A rollout's event waits for its revision's ReplicaSet.
            owner = self.index.deployments.get((snapshot.namespace, snapshot.deployment))
            if owner is not None and owner.revision == snapshot.revision:
                await self._evaluate_deployment(owner, owner)
        elif snapshot.rollout and "Rollout" in self.trackers:
            rollout = self.index.workload("Rollout", snapshot.namespace, snapshot.rollout)
            if rollout is not None:
                await self.trackers["Rollout"].evaluate(rollout, rollout)

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
        elif kind == "ControllerRevision":
            self.index.revisions.delete_uid(identity)
        elif kind in self.trackers:
            await self.trackers[kind].vanished(identity)

    # -- mapping changes -----------------------------------------------------------------------

    def request_reevaluation(self, namespace: str, delay: float = REEVALUATION_DELAY) -> None:
        """Re-evaluate a namespace's workloads soon, once for every request made meanwhile.

        At start-up every CortexEntity is resumed one after the other; each asks for its
        namespace to be re-evaluated, and this makes that one pass instead of one per entity.
        """
        self._pending_namespaces.add(namespace)
        self._soon(delay)

    def request_deployment_review(self, tag: str, delay: float = REEVALUATION_DELAY) -> None:
        """Evaluate the workloads that map to entity ``tag`` again soon, against what its
        ledger now holds.

        Called when an entity's ledger has been loaded from Cortex: a Deployment seen before
        that could not compare its replicas with the last recorded ones, so a scale made while
        the operator was down would go unnoticed. The tags loaded meanwhile are reviewed in
        one pass, and only their workloads' events are derived again.
        """
        self._review_tags.add(tag)
        self._soon(delay)

    def request_full_review(self, delay: float = REEVALUATION_DELAY) -> None:
        """Evaluate every workload again soon (this replica has become the leader: what the
        previous one had not sent yet is derived again from the current state), and report
        unusable tags again."""
        self.router.tag_reported.clear()
        self._pending_namespaces.update(self.index.namespaces())
        self._soon(delay)

    def _soon(self, delay: float) -> None:
        if self._reevaluation is None or self._reevaluation.done():
            self._reevaluation = asyncio.get_running_loop().create_task(
                self._reevaluate_pending(delay), name="cortex-reevaluation"
            )

    async def _reevaluate_pending(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._review_tags:
            tags, self._review_tags = frozenset(self._review_tags), set()
            for snapshot in list(self.index.deployments.values()):
                try:
                    await self._evaluate_deployment(snapshot, snapshot, tags=tags)
                except Exception:
                    logger.exception("Reviewing Deployment %s failed", snapshot.ref.name)
            for tracker in list(self.trackers.values()):
                try:
                    await tracker.reevaluate(tags=tags)
                except Exception:
                    logger.exception("Reviewing the %ss failed", tracker.kind)
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
        for tracker in list(self.trackers.values()):
            await tracker.reevaluate(namespace)
        await self._reevaluate_pods(self.index.pods_in(namespace))

    async def check_schedules(self) -> None:
        """Look for runs the CronJobs missed (called now and then: no watch event tells)."""
        await self.cronjobs.check_schedules()

    async def check_deadlines(self) -> None:
        """Look again at the Pods whose waiting state has lasted past its threshold by now."""
        await self._reevaluate_pods(self.failures.due(self._clock()))

    # -- status support ----------------------------------------------------------------------

    def knows(self, uid: str) -> bool:
        return self.index.knows(uid)

    def allows(self, entity_keys: tuple[str, ...], event_type: str) -> bool:
        """Whether an event of this type may go to a target mapped by these CortexEntities."""
        return self.router.allows(entity_keys, event_type)

    def matched_workloads(self) -> dict[str, int]:
        """Entity key -> how many workloads it currently maps."""
        return self.router.matched_workloads()

    # -- evaluation --------------------------------------------------------------------------

    async def _reevaluate_pods(self, uids: Iterable[str]) -> None:
        for uid in list(uids):
            pod = self.index.pods.get(uid)
            if pod is not None:
                await self._evaluate_pod(pod, pod)

    async def _evaluate_pod(self, previous: PodSnapshot | None, pod: PodSnapshot) -> None:
        owner, owner_snapshot = self.index.owner_of(pod)
        gone = {pod.ref.uid} if pod.deleted_at is not None else set()
        if owner_snapshot is not None and owner_snapshot.deleted_at is not None:
            gone.add(owner_snapshot.ref.uid)
        await self.router.route(
            pod.ref,
            pod.labels,
            pod.annotations,
            owner,
            lambda: self.failures.events(pod, owner_snapshot, self._clock()),
            first=previous is None,
            gone=frozenset(gone),
        )

    async def _evaluate_deployment(
        self,
        previous: DeploymentSnapshot | None,
        deployment: DeploymentSnapshot,
        *,
        tags: frozenset[str] | None = None,
    ) -> None:
        ref = deployment.ref
        history = self._history

        revisions: dict[int, Revision] = {}

        def events() -> list[Any]:
            now = self._clock()
            revisions.update(
                self.index.revisions_of(
                    deployment, now=now, recorded_time=history.recorded_time if history else None
                )
            )
            intents = deployment_events(
                previous if previous is not deployment else None,
                deployment,
                now=now,
                revisions=revisions,
                reported=self.index.reported.get(ref.uid),
                recorded_replicas=history.recorded_replicas(ref.uid) if history else None,
            )
            return self.scales.with_summaries(intents)

        async def deploys(resolution: Resolution, intents: list[EventIntent]) -> None:
            if self._deploys and not self.index.templates_a_rollout(ref.namespace, ref.name):
                await self._deploys.deployment(resolution, deployment, intents, revisions)

        await self.router.route(
            ref,
            deployment.labels,
            deployment.annotations,
            None,
            events,
            first=previous is None,
            gone=frozenset({ref.uid} if deployment.deleted_at is not None else ()),
            then=deploys,
            tags=tags,
        )
