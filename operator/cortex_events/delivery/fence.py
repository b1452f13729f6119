"""The fence of leader election: no request reaches Cortex from a replica that does not lead."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from cortex_events.cortex.models import CustomEvent, CustomEventRequest
from cortex_events.delivery.ports import CortexApi


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
    """The Cortex API, refusing every request while this replica does not lead.

    The check is made as each call starts; the Cortex client makes it again before each
    attempt it sends (`CortexClient`'s ``gate``), so neither a retry after a back-off nor a
    request that waited for the rate limiter leaves a replica that has passed its renew
    deadline, well before another replica may take the Lease over.
    """

    def __init__(self, api: CortexApi, fence: Fence) -> None:
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
