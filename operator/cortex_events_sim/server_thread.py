"""The Kubernetes API stand-in, with or without the simulated cluster, on a loop of its own.

`serve_in_thread` starts a ``KubeApiServer`` (and, asked to, a ``SimulatedCluster`` working on
its store) on a new event loop in a daemon thread, for synchronous code: tests, the demo and
the benchmark. `ServerThread` reaches into that loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from cortex_events_sim.cluster import SimulatedCluster
from cortex_events_sim.kubeapi import (
    DRIVER_USER,
    OPERATOR_USER,
    KubeApiServer,
    RecordedRequest,
)
from cortex_events_sim.loop_thread import loop_in_thread

T = TypeVar("T")


class ServerThread:
    """A server (and optionally a simulated cluster) running on its own loop in a thread."""

    def __init__(
        self,
        server: KubeApiServer,
        cluster: SimulatedCluster | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.server = server
        self.cluster = cluster
        self.loop = loop
        self.url = server.url

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 30.0, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the server's loop and return its result."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def run(self, coro: Awaitable[T], *, timeout: float = 30.0) -> T:
        """Await ``coro`` on the server's loop and return its result."""

        async def wrapper() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    @property
    def requests(self) -> builtins.list[RecordedRequest]:
        """A snapshot of the recorded requests."""
        return self.call(builtins.list, self.server.requests)

    def kubeconfig(self, token: str = DRIVER_USER) -> dict[str, Any]:
        return self.server.kubeconfig(token)

    def write_kubeconfig(self, path: Path, token: str = OPERATOR_USER) -> Path:
        return self.server.write_kubeconfig(path, token)


@contextlib.contextmanager
def serve_in_thread(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    cluster: bool = False,
    cluster_options: Mapping[str, Any] | None = None,
    timeout: float = 15.0,
    stop_timeout: float | None = None,
    **server_options: Any,
) -> Iterator[ServerThread]:
    """Run a ``KubeApiServer`` (and with ``cluster=True`` a ``SimulatedCluster``) in a thread.

    ``server_options`` go to ``KubeApiServer``, ``cluster_options`` to ``SimulatedCluster``.
    Everything stops when the block ends. ``timeout`` bounds starting, and stopping unless
    ``stop_timeout`` is given.
    """
    stop_within = timeout if stop_timeout is None else stop_timeout

    async def start() -> tuple[KubeApiServer, SimulatedCluster | None]:
        server = KubeApiServer(**server_options)
        await server.start(host, port)
        sim: SimulatedCluster | None = None
        if cluster:
            sim = SimulatedCluster(server.store, **(cluster_options or {}))
            await sim.start()
        return server, sim

    async def stop(server: KubeApiServer | None, sim: SimulatedCluster | None) -> None:
        if sim is not None:
            await sim.stop()
        if server is not None:
            await server.stop()

    server: KubeApiServer | None = None
    sim: SimulatedCluster | None = None
    with loop_in_thread("kubeapi-sim", stop_timeout=stop_within) as loop:
        try:
            server, sim = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout)
            yield ServerThread(server, sim, loop)
        finally:
            asyncio.run_coroutine_threadsafe(stop(server, sim), loop).result(stop_within)
