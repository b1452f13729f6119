"""CortexEntity behaviour behind the kopf handlers: status, retention and cleanup.

`build_status` is pure: from what the operator knows about one CortexEntity it makes the
``status`` block of SPEC.md (``Ready`` condition, matched workloads, events recorded, last event).
`EntityController` does the I/O: it loads the entity's ledger (which checks that Cortex knows the
tag), deletes expired events for retention, and deletes the object's events on cleanup.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.recorder import Recorder
from cortex_events.cortex.errors import CortexAuthError, CortexError, CortexNotFound
from cortex_events.cortex.models import CustomEvent
from cortex_events.delivery.ledger import Ledger
from cortex_events.delivery.pipeline import CortexApi, Delivery
from cortex_events.domain.render import is_owned
from cortex_events.domain.specs import EntitySpec, SpecError

logger = logging.getLogger("cortex_events.entities")


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
    status: str, reason: str, message: str, generation: int, previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    unchanged = previous is not None and previous.get("status") == status
    since = previous.get("lastTransitionTime") if unchanged and previous else None
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def build_status(facts: EntityFacts, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The status block for a CortexEntity; ``previous`` is its current status, if any."""
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
        "conditions": [_condition(*ready, facts.generation, previous_ready)],
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


class EntityController:
    def __init__(
        self, api: CortexApi, delivery: Delivery, recorder: Recorder, *, cluster: str
    ) -> None:
        self._api = api
        self._delivery = delivery
        self._recorder = recorder
        self._cluster = cluster

    @property
    def ledger(self) -> Ledger:
        return self._delivery.ledger

    async def check_tag(self, tag: str) -> bool | None:
        """Whether Cortex knows the tag (loading its ledger); None when Cortex can't say now."""
        try:
            found = await self._delivery.ensure_loaded(tag) is not None
        except CortexError as error:
            logger.warning("Could not check entity %r in Cortex: %s", tag, error)
            return None
        return found

    def facts(
        self,
        body: Mapping[str, Any],
        parsed: EntitySpec | SpecError,
        snapshot: StatusSnapshot | None = None,
    ) -> EntityFacts:
        """What the status of this CortexEntity says; ``snapshot`` shares one pass over the
        ledger and the workloads between many entities."""
        snapshot = snapshot or self.snapshot()
        metadata = body.get("metadata") or {}
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        tag_found: bool | None = None
        if isinstance(parsed, EntitySpec):
            state = self.ledger.tag(parsed.tag).state.value
            tag_found = {"loaded": True, "not-found": False}.get(state)
        recorded, last = snapshot.recorded.get(key, (0, None))
        return EntityFacts(
            generation=int(metadata.get("generation") or 0),
            parsed=parsed,
            tag_found=tag_found,
            cortex_error=self._delivery.failure,
            matched_workloads=snapshot.matched.get(key, 0),
            events_recorded=recorded,
            last_event=last,
        )

    def snapshot(self) -> StatusSnapshot:
        return StatusSnapshot(
            recorded=self.ledger.entity_stats(), matched=self._recorder.matched_workloads()
        )

    async def enforce_retention(self, spec: EntitySpec, *, now: datetime | None = None) -> int:
        """Delete the tag's operator-owned events older than ``spec.retention``; returns how many.

        One listing finds the expired events (all types at once, so a pass costs one call per
        page, not one per type). Only typed, time-bounded deletes follow: for a type whose expired
        events are all this operator's, one filtered delete up to the newest of them; for a type
        that also has others' events in that window, each owned event by uuid.
        """
        if spec.retention is None:
            return 0
        cutoff = (now or datetime.now(UTC)) - spec.retention
        expired: dict[str, list[CustomEvent]] = {}
        shared_types: set[str] = set()
        async for event in self._api.iter_events(spec.tag, end_time=cutoff):
            if not is_owned(event.custom_data, cluster=self._cluster):
                shared_types.add(event.type)
            elif event.type in spec.event_types:
                expired.setdefault(event.type, []).append(event)
        ledger = self.ledger.tag(spec.tag)
        deleted = 0
        for event_type, events in sorted(expired.items()):
            if event_type in shared_types:
                for event in events:
                    with contextlib.suppress(CortexNotFound):  # already gone
                        await self._api.delete_event(spec.tag, event.uuid)
            else:
                newest = max(event.timestamp for event in events)
                await self._api.delete_events(spec.tag, type=event_type, end_time=newest)
            for event in events:
                ledger.forget(event.uuid)
            deleted += len(events)
            logger.info(
                "Retention: deleted %d %s events older than %s from entity %r",
                len(events),
                event_type,
                _duration_text(spec.retention),
                spec.tag,
            )
        return deleted

    async def cleanup(self, spec: EntitySpec) -> int:
        """Delete every event this CortexEntity recorded; returns how many."""
        if await self._delivery.ensure_loaded(spec.tag) is None:
            return 0
        ledger = self.ledger.tag(spec.tag)
        mine = [entry for tag, entry in self.ledger.entries_for_entity(spec.key) if tag == spec.tag]
        for entry in mine:
            with contextlib.suppress(CortexNotFound):  # already gone
                await self._api.delete_event(spec.tag, entry.uuid)
            ledger.forget(entry.uuid)
        logger.info(
            "Cleanup: deleted %d events recorded by %s from %r", len(mine), spec.key, spec.tag
        )
        return len(mine)


def _duration_text(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
