"""A simulated cluster: a tiny controller-manager and kubelet working on the API store.

``SimulatedCluster`` runs on the loop of a ``KubeApiServer`` and writes through its store,
so every change it makes reaches watchers as ordinary watch events. One module each:

- `deployment_controller` (status in `deployment_status`): one ReplicaSet per pod-template
  revision, rolling updates (new ReplicaSet up, old ones down within maxSurge/maxUnavailable)
  or Recreate, the revision annotations, and status with the Available and Progressing
  conditions (including ProgressDeadlineExceeded).
- `replicaset_controller`: creates and deletes Pods to match ``spec.replicas``.
- `garbage_collector`: deletes the dependents of a removed owner (``ownerReferences``), found
  in the `owners` index.
- `kubelet` (one node): Pending -> Running and Ready, or the fate named by the pod's
  ``sim.cortex-events.io/behavior`` annotation; finishes graceful pod deletions.
- `simulated_cluster`: ties them to the store's changes and runs them tick by tick.
"""

from __future__ import annotations

from .kubelet import BEHAVIOR_ANNOTATION, BEHAVIORS, SimTimings
from .simulated_cluster import SimulatedCluster

__all__ = ["BEHAVIORS", "BEHAVIOR_ANNOTATION", "SimTimings", "SimulatedCluster"]
