"""Job rules: one event per run (``job/<uid>/run``), created when the Job starts and updated in
place when it completes or fails, with its duration and, for a failure, why its last failed Pod
failed."""

from __future__ import annotations

from cortex_events.domain.batch import JobSnapshot
from cortex_events.domain.intents import EventIntent, clip, format_duration, iso, utc
from cortex_events.domain.keys import job_run_key
from cortex_events.domain.model import EventType, PodSnapshot
from cortex_events.domain.pod_failures import failure_summary

RUN_IN_PROGRESS = "InProgress"
RUN_SUCCEEDED = "Succeeded"
RUN_FAILED = "Failed"


def job_events(job: JobSnapshot, *, failed_pod: PodSnapshot | None = None) -> list[EventIntent]:
    """The Job's run event. ``failed_pod``: its most recent failed Pod, if one is known."""
    ref = job.ref
    start = utc(job.started or job.created)
    images = ", ".join(job.images) or "no container"
    details: dict[str, object] = {"images": list(job.images), "startedAt": iso(start)}
    if job.owner is not None:
        details["cronJob"] = job.owner.name
    if job.scheduled_at is not None:
        details["scheduledAt"] = iso(job.scheduled_at)
    of = f" (a run of CronJob {job.owner.name})" if job.owner is not None else ""
    end = job.ended
    if end is None:
        details["result"] = RUN_IN_PROGRESS
        title = f"Job {ref.name} started"
        description = f"Running {images}{of}"
    else:
        took = None
        if end.at is not None and end.at >= start:
            seconds = (utc(end.at) - start).total_seconds()
            took = format_duration(seconds)
            details["durationSeconds"] = round(seconds)
            details["finishedAt"] = iso(end.at)
        details |= {"succeededPods": job.succeeded, "failedPods": job.failed}
        if end.succeeded:
            details["result"] = RUN_SUCCEEDED
            title = f"Job {ref.name} completed" + (f" in {took}" if took else "")
            description = f"{job.succeeded} pod{'s' if job.succeeded != 1 else ''} succeeded{of}"
        else:
            reason = end.reason or "Failed"
            details |= {"result": RUN_FAILED, "reason": reason}
            title = f"Job {ref.name} failed" + (f" after {took}" if took else "") + f": {reason}"
            description = clip(f"{reason}: {end.message}" if end.message else reason) + of
            if failed_pod is not None:
                why = failure_summary(failed_pod)
                details |= {"failedPod": failed_pod.ref.name, "podFailure": why}
                description += f"; pod {failed_pod.ref.name}: {why}"
    return [
        EventIntent(
            key=job_run_key(ref.uid),
            type=EventType.JOB_RUN,
            subject=ref,
            title=title,
            description=description,
            timestamp=start,
            details=details,
            updatable=True,
        )
    ]
