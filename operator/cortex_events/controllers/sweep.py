"""After a restart: record the deletions that happened while the operator was not running.

A Pod, Deployment, StatefulSet, DaemonSet or Argo Rollout deleted during a downtime sends no
watch event once the operator is back. Its creation event is still in Cortex, though, and the
ledger holds it. Once a tag's ledger is loaded, each workload it recorded a creation for but no
deletion, and which the operator does not see, is looked up in the Kubernetes API by name; when
it is gone (or the name now belongs to another object), its deletion event is recorded. A Pod
whose creation was folded into its workload's summary is found in that summary's list of Pods,
and its deletion goes the way of any change of a workload's Pod (folded, or an event of its
own). The lookup makes the decision, so a sweep that runs before the first listing has been
processed costs API reads but records nothing wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from cortex_events.controllers.relist import WorkloadReader
from cortex_events.controllers.routing import Submitter
from cortex_events.delivery.ledger import Ledger, TagLedger, TagState
from cortex_events.delivery.queue import Fold, Outgoing
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.keys import deleted_key
from cortex_events.domain.mapping import Target
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType, WorkloadRef
from cortex_events.domain.podsummary import Change, Flag, PodChange
from cortex_events.domain.priority import priority_of
from cortex_events.domain.render import render

logger = logging.getLogger("cortex_events.sweep")

DELETION_TYPES = {
    "Pod": EventType.POD_DELETION,
    "Deployment": EventType.DEPLOYMENT_DELETION,
    "StatefulSet": EventType.STATEFULSET_DELETION,
    "DaemonSet": EventType.DAEMONSET_DELETION,
    "Rollout": EventType.ARGO_ROLLOUT_DELETION,
}


class Watched(Protocol):
    def knows(self, uid: str) -> bool: ...

    def allows(self, entity_keys: tuple[str, ...], event_type: str) -> bool: ...


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
            if await self._gone(ledger, subject, entry.entities):
                await self._record_deletion(ledger, subject, entry.entities)
                submitted += 1
        for summary in list(ledger.summaries.summaries.values()):
            recorded = ledger.entries.get(summary.key)
            if recorded is None:
                continue  # not in Cortex yet: what it holds is still being recorded
            workload = summary.workload
            for uid, pod in list(summary.pods.items()):
                if Flag.CREATED not in pod.flags or Flag.DELETED in pod.flags:
                    continue
                subject = WorkloadRef("Pod", workload.namespace, pod.name, uid)
                if await self._gone(ledger, subject, recorded.entities):
                    await self._record_deletion(ledger, subject, recorded.entities, workload)
                    submitted += 1
        if submitted:
            logger.info(
                "Recording %d deletions on %r that happened while the operator was down",
                submitted,
                ledger.tag,
            )
        return submitted

    async def _gone(
        self, ledger: TagLedger, subject: WorkloadRef, entities: tuple[str, ...]
    ) -> bool:
        """Whether ``subject`` was deleted and its deletion is recorded nowhere yet."""
        if self._watched.knows(subject.uid):
            return False
        event_type = DELETION_TYPES[subject.kind]
        key = deleted_key(subject.kind, subject.uid)
        if key in ledger.entries or ledger.summaries.holding(key) is not None:
            return False
        if not self._watched.allows(entities, event_type):
            return False
        where = f"{subject.kind} {subject.namespace}/{subject.name}"
        try:
            current = await self._reader.current_uid(subject.kind, subject.namespace, subject.name)
        except Exception as error:
            logger.warning("Could not look up %s: %s", where, error)
            return False
        return current != subject.uid

    async def _record_deletion(
        self,
        ledger: TagLedger,
        subject: WorkloadRef,
        entities: tuple[str, ...],
        owner: WorkloadRef | None = None,
    ) -> None:
        """Submit the deletion of ``subject``, noticed now; a Pod of ``owner``'s summary may
        fold into it."""
        event_type = DELETION_TYPES[subject.kind]
        where = f"{subject.kind} {subject.namespace}/{subject.name}"
        intent = EventIntent(
            key=deleted_key(subject.kind, subject.uid),
            type=event_type,
            subject=subject,
            title=f"{subject.kind} {subject.name} deleted",
            description=f"{where} was deleted while the operator was not running; this "
            "is when the operator noticed",
            timestamp=self._clock(),
            details={"noticedAfterRestart": True},
        )
        target = Target(
            tag=ledger.tag, event_types=ALL_EVENT_TYPES, custom_data={}, entities=entities
        )
        fold = None
        if owner is not None:
            change = PodChange(owner, subject, Change.DELETED, intent.timestamp)
            fold = Fold(change, target)
        await self._submitter.submit(
            Outgoing(
                tag=ledger.tag,
                body=render(intent, target, cluster=self._cluster),
                updatable=False,
                entities=entities,
                priority=priority_of(event_type, intent.details),
                source=(subject.namespace, owner.uid if owner is not None else subject.uid),
                fold=fold,
            )
        )
