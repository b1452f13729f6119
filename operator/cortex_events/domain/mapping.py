"""The mapping of a workload to the Cortex entities (by tag) that receive its events.

``resolve`` follows the mapping rules of the user contract:

1. the workload's own ``cortex.io/tag`` annotation (comma separated: one event per tag);
2. the same annotation on each of its owners: a Pod's Deployment (through its ReplicaSet),
   StatefulSet, DaemonSet, Job or Argo Rollout, a Job's CronJob (a CronJob's Pods go through
   both), and the Deployment an Argo Rollout's ``workloadRef`` names;
3. every CortexEntity in the workload's namespace whose selector matches the labels of the
   workload or of one of those owners, or whose ``workloads`` names one of them;
4. with a `CatalogIndex` (mapping from Cortex's catalog, `cortex_events.domain.catalog`): every
   entity whose ``x-cortex-k8s`` block names the workload or one of those owners.

Every one of these sources contributes; tags are deduplicated. Only where none of them maps the
workload do the catalog's guesses count: first the configured label keys (of the workload and
its owners), then, where no label maps it either, the name of the workload or of an owner.
``cortex.io/events: disabled``, as an annotation or a label, on the workload or one of its
owners turns events off, whatever maps it.

Which settings govern a tag's events (types, quiet events, customData, retention, deploys):
a CortexEntity's settings govern the events of its tag in its namespace. The CortexEntities
of the tag that select or name the workload (or an owner) decide; where none does and the tag
comes from an annotation (or Cortex's catalog), every CortexEntity of that tag in the namespace
decides. Only a tag that no CortexEntity of the namespace names takes every event type and the
defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cortex_events.domain.catalog import CatalogIndex, Source
from cortex_events.domain.model import (
    ALL_EVENT_TYPES,
    EVENTS_ANNOTATION,
    TAG_ANNOTATION,
    EventType,
    is_disabled,
)
from cortex_events.domain.quiet import (
    PodEvents,
    Quiet,
    QuietDefaults,
    ScaleEvents,
    most_verbose,
    most_verbose_pods,
    wanted,
)
from cortex_events.domain.specs import EntitySpec
from cortex_events.domain.tags import split_tags

OWNED_KINDS = frozenset({"Pod", "Job", "Rollout"})
"""The kinds whose owners contribute to their mapping."""


@dataclass(frozen=True)
class Target:
    """One Cortex entity that receives a workload's events.

    ``event_types`` are the types this entity accepts; ``entities`` the keys
    (``namespace/name``) of the CortexEntity objects that contributed, sorted;
    ``scale_events`` and ``job_pod_events`` their settings for quiet events, and
    ``pod_events`` for Pods folded into summaries (None where none of them sets it: the
    operator's default applies).
    """

    tag: str
    event_types: frozenset[EventType]
    custom_data: Mapping[str, Any]
    entities: tuple[str, ...]
    scale_events: ScaleEvents | None = None
    job_pod_events: bool | None = None
    pod_events: PodEvents | None = None

    def __hash__(self) -> int:
        return hash((self.tag, self.event_types, self.entities))

    def wants(self, quiet: Quiet | None, defaults: QuietDefaults) -> bool:
        """Whether an event marked ``quiet`` (or not) goes to this entity."""
        return wanted(
            quiet,
            scale_events=self.scale_events,
            job_pod_events=self.job_pod_events,
            defaults=defaults,
        )


@dataclass(frozen=True)
class OwnerInfo:
    """An owner of a workload, as far as mapping needs it: a Pod's Deployment, StatefulSet,
    DaemonSet, Job or Argo Rollout, a Job's CronJob, an Argo Rollout's referenced Deployment.
    ``owner`` is the next one up the chain (a Job's CronJob), if any."""

    name: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    kind: str = "Deployment"
    owner: OwnerInfo | None = None

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.uid))

    def chain(self) -> list[OwnerInfo]:
        """This owner and those above it, nearest first."""
        found: list[OwnerInfo] = []
        current: OwnerInfo | None = self
        while current is not None and len(found) < 8:
            found.append(current)
            current = current.owner
        return found


