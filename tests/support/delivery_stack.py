"""Delivery as the operator wires it (queue, ledger, workers), for tests that drive it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from cortex_events.delivery.deploy_pipeline import DeployDelivery
from cortex_events.delivery.folding import Folder, Pressure
from cortex_events.delivery.ledger import Ledger
from cortex_events.delivery.pipeline import Delivery
from cortex_events.delivery.ports import (
    CortexApi,
    DeliveryListener,
    DeployApi,
    DeployListener,
    NullListener,
)
from cortex_events.delivery.queue import EventQueue, Item
from cortex_events.domain.quiet import PodEvents


class DeliveryStack:
    def __init__(
        self,
        api: CortexApi,
        *,
        cluster: str,
        listener: DeliveryListener | None = None,
        max_queued: int = 20_000,
        on_loaded: Callable[[str], None] | None = None,
        leading: Callable[[], bool] = lambda: True,
        deploys: DeployApi | None = None,
        deploy_listener: DeployListener | None = None,
        pod_events: PodEvents = PodEvents.AUTO,
        pressure: Pressure | None = None,
        refresh: float = 0.0,
    ) -> None:
        self.queue = EventQueue(max_queued)
        self.ledger = Ledger()
        self.folder = Folder(
            self.queue,
            listener or NullListener(),
            cluster=cluster,
            default=pod_events,
            pressure=pressure or Pressure(60.0, 10.0),
            refresh=refresh,
        )
        self.deploys = (
            DeployDelivery(
                deploys, self.queue, self.ledger, cluster=cluster, listener=deploy_listener
            )
            if deploys is not None
            else None
        )
        self.delivery = Delivery(
            api,
            self.queue,
            cluster=cluster,
            ledger=self.ledger,
            listener=listener,
            on_loaded=on_loaded,
            leading=leading,
            deploys=self.deploys,
            folder=self.folder,
        )

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
