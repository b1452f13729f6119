"""A CRD's ``x-kubernetes-validations`` rules, as the stand-in API server checks them.

The real API server evaluates these rules in CEL. The stand-in reads the part of CEL that
rules about single strings are written in: ``self``; string and integer literals; ``!``,
``&&``, ``||``; comparisons (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``);
``self.matches(re)`` (a search, as RE2's is), ``self.contains(s)``, ``self.startsWith(s)``,
``self.endsWith(s)``, ``self.size()``; ``duration(s)``. A rule outside that part is refused
when the CRD is read, rather than passed over: the stand-in must not accept what the real
server refuses.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from cortex_events.domain.durations import parse_duration

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>&&|\|\||==|!=|>=|<=|[!<>().,])|(?P<number>[0-9]+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_METHODS: dict[str, Callable[..., Any]] = {
    "matches": lambda text, pattern: re.search(pattern, text, re.ASCII) is not None,
    "contains": lambda text, part: part in text,
    "startsWith": lambda text, part: text.startswith(part),
    "endsWith": lambda text, part: text.endswith(part),
    "size": len,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}
Rule = Callable[[Any], Any]


class RuleError(ValueError):
    """A rule the stand-in cannot read."""


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise RuleError(f"cannot read {text[position:]!r} in {text!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> str:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.index >= len(self.tokens) or (expected and self.peek() != expected):
            raise RuleError(f"expected {expected or 'more'} in {self.text!r}")
        self.index += 1
        return self.tokens[self.index - 1]

    def parse(self) -> Rule:
        rule = self.disjunction()
        if self.index != len(self.tokens):
            raise RuleError(f"unexpected {self.peek()!r} in {self.text!r}")
        return rule

    def disjunction(self) -> Rule:
        return self._chain("||", self.conjunction, any)

    def conjunction(self) -> Rule:
        return self._chain("&&", self.negation, all)

    def _chain(
        self, operator: str, operand: Callable[[], Rule], combine: Callable[[Any], bool]
    ) -> Rule:
        """Operands joined by ``operator``, evaluated left to right as far as needed."""
        parts = [operand()]
        while self.peek() == operator:
            self.take()
            parts.append(operand())
        if len(parts) == 1:
            return parts[0]
        return lambda value: combine(part(value) for part in parts)

    def negation(self) -> Rule:
        if self.peek() == "!":
            self.take()
            inner = self.negation()
            return lambda value: not inner(value)
        left = self.primary()
        if self.peek() in _COMPARE:
            compare = _COMPARE[self.take()[1]]
            right = self.primary()
            return lambda value: compare(left(value), right(value))
        return left

    def arguments(self) -> list[Rule]:
        self.take("(")
        found: list[Rule] = []
        while self.peek() != ")":
            found.append(self.disjunction())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return found

    def primary(self) -> Rule:
        kind, word = self.take()
        if word == "(":
            inner = self.disjunction()
            self.take(")")
            return inner
        if kind == "string":
            text = _unquote(word)
            return lambda _: text
        if kind == "number":
            number = int(word)
            return lambda _: number
        if word == "duration":
            (argument,) = self.arguments()
            return lambda value: parse_duration(argument(value), maximum=timedelta.max)
        if word != "self":
            raise RuleError(f"the stand-in does not read {word!r} in {self.text!r}")
        rule: Rule = lambda value: value  # noqa: E731
        while self.peek() == ".":
            self.take()
            method = _METHODS.get(self.take()[1])
            if method is None:
                raise RuleError(f"the stand-in does not read {self.text!r}")
            rule = functools.partial(
                lambda call, target, args, value: call(target(value), *(a(value) for a in args)),
                method,
                rule,
                self.arguments(),
            )
        return rule


@functools.cache
def compile_rule(text: str) -> Rule:
    """A rule as a function of ``self``; `RuleError` when it is outside the part read."""
    return _Parser(text).parse()


def rule_violations(value: Any, schema: Mapping[str, Any], path: str = "") -> list[tuple[str, str]]:
    """(field, cause) for each rule ``value`` breaks, as the real server words them."""
    found: list[tuple[str, str]] = []
    for rule in schema.get("x-kubernetes-validations") or []:
        check = compile_rule(rule["rule"])  # a RuleError is the CRD's, not the value's
        try:
            holds = check(value)
        except (ValueError, TypeError, re.error):
            holds = False  # an evaluation error refuses the value, as in CEL
        if not holds:
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            found.append(
                (path, f"Invalid value: {json.dumps(value, ensure_ascii=False)}: {message}")
            )
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for key, item in value.items():
            if key in properties:
                where = f"{path}.{key}" if path else str(key)
                found += rule_violations(item, properties[key], where)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found += rule_violations(item, schema["items"], f"{path}[{index}]")
    return found
