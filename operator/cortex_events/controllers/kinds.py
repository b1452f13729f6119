"""The watch events of StatefulSets, DaemonSets, Jobs, CronJobs and Argo Rollouts, one way for all.

A `KindTracker` keeps one kind's snapshots in the `WorkloadIndex`, derives the events of each
change with its kind's rules, and routes them (`cortex_events.controllers.routing`). A change
of a workload's labels or annotations maps its Pods (and a CronJob's Jobs) anew at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.routing import Router
from cortex_events.controllers.scales import ScaleWindows
from cortex_events.controllers.workloads import WorkloadIndex
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
    scales: ScaleWindows
    clock: Callable[[], datetime]
    reevaluate_pods: Callable[[Iterable[str]], Awaitable[None]]
    history: KindHistory | None = None
    deploys: DeployRecorder | None = None
    keep: frozenset[str] = frozenset()
    """Annotations snapshots keep beside the ``cortex.io/`` ones (those deploys read)."""


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

    def owner(self, snapshot: S) -> OwnerInfo | None:
        """What the workload maps through besides itself (a Job's CronJob)."""
        return None

    def forget(self, uid: str) -> None:
        """The workload is gone: drop what the tracker keeps of it."""

    async def deploy(self, resolution: Resolution, snapshot: S, events: list[EventIntent]) -> None:
        """Hand the events just submitted to the deploys (kinds whose rollouts are deploys)."""

    async def changed(self, body: Mapping[str, Any], event_type: str | None) -> None:
        deleted = event_type == "DELETED"
        snapshot = self.parse(body)
        if deleted and snapshot.deleted_at is None:
            snapshot = replace(snapshot, deleted_at=self.context.clock())  # type: ignore[type-var]
        await self.seen(snapshot, deleted=deleted)

    async def seen(self, snapshot: S, *, deleted: bool) -> None:
        index = self.context.index
        if deleted:
            previous = index.drop(self.kind, snapshot)
        else:
            previous = index.put(self.kind, snapshot)
            if previous == snapshot:
                return  # nothing this operator reads has changed
        await self.evaluate(previous, snapshot)
        if deleted:
            self.context.router.forget(snapshot.ref.uid)
            self.context.scales.forget(snapshot.ref.uid)
            self.forget(snapshot.ref.uid)
            return
        if previous is None or (
            previous.annotations != snapshot.annotations or previous.labels != snapshot.labels
        ):
            await self.mapping_changed(snapshot)

    async def evaluate(
        self, previous: S | None, snapshot: S, *, tags: frozenset[str] | None = None
    ) -> None:
        """Record what changed from ``previous``; with ``tags``, only if the workload maps to
        one of those entities."""
        ref = snapshot.ref
        gone = frozenset({ref.uid} if snapshot.deleted_at is not None else ())
        await self.context.router.route(
            ref,
            snapshot.labels,
            snapshot.annotations,
            self.owner(snapshot),
            lambda: self.context.scales.with_summaries(self.events(previous, snapshot)),
            first=previous is None,
            gone=gone,
            then=lambda resolution, events: self.deploy(resolution, snapshot, events),
            tags=tags,
        )

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

    async def vanished(self, uid: str) -> None:
        """Deleted while no watch was running: as if its DELETED event had come."""
        snapshot = self.context.index.by_uid(self.kind, uid)
        if snapshot is not None:
            gone = replace(snapshot, deleted_at=snapshot.deleted_at or self.context.clock())
            await self.seen(gone, deleted=True)
