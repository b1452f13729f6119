"""After a restart: record the deletions that happened while the operator was not running.

A Pod, Deployment, StatefulSet, DaemonSet or Argo Rollout deleted during a downtime sends no
watch event once the operator is back. Its creation event is still in Cortex, though, and the
ledger holds it. Once a tag's ledger is loaded, each workload it recorded a creation for but no
deletion, and which the operator does not see, is looked up in the Kubernetes API by name; when
it is gone (or the name now belongs to another object), its deletion event is recorded. The
lookup makes the decision, so a sweep that runs before the first listing has been processed
costs API reads but records nothing wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from cortex_events.delivery.ledger import Ledger, TagLedger, TagState
from cortex_events.delivery.queue import Outgoing
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.keys import deleted_key
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType
from cortex_events.domain.render import render

logger = logging.getLogger("cortex_events.sweep")

DELETION_TYPES = {
    "Pod": EventType.POD_DELETION,
    "Deployment": EventType.DEPLOYMENT_DELETION,
    "StatefulSet": EventType.STATEFULSET_DELETION,
    "DaemonSet": EventType.DAEMONSET_DELETION,
    "Rollout": EventType.ARGO_ROLLOUT_DELETION,
}


class WorkloadReader(Protocol):
    async def current_uid(self, kind: str, namespace: str, name: str) -> str | None:
        """The uid of the named object, None when it does not exist."""
        ...


class Watched(Protocol):
    def knows(self, uid: str) -> bool: ...

    def allows(self, entity_keys: tuple[str, ...], event_type: str) -> bool: ...


class Submitter(Protocol):
    async def submit(self, item: Outgoing) -> None: ...


class DowntimeSweep:
    def __init__(
        self,
        ledger: Ledger,
        watched: Watched,
        reader: WorkloadReader,
        submitter: Submitter,
        *,
        cluster: str,
        delay: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ledger = ledger
        self._watched = watched
        self._reader = reader
        self._submitter = submitter
        self._cluster = cluster
        self._clock = clock
        self._not_before = time.monotonic() + delay
        self._swept: set[str] = set()

    def rearm(self) -> None:
        """Sweep every tag again once its ledger is loaded (after a takeover: the previous
        leader may have missed deletions, or not sent them yet)."""
        self._swept.clear()

    async def run(self) -> int:
        """Sweep every loaded tag not swept yet; returns how many deletions were submitted."""
        if time.monotonic() < self._not_before:
            return 0
        submitted = 0
        for ledger in self._ledger.tags():
            if ledger.state is TagState.LOADED and ledger.tag not in self._swept:
                self._swept.add(ledger.tag)
                submitted += await self._sweep(ledger)
        return submitted

    async def _sweep(self, ledger: TagLedger) -> int:
        submitted = 0
        for entry in list(ledger.entries.values()):
            subject = entry.subject
            if subject is None or subject.kind not in DELETION_TYPES:
                continue
            if self._watched.knows(subject.uid):
                continue
            event_type = DELETION_TYPES[subject.kind]
            key = deleted_key(subject.kind, subject.uid)
            if key in ledger.entries or not self._watched.allows(entry.entities, event_type):
                continue
            where = f"{subject.kind} {subject.namespace}/{subject.name}"
            try:
                current = await self._reader.current_uid(
                    subject.kind, subject.namespace, subject.name
                )
            except Exception as error:
                logger.warning("Could not look up %s: %s", where, error)
                continue
            if current == subject.uid:
                continue
            intent = EventIntent(
                key=key,
                type=event_type,
                subject=subject,
                title=f"{subject.kind} {subject.name} deleted",
                description=f"{where} was deleted while the operator was not running; this "
                "is when the operator noticed",
                timestamp=self._clock(),
                details={"noticedAfterRestart": True},
            )
            target = Target(
                tag=ledger.tag, event_types=ALL_EVENT_TYPES, custom_data={}, entities=entry.entities
            )
            await self._submitter.submit(
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
