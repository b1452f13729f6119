"""Leadership is one gate on the Cortex surface: every operation asks it, whichever
implementation answers, and the operations are enumerated from the classes themselves, so an
operation added later is covered here or fails `test_every_operation_is_exercised`."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cortex_events.cortex.api import CortexApi
from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexBadRequest, CortexNotFound
from cortex_events.cortex.models import CustomEventRequest, DeployRequest
from cortex_events.cortex.observer import NullObserver
from cortex_events.delivery.dryrun import DryRunCortex
from cortex_events.delivery.fence import Fence, NotLeading

TAG = "payments-api"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EVENT = CustomEventRequest(title="Created", type="POD_CREATION", timestamp=WHEN, custom_data={})
DEPLOY = DeployRequest(title="Rolled out", type="DEPLOY", timestamp=WHEN, custom_data={})

Call = Callable[[Any], Awaitable[Any] | AsyncIterator[Any]]

CALLS: dict[str, Call] = {
    "list_events": lambda api: api.list_events(TAG),
    "iter_events": lambda api: api.iter_events(TAG, type="POD_CREATION"),
    "get_event": lambda api: api.get_event(TAG, "e-1"),
    "create_event": lambda api: api.create_event(TAG, EVENT),
    "update_event": lambda api: api.update_event(TAG, "e-1", EVENT),
    "delete_event": lambda api: api.delete_event(TAG, "e-1"),
    "delete_events": lambda api: api.delete_events(TAG, type="POD_CREATION", end_time=WHEN),
    "list_deploys": lambda api: api.list_deploys(TAG),
    "iter_deploys": lambda api: api.iter_deploys(TAG),
    "create_deploy": lambda api: api.create_deploy(TAG, DEPLOY),
    "update_deploy": lambda api: api.update_deploy(TAG, "d-1", DEPLOY),
    "delete_deploy": lambda api: api.delete_deploy(TAG, "d-1"),
    "delete_deploys": lambda api: api.delete_deploys(TAG, type="DEPLOY"),
    "list_descriptors": lambda api: api.list_descriptors(),
    "iter_descriptors": lambda api: api.iter_descriptors(),
    "list_entities": lambda api: api.list_entities(),
    "iter_entities": lambda api: api.iter_entities(),
}


def operations(cls: type) -> list[str]:
    """The public methods of ``cls``: everything it can ask Cortex (closing aside)."""
    return sorted(
        name
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name != "aclose"
    )


async def run(call: Awaitable[Any] | AsyncIterator[Any]) -> None:
    if inspect.isawaitable(call):
        await call
    else:
        async for _ in call:
            pass


def test_every_operation_is_exercised() -> None:
    assert operations(CortexApi) == sorted(set(operations(CortexApi)) & set(CALLS))
    assert set(operations(CortexClient)) == set(CALLS)


class Tokens(NullObserver):
    def __init__(self) -> None:
        self.taken = 0

    def rate_limit_waited(self, seconds: float) -> None:
        self.taken += 1


def client(
    gate: Callable[[], None], sent: list[httpx.Request], tokens: Tokens | None = None
) -> CortexClient:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(400, json={"message": "refused on purpose"})

    return CortexClient(
        "https://cortex.test",
        SecretStr("ctx-key"),
        transport=httpx.MockTransport(answer),
        gate=gate,
        max_retries=0,
        observer=tokens,
    )


@pytest.mark.parametrize("name", operations(CortexClient))
async def test_a_client_that_does_not_lead_sends_no_operation(name: str) -> None:
    sent: list[httpx.Request] = []
    tokens = Tokens()
    async with client(Fence(lambda: False).check, sent, tokens) as refusing:
        with pytest.raises(NotLeading):
            await run(CALLS[name](refusing))
    assert sent == []
    assert tokens.taken == 0, "a refused call takes no rate-limit token"


@pytest.mark.parametrize("name", operations(CortexClient))
async def test_a_leading_client_sends_each_operation(name: str) -> None:
    sent: list[httpx.Request] = []
    async with client(Fence(lambda: True).check, sent) as leading:
        with pytest.raises(CortexBadRequest):
            await run(CALLS[name](leading))
    assert len(sent) == 1


@pytest.mark.parametrize("name", operations(DryRunCortex))
async def test_a_dry_run_that_does_not_lead_logs_no_operation(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cortex_events.dryrun")
    leading = [False]
    dry_run = DryRunCortex(gate=Fence(lambda: leading[0]).check)
    with pytest.raises(NotLeading):
        await run(CALLS[name](dry_run))
    assert caplog.records == []
    leading[0] = True
    if name == "get_event":  # the same call goes through once it leads
        with pytest.raises(CortexNotFound):  # a dry run starts from an empty Cortex
            await run(CALLS[name](dry_run))
    else:
        await run(CALLS[name](dry_run))
    writes = not name.startswith(("list_", "iter_", "get_"))
    assert [r.name for r in caplog.records] == (["cortex_events.dryrun"] if writes else [])
