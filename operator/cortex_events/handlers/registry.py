"""The kopf handlers: thin wrappers that hand each object to the part that deals with it.

Workloads (Pods, ReplicaSets, Deployments, StatefulSets, DaemonSets, ControllerRevisions, Jobs,
CronJobs, and Argo Rollouts when the cluster has them) and Namespaces (for the namespace
selector) are watched with event handlers only: kopf keeps no state on them, adds no finalizer
and writes nothing to them. Only CortexEntity objects get kopf's change handlers and a
finalizer (when ``cleanupOnDelete`` is on). The handlers know the rest of the operator only
through the two small protocols below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import kopf

from cortex_events.kube.watched import WORKLOADS, WatchedKind

CXE = ("cortex.io", "v1alpha1", "cortexentities")
FINALIZER = "cortex.io/cleanup-events"


class Workloads(Protocol):
    async def changed(self, kind: str, event: Mapping[str, Any]) -> None: ...


class Entities(Protocol):
    async def spec_changed(self, body: Mapping[str, Any]) -> object: ...

    def seen(self, body: Mapping[str, Any], event_type: str | None) -> None: ...

    async def deleting(self, body: Mapping[str, Any]) -> int: ...


def _wants_cleanup(spec: kopf.Spec, **_: Any) -> bool:
    return bool(spec.get("cleanupOnDelete"))


def _watch(registry: kopf.OperatorRegistry, workloads: Workloads, watched: WatchedKind) -> None:
    resource: tuple[str, ...] = (watched.version, watched.plural)
    if watched.group:
        resource = (watched.group, *resource)

    @kopf.on.event(*resource, registry=registry, id=watched.plural)
    async def workload_event(event: kopf.RawEvent, **_: Any) -> None:
        await workloads.changed(watched.kind, event)


def build_registry(
    workloads: Workloads, entities: Entities, extra: Iterable[WatchedKind] = ()
) -> kopf.OperatorRegistry:
    """Every handler of the operator, in a fresh registry; ``extra``: the kinds watched
    besides the workloads always watched (Argo Rollouts, Namespaces)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry, id="login")
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The pod's service account in a cluster, else the kubeconfig (KUBECONFIG or ~/.kube).
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    for watched in (*WORKLOADS, *extra):
        _watch(registry, workloads, watched)

    @kopf.on.resume(*CXE, registry=registry, id="entity-resume")
    @kopf.on.create(*CXE, registry=registry, id="entity-create")
    @kopf.on.update(*CXE, field="spec", registry=registry, id="entity-update")
    async def entity_spec(body: kopf.Body, **_: Any) -> None:
        await entities.spec_changed(body)

    @kopf.on.delete(*CXE, registry=registry, id="entity-cleanup", when=_wants_cleanup)
    async def entity_cleanup(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        try:
            deleted = await entities.deleting(body)
        except Exception as error:
            raise kopf.TemporaryError(f"Cleanup failed, will retry: {error}", delay=30) from error
        logger.info(f"Deleted {deleted} events recorded by this CortexEntity")

    @kopf.on.event(*CXE, registry=registry, id="entities")
    async def entity_event(event: kopf.RawEvent, **_: Any) -> None:
        entities.seen(event["object"], event.get("type"))

    return registry


def kopf_settings() -> kopf.OperatorSettings:
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
