"""The running operator: its parts wired together, kopf started, and a clean shutdown.

`OperatorApp` owns one of everything (client, delivery, recorder, CortexEntity controller,
metrics) and hands itself to the kopf handlers, so nothing lives in module globals and several
operators can run side by side in one process (tests, the demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import kopf

from cortex_events.controllers.entities import (
    EntityActivity,
    EntityController,
    StatusSnapshot,
    build_status,
    summarize,
)
from cortex_events.controllers.recorder import Recorder
from cortex_events.controllers.relist import RelistReconciler
from cortex_events.controllers.sweep import DowntimeSweep
from cortex_events.cortex.client import CortexClient
from cortex_events.delivery.dryrun import DryRunCortex
from cortex_events.delivery.pipeline import CortexApi, Delivery
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.specs import EntitySpec, SpecError, parse_entity
from cortex_events.handlers.registry import CXE, FINALIZER, build_registry
from cortex_events.kube.client import KubeClient
from cortex_events.ops.health import HealthServer
from cortex_events.ops.memory import release_free_memory
from cortex_events.ops.observability import Metrics, OperatorListener
from cortex_events.settings import Settings

logger = logging.getLogger("cortex_events.app")

# Freed memory goes back to the system (see `cortex_events.ops.memory`) once a burst of this many
# watch events is over (checked every few seconds), else at an interval.
MEMORY_TRIM_AFTER_EVENTS = 1000
MEMORY_CHECK_INTERVAL = 2.0
MEMORY_TRIM_INTERVAL = 300.0


def kopf_settings(settings: Settings) -> kopf.OperatorSettings:
    """kopf's settings for this operator: no scanning, its own annotation and finalizer names."""
    config = kopf.OperatorSettings()
    config.scanning.disabled = True  # resources are known; no CRD/namespace list-watch needed
    config.posting.reporting_component = "cortex-events-operator"
    config.posting.level = logging.INFO
    config.persistence.finalizer = FINALIZER
    config.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="cortex.io")
    config.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="cortex.io", key="last-handled-configuration"
    )
    # List in pages: a cluster's whole Pod list parsed at once is the operator's memory peak.
    config.watching.chunk_size = 500
    config.watching.server_timeout = 300
    config.watching.client_timeout = 330
    config.watching.connect_timeout = 30
    config.networking.request_timeout = 60
    return config


