"""Quiet autoscaling's memory: each workload's current window of autoscaler scales.

For every scale an autoscaler made (an event marked `Quiet.AUTOSCALED`), the window it falls in
is updated and its summary event added beside it (`cortex_events.domain.scaling`). After a
restart, the window is taken up again from the summary event Cortex holds, so the summary goes
on from where it was rather than starting over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from cortex_events.domain.intents import EventIntent
from cortex_events.domain.parsing import as_int
from cortex_events.domain.quiet import Quiet
from cortex_events.domain.scaling import (
    Scale,
    ScaleWindow,
    add_scale,
    summary_event,
    window_from_details,
    window_start,
)


class SummaryHistory(Protocol):
    def recorded_summary(self, uid: str) -> tuple[datetime, Mapping[str, Any]] | None:
        """The newest autoscaling summary recorded for the workload: its time and details."""
        ...


class ScaleWindows:
    def __init__(self, width: timedelta, history: SummaryHistory | None = None) -> None:
        self.width = width
        self._history = history
        self._windows: dict[str, ScaleWindow] = {}

    def with_summaries(self, intents: list[EventIntent]) -> list[EventIntent]:
        """``intents``, and for each autoscaler's scale among them its window's summary."""
        found = list(intents)
        for intent in intents:
            if intent.quiet is not Quiet.AUTOSCALED:
                continue
            details = intent.details
            scale = Scale(
                before=as_int(details.get("fromReplicas")),
                after=as_int(details.get("toReplicas")),
                generation=as_int(details.get("generation")),
                at=intent.timestamp,
                autoscaled=True,
            )
            uid = intent.subject.uid
            window = add_scale(self._window(uid, scale.at), scale, self.width)
            self._windows[uid] = window
            found.append(summary_event(intent.type, intent.subject, window))
        return found

    def _window(self, uid: str, at: datetime) -> ScaleWindow | None:
        window = self._windows.get(uid)
        if window is None and self._history is not None:
            recorded = self._history.recorded_summary(uid)
            if recorded is not None:
                window = window_from_details(recorded[1], recorded[0])
        if window is not None and window.start != window_start(at, self.width):
            return None
        return window

    def forget(self, uid: str) -> None:
        self._windows.pop(uid, None)
