"""The kopf handlers: thin wrappers that hand each object to the recorder or the controller.

Workloads (Pods, ReplicaSets, Deployments) are watched with event handlers only: kopf keeps no
state on them, adds no finalizer and writes nothing to them. Only CortexEntity objects get
kopf's change handlers, a finalizer (when ``cleanupOnDelete`` is on), status and Kubernetes Events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kopf

from cortex_events.domain.specs import EntitySpec, SpecError

if TYPE_CHECKING:
    from cortex_events.app import OperatorApp

CXE = ("cortex.io", "v1alpha1", "cortexentities")
FINALIZER = "cortex.io/cleanup-events"


def _wants_cleanup(spec: kopf.Spec, **_: Any) -> bool:
    return bool(spec.get("cleanupOnDelete"))


def build_registry(app: OperatorApp) -> kopf.OperatorRegistry:
    """Every handler of the operator, bound to one `OperatorApp`, in a fresh registry."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry, id="login")
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The pod's service account in a cluster, else the kubeconfig (KUBECONFIG or ~/.kube).
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.event("v1", "pods", registry=registry, id="pods")
    async def pod_event(event: kopf.RawEvent, **_: Any) -> None:
        app.start_background()
        app.observed("Pod", event)
        await app.recorder.pod_changed(event["object"], event.get("type"))

    @kopf.on.event("apps", "v1", "replicasets", registry=registry, id="replicasets")
    async def replicaset_event(event: kopf.RawEvent, **_: Any) -> None:
        app.start_background()
        app.observed("ReplicaSet", event)
        await app.recorder.replicaset_changed(event["object"], event.get("type"))

    @kopf.on.event("apps", "v1", "deployments", registry=registry, id="deployments")
    async def deployment_event(event: kopf.RawEvent, **_: Any) -> None:
        app.start_background()
        app.observed("Deployment", event)
        await app.recorder.deployment_changed(event["object"], event.get("type"))

    @kopf.on.resume(*CXE, registry=registry, id="entity-resume")
    @kopf.on.create(*CXE, registry=registry, id="entity-create")
    @kopf.on.update(*CXE, field="spec", registry=registry, id="entity-update")
    async def entity_spec(
        body: kopf.Body, namespace: str | None, patch: kopf.Patch, logger: kopf.Logger, **_: Any
    ) -> None:
        parsed = app.recorder.entity_changed(body)
        if isinstance(parsed, SpecError):
            logger.error(f"Invalid CortexEntity: {parsed}")
            kopf.warn(body, reason="InvalidSpec", message=str(parsed))
        elif await app.entities.check_tag(parsed.tag) is False:
            kopf.warn(
                body,
                reason="EntityNotFound",
                message=f"Cortex has no entity with tag or id {parsed.tag!r}",
            )
        app.recorder.request_reevaluation(namespace or "")
        patch.status.update(app.entity_status(body, parsed))

    @kopf.on.delete(*CXE, registry=registry, id="entity-cleanup", when=_wants_cleanup)
    async def entity_cleanup(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        parsed = app.recorder.entity_changed(body)
        if isinstance(parsed, EntitySpec):
            try:
                deleted = await app.entities.cleanup(parsed)
            except Exception as error:
                raise kopf.TemporaryError(
                    f"Cleanup failed, will retry: {error}", delay=30
                ) from error
            logger.info(f"Deleted {deleted} events recorded by this CortexEntity")
        metadata = body.get("metadata") or {}
        app.recorder.entity_removed(str(metadata.get("namespace")), str(metadata.get("name")))

    @kopf.on.event(*CXE, registry=registry, id="entities")
    async def entity_event(event: kopf.RawEvent, **_: Any) -> None:
        app.start_background()
        app.entity_seen(event["object"], event.get("type"))

    @kopf.on.cleanup(registry=registry, id="stop-background")
    async def stop_background(**_: Any) -> None:
        await app.stop_background()

    return registry
