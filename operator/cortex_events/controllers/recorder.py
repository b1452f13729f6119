"""The recorder: watch events in, each to its kind's tracker.

Watch handlers feed it raw objects; it hands each to the tracker of its kind
(`cortex_events.controllers.kinds`), Pods and Deployments included, which keeps a snapshot in the
`WorkloadIndex`, resolves the workload's entities, derives its events with its kind's rules and
submits the plan routing made of them. ReplicaSets and ControllerRevisions only link Pods and
revisions to their workloads, and Namespaces feed the namespace selector. Mapping changes (a
CortexEntity created or edited, a Deployment annotated, a namespace joining the namespace
selector) re-evaluate the affected workloads at once, so no restart is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
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
from cortex_events.controllers.deployment_kinds import DeploymentTracker, replicaset_changed
from cortex_events.controllers.kinds import Context, KindTracker
from cortex_events.controllers.namespaces import NamespaceGate
from cortex_events.controllers.pod_kinds import PodTracker
from cortex_events.controllers.routing import (
    EntitySpecs,
    Router,
    SkipListener,
    Submitter,
    TagIssueListener,
)
from cortex_events.controllers.scales import ScaleWindows
from cortex_events.controllers.workloads import WorkloadIndex
from cortex_events.domain.failure_model import FailurePolicy
from cortex_events.domain.quiet import QuietDefaults

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
    """Hands watch events to the trackers. Single event loop; no locking needed."""

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
        mapping = mapping or MappingOptions()
        pod_keep, keep = mapping.kept(deploys.annotations if deploys else frozenset())
        self.namespaces = namespaces
        self.index = WorkloadIndex()
        self.router = Router(
            entities,
            self.index,
            mapping,
            cluster=cluster,
            skips=skips,
            tag_issues=tag_issues,
            defaults=quiet,
            namespaces=namespaces,
        )
        self.scales = ScaleWindows(summary_window, history)
        context = Context(
            self.index,
            self.router,
            submitter,
            self.scales,
            clock,
            history,
            deploys=deploys,
            keep=keep,
            pod_keep=pod_keep,
        )
        self.jobs = JobTracker(context)
        self.cronjobs = CronJobTracker(context, self.jobs)
        self.pods = PodTracker(context, self.jobs, failures)
        self.trackers: dict[str, KindTracker[Any]] = context.trackers
        for tracker in (
            DeploymentTracker(context),
            StatefulSetTracker(context),
            DaemonSetTracker(context),
            self.jobs,
            self.cronjobs,
            self.pods,
        ):
            self.add_tracker(tracker)
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

    def _workloads(self) -> list[KindTracker[Any]]:
        """The trackers of the kinds Pods map through, in the order they are evaluated again."""
        return [tracker for kind, tracker in self.trackers.items() if kind != "Pod"]

    # -- watch events ------------------------------------------------------------------------

    async def changed(self, kind: str, body: Mapping[str, Any], event_type: str | None) -> None:
        """A watch event of any watched kind (type None: an object listed)."""
        self.events_seen += 1
        if kind == "ControllerRevision":
            await revision_changed(self._context, self.trackers, body, event_type)
        elif kind == "ReplicaSet":
            await replicaset_changed(self._context, body, event_type)
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

    # -- what a listing after a broken watch did not show ------------------------------------

    def known(self, kind: str, namespace: str | None) -> dict[str, tuple[str, str]]:
        return self.index.known(kind, namespace)

    async def vanished(self, kind: str, identity: str) -> None:
        """An object deleted while no watch was running: as if its DELETED event had come."""
        if kind == "ReplicaSet":
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
        self.index.marks.tell_tags_again()
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
            for tracker in self._workloads():
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
        """Apply a mapping change to every workload of a namespace now, then to its Pods."""
        for tracker in self._workloads():
            await tracker.reevaluate(namespace)
        await self.pods.reevaluate(namespace)

    async def check_schedules(self) -> None:
        """Look for runs the CronJobs missed (called now and then: no watch event tells)."""
        await self.cronjobs.check_schedules()

    async def check_deadlines(self) -> None:
        """Look again at the Pods whose waiting state has lasted past its threshold by now."""
        await self.pods.deadlines_passed()

    # -- status support ----------------------------------------------------------------------

    def knows(self, uid: str) -> bool:
        return self.index.knows(uid)

    def allows(self, entity_keys: tuple[str, ...], event_type: str) -> bool:
        """Whether an event of this type may go to a target mapped by these CortexEntities."""
        return self.router.allows(entity_keys, event_type)

    def matched_workloads(self) -> dict[str, int]:
        """Entity key -> how many workloads it currently maps."""
        return self.router.matched_workloads()
