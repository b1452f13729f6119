"""Pods, as watch events come: the same path as every workload, mapped through their owners.

A Pod maps through its owner (Pod -> ReplicaSet -> Deployment or Argo Rollout; Pod ->
StatefulSet, DaemonSet or Job -> CronJob), as far as the index knows it; its events come from
its current state and the failure memory `PodFailures` keeps for it. A failed Pod of a Job
plans its Job's failure too, which says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_events.controllers.batch_kinds import JobTracker
from cortex_events.controllers.kinds import Context, KindTracker
from cortex_events.controllers.pod_failures import PodFailures
from cortex_events.controllers.routing import Plan
from cortex_events.domain.failure_model import FailurePolicy
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import OwnerInfo
from cortex_events.domain.model import PodSnapshot
from cortex_events.domain.pods import first_deletion
from cortex_events.domain.snapshots import pod_snapshot


class PodTracker(KindTracker[PodSnapshot]):
    kind = "Pod"

    def __init__(
        self, context: Context, jobs: JobTracker, failures: FailurePolicy | None = None
    ) -> None:
        super().__init__(context)
        self.jobs = jobs
        self.failures = PodFailures(failures)

    def parse(self, body: Mapping[str, Any]) -> PodSnapshot:
        snapshot = pod_snapshot(body, keep=self.context.pod_keep)
        return first_deletion(self.context.index.pods.get(snapshot.ref.uid), snapshot)

    def owner(self, snapshot: PodSnapshot) -> OwnerInfo | None:
        owner, _ = self.context.index.owner_of(snapshot)
        return owner

    def gone(self, snapshot: PodSnapshot) -> frozenset[str]:
        """The Pod, once deleted, and the owner it maps through, once that is."""
        gone = set(super().gone(snapshot))
        _, owner = self.context.index.owner_of(snapshot)
        if owner is not None and owner.deleted_at is not None:
            gone.add(owner.ref.uid)
        return frozenset(gone)

    def derive(self, previous: PodSnapshot | None, snapshot: PodSnapshot) -> list[EventIntent]:
        return self.events(previous, snapshot)

    def events(self, previous: PodSnapshot | None, snapshot: PodSnapshot) -> list[EventIntent]:
        """Every event the Pod's state implies now (its owner's progress deadline is its
        readiness threshold)."""
        _, owner = self.context.index.owner_of(snapshot)
        return self.failures.events(snapshot, owner, self.context.clock())

    def put(self, snapshot: PodSnapshot) -> PodSnapshot | None:
        return self.context.index.put_pod(snapshot)

    def remove(self, snapshot: PodSnapshot) -> PodSnapshot | None:
        """Kept until its deletion is planned: it maps through its owners as its life did."""
        return self.context.index.pods.get(snapshot.ref.uid)

    def forget(self, uid: str) -> None:
        super().forget(uid)
        self.failures.forget(uid)

    def follows(self, previous: PodSnapshot | None, snapshot: PodSnapshot) -> Plan:
        owner = snapshot.owner
        failed = snapshot.phase == "Failed" and (previous is None or previous.phase != "Failed")
        if failed and owner is not None and owner.kind == "Job":
            return self.jobs.pod_failed(snapshot)
        return Plan()

    async def mapping_changed(self, snapshot: PodSnapshot) -> None:
        """Nothing maps through a Pod."""

    async def reevaluate(
        self, namespace: str | None = None, *, tags: frozenset[str] | None = None
    ) -> None:
        """Evaluate the Pods (of ``namespace``) again. A Pod's events do not read what Cortex
        holds, so a review of entities' ledgers (``tags``) leaves them be."""
        if tags is not None:
            return
        index = self.context.index
        await self.reevaluate_uids(
            index.pods_in(namespace) if namespace is not None else list(index.pods)
        )

    async def deadlines_passed(self) -> None:
        """Look again at the Pods whose waiting state has lasted past its threshold by now."""
        await self.reevaluate_uids(self.failures.due(self.context.clock()))
