"""Fixtures shared by the stand-in tests.

Each test module defines ``sim`` (the Kubernetes API stand-in, configured for it); ``fake`` (the
Cortex emulator, knowing the entities ``payments`` and ``shop``) is here unless a module needs
another. The clients for them are built the same way everywhere, here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import kubernetes
import pytest

from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.server_thread import ServerThread

# The kubernetes 37 client's generated types make mypy --strict noisy; it is used through Any.
_kubernetes: Any = kubernetes

FAKE_CORTEX_KEY = "test-key"


@pytest.fixture
def api(sim: ServerThread) -> Iterator[Any]:
    """The official client's ApiClient, configured from the stand-in's kubeconfig."""
    configuration = _kubernetes.client.Configuration()
    _kubernetes.config.load_kube_config_from_dict(
        sim.kubeconfig(), client_configuration=configuration
    )
    api_client = _kubernetes.client.ApiClient(configuration)
    yield api_client
    api_client.close()


@pytest.fixture
def core(api: Any) -> Any:
    return _kubernetes.client.CoreV1Api(api)


@pytest.fixture
def apps(api: Any) -> Any:
    return _kubernetes.client.AppsV1Api(api)


@pytest.fixture
def batch(api: Any) -> Any:
    return _kubernetes.client.BatchV1Api(api)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCortex]:
    cortex = FakeCortex(api_key=FAKE_CORTEX_KEY, entities=["payments", "shop"])
    await cortex.start()
    try:
        yield cortex
    finally:
        await cortex.stop()


@pytest.fixture
async def client(fake: FakeCortex) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the emulator with its key (not the project's own Cortex client)."""
    async with httpx.AsyncClient(
        base_url=fake.base_url,
        headers={"Authorization": f"Bearer {FAKE_CORTEX_KEY}"},
        timeout=5.0,
    ) as http:
        yield http
