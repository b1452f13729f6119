"""What this operator has already recorded in Cortex, per entity tag.

The ledger is the memory behind "exactly once": before anything is sent for a tag, the tag's
operator-owned events are listed from Cortex once (a handful of pages, not one call per workload),
and every later decision (create, update or skip) is taken against it. It keeps only what those
decisions need: the event's uuid, its first timestamp and a fingerprint of its content.
Deploys have a ledger of their own per tag (`DeployLedger`), rebuilt from the entity's deploy
list the same way.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cortex_events.cortex.models import CustomEvent
from cortex_events.domain.model import WorkloadRef, parse_time
from cortex_events.domain.podsummary import SummaryBook
from cortex_events.domain.render import OwnedEvent
from cortex_events.domain.scaling import SUMMARY_FLAG

CREATION_TYPES = frozenset(
    {
        "POD_CREATION",
        "DEPLOYMENT_CREATION",
        "STATEFULSET_CREATION",
        "DAEMONSET_CREATION",
        "ARGO_ROLLOUT_CREATION",
    }
)


@dataclass(slots=True)
class LedgerEntry:
    """One event this operator recorded (or found recorded) in Cortex."""

    uuid: str
    type: str
    timestamp: datetime
    fingerprint: str
    entities: tuple[str, ...]
    subject_uid: str
    # The workload, kept for creation events only: what the downtime sweep checks.
    subject: WorkloadRef | None = None

    @classmethod
    def of(
        cls,
        event: CustomEvent,
        owned: OwnedEvent,
        fingerprint: str,
        entities: tuple[str, ...] | None = None,
    ) -> LedgerEntry:
        """The entry for an event Cortex holds; ``entities`` defaults to its customData's."""
        return cls(
            uuid=event.uuid,
            type=event.type,
            timestamp=event.timestamp,
            fingerprint=fingerprint,
            entities=owned.entities if entities is None else entities,
            subject_uid=owned.subject.uid,
            subject=owned.subject if event.type in CREATION_TYPES else None,
        )


class TagState(enum.Enum):
    UNLOADED = "unloaded"
    LOADED = "loaded"
    NOT_FOUND = "not-found"


@dataclass
class TagLedger:
    """The events recorded on one Cortex entity, by eventKey."""

    tag: str
    state: TagState = TagState.UNLOADED
    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    not_found_since: float | None = None
    # Keys whose create may have been stored although no readable answer came back (the
    # connection broke after sending, a 5xx, a garbled success answer), with the timestamp the
    # create carried: looked up in Cortex at that moment before they are created again.
    uncertain: dict[str, datetime] = field(default_factory=dict)
    # Keys given up on (entity not found, or rejected) and already reported: an update of the
    # same event that is given up on too is not counted or logged again.
    dropped: set[str] = field(default_factory=set)
    # The Pod summaries on this entity, and which Pod changes they stand in for.
    summaries: SummaryBook = field(default_factory=SummaryBook)

    def record(self, key: str, entry: LedgerEntry) -> None:
        self.entries[key] = entry
        self.uncertain.pop(key, None)
        self.dropped.discard(key)

    def not_found_recently(self, recheck_after: float) -> bool:
        """Cortex answered 404 for this tag less than ``recheck_after`` seconds ago."""
        if self.state is not TagState.NOT_FOUND:
            return False
        return time.monotonic() - (self.not_found_since or 0.0) < recheck_after

    def forget(self, uuid: str) -> None:
        for key in [k for k, e in self.entries.items() if e.uuid == uuid]:
            del self.entries[key]

    def mark_not_found(self) -> None:
        """Cortex has no such entity (asked now): its events are dropped until it exists,
        each counted once until the next time Cortex is asked."""
        self.state = TagState.NOT_FOUND
        self.not_found_since = time.monotonic()
        self.entries.clear()
        self.dropped.clear()
        self.summaries = SummaryBook()


@dataclass(frozen=True)
class OtherDeploy:
    """A deploy on the entity that this operator did not record (for this cluster)."""

    sha: str
    environment: str | None
    timestamp: datetime


@dataclass(slots=True)
class DeployEntry:
    """One deploy this operator recorded (or found recorded) in Cortex."""

    uuid: str
    type: str
    timestamp: datetime
    entities: tuple[str, ...]


