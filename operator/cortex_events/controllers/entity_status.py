"""The status of a CortexEntity, and the activity its Kubernetes Events summarize; pure.

`build_status` makes the ``status`` block of the user contract (the ``Ready`` condition,
matched workloads, events recorded, last event) from what is known about one CortexEntity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cortex_events.cortex.errors import CortexAuthError, CortexError
from cortex_events.domain.specs import EntitySpec, SpecError


@dataclass(frozen=True)
class EntityFacts:
    """What is known about one CortexEntity when its status is written."""

    generation: int
    parsed: EntitySpec | SpecError
    tag_found: bool | None  # None: not known yet (Cortex not asked or not answering)
    cortex_error: CortexError | None
    matched_workloads: int
    events_recorded: int
    last_event: datetime | None


def _condition(
    status: str,
    reason: str,
    message: str,
    generation: int,
    previous: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    unchanged = previous is not None and previous.get("status") == status
    since = previous.get("lastTransitionTime") if unchanged and previous else None
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since or now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def build_status(
    facts: EntityFacts, previous: Mapping[str, Any] | None, *, now: datetime
) -> dict[str, Any]:
    """The status block for a CortexEntity; ``previous`` is its current status, if any; ``now``
    is the transition time of a Ready condition that changes."""
    previous_ready = next(
        (c for c in (previous or {}).get("conditions") or [] if c.get("type") == "Ready"), None
    )
    parsed = facts.parsed
    if isinstance(parsed, SpecError):
        ready = ("False", "InvalidSpec", str(parsed))
    elif facts.tag_found is False:
        ready = (
            "False",
            "EntityNotFound",
            f"Cortex has no entity with tag or id {parsed.tag!r}; check spec.tag",
        )
    elif isinstance(facts.cortex_error, CortexAuthError):
        ready = ("False", "CortexUnauthorized", f"Cortex refused the API key: {facts.cortex_error}")
    elif facts.cortex_error is not None:
        ready = ("Unknown", "CortexUnavailable", f"Cortex is not answering: {facts.cortex_error}")
    elif facts.tag_found is None:
        ready = ("Unknown", "Pending", f"Checking entity {parsed.tag!r} in Cortex")
    else:
        count = facts.matched_workloads
        plural = "" if count == 1 else "s"
        ready = (
            "True",
            "Synced",
            f"Recording events of {count} workload{plural} to {parsed.tag!r}",
        )
    status: dict[str, Any] = {
        "observedGeneration": facts.generation,
        "conditions": [_condition(*ready, facts.generation, previous_ready, now)],
        "matchedWorkloads": facts.matched_workloads,
        "eventsRecorded": facts.events_recorded,
    }
    if facts.last_event is not None:
        status["lastEventTime"] = facts.last_event.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return status


@dataclass
class EntityActivity:
    """Events recorded per CortexEntity since its last Kubernetes Event was posted."""

    since_report: dict[str, Counter[str]] = field(default_factory=dict)
    dropped: dict[str, Counter[str]] = field(default_factory=dict)

    def recorded(self, entity_key: str, event_type: str) -> None:
        self.since_report.setdefault(entity_key, Counter())[event_type] += 1

    def failed(self, entity_key: str, reason: str) -> None:
        self.dropped.setdefault(entity_key, Counter())[reason] += 1

    def take(self, entity_key: str) -> tuple[Counter[str], Counter[str]]:
        return (
            self.since_report.pop(entity_key, Counter()),
            self.dropped.pop(entity_key, Counter()),
        )


def summarize(counts: Counter[str]) -> str:
    """``3 events (POD_CREATION 2, DEPLOYMENT_ROLLOUT 1)``."""
    total = sum(counts.values())
    parts = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
    return f"{total} event{'' if total == 1 else 's'} ({parts})"


@dataclass(frozen=True)
class StatusSnapshot:
    """Per CortexEntity key: (events recorded, newest event time), and workloads matched."""

    recorded: dict[str, tuple[int, datetime | None]]
    matched: dict[str, int]
