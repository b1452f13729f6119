"""The simulated Job and CronJob controllers.

A Job runs one Pod at a time until one succeeds, or until ``backoffLimit`` Pods have failed; its
status has ``startTime``, the counts and a ``Complete`` or ``Failed`` condition
(``BackoffLimitExceeded``), as the real controller writes them. A CronJob starts a Job at each
scheduled time (not a missed one: the simulated controller is never down) and records it in
``status.lastScheduleTime``; a Job made from it by hand (``kubectl create job --from=cronjob/x``)
is its Job as well. The schedule is read by this simulator's own code (`.schedule`), not the
operator's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cortex_events_sim.kubeapi.objects import now_iso

from .objects import PODS, owner_ref, pod_from_template
from .owners import OwnerController, OwnerIndex
from .schedule import BadSchedule, latest_due

JOBS = "jobs.batch"
CRONJOBS = "cronjobs.batch"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def _phase(pod: Mapping[str, Any]) -> str | None:
    return (pod.get("status") or {}).get("phase")


class JobController(OwnerController):
    def sync(self, namespace: str, name: str) -> None:
        job = self.live(JOBS, namespace, name)
        if job is None:
            return
        status = dict(job.get("status") or {})
        if any(c.get("status") == "True" for c in status.get("conditions") or []):
            return  # finished
        pods = self.owners.owned(job, PODS)
        succeeded = sum(1 for p in pods if _phase(p) == "Succeeded")
        failed = sum(1 for p in pods if _phase(p) == "Failed")
        active = [p for p in pods if _phase(p) not in ("Succeeded", "Failed")]
        limit = int(job["spec"].get("backoffLimit", 6))
        now = now_iso()
        update: dict[str, Any] = {
            "startTime": status.get("startTime") or now,
            "active": len(active),
            "succeeded": succeeded,
            "failed": failed,
        }
        if succeeded:
            update["completionTime"] = now
            update["conditions"] = [
                {"type": "Complete", "status": "True", "lastTransitionTime": now}
            ]
        elif failed > limit:
            update["conditions"] = [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": now,
                }
            ]
        elif not active:
            self._create_pod(job)
        if {k: status.get(k) for k in update} != update:
            self.store.patch(JOBS, name, {"status": update}, namespace, subresource="status")

    def _create_pod(self, job: Mapping[str, Any]) -> None:
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        owner = owner_ref(job, "Job", "batch/v1")
        pod = pod_from_template(
            job["spec"].get("template") or {}, owner, namespace,
            generate_name=f"{name}-", labels={"job-name": name},
        )  # fmt: skip
        self.store.create(PODS, pod, namespace)


class CronJobController:
    def __init__(self, owners: OwnerIndex) -> None:
        self.owners = owners
        self.store = owners.store

    def sync_all(self, now: datetime | None = None) -> None:
        """Start the Jobs whose scheduled time has come (checked every round)."""
        moment = now or datetime.now(UTC)
        for cronjob in self.store.list(CRONJOBS):
            self._sync(cronjob, moment)

    def _sync(self, cronjob: Mapping[str, Any], now: datetime) -> None:
        spec, metadata = cronjob["spec"], cronjob["metadata"]
        if spec.get("suspend") or metadata.get("deletionTimestamp"):
            return
        last = (cronjob.get("status") or {}).get("lastScheduleTime") or metadata[
            "creationTimestamp"
        ]
        since = datetime.fromisoformat(last.replace("Z", "+00:00"))
        try:
            # The latest run due; earlier ones are skipped, as the real controller does.
            run = latest_due(str(spec.get("schedule", "")), since, now, spec.get("timeZone"))
        except BadSchedule:
            return
        if run is None:
            return
        namespace = metadata["namespace"]
        stamp = run.strftime("%Y-%m-%dT%H:%M:%SZ")
        job_template = spec.get("jobTemplate") or {}
        self.store.create(
            JOBS,
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": f"{metadata['name']}-{int(run.timestamp()) // 60}",
                    "namespace": namespace,
                    "labels": dict((job_template.get("metadata") or {}).get("labels") or {}),
                    "annotations": {SCHEDULED_ANNOTATION: stamp},
                    "ownerReferences": [owner_ref(cronjob, "CronJob", "batch/v1")],
                },
                "spec": job_template.get("spec") or {},
            },
            namespace,
        )
        self.store.patch(
            CRONJOBS,
            metadata["name"],
            {"status": {"lastScheduleTime": stamp}},
            namespace,
            subresource="status",
        )
