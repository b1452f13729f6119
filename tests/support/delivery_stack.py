"""Delivery as the operator wires it (queue, ledger, workers), for tests that drive it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from cortex_events.cortex.api import CortexApi
from cortex_events.delivery.folding import Pressure
from cortex_events.delivery.pipeline import Delivery
from cortex_events.delivery.ports import DeliveryListener, DeployListener
from cortex_events.delivery.queue import Item
from cortex_events.delivery.wiring import DeliveryParts
from cortex_events.domain.quiet import PodEvents


class DeliveryStack:
    """`DeliveryParts` as the operator builds them, with the test's Cortex and listeners."""

    def __init__(
        self,
        api: CortexApi,
        *,
        cluster: str,
        listener: DeliveryListener | None = None,
        max_queued: int = 20_000,
        on_loaded: Callable[[str], None] | None = None,
        leading: Callable[[], bool] = lambda: True,
        deploys: bool = False,
        deploy_listener: DeployListener | None = None,
        pod_events: PodEvents = PodEvents.AUTO,
        pressure: Pressure | None = None,
        refresh: float = 0.0,
    ) -> None:
        self.parts = DeliveryParts.build(
            api,
            cluster=cluster,
            queue_size=max_queued,
            listener=listener,
            leading=leading,
            on_loaded=on_loaded,
            pod_events=pod_events,
            pressure=pressure,
            refresh=refresh,
            deploys=deploys,
            deploy_listener=deploy_listener,
        )
        self.queue, self.ledger = self.parts.queue, self.parts.ledger
        self.folder, self.deploys = self.parts.folder, self.parts.deploys
        self.delivery = self.parts.delivery

    async def submit(self, item: Item) -> None:
        await self.queue.submit(item)

    async def run_until_idle(self, *items: Item, timeout: float = 5) -> None:
        async with self.running():
            for item in items:
                await self.submit(item)
            assert await self.queue.wait_idle(timeout=timeout), "delivery did not finish"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Delivery]:
        worker = asyncio.create_task(self.delivery.run())
        try:
            yield self.delivery
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
