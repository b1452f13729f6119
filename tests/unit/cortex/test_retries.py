"""What the Cortex client logs of its retries: one line per cause, then a count a minute."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from pydantic import SecretStr

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexConnectionError
from cortex_events.cortex.retries import RetryLog

BASE_URL = "http://127.0.0.1:1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("All connection attempts failed", request=request)


def client(handler: httpx.MockTransport, clock: Clock) -> CortexClient:
    return CortexClient(
        BASE_URL,
        SecretStr("key-0123456789"),
        per_minute=1000,
        transport=handler,
        sleep=clock.sleep,
        clock=clock,
        jitter=lambda: 0.0,
        retry_log=RetryLog(BASE_URL, clock=clock),
    )


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "cortex_events.cortex"
    ]


async def test_a_wrong_base_url_is_one_warning_for_every_entity_and_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    async with client(httpx.MockTransport(refused), clock) as cortex:
        with caplog.at_level(logging.INFO, logger="cortex_events.cortex"):
            for tag in ("web", "api", "db"):
                with pytest.raises(CortexConnectionError):
                    await cortex.list_events(tag)
    (line,) = warnings(caplog)
    assert line.startswith(
        "Cortex requests are being retried: GET /api/v1/catalog/web/custom-events failed "
        "(ConnectError: All connection attempts failed); nothing answers at "
        "http://127.0.0.1:1: check CORTEX_BASE_URL."
    )


async def test_retries_of_one_cause_are_counted_and_said_after_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = RetryLog(BASE_URL, clock=clock)
    with caplog.at_level(logging.INFO, logger="cortex_events.cortex"):
        for second in range(0, 61, 5):  # 13 retries, 5 s apart
            clock.now = float(second)
            log.retrying("GET", f"/api/v1/catalog/t{second}/custom-events", "HTTP 503",
                         "HTTP 503: down")  # fmt: skip
        log.retrying("POST", "/x", "HTTP 429", "HTTP 429: slow down")
    first, summary, other = warnings(caplog)
    assert "HTTP 503: down" in first
    assert "Cortex is failing" in first
    assert summary.startswith("Cortex requests were retried 12 more times in the last 60s")
    assert "another client may be spending its budget" in other
