"""Pod churn folded: the Pods of one workload over a window, in one event updated in place.

When Pods come and go faster than the budget can record them one by one (or an entity asks for
``podEvents: summary``), the creation and deletion of each Pod that belongs to a workload (a
Deployment through its ReplicaSet, a StatefulSet, a DaemonSet, a Job, an Argo Rollout) is
*folded* into that workload's summary instead of getting an event of its own. One summary per
workload, entity and window of `WINDOW` (aligned on the Unix epoch, chosen by when each change
happened), type ``<KIND>_PODS`` (`SUMMARY_TYPES`), key ``<kind>/<uid>/pods/<window start>``,
and ``/<part>`` after it for the second and later parts of a window: a summary holds at most
`PODS_PER_SUMMARY` Pods, then the next part takes over.

The summary lists every Pod it holds, with the changes folded into it (`Flag`), so that what
Cortex holds says, after a restart, which changes were folded: those are never sent again as
events of their own, nor counted twice. The counts (created, ready, deleted, failed) and the
first few names are read from that list. A Pod's failures are never folded: they are events of
their own, and a Pod in a summary that fails is counted there as failed too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cortex_events.domain.intents import EventIntent, iso, utc
from cortex_events.domain.keys import pod_key, pod_summary_key
from cortex_events.domain.model import EventType, WorkloadRef
from cortex_events.domain.parsing import as_int, parse_time
from cortex_events.domain.scaling import window_start

SUMMARY_FLAG = "podSummary"
"""``customData.podSummary: true`` marks a Pod summary (what a restart reads back)."""
WINDOW = timedelta(minutes=10)
PODS_PER_SUMMARY = 100
"""Pods one summary holds: a full one carries about 7 KiB of customData."""
NAMES_SHOWN = 5
SUMMARY_TYPES: Mapping[str, EventType] = {
    "Deployment": EventType.DEPLOYMENT_PODS,
    "StatefulSet": EventType.STATEFULSET_PODS,
    "DaemonSet": EventType.DAEMONSET_PODS,
    "Job": EventType.JOB_PODS,
    "Rollout": EventType.ARGO_ROLLOUT_PODS,
}
"""The owner kinds whose Pods fold, and the type of their summaries."""
KIND_WORDS = {"Rollout": "Argo Rollout"}


class Change(StrEnum):
    """What happened to a Pod: the events of its own that a summary stands in for."""

    CREATED = "created"
    DELETED = "deleted"
    FAILED = "failed"
    """Never folded (a failure is an event of its own); counted in the Pod's summary."""


class Flag(StrEnum):
    """One letter per change of a Pod in a summary's ``pods`` list."""

    CREATED = "c"
    READY = "r"
    DELETED = "d"
    FAILED = "f"


@dataclass(frozen=True, slots=True)
class PodChange:
    """A change of a Pod that belongs to ``owner``, as its event would record it: when it
    happened, and the Pod's state then."""

    owner: WorkloadRef
    pod: WorkloadRef
    change: Change
    at: datetime
    ready: bool = False
    failed: bool = False

    @property
    def key(self) -> str:
        """The eventKey of the Pod's own event for this change."""
        return pod_key(self.pod.uid, self.change.value)

    def flags(self) -> str:
        """What the change adds to the Pod's entry in a summary."""
        if self.change is Change.DELETED:
            return Flag.DELETED
        if self.change is Change.FAILED:
            return Flag.FAILED
        return (
            Flag.CREATED + (Flag.READY if self.ready else "") + (Flag.FAILED if self.failed else "")
        )


def with_summaries(event_types: Iterable[str]) -> frozenset[str]:
    """``event_types``, and the summary types when a Pod's creation or deletion is among them:
    an entity that records those gets their summaries (retention deletes them alike)."""
    types = frozenset(event_types)
    if types & {EventType.POD_CREATION, EventType.POD_DELETION}:
        types |= frozenset(SUMMARY_TYPES.values())
    return types


def foldable(owner_kind: str) -> bool:
    """Whether the Pods of an owner of this kind can be folded into its summary."""
    return owner_kind in SUMMARY_TYPES


_CHANGES = {
    EventType.POD_CREATION: Change.CREATED,
    EventType.POD_DELETION: Change.DELETED,
    EventType.POD_FAILURE: Change.FAILED,
}


