"""After a restart: record the deletions that happened while the operator was not running.

A Pod or Deployment deleted during a downtime sends no watch event once the operator is back.
Its creation event is still in Cortex, though, and the ledger holds it. Once a tag's ledger is
loaded, each workload it recorded a creation for but no deletion, and which the operator does not
see, is looked up in the Kubernetes API by name; when it is gone (or the name now belongs to
another object), its deletion event is recorded. The lookup makes the decision, so a sweep that
runs before the first listing has been processed costs API reads but records nothing wrong.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Protocol

from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.ledger import TagLedger, TagState
from cortex_events.delivery.pipeline import Delivery, Outgoing
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType, WorkloadRef
from cortex_events.domain.render import render

logger = logging.getLogger("cortex_events.sweep")

DELETION = {
    "Pod": ("pod", EventType.POD_DELETION),
    "Deployment": ("deployment", EventType.DEPLOYMENT_DELETION),
}


class WorkloadReader(Protocol):
    async def current_uid(self, kind: str, namespace: str, name: str) -> str | None:
        """The uid of the named object, None when it does not exist."""
        ...


class DowntimeSweep:
    def __init__(
        self,
        delivery: Delivery,
        recorder: Recorder,
        reader: WorkloadReader,
        *,
        cluster: str,
        delay: float,
    ) -> None:
        self._delivery = delivery
        self._recorder = recorder
        self._reader = reader
        self._cluster = cluster
        self._not_before = time.monotonic() + delay
        self._swept: set[str] = set()

    async def run(self) -> int:
        """Sweep every loaded tag not swept yet; returns how many deletions were submitted."""
        if time.monotonic() < self._not_before:
            return 0
        submitted = 0
        for ledger in self._delivery.ledger.tags():
            if ledger.state is TagState.LOADED and ledger.tag not in self._swept:
                self._swept.add(ledger.tag)
                submitted += await self._sweep(ledger)
        return submitted

    async def _sweep(self, ledger: TagLedger) -> int:
        submitted = 0
        for entry in list(ledger.entries.values()):
            if not entry.subject:
                continue
            kind, namespace, name = entry.subject.split("/", 2)
            if kind not in DELETION or self._recorder.knows(entry.subject_uid):
                continue
            prefix, event_type = DELETION[kind]
            key = f"{prefix}/{entry.subject_uid}/deleted"
            if key in ledger.entries or not self._recorder.allows(entry.entities, event_type):
                continue
            try:
                current = await self._reader.current_uid(kind, namespace, name)
            except Exception as error:
                logger.warning("Could not look up %s %s/%s: %s", kind, namespace, name, error)
                continue
            if current == entry.subject_uid:
                continue
            intent = EventIntent(
                key=key,
                type=event_type,
                subject=WorkloadRef(kind, namespace, name, entry.subject_uid),
                title=f"{kind} {name} deleted",
                description=f"{kind} {namespace}/{name} was deleted while the operator was not "
                "running; this is when the operator noticed",
                timestamp=datetime.now(UTC),
                details={"noticedAfterRestart": True},
            )
            target = Target(
                tag=ledger.tag,
                event_types=ALL_EVENT_TYPES,
                custom_data={},
                entities=entry.entities,
            )
            await self._delivery.submit(
                Outgoing(
                    tag=ledger.tag,
                    key=key,
                    body=render(intent, target, cluster=self._cluster),
                    updatable=False,
                    entities=entry.entities,
                )
            )
            submitted += 1
        if submitted:
            logger.info(
                "Recording %d deletions on %r that happened while the operator was down",
                submitted,
                ledger.tag,
            )
        return submitted
