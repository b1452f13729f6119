"""Delivery's decisions, pure: what to do with an event or a deploy, and how to delete expired
events."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cortex_events.delivery.ledger import DeployEntry, LedgerEntry, OtherDeploy

OTHER_SOURCE_SLACK = timedelta(minutes=15)
"""Another source's deploy of the same sha and environment counts as this rollout's when its
time is within this much of the rollout (from its start to when it went live): Argo CD's
notification carries the sync's time, which comes before the rollout completes."""


class Action(enum.Enum):
    CREATE = "created"
    UPDATE = "updated"
    SKIP = "skipped"


def decide(entry: LedgerEntry | None, *, updatable: bool, fingerprint: str) -> Action:
    """Create what Cortex does not hold; replace (PUT, same uuid) an updatable event whose
    content changed; leave everything else alone."""
    if entry is None:
        return Action.CREATE
    if updatable and entry.fingerprint != fingerprint:
        return Action.UPDATE
    return Action.SKIP


@dataclass(frozen=True)
class Listed:
    """An event found on an entity; ``key`` is its eventKey when this operator owns it."""

    uuid: str
    type: str
    timestamp: datetime
    key: str | None


@dataclass
class RetentionPlan:
    """How to delete the expired events this operator owns, and nothing else.

    ``by_type``: type -> (the newest expired event's time, its events as (key, uuid)): one
    typed, time-bounded delete each, for types with no one else's event in the window.
    ``by_uuid``: type -> events to delete one by one, where others' events share the window.
    """

    by_type: dict[str, tuple[datetime, list[tuple[str, str]]]] = field(default_factory=dict)
    by_uuid: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(events) for _, events in self.by_type.values()) + sum(
            len(events) for events in self.by_uuid.values()
        )


def plan_retention(expired: Iterable[Listed], types: frozenset[str]) -> RetentionPlan:
    """The deletes that remove every owned event of ``types`` in ``expired`` (everything
    listed up to the retention cutoff), without touching an event this operator does not own."""
    mine: dict[str, list[Listed]] = {}
    shared: set[str] = set()
    for event in expired:
        if event.key is None:
            shared.add(event.type)
        elif event.type in types:
            mine.setdefault(event.type, []).append(event)
    plan = RetentionPlan()
    for event_type, events in sorted(mine.items()):
        doomed = [(e.key, e.uuid) for e in events if e.key is not None]
        if event_type in shared:
            plan.by_uuid[event_type] = doomed
        else:
            plan.by_type[event_type] = (max(e.timestamp for e in events), doomed)
    return plan


class DeployAction(enum.Enum):
    CREATE = "create"
    RECORDED = "recorded"  # this operator's deploy is in Cortex already
    ELSEWHERE = "other_source"  # another source's deploy of the same rollout is


def other_source(
    others: Iterable[OtherDeploy],
    *,
    sha: str | None,
    environment: str,
    started: datetime,
    finished: datetime,
    slack: timedelta = OTHER_SOURCE_SLACK,
) -> OtherDeploy | None:
    """Another source's deploy of this rollout: the same sha and environment, at a time within
    ``slack`` of the rollout. A rollout without a sha matches nothing."""
    if not sha:
        return None
    low, high = min(started, finished) - slack, max(started, finished) + slack
    matches = [
        o
        for o in others
        if o.sha == sha and o.environment == environment and low <= o.timestamp <= high
    ]
    return min(matches, key=lambda o: o.timestamp, default=None)


def decide_deploy(
    entry: DeployEntry | None,
    others: Iterable[OtherDeploy],
    *,
    sha: str | None,
    environment: str,
    started: datetime,
    finished: datetime,
) -> tuple[DeployAction, OtherDeploy | None]:
    """Create a deploy unless this operator's is there, or another source's of the same rollout
    (that one is returned): a rollout is counted once, whoever recorded it."""
    if entry is not None:
        return DeployAction.RECORDED, None
    found = other_source(
        others, sha=sha, environment=environment, started=started, finished=finished
    )
    if found is not None:
        return DeployAction.ELSEWHERE, found
    return DeployAction.CREATE, None


def scan_pages(total_pages: int, from_each_end: int) -> list[int]:
    """The pages after page 0 that a bounded look-up reads: up to ``from_each_end`` pages at
    each end of the list, so that the newest deploys are read whichever way it is ordered."""
    ends = set(range(min(from_each_end, total_pages)))
    ends |= set(range(max(total_pages - from_each_end, 0), total_pages))
    return sorted(ends - {0})