@dataclass(frozen=True)
class TagIssue:
    """A ``cortex.io/tag`` annotation that names no tag, or names some that are no tag.

    ``on_owner`` says the annotation is on an owner (``owner``) rather than on the workload;
    ``value`` is the annotation's value (as far as it is read); ``problems`` says what was left
    out of it and why (`TagList.problems`), and is empty when the value is simply empty (or
    only commas and spaces).
    """

    on_owner: bool
    value: str
    problems: tuple[str, ...]
    owner: OwnerInfo | None = None
    annotation: str = TAG_ANNOTATION
    """The annotation's name (``CORTEX_TAG_ANNOTATION``)."""

    def describe(self) -> str:
        """What was left out, each with its cause, or that the value is empty."""
        if not self.problems:
            return f"{self.annotation} is empty: it names no Cortex entity"
        return "; ".join(self.problems)


@dataclass(frozen=True)
class Resolution:
    """Where a workload's events go. ``reason`` says why in words (shown to users when
    nothing is recorded); ``tag_issues`` are the annotations that could not be used, whole
    or in part (the valid tags beside them still get events)."""

    targets: tuple[Target, ...]
    disabled: bool
    reason: str
    tag_issues: tuple[TagIssue, ...] = ()
    via: frozenset[str] = frozenset()
    """The kinds of source that mapped it: ``annotation``, ``CortexEntity``, and the catalog's
    (`cortex_events.domain.catalog.Source`: ``descriptor``, ``labels``, ``name``)."""

    def for_type(self, event_type: EventType) -> tuple[Target, ...]:
        """The targets that accept ``event_type``."""
        return tuple(t for t in self.targets if event_type in t.event_types)


@dataclass
class _Contribution:
    from_annotation: bool = False
    """Named by an annotation or Cortex's catalog: every event type goes to it."""
    event_types: set[EventType] = field(default_factory=set)
    entities: list[EntitySpec] = field(default_factory=list)


def resolve(
    kind: str,
    namespace: str,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    *,
    owner: OwnerInfo | None,
    entities: Iterable[EntitySpec],
    catalog: CatalogIndex | None = None,
    tag_annotation: str = TAG_ANNOTATION,
) -> Resolution:
    """The Cortex entities a workload's events go to. ``owner`` is its nearest owner (its
    `OwnerInfo.chain` the others); ``catalog`` what Cortex's catalog maps, if it is read;
    ``tag_annotation`` the annotation that names tags (``cortex.io/tag`` by default)."""
    owners = owner.chain() if owner is not None and kind in OWNED_KINDS else []
    if is_disabled(annotations, labels):
        return Resolution((), True, f"opted out by {EVENTS_ANNOTATION}=disabled on {kind} {name}")
    for up in owners:
        if is_disabled(up.annotations, up.labels):
            return Resolution(
                (), True, f"opted out by {EVENTS_ANNOTATION}=disabled on {up.kind} {up.name}"
            )
    contributions: dict[str, _Contribution] = {}
    sources: list[str] = []
    issues: list[TagIssue] = []
    via: set[str] = set()

    def from_annotation(value: str | None, where: str, source: OwnerInfo | None) -> None:
        if not isinstance(value, str):
            return
        listed = split_tags(value)
        for tag in listed.tags:
            contributions.setdefault(tag, _Contribution()).from_annotation = True
        if listed.tags:
            sources.append(f"{tag_annotation} on {where}")
            via.add("annotation")
        if listed.refused or not listed.tags:
            problems = tuple(listed.problems())
            issues.append(TagIssue(source is not None, value, problems, source, tag_annotation))

    from_annotation(annotations.get(tag_annotation), f"{kind} {name}", None)
    for up in owners:
        from_annotation(up.annotations.get(tag_annotation), f"{up.kind} {up.name}", up)

    for entity in sorted(entities, key=lambda e: e.key):
        if entity.namespace != namespace:
            continue
        matched = entity.matches(kind, name, labels) or any(
            entity.matches(up.kind, up.name, up.labels) for up in owners
        )
        if not matched:
            continue
        contribution = contributions.setdefault(entity.tag, _Contribution())
        contribution.event_types |= entity.event_types
        contribution.entities.append(entity)
        sources.append(f"CortexEntity {entity.key}")
        via.add("CortexEntity")

    if catalog is not None:
        workloads = [(kind, name, labels), *((up.kind, up.name, up.labels) for up in owners)]
        for tag, source, why in _from_catalog(catalog, namespace, workloads, bool(contributions)):
            contributions.setdefault(tag, _Contribution()).from_annotation = True
            sources.append(why)
            via.add(source)

    _govern_annotated_tags(contributions, entities, namespace)

    if not contributions:
        reason = f"no {tag_annotation} and no CortexEntity matches"
        if issues:
            reason = f"no usable {tag_annotation} and no CortexEntity matches"
        if catalog is not None:
            reason += ", nor Cortex's catalog"
        return Resolution((), False, reason, tuple(issues))
    targets = tuple(_target(tag, c) for tag, c in sorted(contributions.items()))
    return Resolution(
        targets, False, "mapped by " + ", ".join(sources), tuple(issues), frozenset(via)
    )


