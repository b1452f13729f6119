"""Where Cortex holds each Pod change: a Pod's own events, or a summary's list of Pods."""

from __future__ import annotations

import collections

from cortex_events.domain.podsummary import is_summary, recorded_changes
from cortex_events_sim.fake_cortex import FakeCortex


def accounted(cortex: FakeCortex, tag: str) -> tuple[collections.Counter[str], int]:
    """Each Pod change on ``tag`` (``created:<uid>``, ``deleted:<uid>``) with how many times
    Cortex holds it, and how many summaries there are."""
    changes: collections.Counter[str] = collections.Counter()
    summaries = 0
    for event in cortex.state.events(tag):
        data = event.custom_data or {}
        summaries += is_summary(data)
        changes.update(f"{change}:{uid}" for change, uid in recorded_changes(event.type, data))
    return changes, summaries
