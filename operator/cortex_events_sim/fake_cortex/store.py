"""The emulator's in-memory store of entities, events, deploys and recorded API requests.

The store is shared between the server's event loop and test code on other threads, so every
access goes through one lock and readers get copies. The rules requests must follow are in
`validation`; the HTTP layer is in `app`.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import math
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cortex_events_sim.fake_cortex.descriptors import CatalogStore
from cortex_events_sim.fake_cortex.records import RecordedRequest, StoredDeploy, StoredEvent
from cortex_events_sim.fake_cortex.validation import (
    DeployFilter,
    DeployInput,
    EventFilter,
    EventInput,
    Page,
)

__all__ = ["FakeCortexState"]


def _stored(event_uuid: str, tag: str, data: EventInput, created_seq: int) -> StoredEvent:
    """The event as stored from a validated body; its customData is the store's own copy."""
    return StoredEvent(
        uuid=event_uuid,
        tag=tag,
        title=data.title,
        type=data.type,
        timestamp=data.timestamp,
        description=data.description,
        url=data.url,
        custom_data=copy.deepcopy(data.custom_data),
        created_seq=created_seq,
    )


@dataclass(eq=False)
class FakeCortexState:
    """The emulator's store of entities, events and recorded API requests.

    ``entities`` is the set of tags that exist, or ``None`` when every tag exists. Reads return
    copies, so a test can hold on to them while the server keeps changing the store.
    """

    entities: set[str] | None = None
    catalog: CatalogStore = field(default_factory=CatalogStore, repr=False)
    _events: dict[str, StoredEvent] = field(default_factory=dict, repr=False)
    _deploys: dict[str, StoredDeploy] = field(default_factory=dict, repr=False)
    _requests: list[RecordedRequest] = field(default_factory=list, repr=False)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _service_ids: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _changed: threading.Condition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    @classmethod
    def with_entities(cls, entities: Iterable[str] | None) -> FakeCortexState:
        return cls(entities=set(entities) if entities is not None else None)

    # -- entities ---------------------------------------------------------------------------

    def add_entity(self, tag: str) -> None:
        """Make ``tag`` exist (a no-op when every tag exists already)."""
        with self._lock:
            if self.entities is not None:
                self.entities.add(tag)

    def remove_entity(self, tag: str) -> None:
        """Make ``tag`` unknown (404). Only possible when the emulator has an entity list."""
        with self._lock:
            if self.entities is None:
                raise ValueError("every tag exists in this emulator; start it with entities=...")
            self.entities.discard(tag)

    def entity_exists(self, tag: str) -> bool:
        with self._lock:
            return self.entities is None or tag in self.entities

    def service_id(self, tag: str) -> int:
        """The entity's numeric id (a deploy's ``serviceId``): 1, 2, ... in order of first use."""
        with self._lock:
            return self._service_ids.setdefault(tag, len(self._service_ids) + 1)

    # -- events -----------------------------------------------------------------------------

    def events(self, tag: str | None = None) -> list[StoredEvent]:
        """Copies of the stored events (of one entity, or all), in the emulator's list order."""
        with self._lock:
            found = [e.copy() for e in self._events.values() if tag is None or e.tag == tag]
        return sorted(found, key=StoredEvent.sort_key)

    def get(self, tag: str, event_uuid: str) -> StoredEvent | None:
        with self._lock:
            event = self._events.get(event_uuid)
            if event is None or event.tag != tag:
                return None
            return event.copy()

    def create(self, tag: str, data: EventInput) -> StoredEvent:
        """Store a new event with a fresh uuid and return a copy of it."""
        with self._lock:
            event = _stored(str(uuidlib.uuid4()), tag, data, next(self._seq))
            self._events[event.uuid] = event
            self._changed.notify_all()
            return event.copy()

    def add_event(
        self,
        tag: str,
        *,
        title: str,
        type: str,
        timestamp: datetime,
        description: str | None = None,
        url: str | None = None,
        custom_data: dict[str, Any] | None = None,
    ) -> StoredEvent:
        """Seed an event directly (e.g. one that some other tool created). Naive = UTC."""
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        data = EventInput(
            title=title,
            type=type,
            timestamp=timestamp.astimezone(UTC),
            description=description,
            url=url,
            custom_data=custom_data,
        )
        return self.create(tag, data)

    def replace(self, tag: str, event_uuid: str, data: EventInput) -> StoredEvent | None:
        """Full replacement: every field comes from ``data``; uuid and creation order stay."""
        with self._lock:
            old = self._events.get(event_uuid)
            if old is None or old.tag != tag:
                return None
            new = _stored(old.uuid, tag, data, old.created_seq)
            self._events[event_uuid] = new
            self._changed.notify_all()
            return new.copy()

    def delete(self, tag: str, event_uuid: str) -> bool:
        with self._lock:
            event = self._events.get(event_uuid)
            if event is None or event.tag != tag:
                return False
            del self._events[event_uuid]
            self._changed.notify_all()
            return True

    def delete_matching(self, tag: str, event_filter: EventFilter) -> int:
        """Delete the entity's events that pass the filter; returns how many."""
        with self._lock:
            doomed = [
                e.uuid for e in self._events.values() if e.tag == tag and event_filter.matches(e)
            ]
            for event_uuid in doomed:
                del self._events[event_uuid]
            self._changed.notify_all()
            return len(doomed)

    def list_page(
        self, tag: str, event_filter: EventFilter, page: Page
    ) -> tuple[list[StoredEvent], int, int]:
        """One page of the entity's matching events, the total, and the number of pages."""
        matching = [e for e in self.events(tag) if event_filter.matches(e)]
        total = len(matching)
        start = page.number * page.size
        return matching[start : start + page.size], total, math.ceil(total / page.size)

    # -- deploys ----------------------------------------------------------------------------

    def deploys(self, tag: str | None = None) -> list[StoredDeploy]:
        """Copies of the stored deploys (of one entity, or all), in the emulator's list order."""
        with self._lock:
            found = [d.copy() for d in self._deploys.values() if tag is None or d.tag == tag]
        return sorted(found, key=StoredDeploy.sort_key)

    def create_deploy(
        self, tag: str, data: DeployInput, *, deploy_uuid: str | None = None
    ) -> StoredDeploy:
        """Store a deploy (a new uuid, unless replacing one) and return a copy of it."""
        with self._lock:
            old = self._deploys.get(deploy_uuid) if deploy_uuid is not None else None
            deploy = StoredDeploy(
                uuid=deploy_uuid or str(uuidlib.uuid4()),
                tag=tag,
                created_seq=old.created_seq if old is not None else next(self._seq),
                **dataclasses.asdict(data),  # deep copies: the store's own
            )
            self._deploys[deploy.uuid] = deploy
            self._changed.notify_all()
            return deploy.copy()

    def add_deploy(self, tag: str, **fields: Any) -> StoredDeploy:
        """Seed a deploy directly (another tool's, e.g. Argo CD's); a naive timestamp is UTC."""
        timestamp = fields.pop("timestamp")
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        return self.create_deploy(tag, DeployInput(timestamp=timestamp.astimezone(UTC), **fields))

    def replace_deploy(self, tag: str, deploy_uuid: str, data: DeployInput) -> StoredDeploy | None:
        """Full replacement (PUT); None when the entity has no such deploy."""
        with self._lock:
            old = self._deploys.get(deploy_uuid)
            if old is None or old.tag != tag:
                return None
            return self.create_deploy(tag, data, deploy_uuid=deploy_uuid)

    def delete_deploy(self, tag: str, deploy_uuid: str) -> StoredDeploy | None:
        """Delete one deploy; the deploy deleted, or None when the entity has no such one."""
        with self._lock:
            deploy = self._deploys.get(deploy_uuid)
            if deploy is None or deploy.tag != tag:
                return None
            del self._deploys[deploy_uuid]
            self._changed.notify_all()
            return deploy.copy()

    def delete_deploys_matching(
        self, tag: str | None, deploy_filter: DeployFilter
    ) -> list[StoredDeploy]:
        """Delete the deploys of ``tag`` (every entity's when None) that pass the filter."""
        with self._lock:
            doomed = [
                d
                for d in self._deploys.values()
                if (tag is None or d.tag == tag) and deploy_filter.matches(d)
            ]
            for deploy in doomed:
                del self._deploys[deploy.uuid]
            self._changed.notify_all()
            return sorted(doomed, key=StoredDeploy.sort_key)

    def list_deploy_page(self, tag: str, page: Page) -> tuple[list[StoredDeploy], int, int]:
        """One page of the entity's deploys, the total, and the number of pages."""
        deploys = self.deploys(tag)
        start = page.number * page.size
        return deploys[start : start + page.size], len(deploys), math.ceil(len(deploys) / page.size)

    # -- requests ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded API requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._changed.notify_all()

    def clear(self) -> None:
        """Forget every event, deploy and recorded request; the entity list stays."""
        with self._lock:
            self._events.clear()
            self._deploys.clear()
            self._requests.clear()
            self._changed.notify_all()

    # -- waiting ----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[FakeCortexState], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate(state)`` holds; `TimeoutError` after ``timeout`` seconds.

        The predicate is checked after every change to events or requests, e.g.
        ``state.wait_for(lambda s: len(s.events("payments")) == 3)``.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout=timeout):
                raise TimeoutError(f"the Cortex emulator's state did not match within {timeout} s")

    async def wait_for_async(
        self, predicate: Callable[[FakeCortexState], bool], timeout: float = 10.0
    ) -> None:
        """`wait_for` without blocking the caller's event loop (which may run the server)."""
        await asyncio.to_thread(self.wait_for, predicate, timeout)
