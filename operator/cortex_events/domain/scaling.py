"""Scale events, and quiet autoscaling: a HorizontalPodAutoscaler's scales summarized per window.

A change of ``spec.replicas`` is one scale event (key ``<kind>/<uid>/scale/<generation>``). When
the HorizontalPodAutoscaler made it (`is_autoscaled`), the event is
marked `Quiet.AUTOSCALED`, and the scale also counts in its window's summary: one event per
window of ``width`` (aligned on the Unix epoch, so every replica and restart agrees on it), key
``<kind>/<uid>/autoscale/<window start>``, updated in place with the lowest, highest and last
replica counts and how many scales there were. Which of the two each entity gets is its
``scaleEvents`` setting (`cortex_events.domain.quiet`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.domain.changes import ChangeDetails, with_change
from cortex_events.domain.intents import EventIntent, iso, replicas_text, utc
from cortex_events.domain.keys import autoscale_key, scale_key
from cortex_events.domain.model import EventType, FieldWriter, WorkloadRef
from cortex_events.domain.parsing import as_int, parse_time
from cortex_events.domain.quiet import Quiet

SUMMARY_FLAG = "autoscaleSummary"
AUTOSCALER_MANAGER = "kube-controller-manager"
"""The field manager of the HorizontalPodAutoscaler controller's writes."""
SCALE_SUBRESOURCE = "scale"


def is_autoscaled(writer: FieldWriter | None) -> bool:
    """Whether ``spec.replicas`` was last written by the HorizontalPodAutoscaler controller.

    The HPA controller is the one part of kube-controller-manager that writes the ``scale``
    subresource of a workload; ``kubectl scale`` and other clients write it under their own
    field manager names."""
    return (
        writer is not None
        and writer.manager == AUTOSCALER_MANAGER
        and writer.subresource == SCALE_SUBRESOURCE
    )


@dataclass(frozen=True, slots=True)
class Scale:
    """One change of ``spec.replicas`` from ``before`` to ``after``, at generation
    ``generation``, made at ``at``; ``autoscaled`` when an autoscaler made it."""

    before: int
    after: int
    generation: int
    at: datetime
    autoscaled: bool
    by: str | None = None
    """The field manager that wrote the new count."""


@dataclass(frozen=True, slots=True)
class ScaleWindow:
    """An autoscaler's scales within one window: from ``before``, between ``low`` and
    ``high``, now ``last``."""

    start: datetime
    width: timedelta
    first_at: datetime
    before: int
    low: int
    high: int
    last: int
    scales: int
    last_at: datetime

    def details(self) -> dict[str, Any]:
        return {
            SUMMARY_FLAG: True,
            "windowStart": iso(self.start),
            "windowSeconds": round(self.width.total_seconds()),
            "fromReplicas": self.before,
            "toReplicas": self.last,
            "minReplicas": self.low,
            "maxReplicas": self.high,
            "scales": self.scales,
            "lastScaleAt": iso(self.last_at),
        }


def scale_of(
    before: int | None,
    after: int,
    *,
    generation: int,
    writer: FieldWriter | None,
    now: datetime,
) -> Scale | None:
    """The scale from ``before`` (the previous state's count, or the last recorded one after a
    restart) to ``after``, if the count changed; made when its writer wrote it, else now."""
    if before is None or before == after:
        return None
    at = writer.at if writer is not None and writer.at is not None else now
    by = writer.manager or None if writer is not None else None
    return Scale(before, after, generation, utc(at), is_autoscaled(writer), by)


