"""CortexEntity specs, label selectors, and the mapping of a workload to Cortex entity tags.

``parse_entity`` turns a raw CortexEntity into a validated :class:`EntitySpec` or a
:class:`SpecError` naming the bad field. ``resolve`` decides which Cortex entities (by tag)
receive a workload's events, following the mapping rules of the user contract:

1. the workload's own ``cortex.io/tag`` annotation (comma separated: one event per tag);
2. for a Pod, the same annotation on its owning Deployment;
3. every CortexEntity in the workload's namespace whose selector matches the workload's
   labels or whose ``workloads`` names it (for a Pod, also those matching or naming its
   owning Deployment).

Every source contributes; tags are deduplicated. ``cortex.io/events: disabled`` on the
workload or its Deployment turns events off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cortex_events.domain.model import (
    ALL_EVENT_TYPES,
    EVENTS_ANNOTATION,
    TAG_ANNOTATION,
    EventType,
    is_disabled,
)

RETENTION_MINIMUM = timedelta(minutes=1)
"""The shortest ``spec.retention`` accepted: shorter would delete events as soon as they land."""

WORKLOAD_KINDS = frozenset({"Deployment", "Pod"})
SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})

_NAME_PART = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": timedelta(microseconds=0.001),
    "us": timedelta(microseconds=1),
    "µs": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}


# --- tags ----------------------------------------------------------------------------------

TAG_MAX_LENGTH = 253
TAG_RULE = "a tag is 1 to 253 printable ASCII characters, without spaces, commas or slashes"
"""The one rule for every tag the operator is given: a CortexEntity's ``spec.tag`` and each
comma-separated part of a ``cortex.io/tag`` annotation. The CRD's ``spec.tag`` pattern says the
same. Characters that a URL path must encode (``:``, ``#``, ``%``, ``?`` ...) are allowed: the
Cortex client percent-encodes the tag into the request path."""


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` cannot name a Cortex entity (see `TAG_RULE`), or None when it can."""
    if not tag:
        return "it is empty"
    if len(tag) > TAG_MAX_LENGTH:
        return f"it is {len(tag)} characters long"
    for char in tag:
        if char == ",":
            return "it contains a comma"
        if char == "/":
            return "it contains a slash"
        if char.isspace():
            return "it contains whitespace"
        if not "!" <= char <= "~":
            return f"it contains {char!r}, which is not printable ASCII"
    return None


def describe_bad_tag(tag: str, problem: str) -> str:
    """``'team/svc' is not a Cortex tag: it contains a slash (a tag is ...)``."""
    shown = tag if len(tag) <= 80 else f"{tag[:60]}...({len(tag)} characters)"
    return f"{shown!r} is not a Cortex tag: {problem} ({TAG_RULE})"


def split_tags(value: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A ``cortex.io/tag`` value split at commas and trimmed: the tags it names, in order and
    deduplicated, and the parts that are no tag with why (`tag_problem`). Empty parts (``"a,,b"``,
    a trailing comma) are skipped."""
    tags: dict[str, None] = {}
    rejected: dict[str, str] = {}
    for part in value.split(","):
        tag = part.strip()
        if not tag:
            continue
        problem = tag_problem(tag)
        if problem is None:
            tags.setdefault(tag, None)
        else:
            rejected.setdefault(tag, problem)
    return tuple(tags), tuple(rejected.items())


# --- label selectors -----------------------------------------------------------------------


@dataclass(frozen=True)
class LabelRequirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        return False


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector. An empty selector matches every workload; an entity
    without a selector has ``selector=None`` and matches only the workloads it names."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[LabelRequirement, ...] = ()

    def __hash__(self) -> int:
        return hash((frozenset(self.match_labels.items()), self.match_expressions))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            expression.matches(labels) for expression in self.match_expressions
        )


# --- CortexEntity spec ---------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySpec:
    """A validated CortexEntity. ``workloads`` holds ``(kind, name)`` pairs."""

    namespace: str
    name: str
    uid: str
    generation: int
    tag: str
    selector: LabelSelector | None
    workloads: frozenset[tuple[str, str]]
    event_types: frozenset[EventType]
    custom_data: Mapping[str, Any]
    retention: timedelta | None
    cleanup_on_delete: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __hash__(self) -> int:
        # customData is a dict; equal specs share key, uid and generation.
        return hash((self.key, self.uid, self.generation, self.tag))

    def names(self, kind: str, name: str) -> bool:
        return (kind, name) in self.workloads

    def matches(self, kind: str, name: str, labels: Mapping[str, str]) -> bool:
        """True when this entity selects or names the workload."""
        if self.names(kind, name):
            return True
        return self.selector is not None and self.selector.matches(labels)


@dataclass(frozen=True)
class SpecError:
    """Why a CortexEntity spec is invalid; ``field`` is a path such as
    ``spec.selector.matchExpressions[0].values``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class _Invalid(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.error = SpecError(path, message)


def parse_duration(text: str) -> timedelta:
    """A Go-style duration (``"720h"``, ``"1h30m"``, ``"90s"``, ``"1.5h"``) as a timedelta.

    Raises ValueError with a message a user can act on.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string such as 720h, got {type(text).__name__}")
    value = text.strip()
    hint = 'use numbers with units h, m or s, e.g. "720h", "1h30m" or "90s"'
    if not value:
        raise ValueError(f"empty duration: {hint}")
    if value == "0":
        return timedelta(0)
    if value.startswith(("-", "+")):
        raise ValueError(f"invalid duration {text!r}: a duration cannot carry a sign")
    total = timedelta(0)
    position = 0
    while position < len(value):
        match = _DURATION_PART.match(value, position)
        if match is None:
            if re.search(r"\dd", value):
                raise ValueError(f"invalid duration {text!r}: days are not supported, {hint}")
            raise ValueError(f"invalid duration {text!r}: {hint}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return total


def _label_key_error(key: object) -> str | None:
    if not isinstance(key, str) or not key:
        return "label key must be a non-empty string"
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        return f"invalid label key {key!r}: at most one '/'"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"invalid label key {key!r}: the prefix must be a DNS subdomain"
    if len(name) > 63 or not _NAME_PART.match(name):
        return (
            f"invalid label key {key!r}: the name must be 1-63 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit"
        )
    return None


def _label_value_error(value: object) -> str | None:
    if not isinstance(value, str):
        return "label value must be a string"
    if value and (len(value) > 63 or not _NAME_PART.match(value)):
        return (
            f"invalid label value {value!r}: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _parse_selector(raw: object, path: str) -> LabelSelector | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _Invalid(path, "must be an object with matchLabels and/or matchExpressions")
    unknown = sorted(set(raw) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise _Invalid(f"{path}.{unknown[0]}", "unknown field (use matchLabels, matchExpressions)")
    match_labels: dict[str, str] = {}
    raw_labels = raw.get("matchLabels")
    if raw_labels is not None:
        if not isinstance(raw_labels, Mapping):
            raise _Invalid(f"{path}.matchLabels", "must be an object of label key: value")
        for key, value in raw_labels.items():
            if problem := _label_key_error(key):
                raise _Invalid(f"{path}.matchLabels", problem)
            if problem := _label_value_error(value):
                raise _Invalid(f"{path}.matchLabels.{key}", problem)
            match_labels[key] = value
    expressions: list[LabelRequirement] = []
    raw_expressions = raw.get("matchExpressions")
    if raw_expressions is not None:
        if not isinstance(raw_expressions, list):
            raise _Invalid(f"{path}.matchExpressions", "must be a list")
        for index, item in enumerate(raw_expressions):
            expressions.append(_parse_requirement(item, f"{path}.matchExpressions[{index}]"))
    return LabelSelector(match_labels=match_labels, match_expressions=tuple(expressions))


def _parse_requirement(raw: object, path: str) -> LabelRequirement:
    if not isinstance(raw, Mapping):
        raise _Invalid(path, "must be an object with key, operator and values")
    key = raw.get("key")
    if problem := _label_key_error(key):
        raise _Invalid(f"{path}.key", problem)
    assert isinstance(key, str)
    operator = raw.get("operator")
    if operator not in SELECTOR_OPERATORS:
        raise _Invalid(
            f"{path}.operator",
            f"must be one of In, NotIn, Exists, DoesNotExist (got {operator!r})",
        )
    assert isinstance(operator, str)
    values = raw.get("values")
    if values is None:
        values = []
    if not isinstance(values, list):
        raise _Invalid(f"{path}.values", "must be a list of strings")
    if operator in ("In", "NotIn") and not values:
        raise _Invalid(f"{path}.values", f"operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise _Invalid(f"{path}.values", f"operator {operator} takes no values")
    for index, value in enumerate(values):
        if problem := _label_value_error(value):
            raise _Invalid(f"{path}.values[{index}]", problem)
    return LabelRequirement(key=key, operator=operator, values=frozenset(values))


def _parse_tag(raw: object) -> str:
    if raw is None:
        raise _Invalid("spec.tag", "is required: the Cortex entity's tag (x-cortex-tag) or id")
    if not isinstance(raw, str):
        raise _Invalid("spec.tag", "must be a string")
    if not raw.strip():
        raise _Invalid("spec.tag", "must not be empty")
    problem = tag_problem(raw)
    if problem is not None:
        raise _Invalid("spec.tag", describe_bad_tag(raw, problem))
    return raw


def _parse_workloads(raw: object) -> frozenset[tuple[str, str]]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise _Invalid("spec.workloads", "must be a list of {kind, name}")
    workloads: set[tuple[str, str]] = set()
    for index, item in enumerate(raw):
        path = f"spec.workloads[{index}]"
        if not isinstance(item, Mapping):
            raise _Invalid(path, "must be an object with kind and name")
        kind = item.get("kind")
        if kind not in WORKLOAD_KINDS:
            raise _Invalid(f"{path}.kind", f"must be Deployment or Pod (got {kind!r})")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _Invalid(f"{path}.name", "is required")
        if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            raise _Invalid(f"{path}.name", f"{name!r} is not a valid Kubernetes object name")
        assert isinstance(kind, str)
        workloads.add((kind, name))
    return frozenset(workloads)


def _parse_event_types(raw: object) -> frozenset[EventType]:
    if raw is None:
        return ALL_EVENT_TYPES
    if not isinstance(raw, list):
        raise _Invalid("spec.eventTypes", "must be a list of event types")
    if not raw:
        raise _Invalid(
            "spec.eventTypes", "must name at least one event type (omit it to record all types)"
        )
    types: set[EventType] = set()
    for index, item in enumerate(raw):
        try:
            types.add(EventType(item))
        except ValueError:
            known = ", ".join(sorted(EventType))
            raise _Invalid(
                f"spec.eventTypes[{index}]", f"unknown event type {item!r} (known: {known})"
            ) from None
    return frozenset(types)


def _parse_custom_data(raw: object) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _Invalid("spec.customData", "must be an object")
    try:
        # Round-trip: a copy the caller cannot mutate, and proof that it is plain JSON.
        copy = json.loads(json.dumps(raw, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise _Invalid("spec.customData", f"must hold JSON values only ({exc})") from None
    assert isinstance(copy, dict)
    return copy


def _parse_retention(raw: object) -> timedelta | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid("spec.retention", 'must be a duration string such as "720h"')
    try:
        retention = parse_duration(raw)
    except ValueError as exc:
        raise _Invalid("spec.retention", str(exc)) from None
    if retention < RETENTION_MINIMUM:
        raise _Invalid("spec.retention", f"{raw!r} is shorter than the minimum of 1m")
    return retention


def parse_entity(obj: Mapping[str, Any]) -> EntitySpec | SpecError:
    """Validate a raw CortexEntity. Checks what the CRD schema cannot express (selector
    operator/values rules, label syntax, durations) and, defensively, what it can."""
    try:
        return _parse_entity(obj)
    except _Invalid as invalid:
        return invalid.error


def _parse_entity(obj: Mapping[str, Any]) -> EntitySpec:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise _Invalid("metadata", "is required")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise _Invalid("metadata.name", "is required")
    namespace = metadata.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise _Invalid("metadata.namespace", "is required: CortexEntity is namespaced")
    uid = metadata.get("uid")
    generation = metadata.get("generation")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise _Invalid("spec", "is required and must be an object")
    cleanup = spec.get("cleanupOnDelete", False)
    if cleanup is None:
        cleanup = False
    if not isinstance(cleanup, bool):
        raise _Invalid("spec.cleanupOnDelete", "must be true or false")
    return EntitySpec(
        namespace=namespace,
        name=name,
        uid=uid if isinstance(uid, str) else "",
        generation=generation if isinstance(generation, int) else 0,
        tag=_parse_tag(spec.get("tag")),
        selector=_parse_selector(spec.get("selector"), "spec.selector"),
        workloads=_parse_workloads(spec.get("workloads")),
        event_types=_parse_event_types(spec.get("eventTypes")),
        custom_data=_parse_custom_data(spec.get("customData")),
        retention=_parse_retention(spec.get("retention")),
        cleanup_on_delete=cleanup,
    )


# --- mapping -------------------------------------------------------------------------------


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


def parse_tags(value: str) -> tuple[str, ...]:
    """The tags of a ``cortex.io/tag`` value: ``"a, b,,a, x/y"`` -> ``("a", "b")``."""
    return split_tags(value)[0]


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
