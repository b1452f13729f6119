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


# Matched against a part already stripped of surrounding whitespace. Every run is possessive
# (``*+``, ``++``): a run of spaces is never tried at every length, so reading a selector takes
# time linear in its length, however it is padded.
_REQUIREMENT = re.compile(
    r"(?P<not>!)?+\s*+(?P<key>[^\s!=,()]++)\s*+"
    r"(?:(?P<op>==|=|!=)\s*+(?P<value>[^\s,()]*+)"
    r"|(?<=\s)(?P<set>in|notin)\s*+\((?P<values>[^)]*+)\))?+"
)


def parse_selector(text: str) -> LabelSelector:
    """A label selector in the syntax of ``kubectl -l`` (``env=prod,tier!=cache``,
    ``team in (a,b)``, ``region notin (x)``, ``owner``, ``!legacy``); raises ValueError with a
    message naming the part that cannot be read."""
    match_labels: dict[str, str] = {}
    expressions: list[LabelRequirement] = []
    for part in _split_requirements(text):
        found = _REQUIREMENT.fullmatch(part.strip())
        if found is None:
            raise ValueError(f"cannot read {_shown(part.strip())} as a label requirement")
        key = found.group("key")
        if problem := label_key_error(key):
            raise ValueError(problem)
        op, negated = found.group("op") or found.group("set"), bool(found.group("not"))
        if negated and op:
            raise ValueError(f"{_shown(part.strip())}: '!' only goes before a key alone")
        if op is None:
            expressions.append(LabelRequirement(key, "DoesNotExist" if negated else "Exists"))
            continue
        values = (
            [v.strip() for v in found.group("values").split(",") if v.strip()]
            if found.group("set")
            else [found.group("value")]
        )
        for value in values:
            if problem := label_value_error(value):
                raise ValueError(problem)
        if op in ("=", "=="):
            match_labels[key] = values[0]
        elif op == "!=":
            expressions.append(LabelRequirement(key, "NotIn", frozenset(values)))
        else:
            if not values:
                raise ValueError(f"{_shown(part.strip())}: {op} needs at least one value")
            expressions.append(
                LabelRequirement(key, "In" if op == "in" else "NotIn", frozenset(values))
            )
    return LabelSelector(match_labels=match_labels, match_expressions=tuple(expressions))


def _split_requirements(text: str) -> list[str]:
    """Split at the commas that are not inside a value list's parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part for part in parts if part.strip()]


def _shown(part: str) -> str:
    """A part of a selector as an error message quotes it: long ones shortened."""
    return repr(part) if len(part) <= 80 else f"{part[:60]!r}...({len(part)} characters)"
