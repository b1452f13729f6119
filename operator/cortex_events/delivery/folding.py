"""Pod churn folded at delivery time, when the budget cannot keep up with it.

A worker that takes a change of a Pod that belongs to a workload (an `Outgoing` with a `Fold`)
asks `Folder.consider` first, once the entity's ledger is loaded, so every decision is taken
against what Cortex holds:

- the change is folded in a summary already (this run, or a run before: the summaries list
  their Pods): it is never sent on its own; a later state of the Pod (ready, failed) is marked
  in that summary;
- the Pod's own event for it is in Cortex: it stays the Pod's; while pressure lasts, its
  in-place updates are skipped (counted: `DeliveryListener.pod_update_skipped`);
- otherwise, with ``podEvents: summary``, or ``auto`` under pressure, the change is folded into
  its workload's summary (`cortex_events.domain.podsummary`) instead of being sent.

*Pressure* is the Pod churn waiting, in seconds of budget: the churn items queued, plus those
folded lately as if they still waited (each one adds its share of a second, up to twice the
threshold, and that drains in real time). Folding starts when it reaches ``fold_after`` seconds
(``CORTEX_POD_FOLD_AFTER``) and stops once it is below half of that, so that a burst does not
flip the mode to and fro. A
summary is (re)sent through the queue like any event, at most once per `REFRESH_SECONDS` while
changes keep folding into it; the queue merges what comes meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from cortex_events.cortex.models import CustomEvent
from cortex_events.delivery.ledger import LedgerEntry, TagLedger
from cortex_events.delivery.queue import EventQueue, Fold, Key, Outgoing
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES
from cortex_events.domain.podsummary import (
    Change,
    PodSummary,
    is_summary,
    summary_from_details,
)
from cortex_events.domain.priority import Priority
from cortex_events.domain.quiet import PodEvents
from cortex_events.domain.render import OwnedEvent, render

logger = logging.getLogger("cortex_events.delivery")

REFRESH_SECONDS = 30.0
"""A summary changing all the time is sent again at most this often."""
SUMMARY_KEYS = frozenset(
    {
        "podSummary", "windowStart", "windowSeconds", "part", "created", "ready", "deleted",
        "failed", "podNames", "pods",
    }
)  # fmt: skip
"""The details a summary writes (the rest of its customData is its entity's)."""


class FoldListener(Protocol):
    def folded(self, item: Outgoing) -> None:
        """A Pod's change was folded into its workload's summary instead of being sent."""

    def pod_update_skipped(self, item: Outgoing) -> None:
        """An in-place update of a Pod's own event was skipped under pressure."""

    def deduplicated(self, item: Outgoing) -> None: ...

    def folding(self, on: bool, seconds: float) -> None:
        """Folding under pressure started (``on``) or stopped; ``seconds``: the pressure."""


class Pressure:
    """The Pod churn waiting for delivery, in seconds of budget, with hysteresis."""

    def __init__(
        self,
        fold_after: float,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fold_after = fold_after
        self._per_second = per_second
        self._clock = clock
        self._debt = 0.0  # seconds of budget that folded changes would still be waiting for
        self._debt_at = clock()
        self.on = False

    def seconds(self, waiting: int) -> float:
        """The pressure with ``waiting`` churn items queued."""
        now = self._clock()
        self._debt = max(0.0, self._debt - (now - self._debt_at))
        self._debt_at = now
        return waiting / self._per_second + self._debt

    def folded(self) -> None:
        self.seconds(0)
        # Counted as waiting for at most twice the threshold: per-Pod events resume within
        # about 1.5 times it once the churn has stopped, however long it went on.
        self._debt = min(self._debt + 1.0 / self._per_second, 2 * self.fold_after)

    def update(self, waiting: int) -> bool | None:
        """Whether to fold now; None when that did not change, else the new state."""
        level = self.seconds(waiting)
        if not self.on and level >= self.fold_after:
            self.on = True
            return True
        if self.on and level < self.fold_after / 2:
            self.on = False
            return False
        return None


class Folder:
    """The fold decisions and the summaries' way to Cortex; one per `Delivery`."""

    def __init__(
        self,
        queue: EventQueue,
        listener: FoldListener,
        *,
        cluster: str,
        default: PodEvents = PodEvents.AUTO,
        pressure: Pressure | None = None,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        self._queue = queue
        self._listener = listener
        self._cluster = cluster
        self._default = default
        self.pressure = pressure or Pressure(60.0, 10.0)
        self._refresh = refresh
        self._targets: dict[Key, Target] = {}  # where each summary goes, as last seen
        self._sent: dict[Key, float] = {}  # when each summary was last queued
        self._since: dict[Key, float] = {}  # the first change folded since, when it was seen
        self._scheduled: dict[Key, tuple[asyncio.TimerHandle, TagLedger]] = {}

    # -- pressure ----------------------------------------------------------------------------

    def waiting(self) -> int:
        """Summaries changed since they were last sent that wait for their refresh."""
        return len(self._scheduled)

    def churn_pressure(self) -> float:
        """The pressure now, in seconds of budget."""
        return self.pressure.seconds(self._queue.waiting(Priority.CHURN))

    def pressing(self) -> bool:
        changed = self.pressure.update(self._queue.waiting(Priority.CHURN))
        if changed is not None:
            seconds = self.pressure.seconds(self._queue.waiting(Priority.CHURN))
            self._listener.folding(changed, seconds)
        return self.pressure.on

    # -- decisions ---------------------------------------------------------------------------

    def consider(
        self, ledger: TagLedger, item: Outgoing, entry: LedgerEntry | None, changed: bool
    ) -> bool:
        """Whether ``item`` (with a `Fold`) is dealt with here, so nothing is sent for it:
        ``entry`` is its own event in Cortex, if any, and ``changed`` whether its content
        differs from that event's."""
        fold = item.fold
        assert fold is not None
        change = fold.change
        if change.change is Change.FAILED:
            return False  # a failure is an event of its own, always
        book = ledger.summaries
        if book.holding(item.key) is not None:
            noted = book.note(change)
            if noted is not None:
                self._changed(ledger, noted, fold, item)
            else:
                self._listener.deduplicated(item)
            return True
        mode = fold.mode or self._default
        if entry is not None:
            if changed and item.updatable and mode is not PodEvents.EACH and self.pressing():
                self._listener.pod_update_skipped(item)
                return True
            return False
        if mode is PodEvents.EACH or (mode is PodEvents.AUTO and not self.pressing()):
            return False
        summary = book.fold(change)
        self.pressure.folded()
        self._listener.folded(item)
        self._changed(ledger, summary, fold, item)
        return True

    def noted(self, ledger: TagLedger, item: Outgoing) -> None:
        """``item`` (a Pod's failure, or a change sent on its own) is recorded: a summary that
        lists the Pod counts it."""
        if item.fold is None:
            return
        summary = ledger.summaries.note(item.fold.change)
        if summary is not None:
            self._changed(ledger, summary, item.fold, item)

    # -- summaries on their way --------------------------------------------------------------

    def _changed(self, ledger: TagLedger, summary: PodSummary, fold: Fold, item: Outgoing) -> None:
        key = (ledger.tag, summary.key)
        self._targets[key] = fold.target
        self._since[key] = min(self._since.get(key, math.inf), item.seen_at)
        now = time.monotonic()
        due = self._sent.get(key, -math.inf) + self._refresh
        if self._queue.pending(key) or now >= due:
            self._send(ledger, summary)
        elif key not in self._scheduled:
            handle = asyncio.get_running_loop().call_later(
                due - now, self._flush, ledger, summary.key
            )
            self._scheduled[key] = (handle, ledger)

    def _flush(self, ledger: TagLedger, summary_key: str) -> None:
        self._scheduled.pop((ledger.tag, summary_key), None)
        summary = ledger.summaries.summaries.get(summary_key)
        if summary is not None:  # else the entity's ledger was reset meanwhile
            self._send(ledger, summary)

    def current(self, ledger: TagLedger, item: Outgoing) -> Outgoing | None:
        """``item``, a summary, with the content its ledger holds now; None when the ledger
        holds no such summary (it was reloaded from Cortex since: what Cortex holds stands)."""
        summary = ledger.summaries.summaries.get(item.key)
        target = self._targets.get((ledger.tag, item.key))
        if summary is None or target is None:
            return None
        body = render(summary.intent(), target, cluster=self._cluster)
        return replace(item, body=body, entities=target.entities)

    def reset(self) -> None:
        """Forget what waits for a refresh (this replica takes over: every ledger is loaded
        from Cortex again, and summaries are rendered from that)."""
        for handle, _ in self._scheduled.values():
            handle.cancel()
        self._scheduled.clear()
        self._sent.clear()
        self._since.clear()

    def flush(self) -> int:
        """Queue every summary that waits for its refresh now (the operator is stopping: what
        was folded must reach Cortex before it goes); returns how many."""
        waiting = list(self._scheduled.items())
        for (_, summary_key), (handle, ledger) in waiting:
            handle.cancel()
            self._flush(ledger, summary_key)
        return len(waiting)

    def _send(self, ledger: TagLedger, summary: PodSummary) -> None:
        key = (ledger.tag, summary.key)
        target = self._targets.get(key)
        if target is None:
            logger.error("No entity to send Pod summary %s to on %r", summary.key, ledger.tag)
            return
        self._sent[key] = time.monotonic()
        workload = summary.workload
        self._queue.put_nowait(
            Outgoing(
                tag=ledger.tag,
                body=render(summary.intent(), target, cluster=self._cluster),
                updatable=True,
                entities=target.entities,
                seen_at=self._since.pop(key, time.monotonic()),
                priority=Priority.CHURN,
                source=(workload.namespace, workload.uid),
                summary=True,
            )
        )

    # -- after a restart ---------------------------------------------------------------------

    def restore(self, ledger: TagLedger, owned: OwnedEvent, event: CustomEvent) -> None:
        """Take up a summary Cortex holds (the ledger is being loaded)."""
        if not is_summary(owned.details):
            return
        summary = summary_from_details(owned.subject, owned.details, event.timestamp)
        if summary is None:
            return
        ledger.summaries.restore(summary)
        custom = {k: v for k, v in owned.details.items() if k not in SUMMARY_KEYS}
        self._targets[(ledger.tag, summary.key)] = Target(
            ledger.tag, ALL_EVENT_TYPES, custom, owned.entities
        )
