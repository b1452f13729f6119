"""Label and field selectors, in their query-string and their object forms."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import KubeApiError

_SET_RE = re.compile(r"^\s*(!?)([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=,()]+)\s*(==|=|!=)\s*([^\s!=,()]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)([^\s!=,()]+)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: ``key`` compared with ``values`` by ``op``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "=":
            return present and labels[self.key] == self.values[0]
        if self.op == "!=":
            return not present or labels[self.key] != self.values[0]
        if self.op == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # notin


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def parse_label_selector(text: str | None) -> tuple[Requirement, ...]:
    """Parse ``a=b,c!=d,e in (f,g),h notin (i),j,!k``; raises a 400 on bad syntax."""
    if not text:
        return ()
    requirements: list[Requirement] = []
    for term in _split_terms(text):
        if match := _SET_RE.match(term):
            if match.group(1):
                raise KubeApiError(400, f"unable to parse requirement: {term!r}")
            values = tuple(v.strip() for v in match.group(4).split(",") if v.strip())
            requirements.append(Requirement(match.group(2), match.group(3), values))
        elif match := _EQ_RE.match(term):
            op = "!=" if match.group(2) == "!=" else "="
            requirements.append(Requirement(match.group(1), op, (match.group(3),)))
        elif match := _EXISTS_RE.match(term):
            op = "!exists" if match.group(1) else "exists"
            requirements.append(Requirement(match.group(2), op))
        else:
            raise KubeApiError(400, f"unable to parse requirement: {term!r}")
    return tuple(requirements)


def parse_field_selector(text: str | None) -> tuple[tuple[tuple[str, ...], bool, str], ...]:
    """Parse ``metadata.name=x,status.phase!=Running`` into ``(path, equal, value)`` terms."""
    if not text:
        return ()
    terms: list[tuple[tuple[str, ...], bool, str]] = []
    for term in _split_terms(text):
        match = _EQ_RE.match(term)
        if not match:
            raise KubeApiError(400, f"invalid field selector: {term!r}")
        path = tuple(match.group(1).split("."))
        terms.append((path, match.group(2) != "!=", match.group(3)))
    return tuple(terms)


def _field_value(obj: Mapping[str, Any], path: Sequence[str]) -> str:
    node: Any = obj
    for part in path:
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


@dataclass(frozen=True)
class Selector:
    """A parsed ``labelSelector`` plus ``fieldSelector`` of one request."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[tuple[str, ...], bool, str], ...] = ()

    @classmethod
    def parse(cls, label_selector: str | None, field_selector: str | None) -> Selector:
        return cls(parse_label_selector(label_selector), parse_field_selector(field_selector))

    def __bool__(self) -> bool:
        return bool(self.labels or self.fields)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        labels = metadata.get("labels") or {}
        if not all(requirement.matches(labels) for requirement in self.labels):
            return False
        return all(
            (_field_value(obj, path) == value) == equal for path, equal, value in self.fields
        )


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Match a ``metav1.LabelSelector`` object (matchLabels, matchExpressions) against labels.

    An empty or missing selector matches everything, as for a Deployment's selector.
    """
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expression in selector.get("matchExpressions") or []:
        op = operators.get(expression.get("operator", ""))
        if op is None:
            return False
        requirement = Requirement(expression["key"], op, tuple(expression.get("values") or ()))
        if not requirement.matches(labels):
            return False
    return True
