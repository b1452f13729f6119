"""The running operator: its parts built and wired together, kopf started, a clean shutdown.

`OperatorApp` builds one of everything and hands each part only what it uses, so nothing lives
in module globals and several operators can run side by side in one process (tests, the demo).
It owns the state that several parts read: the ledger of what Cortex holds, the event queue,
the CortexEntity store and the rate limiter's bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

import kopf

from cortex_events.config.secret import Redactor
from cortex_events.config.settings import Settings
from cortex_events.controllers.argo_kinds import ArgoRolloutTracker
from cortex_events.controllers.batch_kinds import SCHEDULE_CHECK_SECONDS
from cortex_events.controllers.catalog import CatalogMapping, CatalogReader, MappingOptions
from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.entities import EntityController, EntityStore
from cortex_events.controllers.entity_status import EntityActivity
from cortex_events.controllers.feed import WatchFeed
from cortex_events.controllers.namespaces import NamespaceGate
from cortex_events.controllers.pod_failures import DEADLINE_CHECK_SECONDS
from cortex_events.controllers.recorder import Recorder
from cortex_events.controllers.relist import RelistReconciler
from cortex_events.controllers.sweep import DowntimeSweep
from cortex_events.cortex.api import CortexApi
from cortex_events.delivery.fence import Fence
from cortex_events.delivery.folding import Pressure
from cortex_events.delivery.pipeline import TAKEOVER_CHECK_SECONDS
from cortex_events.delivery.wiring import DeliveryParts, connect
from cortex_events.domain.failure_model import FailurePolicy
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.quiet import QuietDefaults
from cortex_events.domain.rollout_deploys import DeployDefaults
from cortex_events.handlers.registry import build_registry, kopf_settings
from cortex_events.kube.client import KubeClient, load_api_client
from cortex_events.kube.errors import describe
from cortex_events.kube.events import EventPoster, InvolvedObject
from cortex_events.kube.leases import replica_identity
from cortex_events.kube.watched import ARGO_ROLLOUT, BY_KIND, NAMESPACE, WatchedKind
from cortex_events.ops.apiprobe import ApiProbe, probe_path
from cortex_events.ops.health import HealthServer
from cortex_events.ops.interrupts import Interrupts
from cortex_events.ops.memory import release_after_bursts
from cortex_events.ops.observability import Metrics, OperatorListener
from cortex_events.ops.startup import elector, log_start, own_lease, warn_missing_namespaces

logger = logging.getLogger("cortex_events.app")


class OperatorApp:
    def __init__(
        self,
        settings: Settings,
        *,
        api: CortexApi | None = None,
        kube: KubeClient | None = None,
        secrets: Redactor | None = None,
    ) -> None:
        self.settings = settings
        cluster = settings.cluster_name
        # The key in every form, redacted from what the operator writes to Kubernetes (status,
        # Events), from the Cortex client's errors and, where the CLI shares it, from the logs.
        self.secrets = secrets if secrets is not None else Redactor()
        if settings.api_key is not None:
            self.secrets.add(settings.api_key.get_secret_value())
        self.kube = (
            kube if kube is not None else KubeClient(load_api_client(), redact=self.secrets.redact)
        )
        self.identity = replica_identity()
        self.election = elector(settings, self.kube, self.identity, self._leadership_changed)
        leading = self.leading
        self.notices = EventPoster(
            self.kube, instance=self.identity, leading=leading, redact=self.secrets.redact
        )
        self.metrics = Metrics()
        self.activity = EntityActivity()
        self.listener = OperatorListener(
            self.metrics, self.activity, self._warn_on_workload, dry_run=settings.dry_run
        )
        if api is None:
            api = connect(settings, gate=Fence(leading).check, observer=self.listener,
                          identity=self.identity, secrets=self.secrets)  # fmt: skip
        self.api = api
        parts = DeliveryParts.build(
            api,
            cluster=cluster,
            queue_size=settings.queue_size,
            listener=self.listener,
            on_depth=self.listener.queue_changed,
            leading=leading,
            on_loaded=lambda tag: self.recorder.request_deployment_review(tag),
            pod_events=settings.pod_events,
            pressure=Pressure(settings.pod_fold_after, settings.rate_limit / 60.0),
            deploy_listener=self.listener,
        )
        self.queue, self.ledger, self.folder = parts.queue, parts.ledger, parts.folder
        self.delivery, self.deleter = parts.delivery, parts.deleter
        self.entity_store = EntityStore()
        selector = settings.namespace_label_selector
        self.deploys = DeployRecorder(
            self.entity_store,
            DeployDefaults(
                enabled=settings.deploys,
                scales=settings.deploy_scales,
                environment=settings.deploy_environment,
                sha_annotation=settings.deploy_sha_annotation,
            ),
            cluster=cluster,
            settle=settings.deploy_settle,
        )
        self.catalog = self._catalog(api)
        self.recorder = Recorder(
            self.queue,
            self.entity_store,
            cluster=cluster,
            history=self.ledger,
            skips=self.listener,
            tag_issues=self.listener,
            quiet=QuietDefaults(
                settings.scale_events, settings.job_pod_events, settings.pod_events
            ),
            summary_window=timedelta(seconds=settings.scale_summary_window),
            namespaces=NamespaceGate(selector) if selector is not None else None,
            deploys=self.deploys,
            failures=FailurePolicy(
                unschedulable_after=timedelta(seconds=settings.unschedulable_after),
                container_error_after=timedelta(seconds=settings.container_error_after),
                not_ready_after=timedelta(seconds=settings.not_ready_after),
                restarts=settings.restart_threshold,
            ),
            mapping=MappingOptions(settings.tag_annotation, self.catalog),
        )
        self.metrics.watch_queue(self.queue, self.folder.churn_pressure, self.folder.waiting)
        self.relists = RelistReconciler(
            self.recorder, self.kube, per_namespace=bool(settings.namespaces)
        )
        self.feed = WatchFeed(self.recorder, self.relists)
        self.entities = EntityController(
            self.entity_store,
            delivery=self.delivery,
            deleter=self.deleter,
            ledger=self.ledger,
            api=api,
            matches=self.recorder,
            status=self.kube,
            notices=self.notices,
            activity=self.activity,
            on_mapping_changed=self.recorder.request_reevaluation,
            cluster=cluster,
            status_interval=settings.status_interval,
            retention_interval=settings.retention_interval,
            dry_run=settings.dry_run,
            leading=leading,
            records_deploys=self.deploys.enabled_for,
        )
        self.sweep = DowntimeSweep(
            self.ledger,
            self.recorder,
            self.kube,
            self.queue,
            cluster=cluster,
            delay=settings.sweep_delay,
        )
        self.health = HealthServer(
            self.delivery, self.metrics.registry, wedged_after=settings.wedged_after
        )
        self.metrics.leader.set(1 if self.leading() else 0)
        self.interrupts: Interrupts | None = None  # set by `run` when it handles the signals

    def _catalog(self, reader: object) -> CatalogMapping | None:
        """Mapping from Cortex's catalog, where ``CORTEX_MAPPING`` asks for it and there is a
        Cortex to read it from (not in a dry run)."""
        settings = self.settings
        if not settings.mapping:
            return None
        if not isinstance(reader, CatalogReader):
            logger.warning(
                "CORTEX_MAPPING is set, but Cortex's catalog is not read in a dry run: "
                "only annotations and CortexEntities map workloads"
            )
            return None
        return CatalogMapping(
            reader,
            settings.mapping_config,
            reevaluate=lambda namespace: self.recorder.request_reevaluation(namespace),
            namespaces=lambda: self.recorder.index.namespaces(),
            interval=settings.catalog_interval,
            leading=self.leading,
        )

    # -- leadership ----------------------------------------------------------------------------

    def leading(self) -> bool:
        """Whether this replica sends to Cortex: it holds the Lease, or there is no election."""
        return self.election is None or self.election.leading

    def _leadership_changed(self, leading: bool) -> None:
        assert self.election is not None
        settings = self.election.settings
        self.metrics.leader.set(1 if leading else 0)
        self.metrics.leader_transitions.inc()
        lease = InvolvedObject(
            "coordination.k8s.io/v1", "Lease", settings.namespace, settings.name, ""
        )
        if leading:
            logger.info("Leader election: %s leads: delivering to Cortex", self.identity)
            self.notices.post(lease, "LeaderElected", f"{self.identity} became the leader",
                              always=True)  # fmt: skip
            # The previous leader's last requests may still land if its Lease expired.
            expired = self.election.took_from is not None
            self.delivery.took_over(TAKEOVER_CHECK_SECONDS if expired else 0.0)
            self.recorder.request_full_review()
            if self.catalog is not None:
                self.catalog.refresh_soon()
            self.sweep.rearm()
            self.entities.refresh_soon()
        else:
            logger.warning(
                "Leader election: %s no longer leads: it sends nothing until it leads again",
                self.identity,
            )
            self.notices.post(lease, "LeaderLost", f"{self.identity} stopped leading",
                              always=True)  # fmt: skip

    def _warn_on_workload(self, workload: WorkloadRef, reason: str, message: str) -> None:
        """A Warning Kubernetes Event about a workload: a new Event object in its namespace,
        never a write to the workload itself."""
        watched = BY_KIND.get(workload.kind)
        api_version = watched.api_version if watched is not None else "v1"
        about = InvolvedObject(
            api_version, workload.kind, workload.namespace, workload.name, workload.uid
        )
        self.notices.warn(about, reason, message)

    # -- background loops ----------------------------------------------------------------------

    @staticmethod
    async def _every(seconds: float, job: Callable[[], Awaitable[object]], what: str) -> None:
        """``job`` every ``seconds``, for as long as the operator runs; a failure is logged."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                logger.exception("%s failed", what)

    async def watched_extra(self) -> list[WatchedKind]:
        """The kinds watched besides the workloads always watched: Namespaces for the
        namespace selector, Argo Rollouts where the cluster serves them."""
        extra: list[WatchedKind] = []
        if self.settings.namespace_selector:
            extra.append(NAMESPACE)
        if self.settings.argo_rollouts and await self._serves_argo_rollouts():
            extra.append(ARGO_ROLLOUT)
            if "Rollout" not in self.recorder.trackers:
                self.recorder.add_tracker(ArgoRolloutTracker(self.recorder.context))
        return extra

    async def _serves_argo_rollouts(self) -> bool:
        """Whether the cluster has the rollouts.argoproj.io CRD (asked once, at the start: a
        CRD installed later is watched after a restart)."""
        try:
            found = await self.kube.serves(ARGO_ROLLOUT.api_version, ARGO_ROLLOUT.plural)
        except Exception as error:
            logger.warning(
                "Could not tell whether Argo Rollouts are installed: %s", describe(error)
            )
            return False
        if found:
            logger.info("Argo Rollouts are installed: watching rollouts.argoproj.io")
        return found

    # -- running -----------------------------------------------------------------------------

    async def _drain(self, interrupts: Interrupts | None) -> None:
        """Deliver what is queued, within the drain timeout; a second signal stops now."""
        timeout = self.settings.drain_timeout
        drain = asyncio.ensure_future(self.delivery.drain(timeout))
        if interrupts is None:
            await drain
            return
        waiting = self.delivery.depth
        if waiting and not interrupts.now.is_set():
            logger.warning(
                "Stopping: %d events wait for delivery (up to %.0fs); a second Ctrl-C stops "
                "now (they are recorded at the next start)",
                waiting,
                timeout,
            )
        if not await interrupts.unless_stopped_now(drain):
            logger.warning(
                "Stopped at once: %d events were still queued; they are recorded at the next start",
                self.delivery.depth,
            )

    async def run(
        self,
        *,
        stop_flag: asyncio.Event | threading.Event | None = None,
        ready_flag: asyncio.Event | threading.Event | None = None,
    ) -> None:
        """Run until stopped (SIGTERM/SIGINT or ``stop_flag``), then drain the queue."""
        settings = self.settings
        try:
            await self.health.start(
                settings.health_port, settings.metrics_port, settings.listen_address
            )
        except BaseException:
            await self.api.aclose()
            self.kube.close()
            raise
        if self.election is not None:
            await own_lease(self.kube, self.election)
        loop = asyncio.get_running_loop()
        loops: dict[str, Coroutine[Any, Any, None]] = {
            "delivery": self.delivery.run(),
            "relist": self.relists.run(),
            "entity-status": self.entities.run(),
            # After a restart: deletions missed while down, once each ledger is loaded.
            "sweep": self._every(
                settings.status_interval, self.sweep.run, "Looking for deletions missed while down"
            ),
            # The runs CronJobs missed, and Pods that stay unschedulable or not ready: no
            # watch event tells of them.
            "schedules": self._every(
                SCHEDULE_CHECK_SECONDS,
                self.recorder.check_schedules,
                "Looking for missed CronJob runs",
            ),
            "deadlines": self._every(
                DEADLINE_CHECK_SECONDS,
                self.recorder.check_deadlines,
                "Looking at Pods in a waiting state",
            ),
            "kubernetes-events": self.notices.run(),
            "probe": ApiProbe(
                self.kube,
                self.health,
                path=probe_path(settings.namespaces),
                host=self.kube.host,
                wedged_after=settings.wedged_after,
            ).run(),
            "memory": release_after_bursts(lambda: self.recorder.events_seen),
        }
        if self.election is not None:
            loops["leader-election"] = self.election.run()
        if self.catalog is not None:
            loops["catalog"] = self.catalog.run()
        tasks = {name: loop.create_task(coro, name=name) for name, coro in loops.items()}
        self.health.watch_tasks(**tasks)
        # Let those tasks spawn their workers now: kopf cancels, on exit, every task created
        # after it started, and the delivery workers must outlive kopf to drain the queue.
        await asyncio.sleep(0)
        log_start(settings, self.election.settings if self.election else None, self.identity)
        await warn_missing_namespaces(self.kube, settings.namespaces)
        extra = await self.watched_extra()
        interrupts = None
        if stop_flag is None and ready_flag is None and Interrupts.available():
            interrupts = self.interrupts = Interrupts()
            stop_flag, ready_flag = interrupts.stop, asyncio.Event()
            interrupts.install()
            # Created before kopf starts, so that kopf leaves it alone when it stops.
            taking = loop.create_task(interrupts.take_over(ready_flag), name="signals")
        operator = asyncio.ensure_future(
            kopf.operator(
                registry=build_registry(self.feed, self.entities, extra),
                settings=kopf_settings(),
                standalone=True,
                clusterwide=not settings.namespaces,
                namespaces=list(settings.namespaces),
                stop_flag=stop_flag,
                ready_flag=ready_flag,
                memo=kopf.Memo(),
            )
        )
        try:
            if interrupts is not None:
                await interrupts.unless_stopped_now(operator)
            await operator
        finally:
            if self.leading():
                await self._drain(interrupts)
            if interrupts is not None:
                taking.cancel()
                interrupts.release()
            if self.election is not None:
                await self.election.release()  # a standby takes over at once
            for task in tasks.values():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.health.stop()
            await self.api.aclose()
            self.kube.close()
            logger.info("Stopped")