def _from_catalog(
    catalog: CatalogIndex,
    namespace: str,
    workloads: list[tuple[str, str, Mapping[str, str]]],
    mapped: bool,
) -> list[tuple[str, Source, str]]:
    """(tag, source, why) from Cortex's catalog for a workload and its owners (``workloads``:
    kind, name, labels): every ``x-cortex-k8s`` item that names one; where nothing maps them
    (``mapped`` false, and no item), the label keys, then their names."""
    found = [
        (tag, Source.DESCRIPTOR, f"{kind} {name} in the x-cortex-k8s of {tag!r}")
        for kind, name, _ in workloads
        for tag in catalog.descriptor_tags(kind, namespace, name)
    ]
    if found or mapped:
        return found
    found = [
        (tag, Source.LABELS, f"label {key} of {kind} {name}")
        for kind, name, labels in workloads
        for key, tag in catalog.label_tags(labels)
    ]
    if found:
        return found
    return [
        (tag, Source.NAME, f"the name of {kind} {name}")
        for kind, name, _ in workloads
        if (tag := catalog.name_tag(kind, name)) is not None
    ]


def _govern_annotated_tags(
    contributions: dict[str, _Contribution], entities: Iterable[EntitySpec], namespace: str
) -> None:
    """A tag that only annotations gave the workload is governed by the CortexEntities of
    that tag in its namespace, where there are some: the annotation says which entity the
    workload belongs to, the CortexEntity what is recorded for that entity."""
    unmatched = {tag for tag, c in contributions.items() if not c.entities}
    for entity in sorted(entities, key=lambda e: e.key):
        if entity.namespace == namespace and entity.tag in unmatched:
            contribution = contributions[entity.tag]
            contribution.event_types |= entity.event_types
            contribution.entities.append(entity)


def _target(tag: str, contribution: _Contribution) -> Target:
    custom_data: dict[str, Any] = {}
    for entity in contribution.entities:  # already in entity-key order
        custom_data.update(entity.custom_data)
    job_pods = [e.job_pod_events for e in contribution.entities if e.job_pod_events is not None]
    return Target(
        tag=tag,
        event_types=frozenset(contribution.event_types)
        if contribution.entities
        else ALL_EVENT_TYPES,
        custom_data=custom_data,
        entities=tuple(sorted(e.key for e in contribution.entities)),
        scale_events=most_verbose(
            [e.scale_events for e in contribution.entities if e.scale_events is not None]
        ),
        job_pod_events=any(job_pods) if job_pods else None,
        pod_events=most_verbose_pods(
            [e.pod_events for e in contribution.entities if e.pod_events is not None]
        ),
    )