class OperatorApp:
    def __init__(
        self,
        settings: Settings,
        *,
        api: CortexApi | None = None,
        kube: KubeClient | None = None,
        listen_host: str = "0.0.0.0",
    ) -> None:
        self.settings = settings
        self.listen_host = listen_host  # where /healthz and /metrics listen
        self.metrics = Metrics()
        self.activity = EntityActivity()
        self.listener = OperatorListener(self.metrics, self.activity, dry_run=settings.dry_run)
        self._client: CortexClient | None = None
        if api is None:
            if settings.dry_run:
                api = DryRunCortex()
            else:
                assert settings.api_key is not None
                self._client = CortexClient(
                    settings.base_url,
                    settings.api_key,
                    per_minute=settings.rate_limit,
                    observer=self.listener,
                )
                api = self._client
        self.delivery = Delivery(
            api,
            cluster=settings.cluster_name,
            listener=self.listener,
            max_queued=settings.queue_size,
        )
        self.listener.post_warning = self._warn_on_workload
        self.recorder = Recorder(
            self.delivery,
            cluster=settings.cluster_name,
            recorded_replicas=self.delivery.ledger.recorded_replicas,
            recorded_time=self.delivery.ledger.recorded_time,
            skips=self.listener,
            tag_issues=self.listener,
        )
        self.delivery.on_loaded = lambda _tag: self.recorder.request_deployment_review()
        self.entities = EntityController(
            api, self.delivery, self.recorder, cluster=settings.cluster_name
        )
        self.kube = kube
        self._entity_bodies: dict[str, kopf.RawBody] = {}
        self._background: asyncio.Task[None] | None = None
        self.sweep: DowntimeSweep | None = None
        self.relists: RelistReconciler | None = None
        self._last_retention = -float("inf")
        self.health = HealthServer(self)

    # -- support used by the handlers --------------------------------------------------------

    def observed(self, kind: str, event: Mapping[str, Any]) -> None:
        """Note a workload's watch event, so that a listing after a broken watch is checked."""
        if self.relists is not None:
            metadata = (event.get("object") or {}).get("metadata") or {}
            self.relists.observed(
                kind, str(metadata.get("namespace", "")), str(metadata.get("uid", "")),
                event.get("type"),
            )  # fmt: skip

    def entity_seen(self, body: kopf.RawBody, event_type: str | None) -> None:
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
        key = f"{namespace}/{name}"
        if event_type == "DELETED":
            self._entity_bodies.pop(key, None)
            self.recorder.entity_removed(namespace, name)
        else:
            self._entity_bodies[key] = body

    def entity_status(
        self,
        body: Mapping[str, Any],
        parsed: EntitySpec | SpecError,
        snapshot: StatusSnapshot | None = None,
    ) -> dict[str, Any]:
        return build_status(self.entities.facts(body, parsed, snapshot), body.get("status"))

    @staticmethod
    def _warn_on_workload(workload: WorkloadRef, reason: str, message: str) -> None:
        """A Warning Kubernetes Event about a Pod or Deployment: a new Event object in its
        namespace (kopf posts it), never a write to the workload itself."""
        body: kopf.RawBody = {
            "apiVersion": "apps/v1" if workload.kind == "Deployment" else "v1",
            "kind": workload.kind,
            "metadata": {
                "name": workload.name,
                "namespace": workload.namespace,
                "uid": workload.uid,
            },
        }
        try:
            kopf.warn(kopf.Body(body), reason=reason, message=message)
        except LookupError:  # outside kopf's context there is no Event queue: the log says it
            logger.debug("No Kubernetes Event posted for %s: kopf is not running", workload.name)

    def start_background(self) -> None:
        """Start the status/sweep loop once. Called from handlers, so that the loop runs in
        kopf's context and can post Kubernetes Events."""
        if self._background is None:
            self._background = asyncio.get_running_loop().create_task(
                self._status_loop(), name="cortex-entity-status"
            )

    async def stop_background(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
            self._background = None

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval)
            try:
                await self.refresh_entities()
            except Exception:
                logger.exception("Refreshing CortexEntity status failed; will retry")
            if self.sweep is not None:
                try:
                    await self.sweep.run()
                except Exception:
                    logger.exception("Looking for deletions missed while down failed")

    async def _release_memory(self) -> None:
        """Return freed memory once a burst of watch events (the initial listing above all)
        has passed, and now and then."""
        last_trim, seen_at_trim, seen_before = time.monotonic(), 0, 0
        while True:
            await asyncio.sleep(MEMORY_CHECK_INTERVAL)
            seen = self.recorder.events_seen
            burst_over = seen - seen_at_trim >= MEMORY_TRIM_AFTER_EVENTS and seen == seen_before
            seen_before = seen
            if burst_over or time.monotonic() - last_trim >= MEMORY_TRIM_INTERVAL:
                last_trim, seen_at_trim = time.monotonic(), seen
                release_free_memory()

    async def refresh_entities(self, *, retention: bool | None = None) -> None:
        """Write each CortexEntity's status if it changed, post its activity, run retention."""
        now = time.monotonic()
        if retention is None:
            retention = now - self._last_retention >= self.settings.retention_interval
        if retention:
            self._last_retention = now
        snapshot = self.entities.snapshot()
        for key, body in list(self._entity_bodies.items()):
            parsed = parse_entity(body)
            recorded, dropped = self.activity.take(key)
            if recorded:
                kopf.info(
                    kopf.Body(body),
                    reason="DryRun" if self.settings.dry_run else "Recorded",
                    message=(
                        f"Dry run: would record {summarize(recorded)}"
                        if self.settings.dry_run
                        else f"Recorded {summarize(recorded)}"
                    ),
                )
            if dropped:
                kopf.warn(
                    kopf.Body(body),
                    reason="NotRecorded",
                    message=f"Could not record {summarize(dropped)}",
                )
            if retention and isinstance(parsed, EntitySpec) and parsed.retention is not None:
                try:
                    deleted = await self.entities.enforce_retention(parsed)
                except Exception as error:
                    logger.warning("Retention for %s failed, will retry: %s", key, error)
                else:
                    if deleted:
                        kopf.info(
                            kopf.Body(body),
                            reason="Retention",
                            message=f"Deleted {deleted} expired events",
                        )
            status = self.entity_status(body, parsed, snapshot)
            current = body.get("status") or {}
            if self.kube is not None and any(current.get(k) != v for k, v in status.items()):
                namespace, name = key.split("/", 1)
                await self.kube.patch_status(CXE, namespace, name, status)

    async def check_namespaces(self) -> None:
        """Warn about each namespace to watch that does not exist: most often a typo.

        Its workloads are still watched, should it be created later. Without permission to
        read Namespace objects (the Helm chart's Roles grant none) nothing is said."""
        assert self.kube is not None
        for namespace in self.settings.namespaces:
            try:
                exists = await self.kube.namespace_exists(namespace)
            except Exception as error:  # the API is down: the probe reports that
                logger.debug("Could not look up namespace %s: %s", namespace, error)
                continue
            if exists is False:
                logger.warning(
                    "Namespace %r (from --namespaces / CORTEX_NAMESPACES) does not exist: "
                    "check its spelling; workloads created in it later are still recorded",
                    namespace,
                )

    async def _probe_api(self) -> None:
        """Ask the Kubernetes API for its version now and then; liveness reads the answer."""
        assert self.kube is not None
        interval = min(30.0, self.settings.wedged_after / 3)
        failing = False
        while True:
            try:
                await self.kube.version(timeout=interval)
            except Exception as error:
                if not failing:
                    logger.warning("The Kubernetes API is not answering: %s", type(error).__name__)
                failing = True
            else:
                if failing:
                    logger.info("The Kubernetes API answers again")
                failing = False
                self.health.api_answered = time.monotonic()
            await asyncio.sleep(interval)

    # -- running -----------------------------------------------------------------------------

    async def run(
        self,
        *,
        stop_flag: asyncio.Event | threading.Event | None = None,
        ready_flag: asyncio.Event | threading.Event | None = None,
    ) -> None:
        """Run until stopped (SIGTERM/SIGINT or ``stop_flag``), then drain the queue."""
        settings = self.settings
        if self.kube is None:
            self.kube = await KubeClient.create()
        self.sweep = DowntimeSweep(
            self.delivery,
            self.recorder,
            self.kube,
            cluster=settings.cluster_name,
            delay=settings.sweep_delay,
        )
        self.relists = RelistReconciler(
            self.recorder, self.kube, per_namespace=bool(settings.namespaces)
        )
        try:
            await self.health.start(settings.health_port, settings.metrics_port, self.listen_host)
        except BaseException:
            if self._client is not None:
                await self._client.aclose()
            self.kube.close()
            raise
        delivery_task = asyncio.get_running_loop().create_task(
            self.delivery.run(), name="cortex-delivery"
        )
        relist_task = asyncio.get_running_loop().create_task(
            self.relists.run(), name="relist-reconciler"
        )
        probe_task = asyncio.get_running_loop().create_task(
            self._probe_api(), name="kubernetes-api-probe"
        )
        memory_task = asyncio.get_running_loop().create_task(
            self._release_memory(), name="memory-release"
        )
        self.health.watch_tasks(delivery=delivery_task, probe=probe_task)
        # Let those tasks spawn their workers now: kopf cancels, on exit, every task created
        # after it started, and the delivery workers must outlive kopf to drain the queue.
        await asyncio.sleep(0)
        logger.info(
            "Starting: cluster %r, %s, Cortex at %s, %g requests/minute%s",
            settings.cluster_name,
            f"namespaces {', '.join(settings.namespaces)}"
            if settings.namespaces
            else "all namespaces",
            settings.base_url,
            settings.rate_limit,
            " (dry run: nothing is sent)" if settings.dry_run else "",
        )
        await self.check_namespaces()
        try:
            await kopf.operator(
                registry=build_registry(self),
                settings=kopf_settings(settings),
                standalone=True,
                clusterwide=not settings.namespaces,
                namespaces=list(settings.namespaces),
                stop_flag=stop_flag,
                ready_flag=ready_flag,
                memo=kopf.Memo(),
            )
        finally:
            await self.delivery.drain(settings.drain_timeout)
            for task in (delivery_task, probe_task, memory_task, relist_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.health.stop()
            if self._client is not None:
                await self._client.aclose()
            if self.kube is not None:
                self.kube.close()
            logger.info("Stopped")
