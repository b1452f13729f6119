"""Watch fan-out: each resource's recent events, and the watches open on it.

A write is encoded once, kept in the resource's history (for watches that resume from a
resourceVersion) and queued to every open watch that wants it. A watch with a label or field
selector sees an object enter (ADDED) or leave (DELETED) its selection as a real one does.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .selectors import Selector


def encode_event(event_type: str, obj: Mapping[str, Any]) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n").encode()


@dataclass(slots=True)
class _HistoryEntry:
    rv: int
    namespace: str
    line: bytes


@dataclass(eq=False)
class Watcher:
    """One open watch: events are queued as encoded lines; ``None`` ends the stream."""

    key: str
    namespace: str | None
    selector: Selector
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    def wants(self, namespace: str) -> bool:
        return self.namespace is None or self.namespace == namespace


class WatchFeed:
    """The last ``history_size`` events of one resource, and the watches open on it."""

    def __init__(self, history_size: int) -> None:
        self.history: collections.deque[_HistoryEntry] = collections.deque(maxlen=history_size)
        self.watchers: set[Watcher] = set()
        self.evicted_rv = 0

    def open(
        self,
        watcher: Watcher,
        since: int | None,
        current: Callable[[], Iterable[Mapping[str, Any]]],
    ) -> None:
        """Queue what ``watcher`` missed, then subscribe it: the events after ``since``, or
        every ``current()`` object as ADDED when ``since`` is None or 0. A ``since`` older
        than the kept history queues one ERROR event (410) and the end instead."""
        if since is not None and since < self.evicted_rv:
            gone = errors.status_object(
                410, "Expired", f"too old resource version: {since} ({self.evicted_rv})"
            )
            watcher.queue.put_nowait(encode_event("ERROR", gone))
            watcher.queue.put_nowait(None)
            return
        if since is None or since == 0:
            for obj in current():
                watcher.queue.put_nowait(encode_event("ADDED", obj))
        else:
            for entry in self.history:
                if entry.rv <= since or not watcher.wants(entry.namespace):
                    continue
                if watcher.selector and not watcher.selector.matches(
                    json.loads(entry.line)["object"]
                ):
                    continue
                watcher.queue.put_nowait(entry.line)
        self.watchers.add(watcher)

    def remove(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    def close(self) -> None:
        """End every open watch."""
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)
        self.watchers.clear()

    def publish(
        self, rv: int, event_type: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> None:
        """Keep one write (``obj`` as stored at ``rv``; ``old`` before it) and fan it out."""
        line = encode_event(event_type, obj)
        ns = obj["metadata"].get("namespace", "")
        if len(self.history) == self.history.maxlen:
            self.evicted_rv = self.history[0].rv
        self.history.append(_HistoryEntry(rv, ns, line))
        for watcher in self.watchers:
            if not watcher.wants(ns):
                continue
            if not watcher.selector:
                watcher.queue.put_nowait(line)
                continue
            now = event_type != "DELETED" and watcher.selector.matches(obj)
            before = old is not None and watcher.selector.matches(old)
            if event_type == "DELETED":
                seen_type = "DELETED" if watcher.selector.matches(obj) else None
            elif now and before:
                seen_type = event_type
            elif now:
                seen_type = "ADDED"
            elif before:
                seen_type = "DELETED"
            else:
                seen_type = None
            if seen_type == event_type:
                watcher.queue.put_nowait(line)
            elif seen_type is not None:
                watcher.queue.put_nowait(encode_event(seen_type, obj))
