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
    text = utc.replace(microsecond=0, tzinfo=None).isoformat()  # %Y would not pad year 999
    if utc.microsecond % 1000 == 0 and utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    elif utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


@dataclass(kw_only=True)
class _Stored:
    """What an event and a deploy have in common in the store."""

    uuid: str
    tag: str
    title: str
    type: str
    timestamp: datetime
    url: str | None = None
    custom_data: dict[str, Any] | None = None
    created_seq: int = 0

    def _api(self, optional: dict[str, Any]) -> dict[str, Any]:
        """The API form: these fields and ``optional`` ones, unset ones left out."""
        data: dict[str, Any] = {
            "uuid": self.uuid,
            "title": self.title,
            "type": self.type,
            "timestamp": format_time(self.timestamp),
        }
        optional = {**optional, "url": self.url, "customData": self.custom_data}
        data.update((k, v) for k, v in optional.items() if v is not None)
        return data

    def sort_key(self) -> tuple[datetime, int]:
        """The emulator's list order: oldest timestamp first, then creation order."""
        return (self.timestamp, self.created_seq)


@dataclass(kw_only=True)
class StoredEvent(_Stored):
    """One custom event as the emulator holds it."""

    description: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The event as Cortex returns it; optional fields that are unset are left out."""
        return self._api({"description": self.description})

    def copy(self) -> StoredEvent:
        """A copy the caller may change (its customData included) without changing the store."""
        return dataclasses.replace(self, custom_data=copy.deepcopy(self.custom_data))


@dataclass(kw_only=True)
class StoredDeploy(_Stored):
    """One deploy as the emulator holds it; ``deployer`` is ``{"email", "name"}``."""

    sha: str | None = None
    environment: str | None = None
    deployer: dict[str, str] | None = None

    def to_api(self) -> dict[str, Any]:
        """The deploy as Cortex lists it (``CustomDeploy1``: ``deployer`` an object); optional
        fields that are unset are left out."""
        deployer = dict(self.deployer) if self.deployer is not None else None
        return self._api({"sha": self.sha, "environment": self.environment, "deployer": deployer})

    def to_saved(self, service_id: int) -> dict[str, Any]:
        """The deploy as Cortex answers a create, an update or a delete of it
        (``CustomDeploy``): the deployer flat (``deployerEmail``, ``deployerName``), with the
        numeric ``id`` of the deploy and ``serviceId`` of its entity."""
        deployer = self.deployer or {}
        flat = {
            "sha": self.sha,
            "environment": self.environment,
            "deployerEmail": deployer.get("email"),
            "deployerName": deployer.get("name"),
        }
        return {"id": self.created_seq, "serviceId": service_id, **self._api(flat)}

    def copy(self) -> StoredDeploy:
        """A copy the caller may change without changing the store."""
        return dataclasses.replace(
            self,
            custom_data=copy.deepcopy(self.custom_data),
            deployer=dict(self.deployer) if self.deployer is not None else None,
        )


@dataclass(frozen=True)
class RecordedRequest:
    """One request to the Cortex API surface (admin requests are not recorded).

    ``status`` is 0 for a request whose connection was dropped without an answer; ``body``
    is the decoded JSON, the raw text when it was not JSON, or ``None`` when empty; ``at``
    is wall-clock seconds (`time.time`) when it was answered, ``received_at`` when it
    arrived; ``tag`` is the entity tag in the path, if any; ``agent`` its User-Agent.
    Where the emulator records answers (``record_answers``), ``answer`` is the answer's body
    as ``body`` is the request's, and ``answer_type`` its Content-Type without parameters.
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
    answer: Any | None = None
    answer_type: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
