"""What every workload kind's events share: creation, deletion, scale and its summary.

The kinds differ in how a rollout goes (`cortex_events.domain.revisions` and the per-kind
modules); their creation and deletion events, and their scale events with quiet autoscaling
(`cortex_events.domain.scaling`), are built here from a `KindEvents` of their types. Pods and
Deployments, whose rules have their own modules, title and key theirs with `lifecycle_event`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cortex_events.domain.intents import EventIntent, replicas_text, utc
from cortex_events.domain.keys import created_key, deleted_key
from cortex_events.domain.model import EventType, WorkloadRef
from cortex_events.domain.quiet import Quiet
from cortex_events.domain.scaling import Scale, ScaleWindow, scale_event, summary_event


@dataclass(frozen=True, slots=True)
class KindEvents:
    """The event types of one kind; ``scale`` is None for kinds that have no replica count."""

    creation: EventType
    rollout: EventType
    deletion: EventType
    scale: EventType | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What creation and deletion events say of a workload."""

    ref: WorkloadRef
    created: datetime
    deleted_at: datetime | None
    summary: str
    details: Mapping[str, Any]
    source: Mapping[str, str] = field(default_factory=dict)
    """Its GitOps tool or Helm release (`cortex_events.domain.changes.change_source`)."""

    def with_source(self) -> dict[str, Any]:
        """The details, with ``changeSource`` where the workload tells one."""
        return {**self.details, **({"changeSource": dict(self.source)} if self.source else {})}


def lifecycle_event(
    event_type: EventType,
    ref: WorkloadRef,
    change: Literal["created", "deleted"],
    description: str,
    at: datetime,
    details: Mapping[str, Any],
    *,
    updatable: bool = False,
    quiet: Quiet | None = None,
) -> EventIntent:
    """The creation or deletion of a workload or a Pod, keyed and titled alike for every kind
    (``Deployment web created``)."""
    key = created_key if change == "created" else deleted_key
    return EventIntent(
        key=key(ref.kind, ref.uid),
        type=event_type,
        subject=ref,
        title=f"{ref.kind} {ref.name} {change}",
        description=description,
        timestamp=utc(at),
        details=details,
        updatable=updatable,
        quiet=quiet,
    )


def created_event(types: KindEvents, facts: Facts) -> EventIntent:
    details = facts.with_source()
    return lifecycle_event(
        types.creation, facts.ref, "created", facts.summary, facts.created, details
    )


def deleted_event(types: KindEvents, facts: Facts) -> EventIntent:
    assert facts.deleted_at is not None
    description = f"Deleted with {facts.summary}"
    return lifecycle_event(
        types.deletion, facts.ref, "deleted", description, facts.deleted_at, facts.with_source()
    )


def workload_events(
    types: KindEvents,
    facts: Facts,
    rollouts: list[EventIntent],
    *,
    scale: Scale | None = None,
    window: ScaleWindow | None = None,
) -> list[EventIntent]:
    """Creation, the rollout events, a scale (with its window's summary when an autoscaler
    made it), deletion."""
    events = [created_event(types, facts), *rollouts]
    if types.scale is not None and scale is not None:
        events.append(scale_event(types.scale, facts.ref, scale, facts.source))
        if scale.autoscaled and window is not None:
            events.append(summary_event(types.scale, facts.ref, window))
    if facts.deleted_at is not None:
        events.append(deleted_event(types, facts))
    return events


def replicas_summary(replicas: int, images: tuple[str, ...]) -> str:
    return f"{replicas_text(replicas)} of {', '.join(images) or 'no container'}"
