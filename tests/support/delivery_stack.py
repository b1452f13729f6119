"""Delivery as the operator wires it (queue, ledger, workers), for tests that drive it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from cortex_events.delivery.ledger import Ledger
from cortex_events.delivery.pipeline import Delivery
from cortex_events.delivery.ports import CortexApi, DeliveryListener
from cortex_events.delivery.queue import EventQueue, Outgoing


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
    ) -> None:
        self.queue = EventQueue(max_queued)
        self.ledger = Ledger()
        self.delivery = Delivery(
            api,
            self.queue,
            cluster=cluster,
            ledger=self.ledger,
            listener=listener,
            on_loaded=on_loaded,
            leading=leading,
        )

    async def submit(self, item: Outgoing) -> None:
        await self.queue.submit(item)

    async def run_until_idle(self, *items: Outgoing, timeout: float = 5) -> None:
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
