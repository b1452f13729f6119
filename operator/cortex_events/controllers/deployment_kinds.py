"""Deployments and the ReplicaSets that link them to their Pods, as watch events come.

A Deployment's revisions are its ReplicaSets' (`WorkloadIndex.revisions_of`); a rollout's event
waits for its revision's ReplicaSet, so a ReplicaSet's change evaluates its Deployment (or
Argo Rollout) again, and a ReplicaSet seen after its Pods maps them through their owner then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_events.controllers.kinds import Context, KindTracker
from cortex_events.delivery.queue import OutgoingDeploy
from cortex_events.domain.deployments import Revision, deployment_events, reports_on_revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import Resolution
from cortex_events.domain.model import DeploymentSnapshot
from cortex_events.domain.snapshots import deployment_snapshot, replicaset_snapshot


class DeploymentTracker(KindTracker[DeploymentSnapshot]):
    kind = "Deployment"

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        # The revisions `events` read for the snapshot being planned, for its `deploys` right
        # after (one plan is one synchronous call): they are read from the index once a change.
        self._planned: tuple[DeploymentSnapshot, dict[int, Revision]] | None = None

    def parse(self, body: Mapping[str, Any]) -> DeploymentSnapshot:
        return deployment_snapshot(body, keep=self.context.keep)

    def _revisions(self, deployment: DeploymentSnapshot) -> dict[int, Revision]:
        history = self.context.history
        return self.context.index.revisions_of(
            deployment,
            now=self.context.clock(),
            recorded_time=history.recorded_time if history is not None else None,
        )

    def events(
        self, previous: DeploymentSnapshot | None, snapshot: DeploymentSnapshot
    ) -> list[EventIntent]:
        context, uid = self.context, snapshot.ref.uid
        history = context.history
        revisions = self._revisions(snapshot)
        self._planned = (snapshot, revisions)
        return deployment_events(
            previous if previous is not snapshot else None,
            snapshot,
            now=context.clock(),
            revisions=revisions,
            reported=context.index.reported.get(uid),
            recorded_replicas=history.recorded_replicas(uid) if history is not None else None,
        )

    def deploys(
        self, resolution: Resolution, snapshot: DeploymentSnapshot, events: list[EventIntent]
    ) -> list[OutgoingDeploy]:
        """A rollout's deploys; none for a Deployment an Argo Rollout takes its template from
        (the Rollout rolls it out)."""
        planned, self._planned = self._planned, None
        ref, deploys = snapshot.ref, self.context.deploys
        if deploys is None or self.context.index.templates_a_rollout(ref.namespace, ref.name):
            return []
        if planned is not None and planned[0] is snapshot:
            revisions = planned[1]
        else:
            revisions = self._revisions(snapshot)
        return deploys.deployment(resolution, snapshot, events, revisions)

    def put(self, snapshot: DeploymentSnapshot) -> DeploymentSnapshot | None:
        return self.context.index.put_deployment(snapshot)

    def remove(self, snapshot: DeploymentSnapshot) -> DeploymentSnapshot | None:
        return self.context.index.drop_deployment(snapshot)

    def kept(self, snapshot: DeploymentSnapshot) -> None:
        if reports_on_revision(snapshot):
            self.context.index.reported[snapshot.ref.uid] = snapshot

    async def mapping_changed(self, snapshot: DeploymentSnapshot) -> None:
        """The Deployment's mapping feeds its Pods' mapping (and an Argo Rollout's that names
        it in its workloadRef)."""
        await super().mapping_changed(snapshot)
        rollouts = self.context.trackers.get("Rollout")
        if rollouts is not None:
            await rollouts.reevaluate(snapshot.ref.namespace)

    async def reevaluate(
        self, namespace: str | None = None, *, tags: frozenset[str] | None = None
    ) -> None:
        for key, snapshot in list(self.context.index.deployments.items()):
            if namespace is None or key[0] == namespace:
                await self.evaluate(snapshot, snapshot, tags=tags)


async def replicaset_changed(
    context: Context, body: Mapping[str, Any], event_type: str | None
) -> None:
    """A ReplicaSet's watch event: it links Pods to their Deployment or Argo Rollout, and holds
    a revision's template."""
    index = context.index
    snapshot = replicaset_snapshot(body, keep=context.keep)
    key = (snapshot.namespace, snapshot.name)
    if event_type == "DELETED":
        index.replicaset_deleted(key)
        return
    previous = index.put_replicaset(snapshot, now=context.clock())
    if previous is None or previous.owner() != index.replicasets[key].owner():
        # Pods seen before their ReplicaSet can now be mapped through their owner.
        await context.reevaluate_pods(index.pods_of_replicaset(key))
    if previous is not None and previous.snapshot == snapshot:
        return
    trackers = context.trackers
    if snapshot.deployment:
        # A rollout's event waits for its revision's ReplicaSet.
        deployment = index.deployments.get((snapshot.namespace, snapshot.deployment))
        if deployment is not None and deployment.revision == snapshot.revision:
            await trackers["Deployment"].evaluate(deployment, deployment)
    elif snapshot.rollout and "Rollout" in trackers:
        rollout = index.workload("Rollout", snapshot.namespace, snapshot.rollout)
        if rollout is not None:
            await trackers["Rollout"].evaluate(rollout, rollout)
