"""Delivery: the bounded, coalescing queue between the domain and the Cortex client.

Every event the domain wants goes through `Delivery.submit`. Submissions for the same
(entity tag, eventKey) coalesce: many status changes of one Pod within a moment become one
request. Workers take items in arrival order, at most one request in flight per key, and decide
against the `Ledger` whether to create, update (PUT on the same uuid) or skip. Cortex being down,
rate limiting or failing never loses an item: it stays queued and delivery pauses with a growing
delay until Cortex answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from cortex_events.cortex.errors import (
    CortexAuthError,
    CortexBadRequest,
    CortexError,
    CortexNotFound,
    may_have_acted,
)
from cortex_events.cortex.models import CustomEvent, CustomEventRequest
from cortex_events.delivery.ledger import Ledger, LedgerEntry, TagLedger, TagState
from cortex_events.domain.render import EventBody, body_fingerprint, is_owned

logger = logging.getLogger("cortex_events.delivery")

Key = tuple[str, str]  # (entity tag, eventKey)

# How long a tag that Cortex answered 404 for stays "not found" before it is asked again.
NOT_FOUND_RECHECK_SECONDS = 300.0
# Pause after a temporary failure (the client already retried): doubles up to the cap.
PAUSE_INITIAL_SECONDS = 1.0
PAUSE_CAP_SECONDS = 60.0


class CortexApi(Protocol):
    """The part of `cortex_events.cortex.client.CortexClient` that delivery uses."""

    def iter_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[CustomEvent]: ...

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent: ...

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent: ...

    async def delete_event(self, tag: str, uuid: str) -> None: ...

    async def delete_events(
        self,
        tag: str,
        *,
        type: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> None: ...


@dataclass(slots=True)
class Outgoing:
    """An event the domain wants on one entity's timeline."""

    tag: str
    key: str
    body: EventBody
    updatable: bool
    entities: tuple[str, ...]
    seen_at: float = field(default_factory=time.monotonic)


class DeliveryListener(Protocol):
    """What delivery reports: metrics, logs and CortexEntity status listen to it."""

    def queue_changed(self, depth: int) -> None: ...

    def delivered(self, item: Outgoing, result: str, latency: float) -> None: ...

    def deduplicated(self, item: Outgoing) -> None: ...

    def dropped(self, item: Outgoing, reason: str, detail: str) -> None: ...

    def entity_missing(self, tag: str) -> None: ...

    def cortex_failing(self, error: CortexError | None) -> None: ...


class NullListener:
    def queue_changed(self, depth: int) -> None:
        pass

    def delivered(self, item: Outgoing, result: str, latency: float) -> None:
        pass

    def deduplicated(self, item: Outgoing) -> None:
        pass

    def dropped(self, item: Outgoing, reason: str, detail: str) -> None:
        pass

    def entity_missing(self, tag: str) -> None:
        pass

    def cortex_failing(self, error: CortexError | None) -> None:
        pass


class _Retry(Exception):
    """An item could not be delivered now; it goes back to the queue."""


def to_request(body: EventBody, *, timestamp: datetime | None = None) -> CustomEventRequest:
    return CustomEventRequest(
        title=body.title,
        type=body.type,
        timestamp=timestamp or body.timestamp,
        description=body.description or None,
        custom_data=body.custom_data,
    )


def body_of(event: CustomEvent) -> EventBody:
    return EventBody(
        title=event.title,
        type=event.type,
        timestamp=event.timestamp,
        description=event.description or "",
        custom_data=dict(event.custom_data),
    )


