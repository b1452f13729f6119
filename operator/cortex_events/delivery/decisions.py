"""Delivery's decisions, pure: what to do with an event, and how to delete expired ones."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cortex_events.delivery.ledger import LedgerEntry


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
