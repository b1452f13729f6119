"""The one in-memory Cortex for unit tests: the Custom Events API delivery and the controllers
use, with programmable failures, and every call recorded."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cortex_events.cortex.errors import (
    CortexConnectionError,
    CortexError,
    CortexNotFound,
    CortexServerError,
)
from cortex_events.cortex.models import CustomEvent, CustomEventRequest


@dataclass(frozen=True)
class Call:
    kind: str  # list, create, update, delete, delete-type
    tag: str
    params: dict[str, Any] = field(default_factory=dict)


class MemoryCortex:
    def __init__(self, *, entities: set[str] | None = None) -> None:
        self.events: dict[str, dict[str, CustomEvent]] = {}
        self.calls: list[Call] = []
        self.entities = entities  # None: every tag exists
        self.failures: list[CortexError] = []  # raised, in order, by the next creates/updates
        self.lose_answer_once = False  # a create stores the event, then the connection breaks
        self.fail_after_storing_once = False  # a create stores the event, then answers 500
        # a create stores the event, then raises this (a garbled answer, an unexpected error)
        self.raise_after_storing: BaseException | None = None
        self._ids = itertools.count(1)

    # -- seeding and reading -------------------------------------------------------------------

    def add(
        self, tag: str, uuid: str, *, type: str, timestamp: datetime, custom_data: dict[str, Any]
    ) -> CustomEvent:
        """An event already in Cortex (this operator's from an earlier run, or another tool's)."""
        event = CustomEvent.model_validate(
            {"uuid": uuid, "title": uuid, "type": type, "timestamp": timestamp,
             "customData": custom_data}
        )  # fmt: skip
        self.events.setdefault(tag, {})[uuid] = event
        return event

    def count(self, kind: str) -> int:
        return sum(1 for call in self.calls if call.kind == kind)

    def of(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.kind == kind]

    # -- the API ---------------------------------------------------------------------------------

    def _check(self, tag: str) -> None:
        if self.entities is not None and tag not in self.entities:
            raise CortexNotFound(f"entity {tag} not found", status_code=404)

    async def iter_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[CustomEvent]:
        self.calls.append(Call("list", tag, {"type": type, "start": start_time, "end": end_time}))
        self._check(tag)
        for event in list(self.events.get(tag, {}).values()):
            if type is not None and event.type != type:
                continue
            if start_time is not None and event.timestamp < start_time:
                continue
            if end_time is not None and event.timestamp > end_time:
                continue
            yield event

    def _store(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        stored = CustomEvent.model_validate({**event.to_json(), "uuid": uuid})
        self.events.setdefault(tag, {})[uuid] = stored
        return stored

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent:
        self.calls.append(Call("create", tag))
        self._check(tag)
        if self.failures:
            raise self.failures.pop(0)
        stored = self._store(tag, f"uuid-{next(self._ids)}", event)
        if self.fail_after_storing_once:
            self.fail_after_storing_once = False
            raise CortexServerError("internal error", status_code=500)
        if self.lose_answer_once:
            self.lose_answer_once = False
            raise CortexConnectionError(
                "connection reset while reading the answer", request_sent=True
            )
        if self.raise_after_storing is not None:
            error, self.raise_after_storing = self.raise_after_storing, None
            raise error
        return stored

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        self.calls.append(Call("update", tag, {"uuid": uuid}))
        if self.failures:
            raise self.failures.pop(0)
        if uuid not in self.events.get(tag, {}):
            raise CortexNotFound("event not found", status_code=404)
        return self._store(tag, uuid, event)

    async def delete_event(self, tag: str, uuid: str) -> None:
        self.calls.append(Call("delete", tag, {"uuid": uuid}))
        if self.events.get(tag, {}).pop(uuid, None) is None:
            raise CortexNotFound("no such event", status_code=404)

    async def delete_events(
        self,
        tag: str,
        *,
        type: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> None:
        self.calls.append(Call("delete-type", tag, {"type": type, "end": end_time}))
        for uuid, event in list(self.events.get(tag, {}).items()):
            if event.type == type and (end_time is None or event.timestamp <= end_time):
                del self.events[tag][uuid]
