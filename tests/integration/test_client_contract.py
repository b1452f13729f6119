"""Contract of `CortexClient` against the Cortex emulator over real HTTP on loopback.

Each test starts its own emulator on 127.0.0.1 (a free port) and stops it afterwards. Retry
delays go through a recording sleep that does not wait, so the suite stays fast while the
delays the client chose are still checked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import SecretStr

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import (
    CortexAuthError,
    CortexBadRequest,
    CortexConnectionError,
    CortexNotFound,
    CortexRateLimited,
    CortexResponseError,
    CortexServerError,
)
from cortex_events.cortex.models import CustomEventRequest
from cortex_events.cortex.ratelimit import TokenBucket
from cortex_events.delivery import pipeline
from cortex_events.delivery.queue import Outgoing
from cortex_events.domain.render import MANAGED_BY, EventBody
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.fake_cortex.faults import GarbleForm
from tests.support.delivery_stack import DeliveryStack

pytestmark = pytest.mark.integration

KEY = "contract-test-key-5f1c"
TAG = "payments-api"
T0 = datetime(2025, 5, 20, 5, 16, 49, 990_000, tzinfo=UTC)
BERLIN = timezone(timedelta(hours=2))

MakeClient = Callable[..., CortexClient]


def request(n: int = 0, **changes: Any) -> CustomEventRequest:
    fields: dict[str, Any] = {
        "title": f"Created K8s pod web-{n}",
        "type": "POD_CREATION",
        "timestamp": T0 + timedelta(minutes=n),
        "custom_data": {"eventKey": f"k-{n}", "namespace": "shop"},
    }
    fields.update(changes)
    return CustomEventRequest(**fields)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCortex]:
    cortex = FakeCortex(api_key=KEY, entities=[TAG, "orders"])
    await asyncio.wait_for(cortex.start(), timeout=10)
    try:
        yield cortex
    finally:
        await asyncio.wait_for(cortex.stop(), timeout=10)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def make_client(fake: FakeCortex, sleeps: list[float]) -> AsyncIterator[MakeClient]:
    clients: list[CortexClient] = []

    async def recorded_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    def build(key: str = KEY, **options: Any) -> CortexClient:
        settings: dict[str, Any] = {
            "rate_limiter": TokenBucket(60_000, burst=1_000),
            "sleep": recorded_sleep,
            "jitter": lambda: 1.0,
        }
        settings.update(options)
        client = CortexClient(fake.base_url, SecretStr(key), **settings)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: MakeClient) -> CortexClient:
    return make_client()


# -- operations ------------------------------------------------------------------------------


async def test_create_get_update_delete_round_trip(client: CortexClient, fake: FakeCortex) -> None:
    created = await client.create_event(
        TAG, request(description="pod created", url="https://cortex.io")
    )

    assert str(uuid.UUID(created.uuid)) == created.uuid
    assert created.timestamp == T0
    assert created.custom_data == {"eventKey": "k-0", "namespace": "shop"}
    fetched = await client.get_event(TAG, created.uuid)
    assert fetched == created

    replaced = await client.update_event(
        TAG, created.uuid, request(title="Pod ready", custom_data={"phase": "Running"})
    )
    assert replaced.uuid == created.uuid
    assert replaced.title == "Pod ready"
    # PUT is a full replacement: what the new body leaves out is gone.
    assert replaced.description is None
    assert replaced.url is None
    assert (await client.get_event(TAG, created.uuid)).custom_data == {"phase": "Running"}

    await client.delete_event(TAG, created.uuid)
    with pytest.raises(CortexNotFound):
        await client.get_event(TAG, created.uuid)
    assert fake.state.events(TAG) == []


async def test_pages_and_iteration_cover_every_event_in_order(client: CortexClient) -> None:
    for n in reversed(range(7)):
        await client.create_event(TAG, request(n))

    pages = [await client.list_events(TAG, page=p, page_size=3) for p in range(4)]

    assert [len(p.events) for p in pages] == [3, 3, 1, 0]
    assert {(p.total, p.total_pages) for p in pages} == {(7, 3)}
    titles = [e.title async for e in client.iter_events(TAG, page_size=3)]
    assert titles == [f"Created K8s pod web-{n}" for n in range(7)]


async def test_list_filters_by_type_and_inclusive_time_range(client: CortexClient) -> None:
    for n in range(5):
        await client.create_event(TAG, request(n))
    await client.create_event(TAG, request(2, type="POD_FAILURE"))

    page = await client.list_events(
        TAG,
        type="POD_CREATION",
        # 05:17:49.990 UTC written in another zone: sent zone-less in UTC.
        start_time=(T0 + timedelta(minutes=1)).astimezone(BERLIN),
        end_time=T0 + timedelta(minutes=3),
    )

    assert [e.custom_data["eventKey"] for e in page.events] == ["k-1", "k-2", "k-3"]
    assert page.total == 3


async def test_filtered_delete_removes_only_matching_events(
    client: CortexClient, fake: FakeCortex
) -> None:
    for n in range(4):
        await client.create_event(TAG, request(n))
    await client.create_event(TAG, request(0, type="DEPLOYMENT_SCALE"))
    await client.create_event("orders", request(0))

    await client.delete_events(TAG, type="POD_CREATION", end_time=T0 + timedelta(minutes=1))

    left = [(e.type, e.custom_data["eventKey"]) async for e in client.iter_events(TAG)]
    assert left == [("DEPLOYMENT_SCALE", "k-0"), ("POD_CREATION", "k-2"), ("POD_CREATION", "k-3")]
    assert len(fake.state.events("orders")) == 1


# -- errors ----------------------------------------------------------------------------------


async def test_unknown_entity_is_not_found(client: CortexClient, fake: FakeCortex) -> None:
    with pytest.raises(CortexNotFound) as listing:
        await client.list_events("no-such-service")
    with pytest.raises(CortexNotFound):
        await client.create_event("no-such-service", request())

    assert listing.value.status_code == 404
    assert "no-such-service" in listing.value.message
    assert fake.state.events() == []
    assert len(fake.state.requests) == 2


async def test_unknown_event_is_not_found(client: CortexClient) -> None:
    missing = str(uuid.uuid4())

    with pytest.raises(CortexNotFound, match=missing):
        await client.get_event(TAG, missing)
    with pytest.raises(CortexNotFound):
        await client.update_event(TAG, missing, request())
    with pytest.raises(CortexNotFound):
        await client.delete_event(TAG, missing)


async def test_malformed_uuid_is_a_bad_request(client: CortexClient, fake: FakeCortex) -> None:
    with pytest.raises(CortexBadRequest) as caught:
        await client.get_event(TAG, "not-a-uuid")

    assert caught.value.status_code == 400
    assert "uuid" in caught.value.message
    assert len(fake.state.requests) == 1


async def test_wrong_key_is_an_auth_error_and_not_retried(
    make_client: MakeClient, fake: FakeCortex
) -> None:
    client = make_client(key="wrong-key-abc")

    with pytest.raises(CortexAuthError) as caught:
        await client.list_events(TAG)

    assert caught.value.status_code == 401
    assert "wrong-key-abc" not in str(caught.value)
    assert len(fake.state.requests) == 1


# -- rate limits and retries -----------------------------------------------------------------


async def test_429_is_retried_after_the_servers_delay(
    client: CortexClient, fake: FakeCortex, sleeps: list[float]
) -> None:
    fake.faults.rate_limit_next(2, retry_after=3)

    created = await client.create_event(TAG, request())

    assert sleeps == [3.0, 3.0]
    assert [r.status for r in fake.state.requests] == [429, 429, 200]
    assert [e.uuid for e in fake.state.events(TAG)] == [created.uuid]


async def test_emulator_rate_limit_surfaces_retry_after() -> None:
    async with (
        FakeCortex(api_key=KEY, rate_limit=2) as limited,
        CortexClient(
            limited.base_url,
            SecretStr(KEY),
            rate_limiter=TokenBucket(60_000, burst=1_000),
            max_retries=0,
        ) as client,
    ):
        await client.list_events(TAG)
        await client.list_events(TAG)

        with pytest.raises(CortexRateLimited) as caught:
            await client.list_events(TAG)

    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60
    assert "Rate limit" in caught.value.message


async def test_server_errors_are_retried_for_reads_but_not_for_creates(
    client: CortexClient, fake: FakeCortex, sleeps: list[float]
) -> None:
    fake.faults.fail_next(2, 503, method="GET")
    fake.faults.fail_next(1, 500, method="POST")

    page = await client.list_events(TAG)
    with pytest.raises(CortexServerError):
        await client.create_event(TAG, request())

    assert page.total == 0
    assert sleeps == [0.5, 1.0]
    assert [(r.method, r.status) for r in fake.state.requests] == [
        ("GET", 503),
        ("GET", 503),
        ("GET", 200),
        ("POST", 500),
    ]


async def test_dropped_connection_is_retried_for_reads_but_not_for_creates(
    client: CortexClient, fake: FakeCortex
) -> None:
    created = await client.create_event(TAG, request())
    fake.faults.drop_next(1, method="GET")
    fake.faults.drop_next(1, method="POST")

    assert (await client.get_event(TAG, created.uuid)).uuid == created.uuid
    with pytest.raises(CortexConnectionError) as caught:
        await client.create_event(TAG, request(1))

    assert caught.value.request_sent is True
    assert len(fake.state.events(TAG)) == 1
    assert [r.method for r in fake.state.requests].count("POST") == 2


async def test_unreachable_cortex_is_a_connection_error_not_sent(
    make_client: MakeClient, fake: FakeCortex, sleeps: list[float]
) -> None:
    client = make_client(max_retries=2)
    await fake.stop()

    with pytest.raises(CortexConnectionError) as caught:
        await client.create_event(TAG, request())

    assert caught.value.request_sent is False
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("form", ["html", "truncated"])
async def test_a_create_stored_but_answered_with_a_garbled_body_is_a_response_error(
    client: CortexClient, fake: FakeCortex, form: GarbleForm
) -> None:
    fake.faults.garble_next(1, form, method="POST")

    with pytest.raises(CortexResponseError):
        await client.create_event(TAG, request())

    assert len(fake.state.events(TAG)) == 1, "Cortex stored it before the answer was spoiled"
    assert [r.method for r in fake.state.requests] == ["POST"], "a create is never re-sent"


@pytest.mark.parametrize("form", ["html", "truncated"])
async def test_delivery_records_an_event_once_when_its_create_is_answered_garbled(
    client: CortexClient, fake: FakeCortex, monkeypatch: pytest.MonkeyPatch, form: GarbleForm
) -> None:
    monkeypatch.setattr(pipeline, "PAUSE_INITIAL_SECONDS", 0.01)
    stack = DeliveryStack(client, cluster="contract")
    body = EventBody(
        title="Pod web-1 created",
        type="POD_CREATION",
        timestamp=T0,
        description="Running on node-1",
        custom_data={
            "cluster": "contract",
            "managedBy": MANAGED_BY,
            "eventKey": "pod/u1/created",
            "namespace": "shop",
            "kind": "Pod",
            "name": "web-1",
            "uid": "u1",
            "cortexEntities": [],
        },
    )
    fake.faults.garble_next(1, form, method="POST")
    await stack.run_until_idle(
        Outgoing(tag=TAG, body=body, updatable=True, entities=()),
        timeout=10,
    )

    (event,) = fake.state.events(TAG)
    assert (event.custom_data or {}).get("eventKey") == "pod/u1/created"
    assert [r.method for r in fake.state.requests].count("POST") == 1
    assert stack.ledger.tag(TAG).entries["pod/u1/created"].uuid == event.uuid
