"""Raw StatefulSets, DaemonSets, ControllerRevisions, Jobs and CronJobs as the API server returns
them (managedFields included), for the tests of their rules and of the recorder; and the
recorder's history as a test sets it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CREATED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def stamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def managed(
    manager: str, subresource: str = "", *spec_fields: str, at: datetime | None = None
) -> dict[str, Any]:
    """One managedFields entry owning ``spec.<field>`` for each of ``spec_fields``."""
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {f"f:{name}": {} for name in spec_fields}} if spec_fields else {},
    }
    if subresource:
        entry["subresource"] = subresource
    if at is not None:
        entry["time"] = stamp(at)
    return entry


def metadata(
    kind: str,
    name: str,
    uid: str,
    *,
    namespace: str = "shop",
    generation: int = 1,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    owner: tuple[str, str] | None = None,
    managed_fields: list[dict[str, Any]] | None = None,
    created: datetime = CREATED,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "generation": generation,
        "creationTimestamp": stamp(created),
        "labels": labels or {"app": name},
        "annotations": annotations or {},
        "managedFields": managed_fields or [],
    }
    if owner is not None:
        found["ownerReferences"] = [
            {"kind": owner[0], "name": owner[1], "uid": f"{owner[1]}-uid", "controller": True}
        ]
    return found


def template(image: str, restarted_at: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"app": "x"}}
    if restarted_at:
        meta["annotations"] = {"kubectl.kubernetes.io/restartedAt": restarted_at}
    return {"metadata": meta, "spec": {"containers": [{"name": "app", "image": image}]}}


def statefulset(
    name: str = "db",
    *,
    uid: str = "sts-1",
    image: str = "postgres:16",
    replicas: int = 3,
    generation: int = 1,
    observed: int | None = None,
    ready: int | None = None,
    updated: int | None = None,
    current_revision: str | None = "db-rev1",
    update_revision: str | None = "db-rev1",
    partition: int = 0,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    replicas_by: tuple[str, str] = ("kubectl-client-side-apply", ""),
    status_at: datetime | None = None,
) -> dict[str, Any]:
    fields = [
        managed(replicas_by[0], replicas_by[1], "replicas"),
        managed("kube-controller-manager", "status", at=status_at or CREATED),
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(
            "StatefulSet",
            name,
            uid,
            generation=generation,
            annotations=annotations,
            labels=labels,
            managed_fields=fields,
        ),
        "spec": {
            "replicas": replicas,
            "template": template(image),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
        },
        "status": {
            "observedGeneration": generation if observed is None else observed,
            "replicas": replicas,
            "readyReplicas": replicas if ready is None else ready,
            "updatedReplicas": replicas if updated is None else updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
        },
    }


def daemonset(
    name: str = "agent",
    *,
    uid: str = "ds-1",
    image: str = "agent:1",
    nodes: int = 3,
    generation: int = 1,
    observed: int | None = None,
    updated: int | None = None,
    available: int | None = None,
    annotations: dict[str, str] | None = None,
    status_at: datetime | None = None,
) -> dict[str, Any]:
    fields = [managed("kube-controller-manager", "status", at=status_at or CREATED)]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(
            "DaemonSet",
            name,
            uid,
            generation=generation,
            annotations=annotations,
            managed_fields=fields,
        ),
        "spec": {"template": template(image), "updateStrategy": {"type": "RollingUpdate"}},
        "status": {
            "observedGeneration": generation if observed is None else observed,
            "desiredNumberScheduled": nodes,
            "updatedNumberScheduled": nodes if updated is None else updated,
            "numberAvailable": nodes if available is None else available,
            "numberReady": nodes if available is None else available,
        },
    }


def revision(
    name: str,
    number: int,
    image: str,
    *,
    owner: tuple[str, str] = ("StatefulSet", "db"),
    created: datetime = CREATED,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": metadata(
            "ControllerRevision", name, f"{name}-uid", owner=owner, created=created
        ),
        "revision": number,
        "data": {"spec": {"template": {"$patch": "replace", **template(image)}}},
    }


def job(
    name: str = "nightly-29000000",
    *,
    uid: str = "job-1",
    cronjob: str | None = "nightly",
    started: datetime | None = CREATED,
    ended: tuple[str, datetime, str | None] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``ended``: (``Complete`` or ``Failed``, when, reason)."""
    status: dict[str, Any] = {"startTime": stamp(started)} if started else {}
    if ended is not None:
        kind, at, reason = ended
        status["conditions"] = [
            {"type": kind, "status": "True", "reason": reason, "lastTransitionTime": stamp(at)}
        ]
        if kind == "Complete":
            status |= {"completionTime": stamp(at), "succeeded": 1}
        else:
            status |= {"failed": 1}
            status["conditions"][0]["message"] = "Job has reached the specified backoff limit"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(
            "Job",
            name,
            uid,
            annotations=annotations,
            owner=("CronJob", cronjob) if cronjob else None,
        ),
        "spec": {"template": template("busybox:1.36")},
        "status": status,
    }


def cronjob(
    name: str = "nightly",
    *,
    uid: str = "cj-1",
    schedule: str = "0 2 * * *",
    suspend: bool = False,
    last: datetime | None = None,
    generation: int = 1,
    suspended_at: datetime | None = None,
    deadline: int | None = None,
    annotations: dict[str, str] | None = None,
    created: datetime = CREATED,
) -> dict[str, Any]:
    fields = [managed("kubectl-client-side-apply", "", "suspend", at=suspended_at or created)]
    spec: dict[str, Any] = {
        "schedule": schedule,
        "suspend": suspend,
        "jobTemplate": {"spec": {"template": template("busybox:1.36")}},
    }
    if deadline is not None:
        spec["startingDeadlineSeconds"] = deadline
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(
            "CronJob",
            name,
            uid,
            generation=generation,
            annotations=annotations,
            managed_fields=fields,
            created=created,
        ),
        "spec": spec,
        "status": {"lastScheduleTime": stamp(last)} if last else {},
    }


def job_pod(
    name: str, job_name: str, *, uid: str, phase: str = "Running", exit_code: int | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if exit_code is not None:
        state = {"terminated": {"exitCode": exit_code, "reason": "Error"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata("Pod", name, uid, owner=("Job", job_name)),
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], "nodeName": "n1"},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": "app", "image": "busybox:1.36", "ready": False, "restartCount": 0,
                 "state": state}
            ],
        },
    }  # fmt: skip


class RecordedReplicas:
    """The recorder's history as an entity's ledger gives it once loaded: only replica counts,
    by workload uid, which the test sets (nothing before it does)."""

    def __init__(self) -> None:
        self.replicas: dict[str, int] = {}

    def recorded_replicas(self, uid: str) -> int | None:
        return self.replicas.get(uid)

    def recorded_time(self, key: str) -> datetime | None:
        return None

    def recorded_summary(self, uid: str) -> None:
        return None