def pod_change(intent: EventIntent, owner: WorkloadRef | None) -> PodChange | None:
    """The change ``intent`` records, when it is about a Pod that belongs to ``owner``, a
    workload whose Pods fold; None for any other event."""
    change = _CHANGES.get(intent.type)
    if change is None or owner is None or not foldable(owner.kind):
        return None
    details = intent.details
    return PodChange(
        owner=owner,
        pod=intent.subject,
        change=change,
        at=intent.timestamp,
        ready=details.get("ready") is True,
        failed=details.get("phase") == "Failed",
    )


@dataclass(slots=True)
class PodEntry:
    name: str
    flags: str = ""

    def text(self) -> str:
        return f"{self.flags}:{self.name}"


@dataclass
class PodSummary:
    """One summary: the Pods of ``workload`` folded during the window from ``start``."""

    workload: WorkloadRef
    start: datetime
    part: int = 0
    first_at: datetime | None = None
    width: timedelta = WINDOW
    pods: dict[str, PodEntry] = field(default_factory=dict)  # uid -> entry, in folding order

    @property
    def key(self) -> str:
        return pod_summary_key(self.workload.kind, self.workload.uid, self.start, self.part)

    @property
    def full(self) -> bool:
        return len(self.pods) >= PODS_PER_SUMMARY

    def add(self, change: PodChange) -> bool:
        """Fold ``change`` in (its Pod may be listed already); True when the summary changed."""
        entry = self.pods.get(change.pod.uid)
        if entry is None:
            entry = self.pods[change.pod.uid] = PodEntry(change.pod.name)
        added = "".join(f for f in change.flags() if f not in entry.flags)
        at = utc(change.at)
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if not added:
            return False
        entry.flags = "".join(f for f in Flag if f in entry.flags + added)
        return True

    def count(self, flag: Flag) -> int:
        return sum(1 for entry in self.pods.values() if flag in entry.flags)

    def folded(self) -> Iterator[str]:
        """The eventKeys of the Pods' own events that this summary stands in for."""
        for uid, entry in self.pods.items():
            if Flag.CREATED in entry.flags:
                yield pod_key(uid, Change.CREATED.value)
            if Flag.DELETED in entry.flags:
                yield pod_key(uid, Change.DELETED.value)

    def details(self) -> dict[str, Any]:
        return {
            SUMMARY_FLAG: True,
            "windowStart": iso(self.start),
            "windowSeconds": round(self.width.total_seconds()),
            "part": self.part,
            "created": self.count(Flag.CREATED),
            "ready": self.count(Flag.READY),
            "deleted": self.count(Flag.DELETED),
            "failed": self.count(Flag.FAILED),
            "podNames": [entry.name for entry in list(self.pods.values())[:NAMES_SHOWN]],
            "pods": {uid: entry.text() for uid, entry in self.pods.items()},
        }

    def intent(self) -> EventIntent:
        """The summary as an event, replaced in place as more changes fold into it."""
        ref = self.workload
        created, ready = self.count(Flag.CREATED), self.count(Flag.READY)
        deleted, failed = self.count(Flag.DELETED), self.count(Flag.FAILED)
        parts = [f"{created} created" + (f" ({ready} ready)" if created else "")]
        parts.append(f"{deleted} deleted")
        if failed:
            parts.append(f"{failed} failed")
        counts = ", ".join(parts)
        names = [entry.name for entry in list(self.pods.values())[:NAMES_SHOWN]]
        more = len(self.pods) - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
        kind = KIND_WORDS.get(ref.kind, ref.kind)
        part = f" (part {self.part + 1})" if self.part else ""
        return EventIntent(
            key=self.key,
            type=SUMMARY_TYPES[ref.kind],
            subject=ref,
            title=f"Pods of {ref.name}: {counts}",
            description=f"Between {iso(self.start)} and {iso(self.start + self.width)}"
            f"{part}, the Pods of {kind} {ref.namespace}/{ref.name}, one summary for all: "
            f"{counts}. Pods: {listed}",
            timestamp=self.first_at or self.start,
            details=self.details(),
            updatable=True,
        )


def is_summary(details: Mapping[str, Any]) -> bool:
    return details.get(SUMMARY_FLAG) is True