def window_start(moment: datetime, width: timedelta) -> datetime:
    """The start of the window that holds ``moment`` (windows are aligned on the epoch)."""
    seconds = max(int(width.total_seconds()), 1)
    stamp = int(utc(moment).timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def add_scale(window: ScaleWindow | None, scale: Scale, width: timedelta) -> ScaleWindow:
    """``window`` with ``scale`` counted in it, or a new window when it falls in a later one."""
    start = window_start(scale.at, width)
    if window is None or window.start != start:
        return ScaleWindow(
            start=start,
            width=width,
            first_at=utc(scale.at),
            before=scale.before,
            low=min(scale.before, scale.after),
            high=max(scale.before, scale.after),
            last=scale.after,
            scales=1,
            last_at=utc(scale.at),
        )
    if scale.after == window.last or utc(scale.at) < window.last_at:
        return window  # seen already (a re-evaluation of the same state)
    return ScaleWindow(
        start=window.start,
        width=window.width,
        first_at=window.first_at,
        before=window.before,
        low=min(window.low, scale.after),
        high=max(window.high, scale.after),
        last=scale.after,
        scales=window.scales + 1,
        last_at=utc(scale.at),
    )


def window_from_details(details: Mapping[str, Any], at: datetime) -> ScaleWindow | None:
    """The window a recorded summary event describes (after a restart), if it is one."""
    start = parse_time(details.get("windowStart"))
    if details.get(SUMMARY_FLAG) is not True or start is None:
        return None
    last_at = parse_time(details.get("lastScaleAt")) or at
    return ScaleWindow(
        start=start,
        width=timedelta(seconds=as_int(details.get("windowSeconds"), 600)),
        first_at=utc(at),
        before=as_int(details.get("fromReplicas")),
        low=as_int(details.get("minReplicas")),
        high=as_int(details.get("maxReplicas")),
        last=as_int(details.get("toReplicas")),
        scales=as_int(details.get("scales"), 1),
        last_at=last_at,
    )


def scale_event(
    event_type: EventType,
    ref: WorkloadRef,
    scale: Scale,
    source: Mapping[str, str] | None = None,
) -> EventIntent:
    """The event of one scale; an autoscaler's is marked quiet. A person's says who made it
    (``changedBy``) and the workload's GitOps source (``source``, see `change_source`)."""
    direction = "up" if scale.after > scale.before else "down"
    where = f"{ref.namespace}/{ref.name}"
    by = " by its autoscaler" if scale.autoscaled else ""
    details: dict[str, Any] = {
        "fromReplicas": scale.before,
        "toReplicas": scale.after,
        "direction": direction,
        "generation": scale.generation,
        "autoscaler": scale.autoscaled,
    }
    description = f"Scaled {direction} {where} from {scale.before} to "
    description += f"{replicas_text(scale.after)}{by}"
    if not scale.autoscaled:
        change = ChangeDetails(by=scale.by, source=source or {})
        description = with_change(details, description, change)
    return EventIntent(
        key=scale_key(ref.kind, ref.uid, scale.generation),
        type=event_type,
        subject=ref,
        title=f"Scaled {ref.name} from {scale.before} to {replicas_text(scale.after)}{by}",
        description=description,
        timestamp=utc(scale.at),
        details=details,
        quiet=Quiet.AUTOSCALED if scale.autoscaled else None,
    )


def summary_event(event_type: EventType, ref: WorkloadRef, window: ScaleWindow) -> EventIntent:
    """The summary of an autoscaler's scales within ``window``, updated as more come."""
    times = "once" if window.scales == 1 else f"{window.scales} times"
    end = window.start + window.width
    return EventIntent(
        key=autoscale_key(ref.kind, ref.uid, window.start),
        type=event_type,
        subject=ref,
        title=f"Autoscaled {ref.name} {times}: {window.low} to {window.high} replicas, "
        f"now {window.last}",
        description=f"Between {iso(window.start)} and {iso(end)} the autoscaler scaled "
        f"{ref.namespace}/{ref.name} {times}, between {window.low} and {window.high} "
        f"replicas: from {window.before} to {replicas_text(window.last)} now",
        timestamp=window.first_at,
        details=window.details(),
        updatable=True,
        quiet=Quiet.AUTOSCALE_SUMMARY,
    )