@dataclass
class DeployLedger:
    """The deploys of one Cortex entity: this operator's by key, and the others' that carry a
    sha (what tells a rollout another tool already recorded)."""

    tag: str
    state: TagState = TagState.UNLOADED
    entries: dict[str, DeployEntry] = field(default_factory=dict)
    others: set[OtherDeploy] = field(default_factory=set)
    not_found_since: float | None = None
    # Keys whose create may have been stored although no readable answer came back.
    uncertain: set[str] = field(default_factory=set)
    # Keys not sent, and already reported: found recorded by another source, or rejected.
    settled: set[str] = field(default_factory=set)

    def not_found_recently(self, recheck_after: float) -> bool:
        if self.state is not TagState.NOT_FOUND:
            return False
        return time.monotonic() - (self.not_found_since or 0.0) < recheck_after

    def mark_not_found(self) -> None:
        self.state = TagState.NOT_FOUND
        self.not_found_since = time.monotonic()
        self.entries.clear()
        self.others.clear()
        self.settled.clear()

    def forget(self, uuid: str) -> None:
        for key in [k for k, e in self.entries.items() if e.uuid == uuid]:
            del self.entries[key]


class Ledger:
    """Every tag's ledger, plus the few cross-tag facts that restarts need."""

    def __init__(self) -> None:
        self._tags: dict[str, TagLedger] = {}
        self._deploys: dict[str, DeployLedger] = {}
        # Deployment uid -> (event timestamp, replicas) from the newest creation/scale event seen,
        # so a scale that happened while the operator was down is still noticed.
        self._replicas: dict[str, tuple[datetime, int]] = {}
        # Workload uid -> (time, details) of the newest summary of an autoscaler's scales, so a
        # window's summary goes on after a restart.
        self._summaries: dict[str, tuple[datetime, Mapping[str, Any]]] = {}

    def reset(self) -> None:
        """Forget everything: each tag is listed from Cortex again before its next decision
        (a new leader does not trust what it learnt while another replica was sending)."""
        self._tags.clear()
        self._deploys.clear()
        self._replicas.clear()
        self._summaries.clear()

    def tag(self, tag: str) -> TagLedger:
        ledger = self._tags.get(tag)
        if ledger is None:
            ledger = self._tags[tag] = TagLedger(tag)
        return ledger

    def deploys(self, tag: str) -> DeployLedger:
        """The tag's deploy ledger (unloaded until delivery lists the entity's deploys)."""
        ledger = self._deploys.get(tag)
        if ledger is None:
            ledger = self._deploys[tag] = DeployLedger(tag)
        return ledger

    def tags(self) -> Iterator[TagLedger]:
        return iter(list(self._tags.values()))

    def note_replicas(self, uid: str, timestamp: datetime, details: Mapping[str, Any]) -> None:
        """Remember the replica count a creation or scale event's details recorded (for an
        autoscaling summary, its last count, as of its last scale)."""
        replicas = details.get("toReplicas", details.get("replicas"))
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return
        if details.get(SUMMARY_FLAG) is True:
            summary = self._summaries.get(uid)
            if summary is None or str(summary[1].get("windowStart")) <= str(
                details.get("windowStart")
            ):
                self._summaries[uid] = (timestamp, dict(details))
            last = details.get("lastScaleAt")
            timestamp = parse_time(last) or timestamp
        known = self._replicas.get(uid)
        if known is None or known[0] <= timestamp:
            self._replicas[uid] = (timestamp, replicas)

    def recorded_replicas(self, uid: str) -> int | None:
        known = self._replicas.get(uid)
        return None if known is None else known[1]

    def recorded_summary(self, uid: str) -> tuple[datetime, Mapping[str, Any]] | None:
        """The newest autoscaling summary recorded for a workload: its time and details."""
        return self._summaries.get(uid)

    def recorded_time(self, key: str) -> datetime | None:
        """The timestamp of the event recorded under ``key`` on any entity, if there is one."""
        for ledger in self._tags.values():
            entry = ledger.entries.get(key)
            if entry is not None:
                return entry.timestamp
        return None

    def entity_stats(self) -> dict[str, tuple[int, datetime | None]]:
        """CortexEntity key -> (events recorded for it, newest event time), in one pass."""
        stats: dict[str, tuple[int, datetime | None]] = {}
        for ledger in self._tags.values():
            for entry in ledger.entries.values():
                for key in entry.entities:
                    count, last = stats.get(key, (0, None))
                    newest = entry.timestamp if last is None or entry.timestamp > last else last
                    stats[key] = (count + 1, newest)
        return stats

    def size(self) -> int:
        return sum(len(t.entries) for t in self._tags.values())
