"""`SimulatedCluster`: the simulated controllers and kubelet, fed by the store's changes.

Each write to the store reaches the cluster through a store listener and marks what it touches
(a Deployment, a ReplicaSet, a pod's timers, a removed owner); each tick works only on what is
marked and on kubelet timers that are due, so thousands of pods stay cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from cortex_events_sim.kubeapi.errors import KubeApiError
from cortex_events_sim.kubeapi.store import Store

from .batch_controllers import JOBS, CronJobController, JobController
from .deployment_controller import DeploymentController
from .garbage_collector import GarbageCollector
from .kubelet import Kubelet, SimTimings
from .objects import DEPLOYMENTS, PODS, REPLICASETS, controller_of
from .owners import OwnerIndex
from .replicaset_controller import ReplicaSetController
from .statefulset_controller import STATEFULSETS, StatefulSetController

CRONJOB_CHECK_SECONDS = 1.0

logger = logging.getLogger(__name__)


class SimulatedCluster:
    """Controllers and a kubelet working on ``store``; ``start()`` on the store's loop."""

    def __init__(
        self,
        store: Store,
        *,
        tick: float = 0.05,
        node_name: str = "sim-node-1",
        timings: SimTimings | None = None,
    ) -> None:
        self.store = store
        self.tick = tick
        self.owners = OwnerIndex(store)
        self.kubelet = Kubelet(store, node_name, timings or SimTimings())
        self.garbage_collector = GarbageCollector(self.owners)
        self.replicasets = ReplicaSetController(self.owners)
        self.deployments = DeploymentController(self.owners)
        self.statefulsets = StatefulSetController(self.owners)
        self.jobs = JobController(self.owners)
        self.cronjobs = CronJobController(self.owners)
        self._cronjobs_checked = 0.0
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Index what exists, subscribe to changes and start ticking."""
        for rtype in self.store.types():
            for obj in self.store.list(rtype):
                self._on_change(rtype.key, "ADDED", obj, None)
        self.store.add_listener(self._on_change)
        self._task = asyncio.create_task(self._run(), name="simulated-cluster")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.remove_listener(self._on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.step()
            except Exception:
                logger.exception("the simulated cluster failed a step; continuing")

    def step(self) -> None:
        """One round: due kubelet work, garbage collection, then the controllers."""
        now = asyncio.get_running_loop().time()
        for work in self.kubelet.due(now):
            self._guarded(self.kubelet.act, *work)
        for child in self.garbage_collector.orphans():
            self._guarded(self.garbage_collector.collect, child)
        for namespace, name in self.deployments.take_due():
            self._guarded(self.deployments.sync, namespace, name)
        for namespace, name in self.replicasets.take_due():
            self._guarded(self.replicasets.sync, namespace, name)
        for namespace, name in self.statefulsets.take_due():
            self._guarded(self.statefulsets.sync, namespace, name)
        for namespace, name in self.jobs.take_due():
            self._guarded(self.jobs.sync, namespace, name)
        if now - self._cronjobs_checked >= CRONJOB_CHECK_SECONDS:
            self._cronjobs_checked = now
            self._guarded(self.cronjobs.sync_all)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except KubeApiError as exc:  # gone or changed meanwhile: the next event retries
            logger.debug("simulated cluster: %s%r: %s", fn.__name__, args, exc.message)

    # --- change tracking -----------------------------------------------------------------

    def _on_change(
        self, key: str, event: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> None:
        metadata = obj["metadata"]
        namespace, name, uid = metadata.get("namespace", ""), metadata["name"], metadata["uid"]
        self.owners.track(key, event, obj, old)
        if event == "DELETED":
            self.garbage_collector.owner_removed(uid)
        if key == DEPLOYMENTS:
            self.deployments.mark(namespace, name)
            if event == "DELETED":
                self.deployments.forget(namespace, name, uid)
        elif key == REPLICASETS:
            self.replicasets.mark(namespace, name)
            owner_name = controller_of(obj, "Deployment")
            if owner_name:
                self.deployments.mark(namespace, owner_name)
        elif key == STATEFULSETS:
            self.statefulsets.mark(namespace, name)
        elif key == JOBS:
            self.jobs.mark(namespace, name)
        elif key == PODS:
            for kind, controller in (
                ("ReplicaSet", self.replicasets),
                ("StatefulSet", self.statefulsets),
                ("Job", self.jobs),
            ):
                owner_name = controller_of(obj, kind)
                if owner_name:
                    controller.mark(namespace, owner_name)
            self.kubelet.watch_pod(event, obj, old)
