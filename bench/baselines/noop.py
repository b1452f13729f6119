"""Baseline: kopf with handlers that do nothing, on the operator's watch set.

It watches what the operator always watches (the kinds of `cortex_events.kube.watched.WORKLOADS`:
Pods, ReplicaSets, Deployments, StatefulSets, DaemonSets, ControllerRevisions, Jobs and
CronJobs) and CortexEntities, with event handlers that return at once, so its memory and CPU
are the framework's floor for the same objects. Scanning is off, as in the operator. Run as
``python noop.py`` with KUBECONFIG set (and CORTEX_NAMESPACES to watch only those namespaces,
as the operator does).
"""

from __future__ import annotations

import os
from typing import Any

import kopf

from cortex_events.kube.watched import WORKLOADS, WatchedKind


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.scanning.disabled = True


async def ignore(**_: Any) -> None:
    return None


def _resource(kind: WatchedKind) -> tuple[str, ...]:
    return (kind.group, kind.version, kind.plural) if kind.group else (kind.version, kind.plural)


for _kind in WORKLOADS:
    kopf.on.event(*_resource(_kind), id=_kind.plural)(ignore)
kopf.on.event("cortex.io", "v1alpha1", "cortexentities", id="cortexentities")(ignore)


if __name__ == "__main__":
    kopf.configure(verbose=False)
    # CORTEX_NAMESPACES, as for the operator: these namespaces only, else every namespace.
    watched = [n.strip() for n in os.environ.get("CORTEX_NAMESPACES", "").split(",") if n.strip()]
    kopf.run(standalone=True, clusterwide=not watched, namespaces=watched)
