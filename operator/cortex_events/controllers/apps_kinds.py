"""StatefulSets, DaemonSets and their ControllerRevisions, as watch events come."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from cortex_events.controllers.kinds import Context, KindTracker, Snapshot, scale_seen
from cortex_events.controllers.revisions import RolloutMemory, by_number
from cortex_events.delivery.queue import OutgoingDeploy
from cortex_events.domain.apps import (
    DaemonSetSnapshot,
    StatefulSetSnapshot,
    controller_revision_snapshot,
    daemonset_snapshot,
    statefulset_snapshot,
)
from cortex_events.domain.daemonsets import current_rollout as daemonset_rollout
from cortex_events.domain.daemonsets import daemonset_events
from cortex_events.domain.deployments import Revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import Resolution
from cortex_events.domain.revisions import Progress
from cortex_events.domain.rollout_deploys import DeploySource
from cortex_events.domain.statefulsets import current_rollout as statefulset_rollout
from cortex_events.domain.statefulsets import statefulset_events


class AppsSnapshot(Snapshot, DeploySource, Protocol):
    """A StatefulSet's or DaemonSet's snapshot, as its deploys read it."""


A = TypeVar("A", bound=AppsSnapshot)


class RevisionTracker(KindTracker[A]):
    """A kind whose rollouts are revisions: it remembers what each last reported."""

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.rollouts = RolloutMemory()

    def rollout(
        self, uid: str, current: tuple[Revision, Progress] | None, written: datetime | None
    ) -> dict[str, Any]:
        """The rollout arguments of the kind's rules (``current``, ``reported``, ``ended``),
        and what the next change compares with remembered."""
        current = self.rollouts.settled(uid, current)
        reported = self.rollouts.reported(uid)
        ended = self.rollouts.ended(uid, current, written)
        self.rollouts.remember(uid, current, ended)
        return {"current": current, "reported": reported, "ended": ended}

    def forget(self, uid: str) -> None:
        super().forget(uid)
        self.rollouts.forget(uid)

    def deploys(
        self, resolution: Resolution, snapshot: A, events: list[EventIntent]
    ) -> list[OutgoingDeploy]:
        """A completed rollout is a Cortex deploy, as a Deployment's is: of the revision just
        reported (`rollout`), which is the only one whose event can say Completed."""
        deploys = self.context.deploys
        if deploys is None:
            return []
        reported = self.rollouts.reported(snapshot.ref.uid)
        return deploys.workload(
            resolution, snapshot, events, reported[0] if reported is not None else None
        )


class StatefulSetTracker(RevisionTracker[StatefulSetSnapshot]):
    kind = "StatefulSet"

    def parse(self, body: Mapping[str, Any]) -> StatefulSetSnapshot:
        return statefulset_snapshot(body, keep=self.context.keep)

    def events(
        self, previous: StatefulSetSnapshot | None, snapshot: StatefulSetSnapshot
    ) -> list[EventIntent]:
        context, ref = self.context, snapshot.ref
        revisions = context.index.revisions.of(self.kind, ref.namespace, ref.name, snapshot)
        rollout = self.rollout(
            ref.uid, statefulset_rollout(snapshot, revisions), snapshot.status_written
        )
        scale = scale_seen(self.context, previous, snapshot)
        return statefulset_events(snapshot, scale=scale, **rollout)


class DaemonSetTracker(RevisionTracker[DaemonSetSnapshot]):
    kind = "DaemonSet"

    def parse(self, body: Mapping[str, Any]) -> DaemonSetSnapshot:
        return daemonset_snapshot(body, keep=self.context.keep)

    def events(
        self, previous: DaemonSetSnapshot | None, snapshot: DaemonSetSnapshot
    ) -> list[EventIntent]:
        ref, revisions = snapshot.ref, self.context.index.revisions
        numbered = by_number(revisions.of(self.kind, ref.namespace, ref.name, snapshot))
        marks = revisions.restart_marks(self.kind, ref.namespace, ref.name)
        current = daemonset_rollout(snapshot, numbered, marks)
        return daemonset_events(snapshot, **self.rollout(ref.uid, current, snapshot.status_written))


async def revision_changed(
    context: Context,
    owners: Mapping[str, KindTracker[Any]],
    body: Mapping[str, Any],
    event_type: str | None,
) -> None:
    """A ControllerRevision's watch event: a rollout's event waits for its revision, so its
    workload is evaluated again when one arrives or changes."""
    snapshot = controller_revision_snapshot(body)
    revisions = context.index.revisions
    if event_type == "DELETED":
        revisions.delete(snapshot.namespace, snapshot.name)
        return
    previous = revisions.put(snapshot, now=context.clock())
    owner = snapshot.owner
    if owner is None or owner.kind not in owners or (previous and previous.snapshot == snapshot):
        return
    workload = context.index.workload(owner.kind, snapshot.namespace, owner.name)
    if workload is not None and workload.deleted_at is None:
        await owners[owner.kind].evaluate(workload, workload)
