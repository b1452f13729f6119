"""From a workload's events to the entities that receive them: mapping, opt-outs, quiet events.

`Router.resolve` finds a workload's entities (its annotations, its owners', the CortexEntity
specs of its namespace and, where it is read, Cortex's catalog), tells each unusable
``cortex.io/tag`` once, and admits only workloads that map to something, are not opted out and
live in a namespace the namespace selector takes. `Router.items` then puts each event the
workload's rules derived on every entity that takes its type and, for a quiet event, wants it.
What one evaluation sends is a `Plan`, which the caller submits.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cortex_events.controllers.catalog import MappingOptions
from cortex_events.controllers.workloads import WorkloadIndex
from cortex_events.delivery.queue import Fold, Item, Outgoing, OutgoingDeploy
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import OwnerInfo, Resolution, TagIssue, resolve
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.podsummary import pod_change
from cortex_events.domain.priority import priority_of
from cortex_events.domain.quiet import QuietDefaults
from cortex_events.domain.render import render
from cortex_events.domain.specs import EntitySpec

logger = logging.getLogger("cortex_events.recorder")


class Submitter(Protocol):
    async def submit(self, item: Item) -> None: ...


@dataclass(frozen=True, slots=True)
class Plan:
    """What one evaluation of a workload sends: its events, each on the entities that take
    it, then the deploys they make."""

    events: tuple[Outgoing, ...] = ()
    deploys: tuple[OutgoingDeploy, ...] = ()

    def __add__(self, other: Plan) -> Plan:
        return Plan(self.events + other.events, self.deploys + other.deploys)

    def items(self) -> tuple[Item, ...]:
        """Everything to submit, in order: the events, then the deploys."""
        return (*self.events, *self.deploys)


class EntitySpecs(Protocol):
    def in_namespace(self, namespace: str) -> list[EntitySpec]: ...

    def spec(self, key: str) -> EntitySpec | None: ...


class SkipListener(Protocol):
    def skipped(self, kind: str, reason: str) -> None: ...


class TagIssueListener(Protocol):
    def tag_issue(self, workload: WorkloadRef, issue: TagIssue) -> None:
        """A ``cortex.io/tag`` on ``workload`` names tags that are no tag, or none at all;
        told once per workload and annotation value."""


class NamespaceFilter(Protocol):
    def admits(self, namespace: str) -> bool: ...


class Router:
    """Single event loop; no locking needed."""

    def __init__(
        self,
        entities: EntitySpecs,
        index: WorkloadIndex,
        mapping: MappingOptions,
        *,
        cluster: str,
        skips: SkipListener | None = None,
        tag_issues: TagIssueListener | None = None,
        defaults: QuietDefaults | None = None,
        namespaces: NamespaceFilter | None = None,
    ) -> None:
        self._entities, self._cluster = entities, cluster
        # What is marked per workload (the entities it maps to, an unusable tag told) is
        # the index's: it forgets a workload's marks with the rest of it.
        self._marks = index.marks
        self._mapping = mapping
        self._skips, self._tag_issues = skips, tag_issues
        self._defaults, self._namespaces = defaults or QuietDefaults(), namespaces

    def resolve(
        self,
        ref: WorkloadRef,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        owner: OwnerInfo | None,
        *,
        first: bool,
        gone: frozenset[str] = frozenset(),
        tags: frozenset[str] | None = None,
    ) -> Resolution | None:
        """The workload's entities, or None when it gets no event (unmapped, opted out, its
        namespace not selected; with ``tags``, mapped to none of those entities).
        ``first``: the workload is new (a skip is told once); ``gone``: uids being deleted
        (an unusable tag on them is not worth telling)."""
        entities = self._entities.in_namespace(ref.namespace)
        resolution = resolve(
            ref.kind,
            ref.namespace,
            ref.name,
            labels,
            annotations,
            owner=owner,
            entities=entities,
            catalog=self._mapping.current(),
            tag_annotation=self._mapping.tag_annotation,
        )
        self._report_tag_issues(ref, resolution, gone)
        if not self._admit(ref, resolution, first=first):
            return None
        if tags is not None and not any(t.tag in tags for t in resolution.targets):
            return None
        return resolution

    # -- status support ----------------------------------------------------------------------

    def allows(self, entity_keys: tuple[str, ...], event_type: str) -> bool:
        """Whether an event of this type may go to a target mapped by these CortexEntities."""
        if not entity_keys:
            return True  # mapped by annotation: every type
        for key in entity_keys:
            spec = self._entities.spec(key)
            if spec is not None and event_type in spec.event_types:
                return True
        return False

    def matched_workloads(self) -> dict[str, int]:
        """Entity key -> how many workloads it currently maps."""
        counts: dict[str, int] = defaultdict(int)
        for keys in self._marks.mapped.values():
            for key in keys:
                counts[key] += 1
        return dict(counts)

    # -- the steps -----------------------------------------------------------------------------

    def _report_tag_issues(
        self, ref: WorkloadRef, resolution: Resolution, gone: frozenset[str]
    ) -> None:
        """Tell about each unusable ``cortex.io/tag`` once per annotated workload and value:
        a Deployment's bad annotation is reported on the Deployment, not once per Pod."""
        if not any(not issue.on_owner for issue in resolution.tag_issues):
            # Fixed or removed: should the same value come back, it is reported again.
            self._marks.tag_told.pop(ref.uid, None)
        for issue in resolution.tag_issues:
            subject = ref
            if issue.on_owner and issue.owner is not None:
                owner = issue.owner
                subject = WorkloadRef(owner.kind, ref.namespace, owner.name, owner.uid)
            if subject.uid in gone:
                continue  # being deleted: nothing to fix any more
            if self._marks.tag_told.get(subject.uid) == issue.value:
                continue
            self._marks.tag_told[subject.uid] = issue.value
            if self._tag_issues is not None:
                self._tag_issues.tag_issue(subject, issue)

    def _admit(self, ref: WorkloadRef, resolution: Resolution, *, first: bool) -> bool:
        selected = self._namespaces is None or self._namespaces.admits(ref.namespace)
        entity_keys = tuple(sorted({key for t in resolution.targets for key in t.entities}))
        if entity_keys and selected:
            self._marks.mapped[ref.uid] = entity_keys
        else:
            self._marks.mapped.pop(ref.uid, None)
        if resolution.targets and not resolution.disabled and selected:
            return True
        if first:
            reason = resolution.reason if selected else "its namespace is not selected"
            logger.debug("No event for %s %s/%s: %s", ref.kind, ref.namespace, ref.name, reason)
            if self._skips is not None:
                skip = "disabled" if resolution.disabled else "unmapped"
                self._skips.skipped(ref.kind, skip if selected else "namespace")
        return False

    def items(
        self,
        resolution: Resolution,
        intents: list[EventIntent],
        ref: WorkloadRef,
        owner: OwnerInfo | None,
        *,
        now: datetime,
    ) -> tuple[Outgoing, ...]:
        """Each of ``intents`` on every entity of ``resolution`` that takes it: the items to
        submit at ``now`` for the workload ``ref`` (mapped through ``owner``)."""
        items: list[Outgoing] = []
        # Fair shares go by the workload: a Pod's owner, else the workload itself.
        source = (ref.namespace, owner.uid if owner is not None else ref.uid)
        owner_ref = (
            WorkloadRef(owner.kind, ref.namespace, owner.name, owner.uid)
            if owner is not None
            else None
        )
        for intent in intents:
            priority = priority_of(intent.type, intent.details)
            change = pod_change(intent, owner_ref)
            for target in resolution.for_type(intent.type):
                if not target.wants(intent.quiet, self._defaults):
                    continue
                retention = self._retention(target.entities)
                if retention is not None and intent.timestamp < now - retention:
                    continue  # retention would delete it again: history that old is not recorded
                body = render(intent, target, cluster=self._cluster)
                items.append(
                    Outgoing(
                        tag=target.tag,
                        body=body,
                        updatable=intent.updatable,
                        entities=target.entities,
                        priority=priority,
                        source=source,
                        fold=Fold(change, target, target.pod_events) if change else None,
                    )
                )
        return tuple(items)

    def _retention(self, entity_keys: tuple[str, ...]) -> timedelta | None:
        """The shortest retention among the CortexEntities behind a target, if any."""
        periods = [
            spec.retention
            for key in entity_keys
            if (spec := self._entities.spec(key)) is not None and spec.retention is not None
        ]
        return min(periods, default=None)
