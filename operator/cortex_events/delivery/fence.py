"""The fence of leader election: no request reaches Cortex from a replica that does not lead."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from cortex_events.cortex.models import (
    CustomEvent,
    CustomEventRequest,
    Deploy,
    DeployPage,
    DeployRequest,
)
from cortex_events.delivery.ports import CortexApis


class NotLeading(Exception):
    """This replica does not hold the Lease (or could not renew it in time)."""

    def __init__(self) -> None:
        super().__init__("this replica is not the leader")


class Fence:
    """Raises `NotLeading` from `check` while ``leading()`` is false."""

    def __init__(self, leading: Callable[[], bool]) -> None:
        self._leading = leading

    def check(self) -> None:
        if not self._leading():
            raise NotLeading


class FencedCortex:
    """The Cortex APIs (custom events and deploys), refusing every request while this replica
    does not lead.

    The check is made as each call starts; the Cortex client makes it again before each
    attempt and once more as the attempt's request is written to the socket (`CortexClient`'s
    ``gate``). So neither a retry after a back-off, nor a request that waited for the rate
    limiter or a connection, leaves a replica that has passed its renew deadline, well before
    another replica may take the Lease over; not even when the process was frozen meanwhile.
    """

    def __init__(self, api: CortexApis, fence: Fence) -> None:
        self._api = api
        self._check = fence.check

    async def iter_events(self, tag: str, **filters: Any) -> AsyncIterator[CustomEvent]:
        self._check()
        async for event in self._api.iter_events(tag, **filters):
            yield event

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent:
        self._check()
        return await self._api.create_event(tag, event)

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        self._check()
        return await self._api.update_event(tag, uuid, event)

    async def delete_event(self, tag: str, uuid: str) -> None:
        self._check()
        await self._api.delete_event(tag, uuid)

    async def delete_events(self, tag: str, *, type: str, **window: datetime | None) -> None:
        self._check()
        await self._api.delete_events(tag, type=type, **window)

    async def list_deploys(self, tag: str, *, page: int = 0, page_size: int = 250) -> DeployPage:
        self._check()
        return await self._api.list_deploys(tag, page=page, page_size=page_size)

    async def iter_deploys(self, tag: str, *, page_size: int = 1000) -> AsyncIterator[Deploy]:
        self._check()
        async for deploy in self._api.iter_deploys(tag, page_size=page_size):
            yield deploy

    async def create_deploy(self, tag: str, deploy: DeployRequest) -> Deploy:
        self._check()
        return await self._api.create_deploy(tag, deploy)

    async def update_deploy(self, tag: str, uuid: str, deploy: DeployRequest) -> Deploy:
        self._check()
        return await self._api.update_deploy(tag, uuid, deploy)

    async def delete_deploy(self, tag: str, uuid: str) -> None:
        self._check()
        await self._api.delete_deploy(tag, uuid)

    async def delete_deploys(self, tag: str, **filters: str | None) -> None:
        self._check()
        await self._api.delete_deploys(tag, **filters)
