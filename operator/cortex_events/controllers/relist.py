"""Deletions missed while a watch was broken: found from the listing that restarts it.

When a watch cannot resume (the API server restarted, or answered 410 Gone because the resource
version it would resume from was compacted away), kopf lists the resource again and hands every
listed object to the handlers as an event without a type. An object deleted in between is simply
not in that listing: no DELETED event ever comes for it. This module notices each such listing
(events without a type, per resource and watch scope, until they stop coming for a moment), and
when it is over, takes every object the recorder still knows but the listing did not show, looks
it up by name, and tells the recorder it is gone when the API server confirms it.

The first listing after start finds nothing: the recorder knows only what that listing showed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

logger = logging.getLogger("cortex_events.relist")

QUIET_SECONDS = 2.0
"""A listing is over once no listed object has arrived for this long."""


class KnownWorkloads(Protocol):
    def known(self, kind: str, namespace: str | None) -> dict[str, tuple[str, str]]:
        """Identity -> (namespace, name) of what is known of ``kind`` (in ``namespace``)."""
        ...

    async def vanished(self, kind: str, identity: str) -> None:
        """``identity`` no longer exists: record its deletion and forget it."""
        ...


class WorkloadReader(Protocol):
    async def current_uid(self, kind: str, namespace: str, name: str) -> str | None:
        """The uid of the named object, None when it does not exist."""
        ...


@dataclass(slots=True)
class _Listing:
    last: float
    seen: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)  # had a watch event since it began


class RelistReconciler:
    """Fed every watch event (`observed`); `run()` closes listings and reconciles them."""

    def __init__(
        self,
        workloads: KnownWorkloads,
        reader: WorkloadReader,
        *,
        per_namespace: bool,
        quiet: float = QUIET_SECONDS,
    ) -> None:
        self._workloads = workloads
        self._reader = reader
        self._per_namespace = per_namespace
        self._quiet = quiet
        self._listings: dict[tuple[str, str | None], _Listing] = {}
        self._wakeup = asyncio.Event()
        self.reconciled = 0  # deletions found after listings, for tests and logs

    def observed(self, kind: str, namespace: str, identity: str, event_type: str | None) -> None:
        scope = (kind, namespace if self._per_namespace else None)
        listing = self._listings.get(scope)
        if event_type is None:
            if listing is None:
                listing = self._listings[scope] = _Listing(time.monotonic())
                self._wakeup.set()
            listing.seen.add(identity)
            listing.last = time.monotonic()
        elif listing is not None:
            listing.changed.add(identity)

    async def run(self) -> None:
        """Close each listing once it has been quiet, then look for what it left out."""
        while True:
            if not self._listings:
                self._wakeup.clear()
                await self._wakeup.wait()
            now = time.monotonic()
            due = [s for s, listing in self._listings.items() if now - listing.last >= self._quiet]
            for scope in due:
                listing = self._listings.pop(scope)
                try:
                    await self._reconcile(scope, listing)
                except Exception:
                    logger.exception("Looking for %s deleted while watching was broken failed",
                                     scope[0])  # fmt: skip
            if self._listings:
                earliest = min(listing.last for listing in self._listings.values())
                await asyncio.sleep(max(earliest + self._quiet - time.monotonic(), 0.05))

    async def _reconcile(self, scope: tuple[str, str | None], listing: _Listing) -> None:
        kind, namespace = scope
        known = self._workloads.known(kind, namespace)
        present = listing.seen | listing.changed
        missing = {k: v for k, v in known.items() if k not in present}
        if not missing:
            return
        gone = 0
        for identity, (item_namespace, name) in missing.items():
            try:
                current = await self._reader.current_uid(kind, item_namespace, name)
            except Exception as error:
                logger.warning("Could not look up %s %s/%s: %s", kind, item_namespace, name, error)
                continue
            if current == identity:
                continue  # still there: its listed event had not been handled yet
            await self._workloads.vanished(kind, identity)
            gone += 1
        if gone:
            self.reconciled += gone
            logger.info(
                "%d %s deleted while the watch was broken; recording their deletions",
                gone,
                kind + ("s" if gone != 1 else ""),
            )
