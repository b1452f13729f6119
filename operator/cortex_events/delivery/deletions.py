"""Deleting events in Cortex (retention, cleanup) under delivery's rule for keys.

A deletion holds its events' keys in the queue: no create or update of those events is in
flight meanwhile, and what waited for them is dropped, since the events are going.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from cortex_events.cortex.errors import CortexNotFound
from cortex_events.delivery.ledger import Ledger
from cortex_events.delivery.ports import CortexApi
from cortex_events.delivery.queue import EventQueue, Key


class Deleter:
    def __init__(self, api: CortexApi, queue: EventQueue, ledger: Ledger) -> None:
        self._api = api
        self._queue = queue
        self._ledger = ledger

    async def delete(self, tag: str, doomed: Sequence[tuple[str, str]]) -> int:
        """Delete these (eventKey, uuid) events of ``tag`` one by one; returns how many are
        gone. Nothing else is sent for those keys meanwhile, and what waited for them is
        dropped: the events are going."""
        keys: list[Key] = [(tag, key) for key, _ in doomed]
        await self._queue.hold(keys, discard=True)
        ledger = self._ledger.tag(tag)
        try:
            for _, uuid in doomed:
                with contextlib.suppress(CortexNotFound):  # already gone
                    await self._api.delete_event(tag, uuid)
                ledger.forget(uuid)
        finally:
            await self._queue.release(keys)
        return len(doomed)

    async def delete_type(
        self, tag: str, event_type: str, until: datetime, doomed: Sequence[tuple[str, str]]
    ) -> int:
        """One typed, time-bounded delete on ``tag`` (never a delete-all), for ``doomed``:
        every event of that type up to ``until``, all of them this operator's."""
        keys: list[Key] = [(tag, key) for key, _ in doomed]
        await self._queue.hold(keys, discard=True)
        try:
            await self._api.delete_events(tag, type=event_type, end_time=until)
            ledger = self._ledger.tag(tag)
            for _, uuid in doomed:
                ledger.forget(uuid)
        finally:
            await self._queue.release(keys)
        return len(doomed)
