"""CortexEntity specs: ``parse_entity`` turns a raw object into a validated `EntitySpec`, or a
`SpecError` naming the bad field (never an exception), within the bounds of
`cortex_events.domain.bounds`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cortex_events.domain import bounds
from cortex_events.domain.durations import format_duration, parse_duration
from cortex_events.domain.model import ALL_EVENT_TYPES, EventType
from cortex_events.domain.quiet import PodEvents, ScaleEvents
from cortex_events.domain.selectors import (
    DNS_SUBDOMAIN,
    SELECTOR_OPERATORS,
    LabelRequirement,
    LabelSelector,
    label_key_error,
    label_value_error,
)
from cortex_events.domain.tags import describe_bad_tag, tag_problem

WORKLOAD_KINDS = frozenset(
    {"Deployment", "Pod", "StatefulSet", "DaemonSet", "Job", "CronJob", "Rollout"}
)
"""What ``spec.workloads[].kind`` may name (``Rollout``: an Argo Rollout)."""


@dataclass(frozen=True)
class DeploySpec:
    """``spec.deploys``: each field None where the CortexEntity leaves it to the global
    setting."""

    enabled: bool | None = None
    environment: str | None = None
    scales: bool | None = None


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
    scale_events: ScaleEvents | None = None
    job_pod_events: bool | None = None
    deploys: DeploySpec = DeploySpec()
    pod_events: PodEvents | None = None

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
        _at_most(raw_labels, bounds.MATCH_LABELS, f"{path}.matchLabels", "labels")
        for key, value in raw_labels.items():
            if problem := label_key_error(key):
                raise _Invalid(f"{path}.matchLabels", problem)
            if problem := label_value_error(value):
                raise _Invalid(f"{path}.matchLabels.{key}", problem)
            match_labels[key] = value
    expressions: list[LabelRequirement] = []
    raw_expressions = raw.get("matchExpressions")
    if raw_expressions is not None:
        if not isinstance(raw_expressions, list):
            raise _Invalid(f"{path}.matchExpressions", "must be a list")
        _at_most(raw_expressions, bounds.MATCH_EXPRESSIONS, f"{path}.matchExpressions", "entries")
        for index, item in enumerate(raw_expressions):
            expressions.append(_parse_requirement(item, f"{path}.matchExpressions[{index}]"))
    return LabelSelector(match_labels=match_labels, match_expressions=tuple(expressions))


def _parse_requirement(raw: object, path: str) -> LabelRequirement:
    if not isinstance(raw, Mapping):
        raise _Invalid(path, "must be an object with key, operator and values")
    key = raw.get("key")
    if problem := label_key_error(key):
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
    _at_most(values, bounds.VALUES_PER_EXPRESSION, f"{path}.values", "values")
    if operator in ("In", "NotIn") and not values:
        raise _Invalid(f"{path}.values", f"operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise _Invalid(f"{path}.values", f"operator {operator} takes no values")
    for index, value in enumerate(values):
        if problem := label_value_error(value):
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
    _at_most(raw, bounds.WORKLOADS, "spec.workloads", "entries (a selector maps any number)")
    workloads: set[tuple[str, str]] = set()
    for index, item in enumerate(raw):
        path = f"spec.workloads[{index}]"
        if not isinstance(item, Mapping):
            raise _Invalid(path, "must be an object with kind and name")
        kind = item.get("kind")
        if kind not in WORKLOAD_KINDS:
            known = ", ".join(sorted(WORKLOAD_KINDS))
            raise _Invalid(f"{path}.kind", f"must be one of {known} (got {kind!r})")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _Invalid(f"{path}.name", "is required")
        if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
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
    path = "spec.customData"
    if not isinstance(raw, Mapping):
        raise _Invalid(path, "must be an object")
    _at_most(raw, bounds.CUSTOM_DATA_KEYS, path, "keys")
    for key in raw:
        if not isinstance(key, str) or not 0 < len(key) <= bounds.CUSTOM_DATA_KEY_LENGTH:
            shown = f"{key[:40]}..." if isinstance(key, str) and len(key) > 40 else key
            raise _Invalid(
                path, f"key {shown!r} must be 1 to {bounds.CUSTOM_DATA_KEY_LENGTH} characters"
            )
    if _depth(raw) > bounds.CUSTOM_DATA_DEPTH:
        raise _Invalid(path, f"nests objects and lists deeper than {bounds.CUSTOM_DATA_DEPTH}")
    try:
        # Round-trip: a copy the caller cannot mutate, and proof that it is plain JSON.
        text = json.dumps(raw, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        copy = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise _Invalid(path, f"must hold JSON values only ({exc})") from None
    size = len(text.encode())
    if size > bounds.CUSTOM_DATA_BYTES:
        raise _Invalid(
            path,
            f"is {size} bytes as JSON, more than the {bounds.CUSTOM_DATA_BYTES} every event "
            "may carry: keep it to a few short values",
        )
    assert isinstance(copy, dict)
    return copy


def _depth(value: object) -> int:
    """How deep objects and lists nest in ``value`` (1 for a flat object), without recursion:
    a hostile object may nest deeper than Python's stack."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, Mapping):
            children: list[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > bounds.CUSTOM_DATA_DEPTH:
            return deepest
        pending.extend((child, level + 1) for child in children)
    return deepest


def _at_most(items: Mapping[Any, Any] | list[Any], limit: int, path: str, what: str) -> None:
    if len(items) > limit:
        raise _Invalid(path, f"has {len(items)} {what}, more than the {limit} allowed")


def _parse_retention(raw: object) -> timedelta | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Invalid("spec.retention", 'must be a duration string such as "720h"')
    try:
        retention = parse_duration(raw, maximum=bounds.RETENTION_MAXIMUM)
    except ValueError as exc:
        raise _Invalid("spec.retention", str(exc)) from None
    if retention < bounds.RETENTION_MINIMUM:
        shortest = format_duration(bounds.RETENTION_MINIMUM)
        raise _Invalid("spec.retention", f"{raw!r} is shorter than the minimum of {shortest}")
    return retention


def _parse_scale_events(raw: object) -> ScaleEvents | None:
    if raw is None:
        return None
    try:
        return ScaleEvents(str(raw))
    except ValueError:
        raise _Invalid("spec.scaleEvents", "must be all, manual or summary") from None


def _parse_pod_events(raw: object) -> PodEvents | None:
    if raw is None:
        return None
    try:
        return PodEvents(str(raw))
    except ValueError:
        raise _Invalid("spec.podEvents", "must be each, summary or auto") from None


def _parse_flag(raw: object, path: str) -> bool | None:
    if raw is None or isinstance(raw, bool):
        return raw
    raise _Invalid(path, "must be true or false")


def _parse_deploys(raw: object) -> DeploySpec:
    if raw is None:
        return DeploySpec()
    if not isinstance(raw, Mapping):
        raise _Invalid("spec.deploys", "must be an object with enabled, environment and scales")
    unknown = sorted(set(raw) - {"enabled", "environment", "scales"})
    if unknown:
        raise _Invalid(
            f"spec.deploys.{unknown[0]}", "unknown field (use enabled, environment, scales)"
        )
    for name in ("enabled", "scales"):
        if raw.get(name) is not None and not isinstance(raw.get(name), bool):
            raise _Invalid(f"spec.deploys.{name}", "must be true or false")
    environment = raw.get("environment")
    if environment is not None and (not isinstance(environment, str) or not environment.strip()):
        raise _Invalid("spec.deploys.environment", "must be a non-empty string")
    if environment is not None and len(environment) > bounds.ENVIRONMENT_LENGTH:
        raise _Invalid(
            "spec.deploys.environment",
            f"is {len(environment)} characters long, more than {bounds.ENVIRONMENT_LENGTH}",
        )
    return DeploySpec(raw.get("enabled"), environment, raw.get("scales"))


def parse_entity(obj: Mapping[str, Any]) -> EntitySpec | SpecError:
    """Validate a raw CortexEntity. Checks what the CRD schema cannot express (selector
    operator/values rules, label syntax, durations) and, defensively, what it can."""
    try:
        return _parse_entity(obj)
    except _Invalid as invalid:
        return invalid.error
    except Exception as error:  # a shape no rule above foresaw: refused, never a crash
        return SpecError("spec", f"cannot be read ({type(error).__name__}); check its fields")


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
    cleanup = _parse_flag(spec.get("cleanupOnDelete"), "spec.cleanupOnDelete") or False
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
        scale_events=_parse_scale_events(spec.get("scaleEvents")),
        job_pod_events=_parse_flag(spec.get("jobPodEvents"), "spec.jobPodEvents"),
        deploys=_parse_deploys(spec.get("deploys")),
        pod_events=_parse_pod_events(spec.get("podEvents")),
    )
