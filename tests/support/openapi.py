"""Cortex's published OpenAPI description as a contract: does a request, or an answer, conform?

The description (Cortex's ``swagger.json``, its custom-events, deploys and catalog part) is read
from ``../shared/reference/cortex-openapi-subset.json`` beside the repository; the project keeps
no copy of it. `load_contract` returns None where it is absent, and `MISSING` says why, for the
tests that skip then.

What the description says is checked as it says it, with JSON Schema (draft 4, which OpenAPI
3.0's schemas follow) for bodies and the parameters' schemas for paths and queries. Where it can
be read two ways, or where the emulator answers what it does not document, this module decides
once, here, and says why:

* A map's value schema ``{"type": "object"}`` (``customData``'s ``additionalProperties``) is
  Java's ``Map<String, Object>`` as the generator wrote it: any JSON value, not only objects.
  Cortex's own examples put strings there.
* ``startTime`` and ``endTime`` are date-times **without** a time zone, as their descriptions
  say, although their schema's format is ``date-time`` (which RFC 3339 gives a zone).
* ``pageSize`` is 1 to 1000 and ``page`` 0 or more, as their descriptions say.
* `KEPT` lists the answers the emulator gives that the description does not document.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "cortex-openapi-subset.json"
MISSING = (
    f"Cortex's OpenAPI description is not at {REFERENCE}: the contract tests read it from "
    "../shared/reference/ beside the repository (the project keeps no copy of it)"
)
_URI = "urn:cortex-openapi"
ERROR_SCHEMA = "#/components/schemas/ErrorResponse"

KEPT = {
    "401": "a refused key: every operation answers it, the description lists it for none",
    "400": "a refused request on the deploy operations, which document no 400 but must refuse "
    "an invalid body or query as the custom-events operations do",
    "error bodies": "the custom-events operations document their 400 and 404 with their success "
    "schema (an artifact of the generator); the emulator answers an ErrorResponse there",
    "DELETE /api/v1/catalog/{tagOrId}/deploys 204": "this delete of many documents one "
    "CustomDeploy as its answer, which cannot tell of several or of none",
}
"""The emulator's answers the description does not document, each with why it is kept: an
ErrorResponse body for these statuses, and no body for the entity's deploy delete."""

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_BOUNDS = {"int32": 2**31, "int64": 2**63}
_ZONE_RULE = {True: "with a zone", False: "without a zone", None: "(with a zone or without)"}


def date_time(text: str, *, zone: bool | None) -> bool:
    """Whether ``text`` is an RFC 3339 date-time (with a zone when ``zone``, without one when
    not ``zone``, either when None) whose every field is in range."""
    found = _DATE_TIME.fullmatch(text)
    if found is None or (zone is not None and (found.group("zone") is not None) != zone):
        return False
    year, month, day, hour, minute, second = (int(g) for g in found.groups()[:6])
    offset = found.group("zone") or "Z"
    if offset.upper() != "Z" and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        return False
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def _formats() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("date-time")(lambda v: not isinstance(v, str) or date_time(v, zone=True))
    checker.checks("uuid")(lambda v: not isinstance(v, str) or bool(_UUID.fullmatch(v)))
    for name, bound in _BOUNDS.items():
        checker.checks(name)(lambda v, b=bound: not isinstance(v, int) or -b <= v < b)
    return checker


