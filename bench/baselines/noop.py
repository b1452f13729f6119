"""Baseline: kopf with handlers that do nothing, on the operator's watch set.

It watches what the operator watches (Pods, ReplicaSets, Deployments and CortexEntities) with
event handlers that return at once, so its memory and CPU are the framework's floor for the
same objects. Scanning is off, as in the operator. Run as ``python noop.py`` with KUBECONFIG set.
"""

from __future__ import annotations

from typing import Any

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.scanning.disabled = True


@kopf.on.event("v1", "pods")
async def pod_event(**_: Any) -> None:
    return None


@kopf.on.event("apps", "v1", "replicasets")
async def replicaset_event(**_: Any) -> None:
    return None


@kopf.on.event("apps", "v1", "deployments")
async def deployment_event(**_: Any) -> None:
    return None


@kopf.on.event("cortex.io", "v1alpha1", "cortexentities")
async def entity_event(**_: Any) -> None:
    return None


if __name__ == "__main__":
    kopf.configure(verbose=False)
    kopf.run(standalone=True, clusterwide=True)