def recorded_changes(event_type: str, custom_data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The Pod changes an event in Cortex stands for, as (``created`` or ``deleted``, Pod uid):
    a Pod's own creation or deletion event, or every one a summary lists. What accounting for
    each Pod change reads (a change should be in exactly one place)."""
    if event_type == EventType.POD_CREATION:
        yield Change.CREATED.value, str(custom_data.get("uid"))
    elif event_type == EventType.POD_DELETION:
        yield Change.DELETED.value, str(custom_data.get("uid"))
    elif is_summary(custom_data) and isinstance(pods := custom_data.get("pods"), Mapping):
        for uid, text in pods.items():
            flags = str(text).partition(":")[0]
            if Flag.CREATED in flags:
                yield Change.CREATED.value, str(uid)
            if Flag.DELETED in flags:
                yield Change.DELETED.value, str(uid)


def summary_from_details(
    workload: WorkloadRef, details: Mapping[str, Any], at: datetime
) -> PodSummary | None:
    """The summary a recorded event describes (after a restart), if it is one."""
    start = parse_time(details.get("windowStart"))
    pods = details.get("pods")
    if not is_summary(details) or start is None or not isinstance(pods, Mapping):
        return None
    if workload.kind not in SUMMARY_TYPES:
        return None
    summary = PodSummary(
        workload,
        start,
        part=max(as_int(details.get("part")), 0),
        first_at=utc(at),
        width=timedelta(seconds=max(as_int(details.get("windowSeconds"), 600), 1)),
    )
    for uid, text in pods.items():
        if isinstance(uid, str) and isinstance(text, str):
            flags, _, name = text.partition(":")
            summary.pods[uid] = PodEntry(name, "".join(f for f in Flag if f in flags))
    return summary


class SummaryBook:
    """One entity's summaries, and which Pod changes each stands in for."""

    def __init__(self, width: timedelta = WINDOW) -> None:
        self.width = width
        self.summaries: dict[str, PodSummary] = {}
        self._folded: dict[str, str] = {}  # a Pod change's eventKey -> its summary's key
        self._pods: dict[str, str] = {}  # Pod uid -> the key of a summary listing it
        self._parts: dict[tuple[str, datetime], list[str]] = {}  # (workload uid, start) -> keys

    def __len__(self) -> int:
        return len(self.summaries)

    def restore(self, summary: PodSummary) -> None:
        """Take up a summary Cortex holds."""
        self.summaries[summary.key] = summary
        parts = self._parts.setdefault((summary.workload.uid, summary.start), [])
        if summary.key not in parts:
            parts.append(summary.key)
            parts.sort(key=lambda key: self.summaries[key].part)
        self._index(summary)

    def _index(self, summary: PodSummary) -> None:
        for key in summary.folded():
            self._folded[key] = summary.key
        for uid in summary.pods:
            self._pods.setdefault(uid, summary.key)

    def holding(self, change_key: str) -> PodSummary | None:
        """The summary a Pod change (by its own event's key) was folded into, if any."""
        key = self._folded.get(change_key)
        return self.summaries.get(key) if key is not None else None

    def listing(self, uid: str) -> PodSummary | None:
        """A summary that lists the Pod (its creation or deletion folded there)."""
        key = self._pods.get(uid)
        return self.summaries.get(key) if key is not None else None

    def fold(self, change: PodChange) -> PodSummary:
        """Fold ``change`` into its workload's summary of the window it happened in: the part
        that lists the Pod already, else the last part, else a new part when that one is
        full. Returns the summary it went into."""
        start = window_start(change.at, self.width)
        parts = self._parts.setdefault((change.owner.uid, start), [])
        chosen = next(
            (self.summaries[k] for k in parts if change.pod.uid in self.summaries[k].pods), None
        )
        if chosen is None and parts and not self.summaries[parts[-1]].full:
            chosen = self.summaries[parts[-1]]
        if chosen is None:
            chosen = PodSummary(change.owner, start, part=len(parts), width=self.width)
            self.summaries[chosen.key] = chosen
            parts.append(chosen.key)
        chosen.add(change)
        self._index(chosen)
        return chosen

    def note(self, change: PodChange) -> PodSummary | None:
        """A later state of a Pod listed in a summary (ready, failed): marked there. Returns
        the summary when that changed it."""
        if change.change is Change.DELETED:
            return None
        summary = self.holding(pod_key(change.pod.uid, Change.CREATED.value))
        if summary is None and change.change is Change.FAILED:
            summary = self.listing(change.pod.uid)
        if summary is None:
            return None
        return summary if summary.add(change) else None