def _any_value_maps(node: Any) -> Any:
    """The document with every map value schema ``{"type": "object"}`` read as any value."""
    if isinstance(node, dict):
        done = {k: _any_value_maps(v) for k, v in node.items()}
        extra = done.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("type") == "object" and "properties" not in extra:
            done["additionalProperties"] = {}
        return done
    if isinstance(node, list):
        return [_any_value_maps(v) for v in node]
    return node


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]
    pattern: re.Pattern[str]

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class Contract:
    """The description's operations, and the problems of a request or an answer against them
    (an empty list: it conforms)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _any_value_maps(copy.deepcopy(document))
        resource = Resource.from_contents(self.document, default_specification=DRAFT4)
        self._registry: Registry[Any] = Registry().with_resource(_URI, resource)
        self._formats = _formats()
        found = [
            Operation(method.upper(), template, spec, _template_pattern(template))
            for template, item in self.document["paths"].items()
            for method, spec in item.items()
        ]
        # A literal segment wins over a parameter (``/catalog/deploys`` over ``/{tagOrId}``).
        self.operations = sorted(found, key=lambda o: -_literal_segments(o.template))

    def operation(self, method: str, path: str) -> Operation | None:
        for operation in self.operations:
            if operation.method == method.upper() and operation.pattern.fullmatch(path):
                return operation
        return None

    def schema_problems(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        validator = Draft4Validator(
            _anchored(schema),
            registry=self._registry,
            format_checker=self._formats,
        )
        return [
            f"{where}{'.' + '.'.join(map(str, e.absolute_path)) if e.absolute_path else ''}: "
            f"{e.message[:200]}"
            for e in validator.iter_errors(value)
        ]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    # -- requests -------------------------------------------------------------------------

    def request_problems(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: Any = None,
        *,
        unknown_parameters: bool = True,
        zone_less_timestamps: bool = False,
    ) -> list[str]:
        """What is wrong with a request (its path decoded, its query as sent, its JSON body or
        None). ``unknown_parameters``: a query parameter the operation does not declare is a
        problem. ``zone_less_timestamps``: accept a body's ``timestamp``, and the deprecated
        ``timestamp`` filter, without a time zone (as the emulator does)."""
        operation = self.operation(method, path)
        if operation is None:
            return [f"{method} {path}: no such operation in the description"]
        problems: list[str] = []
        declared = {p["name"]: p for p in operation.spec.get("parameters", [])}
        matched = operation.pattern.fullmatch(path)
        assert matched is not None
        for name, value in matched.groupdict().items():
            problems += self._parameter_problems(declared[name], value, zone_less_timestamps)
        for name, parameter in declared.items():
            if parameter["in"] != "query":
                continue
            if name in query:
                problems += self._parameter_problems(parameter, query[name], zone_less_timestamps)
            elif parameter.get("required"):
                problems.append(f"query {name}: required")
        if unknown_parameters:
            problems += [
                f"query {n}: not a parameter of {operation.name}"
                for n in query
                if n not in declared
            ]
        problems += self._body_problems(operation, body, zone_less_timestamps)
        return problems

    def _parameter_problems(
        self, parameter: dict[str, Any], raw: str, zone_less: bool
    ) -> list[str]:
        name, schema = parameter["name"], parameter.get("schema", {})
        where, described = f"{parameter['in']} {name}", parameter.get("description", "")
        if schema.get("type") == "boolean":
            return [] if raw in ("true", "false") else [f"{where}: {raw!r} is not true or false"]
        if schema.get("type") == "integer":
            if not _INTEGER.fullmatch(raw):
                return [f"{where}: {raw!r} is not an integer"]
            value = int(raw)
            if name == "pageSize" and "between 1 and 1000" in described:
                schema = {**schema, "minimum": 1, "maximum": 1000}
            if name == "page" and "0-indexed" in described:
                schema = {**schema, "minimum": 0}
            return self.schema_problems(schema, value, where)
        if schema.get("format") == "date-time":
            zone: bool | None = True
            if "without a time-zone" in described:
                zone = False
            elif zone_less and name == "timestamp":
                zone = None
            if date_time(raw, zone=zone):
                return []
            return [f"{where}: {raw!r} is not a date-time {_ZONE_RULE[zone]}"]
        return self.schema_problems(schema, raw, where)

    def _body_problems(self, operation: Operation, body: Any, zone_less: bool) -> list[str]:
        declared = operation.spec.get("requestBody")
        if declared is None:
            return []
        if body is None:
            return ["body: required"] if declared.get("required") else []
        schema = declared["content"]["application/json"]["schema"]
        problems = self.schema_problems(schema, body, "body")
        stamp = body.get("timestamp") if zone_less and isinstance(body, dict) else None
        if isinstance(stamp, str) and date_time(stamp, zone=False):
            problems = [p for p in problems if not p.startswith("body.timestamp:")]
        return problems

    # -- answers --------------------------------------------------------------------------

    def answer_problems(
        self,
        method: str,
        path: str,
        status: int,
        content_type: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> list[str]:
        """What is wrong with an answer (its body decoded from JSON, or None when empty)."""
        operation = self.operation(method, path)
        if operation is None:
            return [f"{method} {path}: no such operation in the description"]
        documented = operation.spec["responses"].get(str(status))
        error = status >= 400 and status != 429
        if documented is None:
            kept = f"{operation.name} {status}" in KEPT or (error and str(status) in KEPT)
            if not kept:
                return [f"{operation.name}: {status} is not a documented answer"]
            if not error:
                return [] if body is None else [f"{operation.name} {status}: a body"]
            return self._error_problems(content_type, body)
        documented = self._resolve(documented)
        content = documented.get("content")
        if error and (content is None or _schema_ref(content) != ERROR_SCHEMA):
            return self._error_problems(content_type, body)  # KEPT["error bodies"]
        problems = []
        if content is None:
            problems += [] if body is None else [f"{operation.name} {status}: a body"]
        elif content_type not in content:
            problems.append(f"{operation.name} {status}: content type {content_type!r}")
        else:
            problems += self.schema_problems(
                content[content_type]["schema"], body, f"{status} body"
            )
        for name, header in documented.get("headers", {}).items():
            value = (headers or {}).get(name)
            if value is not None:
                number = int(value) if _INTEGER.fullmatch(value) else value
                problems += self.schema_problems(header["schema"], number, f"header {name}")
        return problems

    def _error_problems(self, content_type: str, body: Any) -> list[str]:
        if content_type != "application/json":
            return [f"error answer: content type {content_type!r}"]
        return self.schema_problems({"$ref": ERROR_SCHEMA}, body, "error body")

    def statuses(self) -> Iterator[tuple[Operation, str]]:
        for operation in self.operations:
            for status in operation.spec["responses"]:
                yield operation, status


def _anchored(node: Any) -> Any:
    """``node`` with each of its references (``#/components/...``, at any depth: a ``oneOf``
    of two) made to point into the description rather than into ``node`` itself."""
    if isinstance(node, dict):
        return {
            k: f"{_URI}{v}" if k == "$ref" and isinstance(v, str) and v.startswith("#") else
            _anchored(v)
            for k, v in node.items()
        }  # fmt: skip
    if isinstance(node, list):
        return [_anchored(v) for v in node]
    return node


def _literal_segments(template: str) -> int:
    return sum(1 for part in template.split("/") if part and "{" not in part)


def _schema_ref(content: dict[str, Any]) -> str | None:
    for media in content.values():
        return str(media.get("schema", {}).get("$ref"))
    return None


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    text = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(text)


def load_contract(path: Path = REFERENCE) -> Contract | None:
    """The contract, or None where the description is not there."""
    try:
        return Contract(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def contract_or_skip() -> Contract:
    """The contract; where the description is absent, the calling test skips, saying why."""
    found = load_contract()
    if found is None:
        pytest.skip(MISSING)
    return found


DELIVERY = frozenset(
    {
        "POST /api/v1/catalog/{tagOrId}/custom-events",
        "PUT /api/v1/catalog/{tagOrId}/custom-events/{uuid}",
        "GET /api/v1/catalog/{tagOrId}/custom-events",
        "POST /api/v1/catalog/{tagOrId}/deploys",
        "GET /api/v1/catalog/{tagOrId}/deploys",
    }
)
"""The operations an operator that records events and deploys sends in any run."""


def used(contract: Contract, requests: Iterable[tuple[str, str]]) -> set[str]:
    """The operations (``METHOD /template``) of ``(method, path)`` requests."""
    return {op.name for method, path in requests if (op := contract.operation(method, path))}
