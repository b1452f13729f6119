"""Baseline: kopf with handlers that do nothing, on the operator's watch set.

It watches what the operator watches (Pods, ReplicaSets, Deployments and CortexEntities) with
event handlers that return at once, so its memory and CPU are the framework's floor for the
same objects. Scanning is off, as in the operator. Run as ``python noop.py`` with KUBECONFIG set
(and CORTEX_NAMESPACES to watch only those namespaces, as the operator does).
"""

from __future__ import annotations

import os
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
    # CORTEX_NAMESPACES, as for the operator: these namespaces only, else every namespace.
    watched = [n.strip() for n in os.environ.get("CORTEX_NAMESPACES", "").split(",") if n.strip()]
    kopf.run(standalone=True, clusterwide=not watched, namespaces=watched)
