"""Loading an entity's ledger from Cortex: once, before the first decision about its events.

One listing of the entity's events (in pages of 1,000) rebuilds what this operator recorded
there, Pod summaries included. Workers that need a tag being loaded wait for that one load;
a worker with more urgent work than the one loading raises the load's urgency to its own, so
that a failure's event never waits for a listing paced as Pod churn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cortex_events.cortex.errors import CortexNotFound
from cortex_events.cortex.ratelimit import Urgency, current_urgency, urgency
from cortex_events.delivery.folding import Folder
from cortex_events.delivery.ledger import Ledger, LedgerEntry, TagLedger, TagState
from cortex_events.delivery.ports import CortexApi, DeliveryListener
from cortex_events.delivery.requests import body_of
from cortex_events.domain.podsummary import SummaryBook
from cortex_events.domain.priority import Priority
from cortex_events.domain.render import body_fingerprint, read_owned

logger = logging.getLogger("cortex_events.delivery")

# How long a tag that Cortex answered 404 for stays "not found" before it is asked again.
NOT_FOUND_RECHECK_SECONDS = 300.0


class LedgerLoader:
    def __init__(
        self,
        api: CortexApi,
        ledger: Ledger,
        folder: Folder,
        *,
        cluster: str,
        listener: DeliveryListener,
        on_loaded: Callable[[str], None] | None = None,
    ) -> None:
        self._api = api
        self.ledger = ledger
        self._folder = folder
        self._cluster = cluster
        self._listener = listener
        self._on_loaded = on_loaded  # told each tag whose ledger was loaded from Cortex
        self._locks: dict[str, asyncio.Lock] = {}
        self._loading: dict[str, Urgency] = {}  # tag -> the urgency its load runs at

    async def ledger_for(self, tag: str) -> TagLedger | None:
        """The tag's ledger, loaded from Cortex if needed; None when Cortex has no such entity.

        Raises `CortexError` when Cortex cannot answer now.
        """
        ledger = self.ledger.tag(tag)
        if ledger.state is TagState.LOADED:
            return ledger
        if ledger.not_found_recently(NOT_FOUND_RECHECK_SECONDS):
            return None
        mine = current_urgency()
        loading = self._loading.get(tag)
        if loading is not None and mine is not None:
            loading.raise_to(mine.level)
        lock = self._locks.setdefault(tag, asyncio.Lock())
        async with lock:
            # Another worker loaded it, or learnt that Cortex has no such entity, meanwhile.
            if _loaded(ledger):
                return ledger
            if ledger.not_found_recently(NOT_FOUND_RECHECK_SECONDS):
                return None
            level = Urgency(mine.level if mine is not None else Priority.WORKLOAD)
            self._loading[tag] = level
            try:
                with urgency(level):
                    await self.load(ledger)
            except CortexNotFound:
                ledger.mark_not_found()
                self._listener.entity_missing(tag)
                return None
            finally:
                self._loading.pop(tag, None)
        return ledger

    async def load(self, ledger: TagLedger) -> None:
        """Rebuild one tag's ledger from the events this operator owns in Cortex."""
        entries: dict[str, LedgerEntry] = {}
        ledger.summaries = SummaryBook()
        async for event in self._api.iter_events(ledger.tag, page_size=1000):
            owned = read_owned(event.custom_data, cluster=self._cluster)
            if owned is None:
                continue
            fingerprint = body_fingerprint(body_of(event))
            entry = entries[owned.key] = LedgerEntry.of(event, owned, fingerprint)
            self.ledger.note_replicas(entry.subject_uid, event.timestamp, owned.details)
            self._folder.restore(ledger, owned, event)
        ledger.entries = entries
        ledger.state = TagState.LOADED
        ledger.not_found_since = None
        logger.info("Loaded %d recorded events for entity %r", len(entries), ledger.tag)
        if self._on_loaded is not None:
            self._on_loaded(ledger.tag)


def _loaded(ledger: TagLedger) -> bool:
    return ledger.state is TagState.LOADED
