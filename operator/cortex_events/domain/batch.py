"""Snapshots of Jobs and CronJobs: what their rules and mapping read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cortex_events.domain.model import Workload, workload_fields
from cortex_events.domain.parsing import (
    FieldWriter,
    OwnerRef,
    as_int,
    as_map,
    as_str,
    condition,
    controller_owner,
    field_writer,
    intern,
    object_parts,
    parse_time,
    spec_images,
)

CRONJOB_KINDS = frozenset({"CronJob"})
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
"""Set by the CronJob controller on each Job it creates: the run's scheduled time."""


@dataclass(frozen=True, slots=True)
class JobEnd:
    """A finished Job's condition (``Complete`` or ``Failed``)."""

    succeeded: bool
    at: datetime | None
    reason: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class JobSnapshot(Workload):
    """What the operator keeps of a Job. ``owner`` is its CronJob, if a CronJob made it."""

    owner: OwnerRef | None
    started: datetime | None
    ended: JobEnd | None
    succeeded: int
    failed: int
    completions: int | None
    images: tuple[str, ...]
    scheduled_at: datetime | None

    __hash__ = Workload.__hash__


@dataclass(frozen=True, slots=True)
class CronJobSnapshot(Workload):
    """What the operator keeps of a CronJob: its schedule, whether it is suspended, and when
    it last started a Job."""

    generation: int
    schedule: str
    time_zone: str | None
    suspended: bool
    starting_deadline: int | None
    last_scheduled: datetime | None
    images: tuple[str, ...]
    suspend_writer: FieldWriter | None

    __hash__ = Workload.__hash__


def _job_end(status: Mapping[str, Any]) -> JobEnd | None:
    for kind, succeeded in (("Complete", True), ("Failed", False)):
        found = condition(status, kind)
        if found.get("status") == "True":
            at = parse_time(found.get("lastTransitionTime"))
            if succeeded:
                at = parse_time(status.get("completionTime")) or at
            return JobEnd(
                succeeded=succeeded,
                at=at,
                reason=as_str(found.get("reason")),
                message=as_str(found.get("message")),
            )
    return None


def job_snapshot(obj: Mapping[str, Any], *, deleted_at: datetime | None = None) -> JobSnapshot:
    """Snapshot a raw ``batch/v1`` Job dict."""
    metadata, spec, status = object_parts(obj)
    template_spec = as_map(as_map(spec.get("template")).get("spec"))
    completions = spec.get("completions")
    return JobSnapshot(
        **workload_fields("Job", metadata, deleted_at),
        owner=controller_owner(metadata, CRONJOB_KINDS),
        started=parse_time(status.get("startTime")),
        ended=_job_end(status),
        succeeded=as_int(status.get("succeeded")),
        failed=as_int(status.get("failed")),
        completions=as_int(completions) if isinstance(completions, int) else None,
        images=spec_images(template_spec),
        scheduled_at=parse_time(as_map(metadata.get("annotations")).get(SCHEDULED_ANNOTATION)),
    )


def cronjob_snapshot(
    obj: Mapping[str, Any], *, deleted_at: datetime | None = None
) -> CronJobSnapshot:
    """Snapshot a raw ``batch/v1`` CronJob dict."""
    metadata, spec, status = object_parts(obj)
    job_spec = as_map(as_map(spec.get("jobTemplate")).get("spec"))
    deadline = spec.get("startingDeadlineSeconds")
    return CronJobSnapshot(
        **workload_fields("CronJob", metadata, deleted_at),
        generation=as_int(metadata.get("generation")),
        schedule=intern(as_str(spec.get("schedule")) or ""),
        time_zone=as_str(spec.get("timeZone")),
        suspended=spec.get("suspend") is True,
        starting_deadline=as_int(deadline) if isinstance(deadline, int) else None,
        last_scheduled=parse_time(status.get("lastScheduleTime")),
        images=spec_images(as_map(as_map(job_spec.get("template")).get("spec"))),
        suspend_writer=field_writer(metadata, "spec", "suspend"),
    )
