"""Deploys delivered exactly once, and not at all where another source recorded the rollout.

The same discipline as events (`cortex_events.delivery.pipeline`), through the same queue,
client, rate limiter and fence: the entity's `DeployLedger` is rebuilt from its deploy list
(one paged pass) before its first deploy, and what it holds is never sent again. The Deploys
API lists without filters, so before each create the list is read again, a bounded scan: page
0 and up to `SCAN_PAGES_FROM_EACH_END` pages at each end of the list (one request for an
entity with up to 1,000 deploys, at most four for any other). That one scan finds a create
whose answer was lost (read then from up to `LOST_ANSWER_SCAN_PAGES` pages at each end), a
create the previous leader had in flight, and another source's deploy of the same rollout
(same sha and environment, see `decide_deploy`), which is then not recorded.

A deploy waits in the queue until its ``not_before`` (a settle time after the rollout went
live, so that a deploy Argo CD posts for the same sync is there to be found) and, after a
takeover, until creates the previous leader may have sent have landed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cortex_events.cortex.errors import CortexBadRequest, CortexNotFound, may_have_acted
from cortex_events.cortex.models import Deploy
from cortex_events.delivery.decisions import DeployAction, decide_deploy, scan_pages
from cortex_events.delivery.ledger import DeployEntry, DeployLedger, Ledger, OtherDeploy, TagState
from cortex_events.delivery.ports import CortexApi, DeployListener, NullDeployListener
from cortex_events.delivery.queue import EventQueue, OutgoingDeploy
from cortex_events.delivery.requests import deploy_request
from cortex_events.domain.render import read_owned

logger = logging.getLogger("cortex_events.delivery")

PAGE_SIZE = 1000
SCAN_PAGES_FROM_EACH_END = 2
LOST_ANSWER_SCAN_PAGES = 50
NOT_FOUND_RECHECK_SECONDS = 300.0


class DeployDelivery:
    """Called by delivery's workers for each `OutgoingDeploy`. A `CortexError` it raises is
    temporary (the workers pause and the item is tried again); what Cortex refuses for good
    is reported to the listener, once."""

    def __init__(
        self,
        api: CortexApi,
        queue: EventQueue,
        ledger: Ledger,
        *,
        cluster: str,
        listener: DeployListener | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._queue = queue
        self._ledger = ledger
        self._cluster = cluster
        self._listener: DeployListener = listener or NullDeployListener()
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._hold_until = 0.0  # monotonic: after a takeover, no create before then

    def took_over(self, check_for: float) -> None:
        """This replica leads now: a create the previous leader had in flight may still land
        for ``check_for`` seconds, so no deploy is looked up and created before that."""
        self._hold_until = time.monotonic() + check_for

    async def deliver(self, item: OutgoingDeploy) -> bool:
        """Record ``item`` unless it is recorded; False when it was put back to wait."""
        wait = max(
            (item.not_before - self._clock()).total_seconds(),
            self._hold_until - time.monotonic(),
        )
        if wait > 0:
            self._queue.retry_later(item, wait)
            return False
        ledger = await self._ledger_for(item.tag)
        if ledger is None:
            self._not_sent(self._ledger.deploys(item.tag), item, "entity_not_found",
                           f"Cortex has no entity {item.tag!r}")  # fmt: skip
            return True
        if item.key in ledger.entries or item.key in ledger.settled:
            return True
        lost = item.key in ledger.uncertain
        try:
            await self._scan(ledger, LOST_ANSWER_SCAN_PAGES if lost else SCAN_PAGES_FROM_EACH_END)
        except CortexNotFound:
            ledger.mark_not_found()
            self._not_sent(ledger, item, "entity_not_found", f"Cortex has no entity {item.tag!r}")
            return True
        ledger.uncertain.discard(item.key)
        body = item.body
        action, other = decide_deploy(
            ledger.entries.get(item.key),
            ledger.others,
            sha=body.sha,
            environment=body.environment,
            started=item.started,
            finished=body.timestamp,
        )
        if action is DeployAction.RECORDED:
            return True
        if action is DeployAction.ELSEWHERE:
            assert other is not None
            detail = (
                f"another source recorded sha {other.sha} to {other.environment} at "
                f"{other.timestamp.isoformat()}; counted once"
            )
            self._not_sent(ledger, item, "other_source", detail)
            return True
        await self._create(ledger, item)
        return True

    async def _create(self, ledger: DeployLedger, item: OutgoingDeploy) -> None:
        try:
            deploy = await self._api.create_deploy(item.tag, deploy_request(item.body))
        except CortexNotFound as error:
            ledger.mark_not_found()
            self._not_sent(ledger, item, "entity_not_found", error.message)
            return
        except CortexBadRequest as error:
            self._not_sent(ledger, item, "rejected", str(error))
            return
        except BaseException as error:
            # As for events: a create that may have been stored is looked up before it is
            # sent again (the scan above, over more pages).
            if may_have_acted(error):
                ledger.uncertain.add(item.key)
            raise
        ledger.entries[item.key] = DeployEntry(
            deploy.uuid, deploy.type, deploy.timestamp, item.entities
        )
        self._listener.deploy_sent(item)

    def _not_sent(
        self, ledger: DeployLedger, item: OutgoingDeploy, reason: str, detail: str
    ) -> None:
        if item.key in ledger.settled:
            return
        ledger.settled.add(item.key)
        self._listener.deploy_not_sent(item, reason, detail)

    # -- what Cortex holds ---------------------------------------------------------------------

    async def _ledger_for(self, tag: str) -> DeployLedger | None:
        ledger = self._ledger.deploys(tag)
        if ledger.state is TagState.LOADED:
            return ledger
        if ledger.not_found_recently(NOT_FOUND_RECHECK_SECONDS):
            return None
        async with self._locks.setdefault(tag, asyncio.Lock()):
            if _loaded(ledger):  # by another worker, meanwhile
                return ledger
            if ledger.not_found_recently(NOT_FOUND_RECHECK_SECONDS):
                return None
            try:
                await self._load(ledger)
            except CortexNotFound:
                ledger.mark_not_found()
                return None
        return ledger

    async def _load(self, ledger: DeployLedger) -> None:
        """One pass over the entity's deploys: this operator's, and the others' shas."""
        ledger.entries.clear()
        ledger.others.clear()
        async for deploy in self._api.iter_deploys(ledger.tag, page_size=PAGE_SIZE):
            self._absorb(ledger, deploy)
        ledger.state = TagState.LOADED
        ledger.not_found_since = None
        logger.info("Loaded %d recorded deploys for entity %r", len(ledger.entries), ledger.tag)

    async def _scan(self, ledger: DeployLedger, from_each_end: int) -> None:
        first = await self._api.list_deploys(ledger.tag, page=0, page_size=PAGE_SIZE)
        for deploy in first.deployments:
            self._absorb(ledger, deploy)
        for number in scan_pages(first.total_pages, from_each_end):
            page = await self._api.list_deploys(ledger.tag, page=number, page_size=PAGE_SIZE)
            for deploy in page.deployments:
                self._absorb(ledger, deploy)

    def _absorb(self, ledger: DeployLedger, deploy: Deploy) -> None:
        owned = read_owned(deploy.custom_data, cluster=self._cluster)
        if owned is not None:
            ledger.entries[owned.key] = DeployEntry(
                deploy.uuid, deploy.type, deploy.timestamp, owned.entities
            )
        elif deploy.sha:
            ledger.others.add(OtherDeploy(deploy.sha, deploy.environment, deploy.timestamp))


def _loaded(ledger: DeployLedger) -> bool:
    return ledger.state is TagState.LOADED
