"""The queue's waiting room: a lane per delivery class, and fair shares inside each lane.

`Lanes.take` serves the most urgent class that has work (`cortex_events.domain.priority`), with
one exception so that nothing waits for ever: a class with work that `SHARE` takes in a row have
passed over is served next (the most urgent of them first, when several are due). So a class
with work waits at most ``SHARE + 2`` takes of the other classes, whatever arrives meanwhile.

Inside a lane, items are fair between their *sources* rather than first come, first served: a
source is the namespace of the workload an item is about, and the workload within it (a Pod's
owner workload, else the Pod). `Lane.take` goes round the namespaces that have items, one item
each turn, and within a namespace round its workloads; each workload's items stay in arrival
order. One namespace's flood, or one workload with many entities, then delays another
namespace's item by at most one item per namespace that has work, not by the whole flood.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from cortex_events.domain.priority import Priority

Key = tuple[str, str]  # (entity tag, eventKey)

SHARE = 10
"""Takes in a row that may pass over a class with work before it is served."""


class Queued(Protocol):
    @property
    def queue_key(self) -> Key: ...

    @property
    def priority(self) -> Priority: ...

    @property
    def source(self) -> tuple[str, str]: ...

    @property
    def seen_at(self) -> float: ...


T = TypeVar("T", bound=Queued)


class Lane(Generic[T]):
    """One class's items: round-robin over namespaces, then over the workloads of each,
    first in, first out within a workload. Every operation is O(1) but `oldest`."""

    def __init__(self) -> None:
        self._namespaces: OrderedDict[str, OrderedDict[str, OrderedDict[Key, T]]] = OrderedDict()
        self._where: dict[Key, tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: Key) -> bool:
        return key in self._where

    def get(self, key: Key) -> T | None:
        source = self._where.get(key)
        if source is None:
            return None
        return self._namespaces[source[0]][source[1]][key]

    def put(self, item: T, *, front: bool = False) -> None:
        """Add an item whose key is not here, last of its workload (``front``: first)."""
        key, source = item.queue_key, item.source
        workloads = self._namespaces.setdefault(source[0], OrderedDict())
        items = workloads.setdefault(source[1], OrderedDict())
        items[key] = item
        if front:
            items.move_to_end(key, last=False)
        self._where[key] = source

    def replace(self, item: T) -> None:
        """New content for a key that is here; it keeps its place."""
        namespace, workload = self._where[item.queue_key]
        self._namespaces[namespace][workload][item.queue_key] = item

    def pop(self, key: Key) -> T | None:
        source = self._where.pop(key, None)
        if source is None:
            return None
        namespace, workload = source
        workloads = self._namespaces[namespace]
        items = workloads[workload]
        item = items.pop(key)
        if not items:
            del workloads[workload]
            if not workloads:
                del self._namespaces[namespace]
        return item

    def take(self) -> T:
        """The next item, round-robin over namespaces and their workloads."""
        namespace, workloads = next(iter(self._namespaces.items()))
        workload, items = next(iter(workloads.items()))
        key, item = items.popitem(last=False)
        del self._where[key]
        if items:
            workloads.move_to_end(workload)
        else:
            del workloads[workload]
        if workloads:
            self._namespaces.move_to_end(namespace)
        else:
            del self._namespaces[namespace]
        return item

    def __iter__(self) -> Iterator[T]:
        for workloads in self._namespaces.values():
            for items in workloads.values():
                yield from items.values()

    def oldest(self) -> float | None:
        """When the item waiting longest was first seen (monotonic seconds)."""
        return min((item.seen_at for item in self), default=None)


class Lanes(Generic[T]):
    """A lane per class, served most urgent first within `SHARE`."""

    def __init__(self) -> None:
        self._lanes: dict[Priority, Lane[T]] = {priority: Lane() for priority in Priority}
        self._passed = dict.fromkeys(Priority, 0)  # takes that passed a class with work over

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def __getitem__(self, priority: Priority) -> Lane[T]:
        return self._lanes[priority]

    def find(self, key: Key) -> Priority | None:
        """The class of the lane where ``key`` waits, if it does."""
        return next((p for p, lane in self._lanes.items() if key in lane), None)

    def pop(self, key: Key) -> T | None:
        found = self.find(key)
        return self._lanes[found].pop(key) if found is not None else None

    def put(self, item: T, *, front: bool = False) -> None:
        self._lanes[item.priority].put(item, front=front)

    def has_work(self, most: Priority = Priority.HOUSEKEEPING) -> bool:
        """Whether an item of class ``most`` or a more urgent one waits."""
        return any(self._lanes[p] for p in Priority if p <= most)

    def take(self, most: Priority = Priority.HOUSEKEEPING) -> T:
        """The next item of class ``most`` or a more urgent one; there must be one.

        Only a take open to every class (``most`` the least urgent) counts for `SHARE`: a
        worker kept for urgent items never serves the others, so it never passes them over."""
        waiting = [p for p in Priority if p <= most and self._lanes[p]]
        for priority in Priority:
            if not self._lanes[priority]:
                self._passed[priority] = 0
        chosen = waiting[0]
        if most is max(Priority):
            due = [p for p in waiting[1:] if self._passed[p] >= SHARE]
            if due:
                chosen = due[0]
            for priority in waiting:
                if priority > chosen:
                    self._passed[priority] += 1
            self._passed[chosen] = 0
        return self._lanes[chosen].take()

    def __iter__(self) -> Iterator[T]:
        for lane in self._lanes.values():
            yield from lane
