"""The eventKey of every event: a deterministic name of the change it records.

The same change gets the same key whichever replica, restart or code path sees it; the
delivery layer never records two events with one key on one entity. The formats are part of
what Cortex holds, so they never change.
"""

from __future__ import annotations

from datetime import datetime

KIND_PREFIXES = {
    "Pod": "pod",
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "Job": "job",
    "CronJob": "cronjob",
    "Rollout": "argo-rollout",
}
DEPLOY_PREFIX = "deploy/"
"""Every Cortex deploy's key starts with this, and no custom event's does: the two share the
delivery queue, whose keys are (entity tag, key)."""


def pod_key(uid: str, change: str) -> str:
    """``pod/<uid>/<change>``: ``created``, ``deleted``, ``failed``, ``evicted``,
    ``oomkilled/<container>/<n>``, ``crashloop/<container>``, ``imagepull/<container>/<image>``;
    and ``crashloop/<container>/<n>`` (a later run of restarts, which began after ``n``),
    ``configerror/<container>/<runs>`` and ``createerror/<container>/<runs>`` (``runs``: how
    often the container had run before), ``unschedulable``, ``notready/<since, Unix seconds>``
    and ``disrupted`` (a POD_DISRUPTION)."""
    return f"pod/{uid}/{change}"


def deployment_key(uid: str, change: str) -> str:
    """``deployment/<uid>/<change>``: ``created``, ``deleted``, ``rollout/<revision>``,
    ``scale/<generation>``, ``autoscale/<window start, Unix seconds>``."""
    return f"deployment/{uid}/{change}"


def workload_key(kind: str, uid: str, change: str) -> str:
    """``<kind>/<uid>/<change>`` for every kind, the prefix in `KIND_PREFIXES`:

    - ``statefulset/<uid>/``: ``created``, ``deleted``, ``rollout/<revision>``,
      ``scale/<generation>``, ``autoscale/<window start>``;
    - ``daemonset/<uid>/``: ``created``, ``deleted``, ``rollout/<revision>``;
    - ``job/<uid>/run``;
    - ``cronjob/<uid>/``: ``suspended/<generation>``, ``resumed/<generation>``,
      ``missed/<first missed run, Unix seconds>``;
    - ``argo-rollout/<uid>/``: ``created``, ``deleted``, ``revision/<revision>``,
      ``scale/<generation>``, ``autoscale/<window start>``.

    A revision is the workload's ControllerRevision (or ReplicaSet) revision number.
    """
    return f"{KIND_PREFIXES[kind]}/{uid}/{change}"


def rollout_key(uid: str, revision: int) -> str:
    return deployment_key(uid, f"rollout/{revision}")


def scale_key(uid: str, generation: int) -> str:
    return deployment_key(uid, f"scale/{generation}")


def kind_scale_key(kind: str, uid: str, generation: int) -> str:
    return workload_key(kind, uid, f"scale/{generation}")


def autoscale_key(kind: str, uid: str, window_start: datetime) -> str:
    """The key of one window's summary of an autoscaler's scales."""
    return workload_key(kind, uid, f"autoscale/{int(window_start.timestamp())}")


def created_key(kind: str, uid: str) -> str:
    """The key of a workload's creation event."""
    return workload_key(kind, uid, "created")


def deleted_key(kind: str, uid: str) -> str:
    """The key of a workload's deletion event."""
    return workload_key(kind, uid, "deleted")


def deploy_key(kind: str, uid: str, change: str) -> str:
    """``deploy/<kind>/<uid>/<change>``, the key of a Cortex deploy: ``revision/<revision>``
    (a completed rollout) or ``scale/<generation>``."""
    return f"{DEPLOY_PREFIX}{kind.lower()}/{uid}/{change}"
