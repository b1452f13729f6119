"""Cortex deploys from what a tracker derived for a Deployment, StatefulSet, DaemonSet or Argo
Rollout, one for each target entity whose `DeployPolicy` wants them.

The trackers hand over the events they derived from a workload's state and that state's
revisions (`deployment_deploys`, `workload_deploys` turn them into deploys); this decides
where each goes, as items the tracker's plan submits: only to
entities that record deploys (``spec.deploys`` or the settings), ``SCALE`` only where scales
are asked for, nothing older than the shortest retention of the entities behind a target
(retention would delete it again). A rollout's deploy waits ``settle`` seconds after it went
live before delivery sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cortex_events.delivery.queue import OutgoingDeploy
from cortex_events.domain.deployments import Revision
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import Resolution
from cortex_events.domain.model import DeploymentSnapshot
from cortex_events.domain.rollout_deploys import (
    DeployDefaults,
    DeployIntent,
    DeploySource,
    DeployType,
    deploy_policy,
    deployment_deploys,
    render_deploy,
    workload_deploys,
)
from cortex_events.domain.specs import EntitySpec


class Specs(Protocol):
    def spec(self, key: str) -> EntitySpec | None: ...


class DeployRecorder:
    def __init__(
        self,
        entities: Specs,
        defaults: DeployDefaults,
        *,
        cluster: str,
        settle: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._entities = entities
        self._defaults = defaults
        self._cluster = cluster
        self._settle = timedelta(seconds=settle)
        self._clock = clock

    @property
    def annotations(self) -> frozenset[str]:
        """The annotations that workload snapshots must keep for deploys (the sha's)."""
        return frozenset({self._defaults.sha_annotation})

    def enabled_for(self, spec: EntitySpec) -> bool:
        """Whether this CortexEntity records deploys (and so has deploys to retain or clean)."""
        return deploy_policy([spec], self._defaults, self._cluster).enabled

    def deployment(
        self,
        resolution: Resolution,
        deployment: DeploymentSnapshot,
        events: Iterable[EventIntent],
        revisions: Mapping[int, Revision],
    ) -> list[OutgoingDeploy]:
        """The deploys of ``events``, derived from ``deployment`` and its revisions."""
        intents = deployment_deploys(
            deployment, events, revisions, sha_annotation=self._defaults.sha_annotation
        )
        return self._items(resolution, intents)

    def workload(
        self,
        resolution: Resolution,
        workload: DeploySource,
        events: Iterable[EventIntent],
        current: Revision | None,
    ) -> list[OutgoingDeploy]:
        """The deploys of ``events``, derived from a StatefulSet or DaemonSet whose
        update revision is ``current`` (a completed rollout is always of that revision)."""
        revisions = {current.number: current} if current is not None else {}
        intents = workload_deploys(
            workload,
            events,
            revisions,
            current=current,
            sha_annotation=self._defaults.sha_annotation,
        )
        return self._items(resolution, intents)

    def _items(self, resolution: Resolution, intents: list[DeployIntent]) -> list[OutgoingDeploy]:
        """Each of ``intents`` on every target whose policy wants it."""
        items: list[OutgoingDeploy] = []
        if not intents:
            return items
        now = self._clock()
        for target in resolution.targets:
            specs = [s for key in target.entities if (s := self._entities.spec(key)) is not None]
            policy = deploy_policy(specs, self._defaults, self._cluster)
            if not policy.enabled:
                continue
            retention = min((s.retention for s in specs if s.retention is not None), default=None)
            for intent in intents:
                if intent.type is DeployType.SCALE and not policy.scales:
                    continue
                if retention is not None and intent.timestamp < now - retention:
                    continue
                settle = self._settle if intent.type is not DeployType.SCALE else timedelta(0)
                items.append(
                    OutgoingDeploy(
                        tag=target.tag,
                        key=intent.key,
                        body=render_deploy(intent, target, policy, cluster=self._cluster),
                        entities=target.entities,
                        started=intent.started,
                        not_before=intent.timestamp + settle,
                    )
                )
        return items
