"""What the emulator records: the custom events and deploys it stores, and the API requests it
answered."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["RecordedRequest", "StoredDeploy", "StoredEvent", "format_time"]


def format_time(value: datetime) -> str:
    """UTC ISO-8601 with ``Z``; fractional seconds in groups of three digits, none when zero."""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond % 1000 == 0 and utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    elif utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


@dataclass
class StoredEvent:
    """One custom event as the emulator holds it."""

    uuid: str
    tag: str
    title: str
    type: str
    timestamp: datetime
    description: str | None = None
    url: str | None = None
    custom_data: dict[str, Any] | None = None
    created_seq: int = 0

    def to_api(self) -> dict[str, Any]:
        """The event as Cortex returns it; optional fields that are unset are left out."""
        data: dict[str, Any] = {
            "uuid": self.uuid,
            "title": self.title,
            "type": self.type,
            "timestamp": format_time(self.timestamp),
        }
        if self.description is not None:
            data["description"] = self.description
        if self.url is not None:
            data["url"] = self.url
        if self.custom_data is not None:
            data["customData"] = self.custom_data
        return data

    def copy(self) -> StoredEvent:
        """A copy the caller may change (its customData included) without changing the store."""
        return dataclasses.replace(self, custom_data=copy.deepcopy(self.custom_data))

    def sort_key(self) -> tuple[datetime, int]:
        """The emulator's list order: oldest timestamp first, then creation order."""
        return (self.timestamp, self.created_seq)


@dataclass
class StoredDeploy:
    """One deploy as the emulator holds it; ``deployer`` is ``{"email", "name"}``."""

    uuid: str
    tag: str
    title: str
    type: str
    timestamp: datetime
    sha: str | None = None
    environment: str | None = None
    url: str | None = None
    deployer: dict[str, str] | None = None
    custom_data: dict[str, Any] | None = None
    created_seq: int = 0

    def to_api(self) -> dict[str, Any]:
        """The deploy as Cortex returns it; optional fields that are unset are left out."""
        data: dict[str, Any] = {
            "uuid": self.uuid,
            "title": self.title,
            "type": self.type,
            "timestamp": format_time(self.timestamp),
        }
        for name in ("sha", "environment", "url"):
            if (value := getattr(self, name)) is not None:
                data[name] = value
        if self.deployer is not None:
            data["deployer"] = dict(self.deployer)
        if self.custom_data is not None:
            data["customData"] = self.custom_data
        return data

    def copy(self) -> StoredDeploy:
        return dataclasses.replace(
            self,
            custom_data=copy.deepcopy(self.custom_data),
            deployer=dict(self.deployer) if self.deployer is not None else None,
        )

    def sort_key(self) -> tuple[datetime, int]:
        """The emulator's list order, as for events: oldest timestamp first, then creation."""
        return (self.timestamp, self.created_seq)


@dataclass(frozen=True)
class RecordedRequest:
    """One request to the Cortex API surface (admin requests are not recorded).

    ``status`` is 0 for a request whose connection was dropped without an answer; ``body``
    is the decoded JSON, the raw text when it was not JSON, or ``None`` when empty; ``at``
    is wall-clock seconds (`time.time`) when it was answered, ``received_at`` when it
    arrived; ``tag`` is the entity tag in the path, if any; ``agent`` its User-Agent.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any | None
    at: float
    tag: str | None
    received_at: float = 0.0
    agent: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
