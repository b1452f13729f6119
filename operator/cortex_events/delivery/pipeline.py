"""Delivery: workers that take events from the queue and record them in Cortex, exactly once.

Workers take the most urgent class of work first (`cortex_events.delivery.lanes`), and one of
them takes only failures and workload changes, so that those never wait for a worker busy with
Pod churn. Everything a worker asks Cortex for an item (the ledger's listing, look-ups, the
request and its retries) runs at the item's class (`cortex_events.cortex.ratelimit.urgency`).
For each item a worker loads the entity's `Ledger` if needed (one listing of what this
operator recorded there), settles a create whose answer was lost, lets the `Folder` fold a
Pod's change into its workload's summary, then creates, updates (PUT
on the same uuid) or skips it as `decide` says. Cortex being down, rate limiting, failing or
refusing the key never loses an item: it stays queued and delivery pauses with a growing delay
(or the server's ``Retry-After``) until Cortex answers again. Deletions (retention, cleanup)
go through here too, holding their keys in the queue so that no other request for those events
is in flight meanwhile. Deploys share the workers, the pauses and the queue; what is done with
each is `cortex_events.delivery.deploy_pipeline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from cortex_events.cortex.errors import (
    CortexAuthError,
    CortexBadRequest,
    CortexError,
    CortexNotFound,
    CortexRateLimited,
    may_have_acted,
)
from cortex_events.cortex.models import CustomEvent
from cortex_events.cortex.ratelimit import urgency
from cortex_events.delivery.decisions import Action, decide
from cortex_events.delivery.deploy_pipeline import DeployDelivery
from cortex_events.delivery.fence import NotLeading
from cortex_events.delivery.folding import Folder
from cortex_events.delivery.ledger import Ledger, LedgerEntry, TagLedger
from cortex_events.delivery.loading import LedgerLoader
from cortex_events.delivery.ports import CortexApi, DeliveryListener, NullListener
from cortex_events.delivery.queue import EventQueue, Item, Outgoing, OutgoingDeploy
from cortex_events.delivery.requests import body_of, to_request
from cortex_events.domain.priority import Priority
from cortex_events.domain.render import OwnedEvent, body_fingerprint, read_owned

logger = logging.getLogger("cortex_events.delivery")

# Pause after a temporary failure (the client already retried): doubles up to the cap.
PAUSE_INITIAL_SECONDS = 1.0
PAUSE_CAP_SECONDS = 60.0
# A standby keeps what it would send for this long: what the leader may not have sent yet.
STANDBY_KEEP_SECONDS = 60.0
STANDBY_PRUNE_INTERVAL = 5.0
# After a takeover, creates are looked up first for this long: longer than a request that the
# previous leader started before its renew deadline could take to land (the client's timeout).
TAKEOVER_CHECK_SECONDS = 30.0
TAKEOVER_LOOKBACK = timedelta(minutes=15)
TAKEOVER_LOOKAHEAD = timedelta(minutes=1)


class _Retry(Exception):
    """An item could not be delivered now; it goes back to the queue."""


class Delivery:
    """The workers. Start with `run()`; stop with `drain()` then cancel."""

    def __init__(
        self,
        api: CortexApi,
        queue: EventQueue,
        *,
        cluster: str,
        ledger: Ledger,
        listener: DeliveryListener | None = None,
        on_loaded: Callable[[str], None] | None = None,
        leading: Callable[[], bool] = lambda: True,
        workers: int = 4,
        deploys: DeployDelivery | None = None,
        folder: Folder | None = None,
    ) -> None:
        self._api = api
        self._queue = queue
        self._cluster = cluster
        self.ledger = ledger
        self._listener: DeliveryListener = listener or NullListener()
        self._workers = workers
        self._deploys = deploys
        self.folder = folder or Folder(queue, self._listener, cluster=cluster)
        self._loader = LedgerLoader(
            api, ledger, self.folder, cluster=cluster, listener=self._listener, on_loaded=on_loaded
        )
        self._leading = leading  # only the leader sends (see cortex_events.kube.leases)
        self._checks_creates_until = 0.0  # after a takeover: look each create up first
        self._may_send = asyncio.Event()  # set again when this replica takes over
        self._pause_until = 0.0
        self._pause = PAUSE_INITIAL_SECONDS
        self.failure: CortexError | None = None  # the last failure, until Cortex answers again
        self.last_progress = time.monotonic()

    @property
    def depth(self) -> int:
        return self._queue.depth

    @property
    def paused(self) -> bool:
        """True while delivery waits out a Cortex failure, or this replica does not lead."""
        return not self._leading() or time.monotonic() < self._pause_until

    def took_over(self, check_for: float = TAKEOVER_CHECK_SECONDS) -> None:
        """This replica has just become the leader: trust nothing learnt before, and for
        ``check_for`` seconds look each create up in Cortex before sending it, since a create
        the previous leader had in flight may still land."""
        self.ledger.reset()
        self.folder.reset()
        self._checks_creates_until = time.monotonic() + check_for
        if self._deploys is not None:
            self._deploys.took_over(check_for)
        self._pause_until = 0.0
        self._pause = PAUSE_INITIAL_SECONDS
        self._may_send.set()

    # -- the workers -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the workers until cancelled: ``workers`` that take any item, and one that takes
        only failures and workload changes."""
        async with asyncio.TaskGroup() as group:
            for number in range(self._workers):
                group.create_task(self._worker(), name=f"cortex-delivery-{number}")
            group.create_task(self._worker(Priority.WORKLOAD), name="cortex-delivery-urgent")
            group.create_task(self._standby(), name="cortex-delivery-standby")

    async def _standby(self) -> None:
        """While another replica leads, keep only what it may not have sent yet."""
        while True:
            await asyncio.sleep(STANDBY_PRUNE_INTERVAL)
            if not self._leading():
                self._queue.prune(time.monotonic() - STANDBY_KEEP_SECONDS)

    async def _worker(self, most: Priority = Priority.HOUSEKEEPING) -> None:
        while True:
            if not self._leading():
                self._may_send.clear()
                await self._may_send.wait()
            # Out of a pause, the most urgent items are the ones taken, not those taken before.
            await self._wait_pause()
            item = await self._queue.take(most)
            try:
                with urgency(item.priority):
                    await self._wait_pause()
                    await self._deliver(item)
            except NotLeading:
                self._queue.putback(item)  # the new leader's, or ours again later
            except _Retry:
                self._queue.retry_later(item, self._pause_until - time.monotonic())
            except asyncio.CancelledError:
                self._queue.putback(item)
                raise
            except Exception:
                logger.exception(
                    "Unexpected error delivering %s to %s; will retry", item.key, item.tag
                )
                self._queue.retry_later(item, self._pause_until - time.monotonic())
            finally:
                await self._queue.finish(item.queue_key)
                self.last_progress = time.monotonic()

    async def _wait_pause(self) -> None:
        delay = self._pause_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _failed_temporarily(self, error: CortexError) -> None:
        """Pause delivery: for the growing back-off, or as long as a 429 asked, if longer."""
        now = time.monotonic()
        self.failure = error
        if now < self._pause_until:
            return  # another worker already paused delivery for this outage
        pause = self._pause
        if isinstance(error, CortexRateLimited) and error.retry_after is not None:
            pause = max(pause, min(error.retry_after, PAUSE_CAP_SECONDS))
        self._pause_until = now + pause
        hint = (
            " (check CORTEX_API_KEY and its permissions)"
            if isinstance(error, CortexAuthError)
            else ""
        )
        logger.warning(
            "Cortex is not accepting events: %s%s; pausing delivery for %.0fs, %d queued",
            error,
            hint,
            pause,
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

    async def _deliver(self, item: Item) -> None:
        if isinstance(item, OutgoingDeploy):
            await self._deliver_deploy(item)
            return
        ledger = await self._ledger_for(item.tag)
        if ledger is None:
            self._drop(item, "entity_not_found", f"Cortex has no entity {item.tag!r}")
            return
        if item.summary:
            fresh = self.folder.current(ledger, item)
            if fresh is None:
                return
            item = fresh
        if item.key in ledger.uncertain:
            moment = ledger.uncertain[item.key]
            await self._look_up(ledger, item, moment, moment)
        elif item.key not in ledger.entries and time.monotonic() < self._checks_creates_until:
            # Soon after a takeover: the previous leader may have sent this create, with a
            # time of its own for events timed when they were noticed (a scale, a sweep).
            moment = item.body.timestamp
            await self._look_up(
                ledger, item, moment - TAKEOVER_LOOKBACK, moment + TAKEOVER_LOOKAHEAD
            )
        entry = ledger.entries.get(item.key)
        fingerprint = body_fingerprint(item.body)
        action = decide(entry, updatable=item.updatable, fingerprint=fingerprint)
        if item.fold is not None and self.folder.consider(
            ledger, item, entry, changed=action is Action.UPDATE
        ):
            return
        if action is Action.SKIP:
            self._listener.deduplicated(item)
            self.folder.noted(ledger, item)
            return
        try:
            if entry is None:
                await self._create(ledger, item, fingerprint)
            else:
                await self._update(ledger, item, entry, fingerprint)
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
        self._listener.delivered(item, action.value, time.monotonic() - item.seen_at)
        self.folder.noted(ledger, item)

    async def _deliver_deploy(self, item: OutgoingDeploy) -> None:
        if self._deploys is None:
            logger.error("Deploy %s on %r not recorded: deploys are not set up", item.key, item.tag)
            return
        try:
            asked = await self._deploys.deliver(item)
        except CortexError as error:
            self._failed_temporarily(error)
            raise _Retry from error
        if asked:
            self._succeeded()

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
        self._remember(ledger, item, event, fingerprint)

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
        self._remember(ledger, item, event, fingerprint)

    def _remember(
        self,
        ledger: TagLedger,
        item: Outgoing,
        event: CustomEvent,
        fingerprint: str,
    ) -> None:
        """Record what was sent for ``item`` under the uuid Cortex gave it."""
        owned = read_owned(item.body.custom_data, cluster=self._cluster)
        assert owned is not None, "the operator renders every event it sends as its own"
        self._remember_owned(ledger, event, owned, fingerprint, item.entities)

    def _remember_owned(
        self,
        ledger: TagLedger,
        event: CustomEvent,
        owned: OwnedEvent,
        fingerprint: str,
        entities: tuple[str, ...] | None = None,
    ) -> None:
        entry = LedgerEntry.of(event, owned, fingerprint, entities)
        ledger.record(owned.key, entry)
        self.ledger.note_replicas(entry.subject_uid, event.timestamp, owned.details)

    async def _look_up(
        self, ledger: TagLedger, item: Outgoing, start: datetime, end: datetime
    ) -> None:
        """Look for a create that may have been stored (its answer lost, or sent by the
        previous leader) before creating it again."""
        try:
            async for event in self._api.iter_events(
                item.tag, type=item.body.type, start_time=start, end_time=end
            ):
                owned = read_owned(event.custom_data, cluster=self._cluster)
                if owned is not None and owned.key == item.key:
                    fingerprint = body_fingerprint(body_of(event))
                    self._remember_owned(ledger, event, owned, fingerprint, item.entities)
                    return
        except CortexError as error:
            self._failed_temporarily(error)
            raise _Retry from error
        ledger.uncertain.pop(item.key, None)

    async def ensure_loaded(self, tag: str) -> TagLedger | None:
        """The tag's ledger, loaded from Cortex if needed; None when Cortex has no such entity.

        Raises `CortexError` when Cortex cannot answer now, after noting it as delivery's
        failure (a CortexEntity's status tells it: a refused key, an unreachable Cortex).
        """
        try:
            return await self._loader.ledger_for(tag)
        except CortexError as error:
            self._failed_temporarily(error)
            raise

    async def _ledger_for(self, tag: str) -> TagLedger | None:
        try:
            return await self._loader.ledger_for(tag)
        except CortexError as error:
            self._failed_temporarily(error)
            raise _Retry from error

    async def load(self, ledger: TagLedger) -> None:
        """Rebuild one tag's ledger from the events this operator owns in Cortex."""
        await self._loader.load(ledger)

    # -- shutdown ----------------------------------------------------------------------------

    async def drain(self, timeout: float) -> int:
        """Give queued events up to `timeout` seconds to go out; returns how many remain."""
        self.folder.flush()  # summaries waiting for their refresh go now
        if self.depth:
            logger.info("Delivering %d queued events before stopping", self.depth)
        with contextlib.suppress(TimeoutError):
            await self._queue.wait_idle(timeout)
        remaining = self.depth
        if remaining:
            logger.warning(
                "%d events were still queued at shutdown; they are recorded after the restart",
                remaining,
            )
        return remaining
