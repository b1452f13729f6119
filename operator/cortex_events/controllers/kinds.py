"""Every watched kind's watch events, one way for all: snapshot, index, entities, rules, plan.

A `KindTracker` keeps one kind's snapshots in the `WorkloadIndex`; for each change it resolves
the workload's entities (`cortex_events.controllers.routing`), derives the change's events with
its kind's rules only for a workload that has entities, and has them and their deploys put on
those entities as a `Plan`, which it submits. A change of a workload's labels or annotations
maps its Pods (and a CronJob's Jobs) anew at once. The trackers: Pods
(`cortex_events.controllers.pod_kinds`), Deployments (`deployment_kinds`), StatefulSets and
DaemonSets (`apps_kinds`), Jobs and CronJobs (`batch_kinds`), Argo Rollouts (`argo_kinds`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.routing import Plan, Router, Submitter
from cortex_events.controllers.scales import ScaleWindows
from cortex_events.controllers.workloads import WorkloadIndex
from cortex_events.delivery.queue import OutgoingDeploy
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import OwnerInfo, Resolution
from cortex_events.domain.model import Described
from cortex_events.domain.parsing import FieldWriter
from cortex_events.domain.scaling import Scale, scale_of


class Snapshot(Described, Protocol):
    @property
    def deleted_at(self) -> datetime | None: ...


S = TypeVar("S", bound=Snapshot)


class KindHistory(Protocol):
    """What Cortex already holds, as far as the kinds ask (the ledger)."""

    def recorded_replicas(self, uid: str) -> int | None: ...

    def recorded_time(self, key: str) -> datetime | None: ...


@dataclass
class Context:
    """What every tracker shares."""

    index: WorkloadIndex
    router: Router
    submitter: Submitter
    scales: ScaleWindows
    clock: Callable[[], datetime]
    history: KindHistory | None = None
    deploys: DeployRecorder | None = None
    keep: frozenset[str] = frozenset()
    """Annotations workload snapshots keep beside the ``cortex.io/`` ones (those deploys read)."""
    pod_keep: frozenset[str] = frozenset()
    """Annotations Pod snapshots keep beside the ``cortex.io/`` ones."""
    trackers: dict[str, KindTracker[Any]] = field(default_factory=dict)
    """Every kind's tracker, by kind: a change of one workload can touch another's."""

    async def submit(self, plan: Plan) -> None:
        for item in plan.items():
            await self.submitter.submit(item)

    async def reevaluate_pods(self, uids: Iterable[str]) -> None:
        """Evaluate these Pods again as they are now (their mapping may have changed)."""
        await self.trackers["Pod"].reevaluate_uids(uids)


class Scalable(Snapshot, Protocol):
    """A workload with a replica count (StatefulSets, Argo Rollouts)."""

    @property
    def replicas(self) -> int: ...

    @property
    def generation(self) -> int: ...

    @property
    def replicas_writer(self) -> FieldWriter | None: ...


def scale_seen(context: Context, previous: Scalable | None, snapshot: Scalable) -> Scale | None:
    """The scale from ``previous`` to ``snapshot``; first seen (or seen again), from the count
    recorded last."""
    if previous is not None and previous is not snapshot:
        before: int | None = previous.replicas
    else:
        history = context.history
        before = history.recorded_replicas(snapshot.ref.uid) if history is not None else None
    return scale_of(
        before,
        snapshot.replicas,
        generation=snapshot.generation,
        writer=snapshot.replicas_writer,
        now=context.clock(),
    )


class KindTracker(Generic[S]):
    """One kind's watch events; subclasses give `parse` and `events`."""

    kind: str

    def __init__(self, context: Context) -> None:
        self.context = context

    def parse(self, body: Mapping[str, Any]) -> S:
        raise NotImplementedError

    def events(self, previous: S | None, snapshot: S) -> list[EventIntent]:
        """Every event the change from ``previous`` (None: first seen) implies."""
        raise NotImplementedError

    def derive(self, previous: S | None, snapshot: S) -> list[EventIntent]:
        """The change's events, and the summary of each autoscaler's scale among them."""
        return self.context.scales.with_summaries(self.events(previous, snapshot))

    def owner(self, snapshot: S) -> OwnerInfo | None:
        """What the workload maps through besides itself (a Job's CronJob)."""
        return None

    def gone(self, snapshot: S) -> frozenset[str]:
        """The uids being deleted as of ``snapshot`` (an unusable tag on them is not told)."""
        return frozenset({snapshot.ref.uid} if snapshot.deleted_at is not None else ())

    def deploys(
        self, resolution: Resolution, snapshot: S, events: list[EventIntent]
    ) -> list[OutgoingDeploy]:
        """The deploys of the events just derived (kinds whose rollouts are deploys)."""
        return []

    # -- the index -----------------------------------------------------------------------------

    def put(self, snapshot: S) -> S | None:
        """Keep the snapshot; returns the one it replaces."""
        return self.context.index.put(self.kind, snapshot)  # type: ignore[no-any-return]

    def remove(self, snapshot: S) -> S | None:
        """The workload is deleted: returns the last snapshot seen before. Its deletion maps
        as its life did, so the index keeps it while Pods of it remain."""
        return self.context.index.drop(self.kind, snapshot)  # type: ignore[no-any-return]

    def kept(self, snapshot: S) -> None:
        """A change of a workload that lives on has been evaluated."""

    def forget(self, uid: str) -> None:
        """The workload is gone and its deletion planned: drop everything kept of it (what
        the index holds, its autoscaling window; a subclass adds its own memory)."""
        self.context.index.forget(uid)
        self.context.scales.forget(uid)

    # -- the path ------------------------------------------------------------------------------

    async def changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        deleted = event_type == "DELETED"
        snapshot = self.parse(body)
        if deleted and snapshot.deleted_at is None:
            snapshot = replace(snapshot, deleted_at=self.context.clock())  # type: ignore[type-var]
        await self.seen(snapshot, deleted=deleted)

    async def seen(self, snapshot: S, *, deleted: bool) -> None:
        previous = self.remove(snapshot) if deleted else self.put(snapshot)
        if not deleted and previous == snapshot:
            return  # nothing this operator reads has changed
        plan = self.plan(previous, snapshot) + self.follows(previous, snapshot)
        if deleted:
            self.forget(snapshot.ref.uid)  # only now: its deletion maps as its life did
        else:
            self.kept(snapshot)
        await self.context.submit(plan)
        if not deleted and (
            previous is None
            or previous.annotations != snapshot.annotations
            or previous.labels != snapshot.labels
        ):
            await self.mapping_changed(snapshot)

    def plan(self, previous: S | None, snapshot: S, *, tags: frozenset[str] | None = None) -> Plan:
        """What the change from ``previous`` sends: nothing for a workload without entities
        (with ``tags``, without one of those), whose events are then not derived at all."""
        ref, owner = snapshot.ref, self.owner(snapshot)
        router = self.context.router
        resolution = router.resolve(
            ref,
            snapshot.labels,
            snapshot.annotations,
            owner,
            first=previous is None,
            gone=self.gone(snapshot),
            tags=tags,
        )
        if resolution is None:
            return Plan()
        events = self.derive(previous, snapshot)
        return Plan(
            router.items(resolution, events, ref, owner, now=self.context.clock()),
            tuple(self.deploys(resolution, snapshot, events)),
        )

    def follows(self, previous: S | None, snapshot: S) -> Plan:
        """What a change of this workload sends on another's behalf (a Pod's failure, its
        Job's)."""
        return Plan()

    async def evaluate(
        self, previous: S | None, snapshot: S, *, tags: frozenset[str] | None = None
    ) -> None:
        """Record what changed from ``previous``; with ``tags``, only if the workload maps to
        one of those entities."""
        await self.context.submit(self.plan(previous, snapshot, tags=tags))

    async def mapping_changed(self, snapshot: S) -> None:
        """The workload's mapping feeds its Pods' mapping."""
        ref = snapshot.ref
        await self.context.reevaluate_pods(
            self.context.index.pods_of(self.kind, ref.namespace, ref.name)
        )

    async def reevaluate(
        self, namespace: str | None = None, *, tags: frozenset[str] | None = None
    ) -> None:
        """Evaluate every workload of this kind (in ``namespace``; with ``tags``, those that
        map to one of these entities) again, as it is now."""
        for (item_namespace, _), snapshot in list(self.context.index.kinds[self.kind].items()):
            if namespace is None or item_namespace == namespace:
                await self.evaluate(snapshot, snapshot, tags=tags)

    async def reevaluate_uids(self, uids: Iterable[str]) -> None:
        """Evaluate these workloads (by uid) again, as they are now."""
        for uid in list(uids):
            snapshot = self.context.index.by_uid(self.kind, uid)
            if snapshot is not None:
                await self.evaluate(snapshot, snapshot)

    async def vanished(self, uid: str) -> None:
        """Deleted while no watch was running: as if its DELETED event had come."""
        snapshot = self.context.index.by_uid(self.kind, uid)
        if snapshot is not None:
            gone = replace(snapshot, deleted_at=snapshot.deleted_at or self.context.clock())
            await self.seen(gone, deleted=True)
