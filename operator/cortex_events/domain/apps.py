"""Snapshots of StatefulSets, DaemonSets and the ControllerRevisions that hold their revisions.

As for Deployments (`cortex_events.domain.model`), a snapshot keeps only what the mapping and
the lifecycle rules read. A revision's pod template lives in its ControllerRevision (the
workload's own template may already belong to the next revision), so its images are read from
there, as a Deployment's are read from its ReplicaSets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cortex_events.domain.model import RESTARTED_AT_ANNOTATION, Workload, workload_fields
from cortex_events.domain.parsing import (
    FieldWriter,
    OwnerRef,
    as_int,
    as_list,
    as_map,
    as_str,
    controller_owner,
    created_of,
    field_writer,
    intern,
    namespace_of,
    object_parts,
    parse_time,
    spec_images,
    template_images,
)
from cortex_events.domain.templates import TemplatePrint, template_print, template_writers

REVISION_OWNER_KINDS = frozenset({"StatefulSet", "DaemonSet"})
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"


@dataclass(frozen=True, slots=True)
class StatefulSetSnapshot(Workload):
    """What the operator keeps of a StatefulSet. ``update_revision`` and ``current_revision``
    name ControllerRevisions; ``partition`` is ``rollingUpdate.partition`` (pods with a lower
    ordinal keep the current revision)."""

    generation: int
    observed_generation: int
    replicas: int
    ready_replicas: int
    updated_replicas: int
    current_revision: str | None
    update_revision: str | None
    images: tuple[str, ...]
    strategy: str
    partition: int
    status_written: datetime | None
    replicas_writer: FieldWriter | None
    template_writers: tuple[FieldWriter, ...] = ()

    __hash__ = Workload.__hash__


@dataclass(frozen=True, slots=True)
class DaemonSetSnapshot(Workload):
    """What the operator keeps of a DaemonSet: its counts of nodes scheduled, updated and
    available."""

    generation: int
    observed_generation: int
    desired: int
    updated: int
    available: int
    images: tuple[str, ...]
    strategy: str
    status_written: datetime | None
    restarted_at: str | None = None
    """The template's ``kubectl rollout restart`` mark, to tell its revision among others."""
    template_writers: tuple[FieldWriter, ...] = ()

    __hash__ = Workload.__hash__


@dataclass(frozen=True, slots=True)
class ControllerRevisionSnapshot:
    """One revision of a StatefulSet or DaemonSet: its number (raised when a rollback makes
    it current again) and its template's images."""

    namespace: str
    name: str
    uid: str
    owner: OwnerRef | None
    revision: int
    images: tuple[str, ...]
    created: datetime
    restarted_at: str | None
    template: TemplatePrint | None = None


def _restarted_at(template: Mapping[str, Any]) -> str | None:
    annotations = as_map(as_map(template.get("metadata")).get("annotations"))
    return as_str(annotations.get(RESTARTED_AT_ANNOTATION))


def status_written(metadata: Mapping[str, Any]) -> datetime | None:
    """When the status was last written (the newest managedFields entry of ``/status``)."""
    times = [
        at
        for entry in as_list(metadata.get("managedFields"))
        if isinstance(entry, Mapping)
        and entry.get("subresource") == "status"
        and (at := parse_time(entry.get("time"))) is not None
    ]
    return max(times, default=None)


def _common(
    kind: str, obj: Mapping[str, Any], deleted_at: datetime | None, keep: frozenset[str]
) -> tuple[dict[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    """The fields StatefulSets and DaemonSets share, and their raw spec and status; ``keep``
    names annotations to keep beside the ``cortex.io/`` ones."""
    metadata, spec, status = object_parts(obj)
    strategy = as_map(spec.get("updateStrategy"))
    fields = workload_fields(kind, metadata, deleted_at, keep) | {
        "generation": as_int(metadata.get("generation")),
        "observed_generation": as_int(status.get("observedGeneration")),
        "images": template_images(spec),
        "strategy": intern(as_str(strategy.get("type")) or ROLLING_UPDATE),
        "status_written": status_written(metadata),
        "template_writers": template_writers(metadata),
    }
    return fields, spec, status


def statefulset_snapshot(
    obj: Mapping[str, Any],
    *,
    deleted_at: datetime | None = None,
    keep: frozenset[str] = frozenset(),
) -> StatefulSetSnapshot:
    """Snapshot a raw ``apps/v1`` StatefulSet dict."""
    fields, spec, status = _common("StatefulSet", obj, deleted_at, keep)
    rolling = as_map(as_map(spec.get("updateStrategy")).get("rollingUpdate"))
    return StatefulSetSnapshot(
        **fields,
        replicas=as_int(spec.get("replicas"), default=1),
        ready_replicas=as_int(status.get("readyReplicas")),
        updated_replicas=as_int(status.get("updatedReplicas")),
        current_revision=as_str(status.get("currentRevision")),
        update_revision=as_str(status.get("updateRevision")),
        partition=max(as_int(rolling.get("partition")), 0),
        replicas_writer=field_writer(as_map(obj.get("metadata")), "spec", "replicas"),
    )


def daemonset_snapshot(
    obj: Mapping[str, Any],
    *,
    deleted_at: datetime | None = None,
    keep: frozenset[str] = frozenset(),
) -> DaemonSetSnapshot:
    """Snapshot a raw ``apps/v1`` DaemonSet dict."""
    fields, spec, status = _common("DaemonSet", obj, deleted_at, keep)
    return DaemonSetSnapshot(
        **fields,
        desired=as_int(status.get("desiredNumberScheduled")),
        updated=as_int(status.get("updatedNumberScheduled")),
        available=as_int(status.get("numberAvailable")),
        restarted_at=_restarted_at(as_map(spec.get("template"))),
    )


def controller_revision_snapshot(obj: Mapping[str, Any]) -> ControllerRevisionSnapshot:
    """Snapshot a raw ``apps/v1`` ControllerRevision dict (its ``data`` holds the template)."""
    metadata = as_map(obj.get("metadata"))
    template = as_map(as_map(as_map(obj.get("data")).get("spec")).get("template"))
    return ControllerRevisionSnapshot(
        namespace=namespace_of(metadata),
        name=as_str(metadata.get("name")) or "",
        uid=as_str(metadata.get("uid")) or "",
        owner=controller_owner(metadata, REVISION_OWNER_KINDS),
        revision=as_int(obj.get("revision")),
        images=spec_images(as_map(template.get("spec"))),
        created=created_of(metadata),
        restarted_at=_restarted_at(template),
        template=template_print(template),
    )
