"""Liveness (``:8080/healthz``) and Prometheus metrics (``:9090/metrics``) over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class DeliveryState(Protocol):
    """What liveness reads of delivery."""

    @property
    def depth(self) -> int: ...

    @property
    def paused(self) -> bool: ...

    @property
    def last_progress(self) -> float: ...


class ListenError(Exception):
    """A port of /healthz or /metrics cannot be listened on; the message is one line."""


class HealthServer:
    """``wedged_after``: seconds the Kubernetes API may stay silent, or delivery stay without
    progress while events wait, before liveness fails."""

    def __init__(
        self, delivery: DeliveryState, registry: CollectorRegistry, *, wedged_after: float
    ) -> None:
        self._delivery = delivery
        self._registry = registry
        self._wedged_after = wedged_after
        self._runners: list[web.AppRunner] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.api_answered = time.monotonic()
        # What the API refuses the operator now (``HTTP 401 Unauthorized``), None otherwise.
        self.api_refusal: str | None = None

    def watch_tasks(self, **tasks: asyncio.Task[None]) -> None:
        self._tasks.update(tasks)

    def problems(self) -> list[str]:
        """Why the operator is not healthy; empty when it is."""
        limit = self._wedged_after
        now = time.monotonic()
        found = [f"{name} loop has stopped" for name, task in self._tasks.items() if task.done()]
        silent_for = now - self.api_answered
        if silent_for > limit and self.api_refusal is not None:
            found.append(
                f"the Kubernetes API has refused the operator's requests for {silent_for:.0f}s "
                f"({self.api_refusal})"
            )
        elif silent_for > limit:
            found.append(
                f"the Kubernetes API has not answered for {silent_for:.0f}s "
                "(watch streams cannot be alive)"
            )
        delivery = self._delivery
        idle_for = now - delivery.last_progress
        if delivery.depth and idle_for > limit and not delivery.paused:
            found.append(
                f"delivery made no progress for {idle_for:.0f}s with {delivery.depth} queued"
            )
        return found

    async def _healthz(self, request: web.Request) -> web.Response:
        """Liveness, and readiness too: a standby that watches and keeps up is as ready as
        the leader (it takes over within the lease duration)."""
        problems = self.problems()
        body = {"status": "ok" if not problems else "failing", "problems": problems}
        return web.Response(
            status=200 if not problems else 500,
            text=json.dumps(body),
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        payload = generate_latest(self._registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, health_port: int, metrics_port: int, host: str = "0.0.0.0") -> None:
        """Listen on both ports (0: that endpoint is off); `ListenError` when one is taken."""
        routes: dict[int, list[web.RouteDef]] = {}
        names: dict[int, list[str]] = {}
        if health_port:
            routes.setdefault(health_port, []).extend(
                [web.get("/healthz", self._healthz), web.get("/readyz", self._healthz)]
            )
            names.setdefault(health_port, []).append("/healthz (--health-port, CORTEX_HEALTH_PORT)")
        if metrics_port:
            routes.setdefault(metrics_port, []).append(web.get("/metrics", self._metrics))
            names.setdefault(metrics_port, []).append(
                "/metrics (--metrics-port, CORTEX_METRICS_PORT)"
            )
        for port, port_routes in routes.items():
            application = web.Application()
            application.add_routes(port_routes)
            runner = web.AppRunner(application, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as error:
                await runner.cleanup()
                await self.stop()
                raise ListenError(
                    f"cannot serve {' and '.join(names[port])} on {host}:{port}: "
                    f"{os.strerror(error.errno) if error.errno else error}; "
                    "choose another port, or 0 to turn it off"
                ) from None
            self._runners.append(runner)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
