"""Kubernetes label selectors and the label key and value rules they are checked against."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
_NAME_PART = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


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


def label_key_error(key: object) -> str | None:
    if not isinstance(key, str) or not key:
        return "label key must be a non-empty string"
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        return f"invalid label key {key!r}: at most one '/'"
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return f"invalid label key {key!r}: the prefix must be a DNS subdomain"
    if len(name) > 63 or not _NAME_PART.match(name):
        return (
            f"invalid label key {key!r}: the name must be 1-63 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit"
        )
    return None


def label_value_error(value: object) -> str | None:
    if not isinstance(value, str):
        return "label value must be a string"
    if value and (len(value) > 63 or not _NAME_PART.match(value)):
        return (
            f"invalid label value {value!r}: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None
