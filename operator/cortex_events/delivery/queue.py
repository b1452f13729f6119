"""The bounded, coalescing queue between the domain and delivery's workers.

Items are custom events (`Outgoing`) and Cortex deploys (`OutgoingDeploy`), keyed by (entity
tag, key); a deploy's key starts with ``deploy/`` and no event's does, so the two never share
a key. Submissions for one key coalesce: many status
changes of one Pod within a moment become one request. Each item has a delivery class
(`cortex_events.domain.priority`) and a source; workers take the most urgent class first and
are fair between sources inside a class (`cortex_events.delivery.lanes`). When a submission
for a waiting key raises its class (a rollout's event turns to a failure), the item moves up.
A key is *in flight* from `take` to `finish`: at most one request per key at a time, and
newer content for a key in flight waits beside it. `hold` reserves keys the same way for a
write that is not an item (a deletion), so nothing else is sent for them meanwhile. When the
queue is full, `submit` waits (back-pressure), and nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from cortex_events.delivery.lanes import Key, Lanes
from cortex_events.domain.mapping import Target
from cortex_events.domain.podsummary import PodChange
from cortex_events.domain.priority import Priority
from cortex_events.domain.quiet import PodEvents
from cortex_events.domain.render import EVENT_KEY, EventBody
from cortex_events.domain.rollout_deploys import DeployBody

__all__ = ["EventQueue", "Fold", "Item", "Key", "Outgoing", "OutgoingDeploy", "merged"]


@dataclass(frozen=True, slots=True)
class Fold:
    """What delivery needs to fold a Pod's change into its workload's summary instead of
    sending its own event: the change, the entity it goes to (as the summary renders it) and
    that entity's ``podEvents`` (None: the operator's default)."""

    change: PodChange
    target: Target
    mode: PodEvents | None = None


@dataclass(slots=True)
class Outgoing:
    """An event the domain wants on one entity's timeline. Its key is the eventKey its body
    carries (`key`), held nowhere else."""

    tag: str
    body: EventBody
    updatable: bool
    """Replaced in place (PUT) when its content changes; else created once and left alone."""
    entities: tuple[str, ...]
    seen_at: float = field(default_factory=time.monotonic)
    """When the change was first seen (monotonic seconds): latency, and a standby's pruning."""
    priority: Priority = Priority.WORKLOAD
    source: tuple[str, str] = ("", "")
    """(namespace, workload uid): who the event is about, for fairness within its class."""
    fold: Fold | None = None
    """Set on a change of a Pod that belongs to a workload: it may be folded (or, a failure,
    counted) in that workload's summary."""
    summary: bool = False
    """A Pod summary: its content is rendered again from what the entity's ledger holds when
    it is sent, so that it is never older than that."""

    @property
    def key(self) -> str:
        """The eventKey, read from the body's customData."""
        return str(self.body.custom_data[EVENT_KEY])

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
    priority: Priority = Priority.WORKLOAD
    source: tuple[str, str] = ("", "")

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
        self._lanes: Lanes[Item] = Lanes()  # ready to send
        self._deferred: dict[Key, Item] = {}  # newer content for a key already in flight
        self._inflight: dict[Key, Priority] = {}
        self._retrying: dict[int, Item] = {}  # waiting out a pause before they are queued again
        self._retry_ids = itertools.count()
        self._changed = asyncio.Condition()

    @property
    def depth(self) -> int:
        return len(self._lanes) + len(self._deferred) + len(self._inflight) + len(self._retrying)

    def _report(self) -> None:
        if self._on_depth is not None:
            self._on_depth(self.depth)

    # -- in --------------------------------------------------------------------------------------

    async def submit(self, item: Item) -> None:
        """Queue an event, merging it with a queued one for the same key; waits when full."""
        async with self._changed:
            if not self._merge(item):
                await self._changed.wait_for(lambda: self.depth < self._max_queued)
                self._enqueue(item)  # merged, should the key have come meanwhile
            self._changed.notify_all()
        self._report()

    def put_nowait(self, item: Item) -> None:
        """Queue an item now, past the bound: delivery's own follow-ups (a summary that stands
        in for items taken from this queue) must not wait for the room they free."""
        self._enqueue(item)
        self._notify_soon()
        self._report()

    def _merge(self, item: Item) -> bool:
        """Merge ``item`` into what waits for its key, if anything does; False otherwise."""
        key = item.queue_key
        if key in self._inflight:
            self._deferred[key] = merged(self._deferred.get(key), item)
            return True
        found = self._lanes.find(key)
        if found is None:
            return False
        older = self._lanes[found].get(key)
        newer = merged(older, item)
        if newer.priority == found:
            self._lanes[found].replace(newer)
        else:  # its class rose: it waits in the more urgent lane
            self._lanes[found].pop(key)
            self._lanes.put(newer)
        return True

    def _enqueue(self, item: Item) -> None:
        if not self._merge(item):
            self._lanes.put(item)

    # -- out -------------------------------------------------------------------------------------

    async def take(self, most: Priority = Priority.HOUSEKEEPING) -> Item:
        """The next item of class ``most`` or a more urgent one, as `Lanes.take` chooses;
        its key is in flight until `finish`."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._lanes.has_work(most))
            item = self._lanes.take(most)
            self._inflight[item.queue_key] = item.priority
            return item

    async def finish(self, key: Key) -> None:
        """The request for ``key`` is over: newer content for it becomes ready."""
        async with self._changed:
            self._inflight.pop(key, None)
            newer = self._deferred.pop(key, None)
            if newer is not None:
                self._enqueue(newer)
            self._changed.notify_all()
        self._report()

    def putback(self, item: Item) -> None:
        """Return an item taken but not sent (a worker cancelled) to the front of its lane."""
        key = item.queue_key
        if key not in self._deferred and self._lanes.find(key) is None:
            self._lanes.put(item, front=True)

    def retry_later(self, item: Item, delay: float) -> None:
        """Queue ``item`` again after ``delay`` seconds (it counts as queued meanwhile)."""
        number = next(self._retry_ids)
        self._retrying[number] = item

        def again() -> None:
            self._retrying.pop(number, None)
            key = item.queue_key
            if key in self._inflight:
                self._deferred[key] = merged(item, self._deferred.get(key))
            else:
                found = self._lanes.find(key)
                if found is not None:
                    newer = self._lanes[found].pop(key)
                    self._lanes.put(merged(item, newer))
                else:
                    self._lanes.put(item)
            self._notify_soon()

        asyncio.get_running_loop().call_later(max(delay, 0.05), again)

    def _notify_soon(self) -> None:
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def hold(self, keys: Iterable[Key], *, discard: bool = False) -> None:
        """Put ``keys`` in flight once none of them is; with ``discard``, what is queued for
        them is dropped (the events they name are being deleted)."""
        wanted = set(keys)
        async with self._changed:
            await self._changed.wait_for(lambda: not wanted & self._inflight.keys())
            for key in wanted:
                self._inflight[key] = Priority.HOUSEKEEPING
            if discard:
                for key in wanted:
                    self._lanes.pop(key)
                    self._deferred.pop(key, None)
        self._report()

    async def release(self, keys: Iterable[Key]) -> None:
        for key in set(keys):
            await self.finish(key)

    def prune(self, seen_before: float) -> int:
        """Forget queued items first seen before ``seen_before`` (monotonic seconds); returns
        how many. A standby keeps only what the leader may not have sent yet."""
        stale = [item.queue_key for item in self._lanes if item.seen_at < seen_before]
        stale += [k for k, item in self._deferred.items() if item.seen_at < seen_before]
        for key in stale:
            self._lanes.pop(key)
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

    # -- what waits, by class --------------------------------------------------------------------

    def pending(self, key: Key) -> bool:
        """Whether ``key`` waits to be taken (not in flight)."""
        return self._lanes.find(key) is not None

    def waiting(self, priority: Priority) -> int:
        """Items of class ``priority`` waiting to be taken."""
        return len(self._lanes[priority])

    def depth_of(self, priority: Priority) -> int:
        """Items of class ``priority`` waiting, in flight or waiting out a pause (holds for
        deletions count as housekeeping)."""
        return (
            len(self._lanes[priority])
            + sum(1 for item in self._deferred.values() if item.priority == priority)
            + sum(1 for p in self._inflight.values() if p == priority)
            + sum(1 for item in self._retrying.values() if item.priority == priority)
        )

    def oldest_age(self, priority: Priority, now: float | None = None) -> float:
        """Seconds since the oldest item of class ``priority`` that is not in flight was first
        seen; 0 when none waits."""
        times = [item.seen_at for item in self._lanes[priority]]
        times += [i.seen_at for i in self._deferred.values() if i.priority == priority]
        times += [i.seen_at for i in self._retrying.values() if i.priority == priority]
        if not times:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - min(times))


def merged(older: Item | None, newer: Item | None) -> Item:
    """The newer content, remembering when the change was first seen (for latency) and the
    more urgent of the two classes."""
    if older is None:
        assert newer is not None
        return newer
    if newer is None:
        return older
    return replace(
        newer,
        seen_at=min(older.seen_at, newer.seen_at),
        priority=min(older.priority, newer.priority),
    )
