"""Jobs and CronJobs, as watch events come; CronJob schedules checked as time passes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_events.controllers.kinds import KindTracker
from cortex_events.controllers.routing import Plan
from cortex_events.domain.batch import CronJobSnapshot, JobSnapshot, cronjob_snapshot, job_snapshot
from cortex_events.domain.cronjobs import cronjob_events
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.jobs import job_events
from cortex_events.domain.mapping import OwnerInfo
from cortex_events.domain.model import PodSnapshot

SCHEDULE_CHECK_SECONDS = 15.0
"""How often CronJobs are checked for runs they missed (nothing else tells of one)."""


class JobTracker(KindTracker[JobSnapshot]):
    kind = "Job"

    def parse(self, body: Mapping[str, Any]) -> JobSnapshot:
        return job_snapshot(body)

    def owner(self, snapshot: JobSnapshot) -> OwnerInfo | None:
        if snapshot.owner is None:
            return None
        return self.context.index.info("Job", snapshot).owner

    def events(self, previous: JobSnapshot | None, snapshot: JobSnapshot) -> list[EventIntent]:
        return job_events(snapshot, failed_pod=self.failed_pod(snapshot))

    def failed_pod(self, job: JobSnapshot) -> PodSnapshot | None:
        """The Job's most recent failed Pod, if one is known."""
        index = self.context.index
        pods = [index.pods[uid] for uid in index.pods_of("Job", job.ref.namespace, job.ref.name)]
        failed = [pod for pod in pods if pod.phase == "Failed"]
        return max(failed, key=lambda pod: (pod.created, pod.ref.name), default=None)

    def pod_failed(self, pod: PodSnapshot) -> Plan:
        """One of a Job's Pods failed: the Job's failure says why, once it is known."""
        assert pod.owner is not None
        job = self.context.index.workload("Job", pod.ref.namespace, pod.owner.name)
        if job is not None and job.ended is not None:
            return self.plan(job, job)
        return Plan()


class CronJobTracker(KindTracker[CronJobSnapshot]):
    kind = "CronJob"

    def __init__(self, context: Any, jobs: JobTracker) -> None:
        super().__init__(context)
        self.jobs = jobs

    def parse(self, body: Mapping[str, Any]) -> CronJobSnapshot:
        return cronjob_snapshot(body)

    def events(
        self, previous: CronJobSnapshot | None, snapshot: CronJobSnapshot
    ) -> list[EventIntent]:
        transition = previous if previous is not snapshot else None
        return cronjob_events(transition, snapshot, now=self.context.clock())

    async def mapping_changed(self, snapshot: CronJobSnapshot) -> None:
        """A CronJob's mapping feeds its Jobs' and their Pods'."""
        for job in self.context.index.jobs_of(snapshot.ref.namespace, snapshot.ref.name):
            await self.jobs.evaluate(job, job)
            await self.jobs.mapping_changed(job)

    async def check_schedules(self) -> None:
        """Look at every CronJob's schedule again: runs are missed with no watch event."""
        await self.reevaluate()
