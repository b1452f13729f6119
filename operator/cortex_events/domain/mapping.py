"""The mapping of a workload to the Cortex entities (by tag) that receive its events.

``resolve`` follows the mapping rules of the user contract:

1. the workload's own ``cortex.io/tag`` annotation (comma separated: one event per tag);
2. for a Pod, the same annotation on its owning Deployment;
3. every CortexEntity in the workload's namespace whose selector matches the workload's
   labels or whose ``workloads`` names it (for a Pod, also those matching or naming its
   owning Deployment).

Every source contributes; tags are deduplicated. ``cortex.io/events: disabled`` on the
workload or its Deployment turns events off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cortex_events.domain.model import (
    ALL_EVENT_TYPES,
    EVENTS_ANNOTATION,
    TAG_ANNOTATION,
    EventType,
    is_disabled,
)
from cortex_events.domain.specs import EntitySpec
from cortex_events.domain.tags import describe_bad_tag, split_tags


@dataclass(frozen=True)
class Target:
    """One Cortex entity that receives a workload's events.

    ``event_types`` are the types this entity accepts; ``entities`` the keys
    (``namespace/name``) of the CortexEntity objects that contributed, sorted.
    """

    tag: str
    event_types: frozenset[EventType]
    custom_data: Mapping[str, Any]
    entities: tuple[str, ...]

    def __hash__(self) -> int:
        return hash((self.tag, self.event_types, self.entities))


@dataclass(frozen=True)
class OwnerInfo:
    """A Pod's owning Deployment, as far as mapping needs it."""

    name: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def __hash__(self) -> int:
        return hash((self.name, self.uid))


@dataclass(frozen=True)
class TagIssue:
    """A ``cortex.io/tag`` annotation that names no tag, or names some that are no tag.

    ``on_owner`` says the annotation is on the Pod's Deployment rather than on the workload;
    ``value`` is the annotation's whole value; ``rejected`` lists each part that is no tag with
    why, and is empty when the value is simply empty (or only commas and spaces).
    """

    on_owner: bool
    value: str
    rejected: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        """Each rejected part with the rule it breaks, or that the value is empty."""
        if not self.rejected:
            return f"{TAG_ANNOTATION} is empty: it names no Cortex entity"
        return "; ".join(describe_bad_tag(tag, problem) for tag, problem in self.rejected)


@dataclass(frozen=True)
class Resolution:
    """Where a workload's events go. ``reason`` says why in words (shown to users when
    nothing is recorded); ``tag_issues`` are the annotations that could not be used, whole
    or in part (the valid tags beside them still get events)."""

    targets: tuple[Target, ...]
    disabled: bool
    reason: str
    tag_issues: tuple[TagIssue, ...] = ()

    def for_type(self, event_type: EventType) -> tuple[Target, ...]:
        """The targets that accept ``event_type``."""
        return tuple(t for t in self.targets if event_type in t.event_types)


@dataclass
class _Contribution:
    from_annotation: bool = False
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
) -> Resolution:
    """The Cortex entities a workload's events go to. ``owner`` is a Pod's Deployment."""
    if is_disabled(annotations):
        return Resolution((), True, f"opted out by {EVENTS_ANNOTATION}=disabled on {kind} {name}")
    if kind == "Pod" and owner is not None and is_disabled(owner.annotations):
        return Resolution(
            (), True, f"opted out by {EVENTS_ANNOTATION}=disabled on Deployment {owner.name}"
        )
    contributions: dict[str, _Contribution] = {}
    sources: list[str] = []
    issues: list[TagIssue] = []

    def from_annotation(value: str | None, where: str, *, on_owner: bool) -> None:
        if not isinstance(value, str):
            return
        tags, rejected = split_tags(value)
        for tag in tags:
            contributions.setdefault(tag, _Contribution()).from_annotation = True
        if tags:
            sources.append(f"{TAG_ANNOTATION} on {where}")
        if rejected or not tags:
            issues.append(TagIssue(on_owner, value, rejected))

    from_annotation(annotations.get(TAG_ANNOTATION), f"{kind} {name}", on_owner=False)
    pod_owner = owner if kind == "Pod" else None
    if pod_owner is not None:
        from_annotation(
            pod_owner.annotations.get(TAG_ANNOTATION),
            f"Deployment {pod_owner.name}",
            on_owner=True,
        )

    for entity in sorted(entities, key=lambda e: e.key):
        if entity.namespace != namespace:
            continue
        matched = entity.matches(kind, name, labels) or (
            pod_owner is not None and entity.matches("Deployment", pod_owner.name, pod_owner.labels)
        )
        if not matched:
            continue
        contribution = contributions.setdefault(entity.tag, _Contribution())
        contribution.event_types |= entity.event_types
        contribution.entities.append(entity)
        sources.append(f"CortexEntity {entity.key}")

    if not contributions:
        reason = "no cortex.io/tag and no CortexEntity matches"
        if issues:
            reason = f"no usable {TAG_ANNOTATION} and no CortexEntity matches"
        return Resolution((), False, reason, tuple(issues))
    targets = tuple(_target(tag, c) for tag, c in sorted(contributions.items()))
    return Resolution(targets, False, "mapped by " + ", ".join(sources), tuple(issues))


def _target(tag: str, contribution: _Contribution) -> Target:
    custom_data: dict[str, Any] = {}
    for entity in contribution.entities:  # already in entity-key order
        custom_data.update(entity.custom_data)
    return Target(
        tag=tag,
        event_types=ALL_EVENT_TYPES
        if contribution.from_annotation
        else frozenset(contribution.event_types),
        custom_data=custom_data,
        entities=tuple(sorted(e.key for e in contribution.entities)),
    )
