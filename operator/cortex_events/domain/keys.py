"""The eventKey of every event: a deterministic name of the change it records.

The same change gets the same key whichever replica, restart or code path sees it; the
delivery layer never records two events with one key on one entity. The formats are part of
what Cortex holds, so they never change: every one is built here, and
``tests/unit/domain/test_keys.py`` pins each one's exact text.

A key is ``<kind>/<uid>/<change>``, the kind's prefix in `KIND_PREFIXES`; a Cortex deploy's is
``deploy/<kind>/<uid>/<change>``. Times in a key are Unix seconds; a revision is the workload's
ReplicaSet or ControllerRevision revision number.
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
CREATE_ERROR_CHANGES = {
    "CreateContainerConfigError": "configerror",
    "CreateContainerError": "createerror",
}
"""The change word of each waiting reason of a container that cannot be created."""


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def workload_key(kind: str, uid: str, change: str) -> str:
    """``<kind>/<uid>/<change>`` for every kind; the functions below name each change."""
    return f"{KIND_PREFIXES[kind]}/{uid}/{change}"


def pod_key(uid: str, change: str) -> str:
    """``pod/<uid>/<change>``, for the changes named by one word: ``created``, ``deleted``,
    ``failed``, ``evicted``, ``unschedulable`` and ``disrupted`` (a POD_DISRUPTION)."""
    return workload_key("Pod", uid, change)


def created_key(kind: str, uid: str) -> str:
    """``<kind>/<uid>/created``: a workload's (or a Pod's) creation."""
    return workload_key(kind, uid, "created")


def deleted_key(kind: str, uid: str) -> str:
    """``<kind>/<uid>/deleted``: a workload's (or a Pod's) deletion."""
    return workload_key(kind, uid, "deleted")


def oom_kill_key(uid: str, container: str, occurrence: int) -> str:
    """``pod/<uid>/oomkilled/<container>/<n>``: the OOM kill after ``n`` restarts."""
    return pod_key(uid, f"oomkilled/{container}/{occurrence}")


def image_pull_key(uid: str, container: str, image: str) -> str:
    """``pod/<uid>/imagepull/<container>/<image>``: an image the container cannot pull."""
    return pod_key(uid, f"imagepull/{container}/{image}")


def crash_loop_key(uid: str, container: str, start: int) -> str:
    """``pod/<uid>/crashloop/<container>`` for a container's first run of restarts, and
    ``crashloop/<container>/<n>`` for a later one, which began after ``n`` restarts."""
    return pod_key(uid, f"crashloop/{container}" + (f"/{start}" if start else ""))


def create_error_key(uid: str, reason: str, container: str, runs: int) -> str:
    """``pod/<uid>/configerror/<container>/<runs>`` or ``createerror/...`` (by the waiting
    ``reason``, `CREATE_ERROR_CHANGES`): a container that cannot be created, after it had run
    ``runs`` times."""
    return pod_key(uid, f"{CREATE_ERROR_CHANGES[reason]}/{container}/{runs}")


def not_ready_key(uid: str, since: datetime) -> str:
    """``pod/<uid>/notready/<since>``: a Pod not ready for too long, keyed by when it
    stopped being ready."""
    return pod_key(uid, f"notready/{_seconds(since)}")


def rollout_key(kind: str, uid: str, revision: int) -> str:
    """The rollout of one revision: ``<kind>/<uid>/rollout/<revision>`` for a Deployment,
    StatefulSet or DaemonSet, ``argo-rollout/<uid>/revision/<revision>`` for an Argo
    Rollout."""
    change = "revision" if kind == "Rollout" else "rollout"
    return workload_key(kind, uid, f"{change}/{revision}")


def scale_key(kind: str, uid: str, generation: int) -> str:
    """``<kind>/<uid>/scale/<generation>``: one change of ``spec.replicas``."""
    return workload_key(kind, uid, f"scale/{generation}")


def autoscale_key(kind: str, uid: str, window_start: datetime) -> str:
    """``<kind>/<uid>/autoscale/<window start>``: one window's summary of an autoscaler's
    scales."""
    return workload_key(kind, uid, f"autoscale/{_seconds(window_start)}")


def pod_summary_key(kind: str, uid: str, window_start: datetime, part: int) -> str:
    """``<kind>/<uid>/pods/<window start>``: the summary of a workload's Pods in one window;
    ``.../<part>`` for a later part of a window whose first summary was full."""
    return workload_key(kind, uid, f"pods/{_seconds(window_start)}" + (f"/{part}" if part else ""))


def job_run_key(uid: str) -> str:
    """``job/<uid>/run``: a Job's run, from start to end."""
    return workload_key("Job", uid, "run")


def suspension_key(uid: str, suspended: bool, generation: int) -> str:
    """``cronjob/<uid>/suspended/<generation>`` or ``resumed/<generation>``: a CronJob's
    ``spec.suspend`` changed."""
    return workload_key("CronJob", uid, f"{'suspended' if suspended else 'resumed'}/{generation}")


def missed_runs_key(uid: str, first_missed: datetime) -> str:
    """``cronjob/<uid>/missed/<first missed run>``: the runs a CronJob missed in a row."""
    return workload_key("CronJob", uid, f"missed/{_seconds(first_missed)}")


def deploy_revision_key(kind: str, uid: str, revision: int) -> str:
    """``deploy/<kind>/<uid>/revision/<revision>`` (the kind in lower case): the Cortex deploy
    of a completed rollout."""
    return f"{DEPLOY_PREFIX}{kind.lower()}/{uid}/revision/{revision}"


def deploy_scale_key(kind: str, uid: str, generation: int) -> str:
    """``deploy/<kind>/<uid>/scale/<generation>``: the Cortex deploy of a scale."""
    return f"{DEPLOY_PREFIX}{kind.lower()}/{uid}/scale/{generation}"
