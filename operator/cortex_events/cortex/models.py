"""Pydantic models of the Cortex Custom Events and Deploys APIs and their wire formats for time.

Field names are snake_case in Python and camelCase on the wire (``custom_data`` is
``customData``, ``total_pages`` is ``totalPages``); both spellings are accepted on input.

Two directions, two policies:

* What Cortex sends (`CustomEvent`, `CustomEventPage`, `Deploy`, `DeployPage`) is read
  leniently: unknown fields are kept (``extra="allow"``) so a newer Cortex does not break the
  operator, and a timestamp without a zone is read as UTC (that is how Cortex itself reads
  zone-less times).
* What the operator sends (`CustomEventRequest`, `DeployRequest`) is strict: unknown fields,
  empty titles or types (a deploy's type one of `DEPLOY_TYPES`) and **naive datetimes are
  rejected**. A naive ``datetime`` is ambiguous (local time or
  UTC?) and guessing would silently shift events by hours, so the caller must say which zone
  it means. Aware datetimes in any zone are converted to UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "DEPLOY_TYPES",
    "CustomEvent",
    "CustomEventPage",
    "CustomEventRequest",
    "Deploy",
    "DeployPage",
    "DeployRequest",
    "Deployer",
    "format_event_time",
    "format_query_time",
]


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _read_as_utc(value: datetime) -> datetime:
    """A time Cortex sent: zone-less is UTC (as Cortex reads it), any zone converted to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _millis(value: datetime) -> str:
    # isoformat, not strftime: %Y does not pad years before 1000 to four digits.
    return (
        f"{value.replace(microsecond=0, tzinfo=None).isoformat()}.{value.microsecond // 1000:03d}"
    )


def format_event_time(value: datetime) -> str:
    """An event body's timestamp: UTC, milliseconds, ``Z`` (``2025-05-20T05:16:49.990Z``).

    Raises `ValueError` for a naive datetime. Sub-millisecond digits are truncated.
    """
    return _millis(_require_aware(value, "timestamp")) + "Z"


def format_query_time(value: datetime) -> str:
    """A ``startTime``/``endTime`` query value: UTC, milliseconds, no zone suffix.

    Cortex reads these zone-less values as UTC (``2025-05-20T05:16:49.990``). Raises
    `ValueError` for a naive datetime, for the same reason as `CustomEventRequest`.
    """
    return _millis(_require_aware(value, "startTime/endTime"))


_READ = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True, frozen=True)
_SENT = ConfigDict(
    extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=True, frozen=True
)


class _Answer(BaseModel):
    """What an event and a deploy have in common as Cortex returns them."""

    model_config = _READ

    uuid: str
    title: str
    type: str
    timestamp: datetime
    url: str | None = None
    custom_data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _timestamp_in_utc(cls, value: datetime) -> datetime:
        return _read_as_utc(value)

    @field_validator("custom_data", mode="before")
    @classmethod
    def _null_custom_data(cls, value: Any) -> Any:
        return {} if value is None else value


class CustomEvent(_Answer):
    """A custom event as Cortex returns it."""

    description: str | None = None


NonEmptyStr = Annotated[str, Field(min_length=1)]


class _Request(BaseModel):
    """What the body of an event's and a deploy's create (POST) or full replacement (PUT)
    have in common; neither has a ``uuid``."""

    model_config = _SENT

    title: NonEmptyStr
    type: NonEmptyStr
    timestamp: AwareDatetime
    url: str | None = None
    custom_data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("title", "type")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("timestamp")
    @classmethod
    def _timestamp_in_utc(cls, value: datetime) -> datetime:
        return _require_aware(value, "timestamp")

    def to_json(self) -> dict[str, Any]:
        """The JSON body: camelCase names, ``None`` fields left out, timestamp with ``Z``."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        body["timestamp"] = format_event_time(self.timestamp)
        return body


class CustomEventRequest(_Request):
    """The body of a custom event's create (POST) or full replacement (PUT)."""

    description: str | None = None


class CustomEventPage(BaseModel):
    """One page of a List answer: ``{"events": [...], "page": N, "total": N, "totalPages": N}``."""

    model_config = _READ

    events: list[CustomEvent]
    page: int
    total: int
    total_pages: int

    @property
    def has_next(self) -> bool:
        """Whether a page after this one exists."""
        return self.page + 1 < self.total_pages


DEPLOY_TYPES = ("DEPLOY", "SCALE", "ROLLBACK", "RESTART")
"""The deploy types Cortex's Deploys API accepts."""


class Deployer(BaseModel):
    """Who deployed: ``{"email", "name"}``, each optional."""

    model_config = ConfigDict(extra="allow", frozen=True)

    email: str | None = None
    name: str | None = None


class Deploy(_Answer):
    """A deploy as Cortex returns it (read leniently, like `CustomEvent`).

    Cortex gives the deployer in two forms: its list (``CustomDeploy1``) as a ``deployer``
    object, its answer to a create or an update (``CustomDeploy``) flat, as ``deployerEmail``
    and ``deployerName``. Either is read into `deployer`.
    """

    sha: str | None = None
    environment: str | None = None
    deployer: Deployer | None = None

    @model_validator(mode="before")
    @classmethod
    def _flat_deployer(cls, value: Any) -> Any:
        if not isinstance(value, dict) or value.get("deployer") is not None:
            return value
        flat = {"email": value.get("deployerEmail"), "name": value.get("deployerName")}
        if all(part is None for part in flat.values()):
            return value
        return {**value, "deployer": flat}


class DeployRequest(_Request):
    """The body of a deploy's create (POST) or replacement (PUT); ``type`` is one of
    `DEPLOY_TYPES`."""

    sha: str | None = None
    environment: str | None = None
    deployer: Deployer | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in DEPLOY_TYPES:
            raise ValueError(f"must be one of {', '.join(DEPLOY_TYPES)} (got {value!r})")
        return value


class DeployPage(BaseModel):
    """One page of a deploy list: ``{"deployments": [...], "page", "total", "totalPages"}``."""

    model_config = _READ

    deployments: list[Deploy]
    page: int
    total: int
    total_pages: int
