"""The emulator's in-memory store: events, recorded requests and the rules Cortex applies to them.

Everything here is plain data and pure validation; the HTTP layer lives in `app`. The store is
shared between the server's event loop and test code on other threads, so every access goes
through one lock and readers get copies.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import math
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EventFilter",
    "EventInput",
    "FakeCortexState",
    "InvalidRequest",
    "Page",
    "RecordedRequest",
    "StoredEvent",
    "format_time",
    "parse_body_time",
    "parse_query_time",
]

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 250


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


def format_time(value: datetime) -> str:
    """UTC ISO-8601 with ``Z``; fractional seconds in groups of three digits, none when zero."""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond % 1000 == 0 and utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    elif utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


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
        for name in ("description", "url"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a string")
        custom_data = body.get("customData")
        if custom_data is not None and not isinstance(custom_data, Mapping):
            raise InvalidRequest("customData must be a JSON object")
        return cls(
            title=body["title"],
            type=body["type"],
            timestamp=timestamp,
            description=body.get("description"),
            url=body.get("url"),
            custom_data=dict(custom_data) if custom_data is not None else None,
        )


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

    def sort_key(self) -> tuple[datetime, int]:
        """The emulator's list order: oldest timestamp first, then creation order."""
        return (self.timestamp, self.created_seq)


@dataclass(frozen=True)
class RecordedRequest:
    """One request to the Cortex API surface (admin requests are not recorded).

    ``status`` is 0 for a request whose connection was dropped without an answer; ``body``
    is the decoded JSON, the raw text when it was not JSON, or ``None`` when empty; ``at``
    is wall-clock seconds (`time.time`); ``tag`` is the entity tag in the path, if any.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any | None
    at: float
    tag: str | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


@dataclass(eq=False)
class FakeCortexState:
    """The emulator's store of entities, events and recorded API requests.

    ``entities`` is the set of tags that exist, or ``None`` when every tag exists. Reads return
    copies, so a test can hold on to them while the server keeps changing the store.
    """

    entities: set[str] | None = None
    _events: dict[str, StoredEvent] = field(default_factory=dict, repr=False)
    _requests: list[RecordedRequest] = field(default_factory=list, repr=False)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _changed: threading.Condition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    @classmethod
    def with_entities(cls, entities: Iterable[str] | None) -> FakeCortexState:
        return cls(entities=set(entities) if entities is not None else None)

    # -- entities ---------------------------------------------------------------------------

    def add_entity(self, tag: str) -> None:
        """Make ``tag`` exist (a no-op when every tag exists already)."""
        with self._lock:
            if self.entities is not None:
                self.entities.add(tag)

    def remove_entity(self, tag: str) -> None:
        """Make ``tag`` unknown (404). Only possible when the emulator has an entity list."""
        with self._lock:
            if self.entities is None:
                raise ValueError("every tag exists in this emulator; start it with entities=...")
            self.entities.discard(tag)

    def entity_exists(self, tag: str) -> bool:
        with self._lock:
            return self.entities is None or tag in self.entities

    # -- events -----------------------------------------------------------------------------

    def events(self, tag: str | None = None) -> list[StoredEvent]:
        """Copies of the stored events (of one entity, or all), in the emulator's list order."""
        with self._lock:
            found = [
                dataclasses.replace(e, custom_data=_copy(e.custom_data))
                for e in self._events.values()
                if tag is None or e.tag == tag
            ]
        return sorted(found, key=StoredEvent.sort_key)

    def get(self, tag: str, event_uuid: str) -> StoredEvent | None:
        with self._lock:
            event = self._events.get(event_uuid)
            if event is None or event.tag != tag:
                return None
            return dataclasses.replace(event, custom_data=_copy(event.custom_data))

    def create(self, tag: str, data: EventInput) -> StoredEvent:
        """Store a new event with a fresh uuid and return a copy of it."""
        with self._lock:
            event = StoredEvent(
                uuid=str(uuidlib.uuid4()),
                tag=tag,
                title=data.title,
                type=data.type,
                timestamp=data.timestamp,
                description=data.description,
                url=data.url,
                custom_data=_copy(data.custom_data),
                created_seq=next(self._seq),
            )
            self._events[event.uuid] = event
            self._changed.notify_all()
            return dataclasses.replace(event, custom_data=_copy(event.custom_data))

    def add_event(
        self,
        tag: str,
        *,
        title: str,
        type: str,
        timestamp: datetime,
        description: str | None = None,
        url: str | None = None,
        custom_data: dict[str, Any] | None = None,
    ) -> StoredEvent:
        """Seed an event directly (e.g. one that some other tool created). Naive = UTC."""
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        data = EventInput(
            title=title,
            type=type,
            timestamp=timestamp.astimezone(UTC),
            description=description,
            url=url,
            custom_data=custom_data,
        )
        return self.create(tag, data)

    def replace(self, tag: str, event_uuid: str, data: EventInput) -> StoredEvent | None:
        """Full replacement: every field comes from ``data``; uuid and creation order stay."""
        with self._lock:
            old = self._events.get(event_uuid)
            if old is None or old.tag != tag:
                return None
            new = StoredEvent(
                uuid=old.uuid,
                tag=tag,
                title=data.title,
                type=data.type,
                timestamp=data.timestamp,
                description=data.description,
                url=data.url,
                custom_data=_copy(data.custom_data),
                created_seq=old.created_seq,
            )
            self._events[event_uuid] = new
            self._changed.notify_all()
            return dataclasses.replace(new, custom_data=_copy(new.custom_data))

    def delete(self, tag: str, event_uuid: str) -> bool:
        with self._lock:
            event = self._events.get(event_uuid)
            if event is None or event.tag != tag:
                return False
            del self._events[event_uuid]
            self._changed.notify_all()
            return True

    def delete_matching(self, tag: str, event_filter: EventFilter) -> int:
        """Delete the entity's events that pass the filter; returns how many."""
        with self._lock:
            doomed = [
                e.uuid for e in self._events.values() if e.tag == tag and event_filter.matches(e)
            ]
            for event_uuid in doomed:
                del self._events[event_uuid]
            self._changed.notify_all()
            return len(doomed)

    def list_page(
        self, tag: str, event_filter: EventFilter, page: Page
    ) -> tuple[list[StoredEvent], int, int]:
        """One page of the entity's matching events, the total, and the number of pages."""
        matching = [e for e in self.events(tag) if event_filter.matches(e)]
        total = len(matching)
        start = page.number * page.size
        return matching[start : start + page.size], total, math.ceil(total / page.size)

    # -- requests ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded API requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._changed.notify_all()

    def clear(self) -> None:
        """Forget every event and recorded request; the entity list stays."""
        with self._lock:
            self._events.clear()
            self._requests.clear()
            self._changed.notify_all()

    # -- waiting ----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[FakeCortexState], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate(state)`` holds; `TimeoutError` after ``timeout`` seconds.

        The predicate is checked after every change to events or requests, e.g.
        ``state.wait_for(lambda s: len(s.events("payments")) == 3)``.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout=timeout):
                raise TimeoutError(f"the Cortex emulator's state did not match within {timeout} s")

    async def wait_for_async(
        self, predicate: Callable[[FakeCortexState], bool], timeout: float = 10.0
    ) -> None:
        """`wait_for` without blocking the caller's event loop (which may run the server)."""
        await asyncio.to_thread(self.wait_for, predicate, timeout)


def _copy(data: dict[str, Any] | None) -> dict[str, Any] | None:
    # customData holds JSON values; a deep copy keeps callers from mutating the store.
    if data is None:
        return None
    return copy.deepcopy(data)
