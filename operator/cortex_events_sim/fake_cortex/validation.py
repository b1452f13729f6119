"""What Cortex accepts in a request: create and update bodies of events and deploys, list and
delete filters, pages, date-times. Whatever breaks a rule raises `InvalidRequest`, which the
API answers with 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cortex_events_sim.fake_cortex.records import StoredDeploy, StoredEvent

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEPLOY_TYPES",
    "MAX_PAGE_SIZE",
    "DeployFilter",
    "DeployInput",
    "EventFilter",
    "EventInput",
    "InvalidRequest",
    "Page",
    "parse_body_time",
    "parse_query_time",
]

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 250
DEPLOY_TYPES = ("DEPLOY", "SCALE", "ROLLBACK", "RESTART")


class InvalidRequest(ValueError):
    """A request Cortex would answer with 400; the message names the offending field."""


def _parse_iso(value: str) -> datetime | None:
    text = value.strip()
    # A date alone is not a date-time; Cortex wants the time of the event.
    if "T" not in text and " " not in text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_body_time(value: object, field_name: str = "timestamp") -> datetime:
    """A body timestamp: ISO-8601 with ``Z``, an offset, or no zone (read as UTC)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field_name} must be an ISO-8601 date-time string")
    parsed = _parse_iso(value)
    if parsed is None:
        raise InvalidRequest(
            f"{field_name} is not an ISO-8601 date-time: {value!r} "
            "(expected e.g. 2025-05-20T05:16:49.990Z)"
        )
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_query_time(value: str, param: str) -> datetime:
    """A ``startTime``/``endTime`` query value: a date-time **without** a zone, read as UTC.

    Cortex documents these parameters as zone-less; a value with ``Z`` or an offset is
    rejected so that a client which sends one is caught here rather than in production.
    """
    parsed = _parse_iso(value)
    if parsed is None:
        raise InvalidRequest(
            f"{param} is not an ISO-8601 date-time: {value!r} "
            "(expected e.g. 2025-05-20T05:16:49.990)"
        )
    if parsed.tzinfo is not None:
        raise InvalidRequest(
            f"{param} must be a date-time without a time zone (read as UTC), got {value!r}"
        )
    return parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EventInput:
    """A validated create/update body. Fields the client did not send are ``None``."""

    title: str
    type: str
    timestamp: datetime
    description: str | None = None
    url: str | None = None
    custom_data: dict[str, Any] | None = None

    @classmethod
    def from_body(cls, body: object) -> EventInput:
        """Validate a decoded JSON body the way Cortex does; unknown fields are ignored."""
        if not isinstance(body, Mapping):
            raise InvalidRequest("request body must be a JSON object")
        for name in ("title", "type"):
            value = body.get(name)
            if value is None:
                raise InvalidRequest(f"{name} is required")
            if not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a string")
            if not value.strip():
                raise InvalidRequest(f"{name} must not be blank")
        if body.get("timestamp") is None:
            raise InvalidRequest("timestamp is required")
        timestamp = parse_body_time(body["timestamp"])
        _optional_strings(body, "description", "url")
        return cls(
            title=body["title"],
            type=body["type"],
            timestamp=timestamp,
            description=body.get("description"),
            url=body.get("url"),
            custom_data=_custom_data(body),
        )


def _optional_strings(body: Mapping[str, Any], *names: str, where: str = "") -> None:
    for name in names:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{where}{name} must be a string")


def _custom_data(body: Mapping[str, Any]) -> dict[str, Any] | None:
    custom_data = body.get("customData")
    if custom_data is not None and not isinstance(custom_data, Mapping):
        raise InvalidRequest("customData must be a JSON object")
    return dict(custom_data) if custom_data is not None else None


