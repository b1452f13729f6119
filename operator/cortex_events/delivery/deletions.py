"""Deleting events and deploys in Cortex (retention, cleanup) under delivery's rule for keys.

A deletion holds its events' keys in the queue: no create or update of those events is in
flight meanwhile, and what waited for them is dropped, since the events are going. Deploys are
deleted one by one by uuid, and only this operator's (this cluster's): the Deploys API's
filtered delete matches other tools' deploys too, and its deletes across entities are never
used.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

from cortex_events.cortex.errors import CortexNotFound
from cortex_events.delivery.ledger import Ledger
from cortex_events.delivery.ports import CortexApi
from cortex_events.delivery.queue import EventQueue, Key
from cortex_events.domain.render import read_owned

# Which of this operator's deploys to delete: (its time, the CortexEntity keys that recorded it).
DeploySelector = Callable[[datetime, tuple[str, ...]], bool]


class Deleter:
    def __init__(
        self,
        api: CortexApi,
        queue: EventQueue,
        ledger: Ledger,
        *,
        deploys: CortexApi | None = None,
        cluster: str = "",
    ) -> None:
        self._api = api
        self._queue = queue
        self._ledger = ledger
        self._deploys = deploys
        self._cluster = cluster

    @contextlib.asynccontextmanager
    async def _holding(self, tag: str, doomed: Sequence[tuple[str, str]]) -> AsyncIterator[None]:
        """Hold the keys of ``doomed`` (key, uuid) pairs of ``tag`` while the block runs,
        dropping what waited for them."""
        keys: list[Key] = [(tag, key) for key, _ in doomed]
        await self._queue.hold(keys, discard=True)
        try:
            yield
        finally:
            await self._queue.release(keys)

    async def delete_deploys(self, tag: str, select: DeploySelector) -> int:
        """Delete the deploys this operator recorded on ``tag`` that ``select`` picks, one by one
        (listed first, in one pass); returns how many."""
        api = self._deploys
        if api is None:
            return 0
        doomed: list[tuple[str, str]] = []
        async for deploy in api.iter_deploys(tag):
            owned = read_owned(deploy.custom_data, cluster=self._cluster)
            if owned is not None and select(deploy.timestamp, owned.entities):
                doomed.append((owned.key, deploy.uuid))
        async with self._holding(tag, doomed):
            await self._one_by_one(tag, doomed, api.delete_deploy, self._ledger.deploys(tag).forget)
        return len(doomed)

    async def delete(self, tag: str, doomed: Sequence[tuple[str, str]]) -> int:
        """Delete these (eventKey, uuid) events of ``tag`` one by one; returns how many are
        gone. Nothing else is sent for those keys meanwhile, and what waited for them is
        dropped: the events are going."""
        async with self._holding(tag, doomed):
            await self._one_by_one(
                tag, doomed, self._api.delete_event, self._ledger.tag(tag).forget
            )
        return len(doomed)

    @staticmethod
    async def _one_by_one(
        tag: str,
        doomed: Sequence[tuple[str, str]],
        delete: Callable[[str, str], Awaitable[None]],
        forget: Callable[[str], None],
    ) -> None:
        for _, uuid in doomed:
            with contextlib.suppress(CortexNotFound):  # already gone
                await delete(tag, uuid)
            forget(uuid)

    async def delete_type(
        self, tag: str, event_type: str, until: datetime, doomed: Sequence[tuple[str, str]]
    ) -> int:
        """One typed, time-bounded delete on ``tag`` (never a delete-all), for ``doomed``:
        every event of that type up to ``until``, all of them this operator's."""
        async with self._holding(tag, doomed):
            await self._api.delete_events(tag, type=event_type, end_time=until)
            ledger = self._ledger.tag(tag)
            for _, uuid in doomed:
                ledger.forget(uuid)
        return len(doomed)