class Delivery:
    """The queue and its workers. Start with `run()`; stop with `drain()` then cancel."""

    def __init__(
        self,
        api: CortexApi,
        *,
        cluster: str,
        ledger: Ledger | None = None,
        listener: DeliveryListener | None = None,
        max_queued: int = 20_000,
        workers: int = 4,
    ) -> None:
        self._api = api
        self._cluster = cluster
        self.ledger = ledger or Ledger()
        self._listener: DeliveryListener = listener or NullListener()
        self._max_queued = max_queued
        self._workers = workers
        self._pending: OrderedDict[Key, Outgoing] = OrderedDict()  # ready to send, in order
        self._deferred: dict[Key, Outgoing] = {}  # newer content for a key already in flight
        self._inflight: set[Key] = set()
        self._changed = asyncio.Condition()
        self._tag_locks: dict[str, asyncio.Lock] = {}
        self._pause_until = 0.0
        self._pause = PAUSE_INITIAL_SECONDS
        self.failure: CortexError | None = None  # the last failure, until Cortex answers again
        self.on_loaded: Callable[[str], None] | None = None  # told each tag whose ledger loaded
        self._waiting_retries = 0
        self.last_progress = time.monotonic()

    # -- the domain side ---------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return (
            len(self._pending) + len(self._deferred) + len(self._inflight) + self._waiting_retries
        )

    @property
    def paused(self) -> bool:
        """True while delivery waits out a Cortex failure."""
        return time.monotonic() < self._pause_until

    async def submit(self, item: Outgoing) -> None:
        """Queue an event, merging it with a queued one for the same key; waits when full."""
        key = (item.tag, item.key)
        async with self._changed:
            if key in self._inflight:
                older = self._deferred.get(key)
                self._deferred[key] = _merged(older, item)
            elif key in self._pending:
                self._pending[key] = _merged(self._pending[key], item)
            else:
                await self._changed.wait_for(lambda: self.depth < self._max_queued)
                self._pending[key] = item
            self._changed.notify_all()
        self._listener.queue_changed(self.depth)

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or in flight; False if the timeout passed first."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.depth == 0)
        except TimeoutError:
            return False
        return True

    # -- the workers -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the workers until cancelled."""
        async with asyncio.TaskGroup() as group:
            for number in range(self._workers):
                group.create_task(self._worker(), name=f"cortex-delivery-{number}")

    async def _worker(self) -> None:
        while True:
            item = await self._take()
            try:
                await self._wait_pause()
                await self._deliver(item)
            except _Retry:
                self._requeue_later(item)
            except asyncio.CancelledError:
                self._putback(item)
                raise
            except Exception:
                logger.exception(
                    "Unexpected error delivering %s to %s; will retry", item.key, item.tag
                )
                self._requeue_later(item)
            finally:
                await self._finish((item.tag, item.key))
                self.last_progress = time.monotonic()

    async def _take(self) -> Outgoing:
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._pending))
            key, item = self._pending.popitem(last=False)
            self._inflight.add(key)
            return item

    async def _finish(self, key: Key) -> None:
        async with self._changed:
            self._inflight.discard(key)
            newer = self._deferred.pop(key, None)
            if newer is not None:
                self._pending[key] = newer
            self._changed.notify_all()
        self._listener.queue_changed(self.depth)

    def _putback(self, item: Outgoing) -> None:
        key = (item.tag, item.key)
        if key not in self._deferred and key not in self._pending:
            self._pending[key] = item
            self._pending.move_to_end(key, last=False)

    def _requeue_later(self, item: Outgoing) -> None:
        self._waiting_retries += 1

        def again() -> None:
            self._waiting_retries -= 1
            key = (item.tag, item.key)
            if key in self._inflight:
                self._deferred[key] = _merged(item, self._deferred.get(key))
            elif key in self._pending:
                self._pending[key] = _merged(item, self._pending[key])
            else:
                self._pending[key] = item
            asyncio.get_running_loop().create_task(self._notify())

        delay = max(self._pause_until - time.monotonic(), 0.05)
        asyncio.get_running_loop().call_later(delay, again)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait_pause(self) -> None:
        delay = self._pause_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _failed_temporarily(self, error: CortexError) -> None:
        now = time.monotonic()
        self.failure = error
        if now < self._pause_until:
            return  # another worker already paused delivery for this outage
        self._pause_until = now + self._pause
        hint = (
            " (check CORTEX_API_KEY and its permissions)"
            if isinstance(error, CortexAuthError)
            else ""
        )
        logger.warning(
            "Cortex is not accepting events: %s%s; pausing delivery for %.0fs, %d queued",
            error,
            hint,
            self._pause,
            self.depth,
        )
        self._pause = min(self._pause * 2, PAUSE_CAP_SECONDS)
        self._listener.cortex_failing(error)

    def _succeeded(self) -> None:
        self.failure = None
        if self._pause != PAUSE_INITIAL_SECONDS:
            logger.info("Cortex is accepting events again")
            self._listener.cortex_failing(None)
        self._pause = PAUSE_INITIAL_SECONDS

    # -- one item ----------------------------------------------------------------------------

    async def _deliver(self, item: Outgoing) -> None:
        ledger = await self._ledger_for(item.tag)
        if ledger is None:
            self._drop(item, "entity_not_found", f"Cortex has no entity {item.tag!r}")
            return
        if item.key in ledger.uncertain:
            await self._settle_uncertain(ledger, item)
        entry = ledger.entries.get(item.key)
        fingerprint = body_fingerprint(item.body)
        try:
            if entry is None:
                await self._create(ledger, item, fingerprint)
                result = "created"
            elif item.updatable and entry.fingerprint != fingerprint:
                await self._update(ledger, item, entry, fingerprint)
                result = "updated"
            else:
                self._listener.deduplicated(item)
                return
        except CortexNotFound as error:
            ledger.mark_not_found()
            self._listener.entity_missing(item.tag)
            self._drop(item, "entity_not_found", error.message)
            return
        except CortexBadRequest as error:
            self._drop(item, "rejected", str(error))
            return
        except CortexError as error:
            # Rate limited, failing, unreachable, or the key refused: keep the event and pause.
            self._failed_temporarily(error)
            raise _Retry from error
        self._succeeded()
        self._listener.delivered(item, result, time.monotonic() - item.seen_at)

    def _drop(self, item: Outgoing, reason: str, detail: str) -> None:
        """Give up on an event; reported once per event, not once per update of it."""
        ledger = self.ledger.tag(item.tag)
        if item.key in ledger.dropped:
            logger.debug("Not recorded on %r (%s), again: %s", item.tag, reason, item.key)
            return
        ledger.dropped.add(item.key)
        self._listener.dropped(item, reason, detail)

    async def _create(
        self,
        ledger: TagLedger,
        item: Outgoing,
        fingerprint: str,
        *,
        timestamp: datetime | None = None,
    ) -> None:
        request = to_request(item.body, timestamp=timestamp)
        try:
            event = await self._api.create_event(item.tag, request)
        except BaseException as error:
            # Only a create that surely never reached Cortex, or that Cortex refused, may be
            # sent again blindly; any other failure may come after the event was stored.
            if may_have_acted(error):
                ledger.uncertain[item.key] = request.timestamp
            raise
        self._remember(ledger, item.key, event, fingerprint, item.entities)

    async def _update(
        self, ledger: TagLedger, item: Outgoing, entry: LedgerEntry, fingerprint: str
    ) -> None:
        request = to_request(item.body, timestamp=entry.timestamp)
        try:
            event = await self._api.update_event(item.tag, entry.uuid, request)
        except CortexNotFound:
            # Deleted in Cortex behind our back (by hand, or retention): record it anew.
            ledger.forget(entry.uuid)
            await self._create(ledger, item, fingerprint, timestamp=entry.timestamp)
            return
        self._remember(ledger, item.key, event, fingerprint, item.entities)

    def _remember(
        self,
        ledger: TagLedger,
        key: str,
        event: CustomEvent,
        fingerprint: str,
        entities: tuple[str, ...],
    ) -> None:
        entry = LedgerEntry.of(event, fingerprint, entities)
        ledger.record(key, entry)
        self.ledger.note_replicas(entry.subject_uid, event.timestamp, event.custom_data)

    async def _settle_uncertain(self, ledger: TagLedger, item: Outgoing) -> None:
        """A create whose answer was lost: look for the event before creating it again."""
        moment = ledger.uncertain[item.key]
        try:
            async for event in self._api.iter_events(
                item.tag, type=item.body.type, start_time=moment, end_time=moment
            ):
                if event.custom_data.get("eventKey") == item.key and is_owned(
                    event.custom_data, cluster=self._cluster
                ):
                    fingerprint = body_fingerprint(body_of(event))
                    self._remember(ledger, item.key, event, fingerprint, item.entities)
                    return
        except CortexError as error:
            self._failed_temporarily(error)
            raise _Retry from error
        ledger.uncertain.pop(item.key, None)

    async def ensure_loaded(self, tag: str) -> TagLedger | None:
        """The tag's ledger, loaded from Cortex if needed; None when Cortex has no such entity.

        Raises `CortexError` when Cortex cannot answer now.
        """
        try:
            return await self._ledger_for(tag)
        except _Retry as retry:
            if isinstance(retry.__cause__, CortexError):
                raise retry.__cause__ from None
            raise

    async def _ledger_for(self, tag: str) -> TagLedger | None:
        ledger = self.ledger.tag(tag)
        if ledger.state is TagState.LOADED:
            return ledger
        if ledger.not_found_recently(NOT_FOUND_RECHECK_SECONDS):
            return None
        lock = self._tag_locks.setdefault(tag, asyncio.Lock())
        async with lock:
            # Another worker loaded it, or learnt that Cortex has no such entity, meanwhile.
            if _loaded(ledger):
                return ledger
            if ledger.not_found_recently(NOT_FOUND_RECHECK_SECONDS):
                return None
            try:
                await self.load(ledger)
            except CortexNotFound:
                ledger.mark_not_found()
                self._listener.entity_missing(tag)
                return None
            except CortexError as error:
                self._failed_temporarily(error)
                raise _Retry from error
        return ledger

    async def load(self, ledger: TagLedger) -> None:
        """Rebuild one tag's ledger from the events this operator owns in Cortex."""
        entries: dict[str, LedgerEntry] = {}
        async for event in self._api.iter_events(ledger.tag, page_size=1000):
            data = event.custom_data
            key = data.get("eventKey")
            if not isinstance(key, str) or not is_owned(data, cluster=self._cluster):
                continue
            entry = entries[key] = LedgerEntry.of(event, body_fingerprint(body_of(event)))
            self.ledger.note_replicas(entry.subject_uid, event.timestamp, data)
        ledger.entries = entries
        ledger.state = TagState.LOADED
        ledger.not_found_since = None
        logger.info("Loaded %d recorded events for entity %r", len(entries), ledger.tag)
        if self.on_loaded is not None:
            self.on_loaded(ledger.tag)

    # -- shutdown ----------------------------------------------------------------------------

    async def drain(self, timeout: float) -> int:
        """Give queued events up to `timeout` seconds to go out; returns how many remain."""
        if self.depth:
            logger.info("Delivering %d queued events before stopping", self.depth)
        with contextlib.suppress(TimeoutError):
            await self.wait_idle(timeout)
        remaining = self.depth
        if remaining:
            logger.warning(
                "%d events were still queued at shutdown; they are recorded after the restart",
                remaining,
            )
        return remaining


def _loaded(ledger: TagLedger) -> bool:
    return ledger.state is TagState.LOADED


def _merged(older: Outgoing | None, newer: Outgoing | None) -> Outgoing:
    """The newer content, remembering when the change was first seen (for latency)."""
    if older is None:
        assert newer is not None
        return newer
    if newer is None:
        return older
    return replace(newer, seen_at=min(older.seen_at, newer.seen_at))
