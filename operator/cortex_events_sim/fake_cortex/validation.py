"""What Cortex accepts in a request: create and update bodies of events and deploys, list and
delete filters, pages, date-times. Whatever breaks a rule raises `InvalidRequest`, which the
API answers with 400.

The rules are those of Cortex's published API description (its OpenAPI document):

* A body's ``timestamp`` is an RFC 3339 date-time (``2025-05-20T05:16:49.990Z``, or with an
  offset). A timestamp without a zone is accepted too and read as UTC, because Cortex's own
  CLI sends custom events' timestamps that way.
* ``startTime`` and ``endTime`` are date-times **without** a time zone (read as UTC), as the
  description of each says; one with ``Z`` or an offset is refused. The deprecated
  ``timestamp`` filter takes either form.
* ``page`` and ``pageSize`` are required 32-bit integers: ``page`` 0 or more, ``pageSize``
  1 to 1000.
* Every date-time must be one a UTC date-time can hold (years 1 to 9999 once converted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
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
INT32_MAX = 2**31 - 1

# RFC 3339's date-time (section 5.6), its zone optional: date, "T", time with seconds, an
# optional fraction, then "Z" or a +hh:mm offset.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_INTEGER = re.compile(r"[+-]?[0-9]{1,10}", re.ASCII)


class InvalidRequest(ValueError):
    """A request Cortex would answer with 400; the message names the offending field."""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _parse_date_time(value: str, name: str, example: str) -> tuple[datetime, bool]:
    """``value`` as a UTC datetime, and whether it named a zone; `InvalidRequest` otherwise."""
    found = _DATE_TIME.fullmatch(value)
    if found is None:
        raise InvalidRequest(
            f"{name} is not an ISO-8601 date-time: {_shown(value)} (expected e.g. {example})"
        )
    year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
    micros = int((found.group(7) or "").ljust(6, "0")[:6])
    zone = found.group("zone")
    try:
        offset = timedelta(0)
        if zone is not None and zone.upper() != "Z":
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if minutes > 59:
                raise ValueError("offset minutes")
            offset = timedelta(hours=hours, minutes=minutes) * (-1 if zone[0] == "-" else 1)
        local = datetime(year, month, day, hour, minute, second, micros, timezone(offset))
        return local.astimezone(UTC), zone is not None
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"{name} is not a valid date-time: {_shown(value)} (a field or the zone offset is "
            "out of range, or the time falls outside the years 1 to 9999 in UTC)"
        ) from None


def parse_body_time(value: object, field_name: str = "timestamp") -> datetime:
    """A body timestamp: RFC 3339 with ``Z`` or an offset, or no zone (read as UTC)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field_name} must be an ISO-8601 date-time string")
    return _parse_date_time(value, field_name, "2025-05-20T05:16:49.990Z")[0]


def parse_query_time(value: str, param: str, *, zone_allowed: bool = False) -> datetime:
    """A ``startTime``/``endTime`` query value: a date-time **without** a zone, read as UTC.

    Cortex documents these parameters as zone-less; a value with ``Z`` or an offset is
    rejected so that a client which sends one is caught here rather than in production.
    ``zone_allowed`` (the deprecated ``timestamp``) accepts both forms.
    """
    parsed, zoned = _parse_date_time(value, param, "2025-05-20T05:16:49.990")
    if zoned and not zone_allowed:
        raise InvalidRequest(
            f"{param} must be a date-time without a time zone (read as UTC), got {_shown(value)}"
        )
    return parsed


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
        if "startTime" in query and "timestamp" in query:
            # Checked although startTime wins: an invalid value is refused wherever it is.
            parse_query_time(query["timestamp"], "timestamp", zone_allowed=True)
        deprecated = start_param == "timestamp"
        return cls(
            type=query.get("type"),
            start=(
                parse_query_time(start, start_param, zone_allowed=deprecated)
                if start is not None
                else None
            ),
            end=parse_query_time(end, "endTime") if end is not None else None,
        )


@dataclass(frozen=True)
class Page:
    """Validated ``page``/``pageSize`` of a List request: both required, as Cortex's API
    description says (though it names defaults, 0 and 250, in their descriptions)."""

    number: int = 0
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Page:
        number = _int_param(query, "page")
        size = _int_param(query, "pageSize")
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"pageSize must be between 1 and {MAX_PAGE_SIZE}, got {size}")
        if number < 0:
            raise InvalidRequest(f"page must be 0 or greater, got {number}")
        return cls(number=number, size=size)


def _int_param(query: Mapping[str, str], name: str) -> int:
    """A required 32-bit integer query parameter (decimal digits, an optional sign)."""
    raw = query.get(name)
    if raw is None:
        raise InvalidRequest(f"{name} is required (e.g. page=0&pageSize={DEFAULT_PAGE_SIZE})")
    number = int(raw) if _INTEGER.fullmatch(raw) else None
    if number is None or not -INT32_MAX - 1 <= number <= INT32_MAX:
        raise InvalidRequest(f"{name} must be a 32-bit integer, got {_shown(raw)}")
    return number
