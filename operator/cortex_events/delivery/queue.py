"""The bounded, coalescing queue between the domain and delivery's workers.

Items are custom events (`Outgoing`) and Cortex deploys (`OutgoingDeploy`), keyed by (entity
tag, key); a deploy's key starts with ``deploy/`` and no event's does, so the two never share
a key. Submissions for one key coalesce: many status
changes of one Pod within a moment become one request. Workers take items in arrival order,
and a key is *in flight* from `take` to `finish`: at most one request per key at a time, and
newer content for a key in flight waits beside it. `hold` reserves keys the same way for a
write that is not an item (a deletion), so nothing else is sent for them meanwhile. When the
queue is full, `submit` waits (back-pressure), and nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from cortex_events.domain.deploys import DeployBody
from cortex_events.domain.render import EventBody

Key = tuple[str, str]  # (entity tag, eventKey)


@dataclass(slots=True)
class Outgoing:
    """An event the domain wants on one entity's timeline."""

    tag: str
    key: str
    body: EventBody
    updatable: bool
    """Replaced in place (PUT) when its content changes; else created once and left alone."""
    entities: tuple[str, ...]
    seen_at: float = field(default_factory=time.monotonic)
    """When the change was first seen (monotonic seconds): latency, and a standby's pruning."""

    @property
    def queue_key(self) -> Key:
        return (self.tag, self.key)


@dataclass(slots=True)
class OutgoingDeploy:
    """A deploy the domain wants on one entity. ``started`` is when its rollout began (another
    source's deploy of the same rollout is looked for from then); it is sent no sooner than
    ``not_before``, a wall-clock time."""

    tag: str
    key: str
    body: DeployBody
    entities: tuple[str, ...]
    started: datetime
    not_before: datetime
    seen_at: float = field(default_factory=time.monotonic)

    @property
    def queue_key(self) -> Key:
        return (self.tag, self.key)


Item = Outgoing | OutgoingDeploy


class EventQueue:
    def __init__(
        self, max_queued: int = 20_000, *, on_depth: Callable[[int], None] | None = None
    ) -> None:
        self._max_queued = max_queued
        self._on_depth = on_depth
        self._pending: OrderedDict[Key, Item] = OrderedDict()  # ready to send, in order
        self._deferred: dict[Key, Item] = {}  # newer content for a key already in flight
        self._inflight: set[Key] = set()
        self._waiting_retries = 0
        self._changed = asyncio.Condition()

    @property
    def depth(self) -> int:
        return (
            len(self._pending) + len(self._deferred) + len(self._inflight) + self._waiting_retries
        )

    def _report(self) -> None:
        if self._on_depth is not None:
            self._on_depth(self.depth)

    async def submit(self, item: Item) -> None:
        """Queue an event, merging it with a queued one for the same key; waits when full."""
        key = item.queue_key
        async with self._changed:
            if key in self._inflight:
                self._deferred[key] = merged(self._deferred.get(key), item)
            elif key in self._pending:
                self._pending[key] = merged(self._pending[key], item)
            else:
                await self._changed.wait_for(lambda: self.depth < self._max_queued)
                self._pending[key] = item
            self._changed.notify_all()
        self._report()

    async def take(self) -> Item:
        """The oldest item whose key is not in flight; its key is in flight until `finish`."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._pending))
            key, item = self._pending.popitem(last=False)
            self._inflight.add(key)
            return item

    async def finish(self, key: Key) -> None:
        """The request for ``key`` is over: newer content for it becomes ready."""
        async with self._changed:
            self._inflight.discard(key)
            newer = self._deferred.pop(key, None)
            if newer is not None:
                self._pending[key] = newer
            self._changed.notify_all()
        self._report()

    def putback(self, item: Item) -> None:
        """Return an item taken but not sent (a worker cancelled) to the front of the queue."""
        key = item.queue_key
        if key not in self._deferred and key not in self._pending:
            self._pending[key] = item
            self._pending.move_to_end(key, last=False)

    def retry_later(self, item: Item, delay: float) -> None:
        """Queue ``item`` again after ``delay`` seconds (it counts as queued meanwhile)."""
        self._waiting_retries += 1

        def again() -> None:
            self._waiting_retries -= 1
            key = item.queue_key
            if key in self._inflight:
                self._deferred[key] = merged(item, self._deferred.get(key))
            elif key in self._pending:
                self._pending[key] = merged(item, self._pending[key])
            else:
                self._pending[key] = item
            asyncio.get_running_loop().create_task(self._notify())

        asyncio.get_running_loop().call_later(max(delay, 0.05), again)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def hold(self, keys: Iterable[Key], *, discard: bool = False) -> None:
        """Put ``keys`` in flight once none of them is; with ``discard``, what is queued for
        them is dropped (the events they name are being deleted)."""
        wanted = set(keys)
        async with self._changed:
            await self._changed.wait_for(lambda: not wanted & self._inflight)
            self._inflight |= wanted
            if discard:
                for key in wanted:
                    self._pending.pop(key, None)
                    self._deferred.pop(key, None)
        self._report()

    async def release(self, keys: Iterable[Key]) -> None:
        for key in set(keys):
            await self.finish(key)

    def prune(self, seen_before: float) -> int:
        """Forget queued items first seen before ``seen_before`` (monotonic seconds); returns
        how many. A standby keeps only what the leader may not have sent yet."""
        stale = [k for k, item in self._pending.items() if item.seen_at < seen_before]
        stale += [k for k, item in self._deferred.items() if item.seen_at < seen_before]
        for key in stale:
            self._pending.pop(key, None)
            self._deferred.pop(key, None)
        if stale:
            self._report()
        return len(stale)

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or in flight; False if the timeout passed first."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.depth == 0)
        except TimeoutError:
            return False
        return True


def merged(older: Item | None, newer: Item | None) -> Item:
    """The newer content, remembering when the change was first seen (for latency)."""
    if older is None:
        assert newer is not None
        return newer
    if newer is None:
        return older
    return replace(newer, seen_at=min(older.seen_at, newer.seen_at))
