"""Argo Rollouts, as watch events come (only where the cluster serves their CRD)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from cortex_events.controllers.kinds import Context, KindTracker, scale_seen
from cortex_events.controllers.workloads import owner_info, with_details
from cortex_events.delivery.queue import OutgoingDeploy
from cortex_events.domain.argo import (
    RolloutSnapshot,
    Seen,
    next_seen,
    reports_on_revision,
    rollout_events,
    rollout_result,
    rollout_snapshot,
)
from cortex_events.domain.deployments import Revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.keys import rollout_key
from cortex_events.domain.mapping import OwnerInfo, Resolution


class ArgoRolloutTracker(KindTracker[RolloutSnapshot]):
    """Remembers, per Rollout, when each revision started and how its rollout last stood
    (for promotions: a pause it left)."""

    kind = "Rollout"

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._seen: dict[str, Seen] = {}
        self._started: dict[tuple[str, int], datetime] = {}
        self._current: dict[str, Revision] = {}

    def parse(self, body: Mapping[str, Any]) -> RolloutSnapshot:
        return rollout_snapshot(body, keep=self.context.keep)

    def owner(self, snapshot: RolloutSnapshot) -> OwnerInfo | None:
        """A workloadRef Rollout maps through the Deployment it references, as Cortex's agent
        maps it."""
        deployment = self._referenced(snapshot)
        return owner_info(deployment) if deployment is not None else None

    def _referenced(self, snapshot: RolloutSnapshot) -> Any:
        if snapshot.workload_ref is None:
            return None
        return self.context.index.workload(
            "Deployment", snapshot.ref.namespace, snapshot.workload_ref
        )

    def _started_at(self, snapshot: RolloutSnapshot, number: int) -> datetime:
        """When revision ``number`` began: its ReplicaSet's creation where known, else what
        Cortex holds (after a restart), else now (the first sighting)."""
        uid = snapshot.ref.uid
        known = self._started.get((uid, number))
        if known is not None:
            return known
        ref = snapshot.ref
        created = [
            rs.snapshot.created
            for rs in self.context.index.replicasets_of("Rollout", ref.namespace, ref.name)
            if rs.snapshot.rollout_revision == number
        ]
        history = self.context.history
        recorded = (
            history.recorded_time(rollout_key(self.kind, uid, number))
            if history is not None
            else None
        )
        started = min(created, default=None) or recorded or self.context.clock()
        self._started[(uid, number)] = started
        return started

    def _revision(self, snapshot: RolloutSnapshot, number: int) -> Revision:
        """Revision ``number``, with who made it and what it changed from the revision before
        (their ReplicaSets' templates)."""
        ref = snapshot.ref
        sets = self.context.index.replicasets_of("Rollout", ref.namespace, ref.name)
        held = sorted(
            (rs for rs in sets if 0 < (rs.snapshot.rollout_revision or 0) <= number),
            key=lambda rs: rs.snapshot.rollout_revision or 0,
        )
        revision = Revision(number, snapshot.images, self._started_at(snapshot, number))
        if not held or held[-1].snapshot.rollout_revision != number:
            return revision
        previous = held[-2].snapshot if len(held) > 1 else None
        return with_details(held[-1], revision, previous, snapshot)

    def events(
        self, previous: RolloutSnapshot | None, snapshot: RolloutSnapshot
    ) -> list[EventIntent]:
        ref = snapshot.ref
        deployment = self._referenced(snapshot)
        if not snapshot.images and deployment is not None:
            snapshot = replace(snapshot, images=deployment.images)
        revision, seen = None, None
        if reports_on_revision(snapshot) and snapshot.revision is not None:
            number = snapshot.revision
            revision = self._revision(snapshot, number)
            seen = next_seen(self._seen.get(ref.uid), snapshot, rollout_result(snapshot))
            if seen is not None:
                self._seen[ref.uid] = seen
            self._current[ref.uid] = revision
        scale = scale_seen(self.context, previous, snapshot)
        return rollout_events(snapshot, revision=revision, seen=seen, scale=scale)

    def deploys(
        self, resolution: Resolution, snapshot: RolloutSnapshot, events: list[EventIntent]
    ) -> list[OutgoingDeploy]:
        """A revision that became stable is a Cortex deploy, as a Deployment's rollout is."""
        if self.context.deploys is None:
            return []
        current = self._current.get(snapshot.ref.uid)
        return self.context.deploys.workload(resolution, snapshot, events, current)

    def forget(self, uid: str) -> None:
        super().forget(uid)
        self._seen.pop(uid, None)
        self._current.pop(uid, None)
        for key in [k for k in self._started if k[0] == uid]:
            del self._started[key]
