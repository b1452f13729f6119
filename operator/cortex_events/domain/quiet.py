"""Which of a workload's events an entity wants: quiet autoscaling, quiet Job pods, and whether
its Pods get an event each or are folded into summaries.

Some events are marked `Quiet` by the rules that make them. Each target entity then takes or
leaves them by its own settings (a CortexEntity's ``scaleEvents`` and ``jobPodEvents``), or by
the operator's defaults (``CORTEX_SCALE_EVENTS``, ``CORTEX_JOB_POD_EVENTS``) where no
CortexEntity says. Events that are not marked (failures above all) always go.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ScaleEvents(StrEnum):
    """What an entity records of scales: every one; only those not made by an autoscaler; or
    those, plus one summary per window of the autoscaler's."""

    ALL = "all"
    MANUAL = "manual"
    SUMMARY = "summary"


# From the most to the least an entity records, for merging several CortexEntity settings.
SCALE_EVENTS_ORDER = (ScaleEvents.ALL, ScaleEvents.SUMMARY, ScaleEvents.MANUAL)


class PodEvents(StrEnum):
    """What an entity records of the Pods of its workloads (Deployments, StatefulSets,
    DaemonSets, Jobs, Argo Rollouts): an event each; one summary per workload and window
    always; or an event each until Pod churn outgrows the budget, then summaries."""

    EACH = "each"
    SUMMARY = "summary"
    AUTO = "auto"


# From the most to the least an entity records, as for scale events.
POD_EVENTS_ORDER = (PodEvents.EACH, PodEvents.AUTO, PodEvents.SUMMARY)


class Quiet(StrEnum):
    """Why an event is left out unless an entity wants it."""

    AUTOSCALED = "autoscaled"
    """One scale made by an autoscaler: recorded with ``scaleEvents: all``."""
    AUTOSCALE_SUMMARY = "autoscale-summary"
    """A window's summary of an autoscaler's scales: recorded with ``scaleEvents: summary``."""
    JOB_POD = "job-pod"
    """The creation or deletion of a Job's Pod: recorded with ``jobPodEvents: true``."""


@dataclass(frozen=True, slots=True)
class QuietDefaults:
    """The operator-wide settings, for entities that do not set their own."""

    scale_events: ScaleEvents = ScaleEvents.SUMMARY
    job_pod_events: bool = False
    pod_events: PodEvents = PodEvents.AUTO


def most_verbose(modes: list[ScaleEvents]) -> ScaleEvents | None:
    """The setting that records the most among ``modes`` (None when there are none)."""
    for mode in SCALE_EVENTS_ORDER:
        if mode in modes:
            return mode
    return None


def most_verbose_pods(modes: list[PodEvents]) -> PodEvents | None:
    """The ``podEvents`` setting that records the most among ``modes`` (None: there are none)."""
    return next((mode for mode in POD_EVENTS_ORDER if mode in modes), None)


def wanted(
    quiet: Quiet | None,
    *,
    scale_events: ScaleEvents | None,
    job_pod_events: bool | None,
    defaults: QuietDefaults,
) -> bool:
    """Whether an event marked ``quiet`` goes to an entity with these settings (None: the
    entity does not set it, the default applies)."""
    if quiet is None:
        return True
    if quiet is Quiet.JOB_POD:
        return defaults.job_pod_events if job_pod_events is None else job_pod_events
    mode = scale_events or defaults.scale_events
    if quiet is Quiet.AUTOSCALED:
        return mode is ScaleEvents.ALL
    return mode is ScaleEvents.SUMMARY
