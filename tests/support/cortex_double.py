"""The one in-memory Cortex for unit tests: the Custom Events and Deploys APIs delivery and the
controllers use, with programmable failures, and every call recorded."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cortex_events.cortex.api import CortexApi, Gate
from cortex_events.cortex.errors import (
    CortexConnectionError,
    CortexError,
    CortexNotFound,
    CortexServerError,
)
from cortex_events.cortex.models import (
    CustomEvent,
    CustomEventRequest,
    Deploy,
    DeployPage,
    DeployRequest,
)
from cortex_events.cortex.ratelimit import current_urgency


@dataclass(frozen=True)
class Call:
    kind: str  # list, create, update, delete, delete-type; deploys: list-deploys, create-deploy,
    # update-deploy, delete-deploy, delete-deploys
    tag: str
    params: dict[str, Any] = field(default_factory=dict)
    urgency: int | None = field(default_factory=lambda: _urgency(), compare=False)
    """The urgency the call was made at (`cortex_events.cortex.ratelimit.urgency`)."""


def _urgency() -> int | None:
    current = current_urgency()
    return current.level if current is not None else None


class MemoryCortex(CortexApi):
    """The surface's operations answered in memory; ``gate`` is asked as each call starts, as
    the surface's request path asks it."""

    def __init__(self, *, entities: set[str] | None = None, gate: Gate | None = None) -> None:
        super().__init__(gate=gate)
        self.events: dict[str, dict[str, CustomEvent]] = {}
        self.deploys: dict[str, dict[str, Deploy]] = {}  # in list order
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

    def _called(self, call: Call) -> None:
        self._pass_gate(lambda: f"{call.kind} {call.tag}", "as the call starts")
        self.calls.append(call)

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
        self._called(Call("list", tag, {"type": type, "start": start_time, "end": end_time}))
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
        self._called(Call("create", tag))
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
        self._called(Call("update", tag, {"uuid": uuid}))
        if self.failures:
            raise self.failures.pop(0)
        if uuid not in self.events.get(tag, {}):
            raise CortexNotFound("event not found", status_code=404)
        return self._store(tag, uuid, event)

    async def delete_event(self, tag: str, uuid: str) -> None:
        self._called(Call("delete", tag, {"uuid": uuid}))
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
        self._called(Call("delete-type", tag, {"type": type, "end": end_time}))
        for uuid, event in list(self.events.get(tag, {}).items()):
            if event.type == type and (end_time is None or event.timestamp <= end_time):
                del self.events[tag][uuid]

    # -- deploys ---------------------------------------------------------------------------------

    def add_deploy(self, tag: str, uuid: str, **fields: Any) -> Deploy:
        """A deploy already in Cortex (this operator's from an earlier run, or another tool's)."""
        deploy = Deploy.model_validate({"uuid": uuid, "title": uuid, "type": "DEPLOY", **fields})
        self.deploys.setdefault(tag, {})[uuid] = deploy
        return deploy

    async def list_deploys(self, tag: str, *, page: int = 0, page_size: int = 250) -> DeployPage:
        self._called(Call("list-deploys", tag, {"page": page, "page_size": page_size}))
        self._check(tag)
        deploys = list(self.deploys.get(tag, {}).values())
        pages = -(-len(deploys) // page_size)
        chunk = deploys[page * page_size : (page + 1) * page_size]
        return DeployPage(deployments=chunk, page=page, total=len(deploys), total_pages=pages)

    async def iter_deploys(self, tag: str, *, page_size: int = 1000) -> AsyncIterator[Deploy]:
        page = 0
        while True:
            found = await self.list_deploys(tag, page=page, page_size=page_size)
            for deploy in found.deployments:
                yield deploy
            page += 1
            if page >= found.total_pages:
                return

    async def create_deploy(self, tag: str, deploy: DeployRequest) -> Deploy:
        self._called(Call("create-deploy", tag, {"key": deploy.custom_data.get("eventKey")}))
        self._check(tag)
        if self.failures:
            raise self.failures.pop(0)
        stored = self.add_deploy(tag, f"deploy-{next(self._ids)}", **deploy.to_json())
        if self.lose_answer_once:
            self.lose_answer_once = False
            raise CortexConnectionError(
                "connection reset while reading the answer", request_sent=True
            )
        return stored

    async def update_deploy(self, tag: str, uuid: str, deploy: DeployRequest) -> Deploy:
        self._called(Call("update-deploy", tag, {"uuid": uuid}))
        if uuid not in self.deploys.get(tag, {}):
            raise CortexNotFound("deploy not found", status_code=404)
        return self.add_deploy(tag, uuid, **deploy.to_json())

    async def delete_deploy(self, tag: str, uuid: str) -> None:
        self._called(Call("delete-deploy", tag, {"uuid": uuid}))
        if self.deploys.get(tag, {}).pop(uuid, None) is None:
            raise CortexNotFound("no such deploy", status_code=404)

    async def delete_deploys(self, tag: str, **filters: str | None) -> None:
        self._called(Call("delete-deploys", tag, dict(filters)))
        raise AssertionError("the operator deletes deploys one by one, never by filter")