@dataclass(frozen=True)
class DeployInput:
    """A validated deploy create/update body: ``title``, ``type`` (one of `DEPLOY_TYPES`) and
    ``timestamp`` required; ``sha``, ``environment``, ``url`` strings; ``deployer`` an object
    of ``email`` and ``name`` strings; ``customData`` an object. Unknown fields are ignored."""

    title: str
    type: str
    timestamp: datetime
    sha: str | None = None
    environment: str | None = None
    url: str | None = None
    deployer: dict[str, str] | None = None
    custom_data: dict[str, Any] | None = None

    @classmethod
    def from_body(cls, body: object) -> DeployInput:
        if not isinstance(body, Mapping):
            raise InvalidRequest("request body must be a JSON object")
        title = body.get("title")
        if title is None:
            raise InvalidRequest("title is required")
        if not isinstance(title, str) or not title.strip():
            raise InvalidRequest("title must be a non-blank string")
        kind = body.get("type")
        if kind is None:
            raise InvalidRequest("type is required")
        if kind not in DEPLOY_TYPES:
            raise InvalidRequest(f"type must be one of {', '.join(DEPLOY_TYPES)}, got {kind!r}")
        if body.get("timestamp") is None:
            raise InvalidRequest("timestamp is required")
        timestamp = parse_body_time(body["timestamp"])
        _optional_strings(body, "sha", "environment", "url")
        deployer = body.get("deployer")
        if deployer is not None:
            if not isinstance(deployer, Mapping):
                raise InvalidRequest("deployer must be a JSON object with email and name")
            _optional_strings(deployer, "email", "name", where="deployer.")
            deployer = {k: deployer[k] for k in ("email", "name") if deployer.get(k) is not None}
        return cls(
            title=title,
            type=kind,
            timestamp=timestamp,
            sha=body.get("sha"),
            environment=body.get("environment"),
            url=body.get("url"),
            deployer=deployer,
            custom_data=_custom_data(body),
        )


@dataclass(frozen=True)
class DeployFilter:
    """The ``sha``/``environment``/``type`` filters of a deploy delete (each exact, all must
    match); none at all matches every deploy."""

    sha: str | None = None
    environment: str | None = None
    type: str | None = None

    @property
    def empty(self) -> bool:
        return self.sha is None and self.environment is None and self.type is None

    def matches(self, deploy: StoredDeploy) -> bool:
        return (
            (self.sha is None or deploy.sha == self.sha)
            and (self.environment is None or deploy.environment == self.environment)
            and (self.type is None or deploy.type == self.type)
        )

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> DeployFilter:
        kind = query.get("type")
        if kind is not None and kind not in DEPLOY_TYPES:
            raise InvalidRequest(f"type must be one of {', '.join(DEPLOY_TYPES)}, got {kind!r}")
        return cls(sha=query.get("sha"), environment=query.get("environment"), type=kind)


@dataclass(frozen=True)
class EventFilter:
    """The ``type``/``startTime``/``endTime`` filters of List and Delete-all (all inclusive)."""

    type: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def matches(self, event: StoredEvent) -> bool:
        if self.type is not None and event.type != self.type:
            return False
        if self.start is not None and event.timestamp < self.start:
            return False
        return not (self.end is not None and event.timestamp > self.end)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventFilter:
        """Read the filters; deprecated ``timestamp`` acts as ``startTime`` if that is absent."""
        start_param = "startTime" if "startTime" in query else "timestamp"
        start = query.get(start_param)
        end = query.get("endTime")
        return cls(
            type=query.get("type"),
            start=parse_query_time(start, start_param) if start is not None else None,
            end=parse_query_time(end, "endTime") if end is not None else None,
        )


@dataclass(frozen=True)
class Page:
    """Validated ``page``/``pageSize`` of a List request."""

    number: int = 0
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Page:
        number = _int_param(query, "page", 0)
        size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE)
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"pageSize must be between 1 and {MAX_PAGE_SIZE}, got {size}")
        if number < 0:
            raise InvalidRequest(f"page must be 0 or greater, got {number}")
        return cls(number=number, size=size)


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, got {raw!r}") from None
