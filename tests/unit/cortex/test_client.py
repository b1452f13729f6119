"""Cortex client tests: every operation, errors, retries, rate limiting and the key's secrecy.

The client runs on an `httpx.MockTransport` that answers from a script, with fake time so that
backoff and rate-limit waits are recorded instead of slept."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import (
    CortexAuthError,
    CortexBadRequest,
    CortexConnectionError,
    CortexError,
    CortexNotFound,
    CortexRateLimited,
    CortexResponseError,
    CortexServerError,
)
from cortex_events.cortex.models import CustomEventRequest
from cortex_events.cortex.ratelimit import TokenBucket

API_KEY = "ctx-secret-KEY-0123456789abcdef"
BASE_URL = "https://cortex.test"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeTime:
    """A monotonic clock that only moves when something sleeps on it."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class ScriptedCortex:
    """An httpx handler that records each request and answers from a script, in order."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.script: deque[Reply] = deque()

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.script:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        item = self.script.popleft()
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return item(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


@dataclass
class RecordingObserver:
    finished: list[tuple[str, str]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    retries: list[tuple[str, int, float, str]] = field(default_factory=list)

    def request_finished(self, method: str, status: str, seconds: float) -> None:
        self.finished.append((method, status))

    def rate_limit_waited(self, seconds: float) -> None:
        self.waits.append(seconds)

    def retrying(self, method: str, attempt: int, delay: float, reason: str) -> None:
        self.retries.append((method, attempt, delay, reason))


def event_json(uuid: str = "e-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": uuid,
        "title": "Created K8s pod",
        "type": "POD_CREATION",
        "timestamp": "2025-05-20T05:16:49.990Z",
        "customData": {"namespace": "shop"},
    }
    body.update(overrides)
    return body


def request_error(exc_type: type[httpx.RequestError], message: str = "boom") -> Exception:
    return exc_type(message, request=httpx.Request("GET", BASE_URL))


MakeClient = Callable[..., CortexClient]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def cortex() -> ScriptedCortex:
    return ScriptedCortex()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def make_client(
    cortex: ScriptedCortex, fake_time: FakeTime, observer: RecordingObserver
) -> AsyncIterator[MakeClient]:
    """Builds clients on the scripted transport with fake time; closes them afterwards."""
    clients: list[CortexClient] = []

    def build(**overrides: Any) -> CortexClient:
        options: dict[str, Any] = {
            "rate_limiter": TokenBucket(
                60_000, burst=1_000, clock=fake_time.clock, sleep=fake_time.sleep
            ),
            "transport": httpx.MockTransport(cortex),
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "jitter": lambda: 1.0,
            "observer": observer,
        }
        options.update(overrides)
        client = CortexClient(BASE_URL, SecretStr(API_KEY), **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: MakeClient) -> CortexClient:
    return make_client()


UTC_TIME = datetime(2025, 5, 20, 5, 16, 49, 990_000, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


# -- operations ------------------------------------------------------------------------------


async def test_list_events_sends_filters_paging_and_bearer_key(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(ok({"events": [event_json()], "page": 2, "total": 11, "totalPages": 3}))

    page = await client.list_events(
        "payments-api",
        type="POD_CREATION",
        start_time=datetime(2025, 5, 20, 7, 16, 49, 990_123, tzinfo=PLUS_TWO),
        end_time=UTC_TIME + timedelta(hours=1),
        page=2,
        page_size=5,
    )

    request = cortex.last
    assert request.method == "GET"
    assert request.url.path == "/api/v1/catalog/payments-api/custom-events"
    assert dict(request.url.params) == {
        "type": "POD_CREATION",
        "startTime": "2025-05-20T05:16:49.990",
        "endTime": "2025-05-20T06:16:49.990",
        "page": "2",
        "pageSize": "5",
    }
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"].startswith("cortex-events-operator/")
    assert (page.page, page.total, page.total_pages) == (2, 11, 3)
    assert [event.uuid for event in page.events] == ["e-1"]
    assert page.events[0].custom_data == {"namespace": "shop"}


async def test_list_events_defaults_to_first_page_of_250_without_filters(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(ok({"events": [], "page": 0, "total": 0, "totalPages": 0}))

    page = await client.list_events("payments-api")

    assert dict(cortex.last.url.params) == {"page": "0", "pageSize": "250"}
    assert page.events == []


async def test_tag_and_uuid_are_quoted_into_the_path(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(ok(event_json("a/b c")))

    await client.get_event("team/payments api", "a/b c")

    assert cortex.last.url.raw_path == (
        b"/api/v1/catalog/team%2Fpayments%20api/custom-events/a%2Fb%20c"
    )


async def test_base_url_path_prefix_is_kept(
    make_client: MakeClient, cortex: ScriptedCortex
) -> None:
    client = make_client()
    proxied = CortexClient(
        "https://cortex.example/proxy/",
        SecretStr(API_KEY),
        rate_limiter=client.rate_limiter,
        transport=httpx.MockTransport(cortex),
    )
    cortex.reply(ok(event_json()))
    async with proxied:
        await proxied.get_event("svc", "e-1")

    assert (
        str(cortex.last.url) == "https://cortex.example/proxy/api/v1/catalog/svc/custom-events/e-1"
    )


async def test_get_event_reads_the_event_in_utc_and_keeps_unknown_fields(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(
        ok(event_json(timestamp="2025-05-20T07:16:49.990+02:00", url="https://x", extra=1))
    )

    event = await client.get_event("payments-api", "e-1")

    assert cortex.last.method == "GET"
    assert cortex.last.url.path == "/api/v1/catalog/payments-api/custom-events/e-1"
    assert event.timestamp == UTC_TIME
    assert event.timestamp.utcoffset() == timedelta(0)
    assert event.url == "https://x"
    assert event.model_extra == {"extra": 1}


async def test_create_event_posts_the_body_and_returns_the_assigned_uuid(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(ok(event_json("new-uuid")))
    request = CustomEventRequest(
        title="Created K8s pod",
        type="POD_CREATION",
        timestamp=datetime(2025, 5, 20, 7, 16, 49, 990_999, tzinfo=PLUS_TWO),
        custom_data={"eventKey": "k1", "replicas": 3},
    )

    created = await client.create_event("payments-api", request)

    assert cortex.last.method == "POST"
    assert cortex.last.url.path == "/api/v1/catalog/payments-api/custom-events"
    assert cortex.last.headers["Content-Type"] == "application/json"
    assert cortex.body() == {
        "title": "Created K8s pod",
        "type": "POD_CREATION",
        "timestamp": "2025-05-20T05:16:49.990Z",
        "customData": {"eventKey": "k1", "replicas": 3},
    }
    assert created.uuid == "new-uuid"


async def test_update_event_puts_a_full_replacement(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(ok(event_json("e-7", title="Rolled out")))
    request = CustomEventRequest(
        title="Rolled out",
        type="DEPLOYMENT_ROLLOUT",
        timestamp=UTC_TIME,
        description="done",
        url="https://ci/run/1",
    )

    updated = await client.update_event("payments-api", "e-7", request)

    assert cortex.last.method == "PUT"
    assert cortex.last.url.path == "/api/v1/catalog/payments-api/custom-events/e-7"
    assert cortex.body() == {
        "title": "Rolled out",
        "type": "DEPLOYMENT_ROLLOUT",
        "timestamp": "2025-05-20T05:16:49.990Z",
        "description": "done",
        "url": "https://ci/run/1",
        "customData": {},
    }
    assert updated.title == "Rolled out"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(204),
        httpx.Response(200),
        httpx.Response(200, content=b"  "),
        httpx.Response(200, text="OK"),
    ],
    ids=["204", "200-empty", "200-blank", "200-text"],
)
async def test_delete_event_accepts_an_empty_answer(
    client: CortexClient, cortex: ScriptedCortex, answer: httpx.Response
) -> None:
    cortex.reply(answer)

    await client.delete_event("payments-api", "e-1")

    assert len(cortex.requests) == 1
    assert cortex.last.method == "DELETE"
    assert cortex.last.url.path == "/api/v1/catalog/payments-api/custom-events/e-1"
    assert cortex.last.content == b""


async def test_delete_events_sends_type_and_time_filters(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(httpx.Response(204))

    await client.delete_events(
        "payments-api", type="POD_CREATION", end_time=datetime(2025, 5, 1, tzinfo=PLUS_TWO)
    )

    assert cortex.last.method == "DELETE"
    assert cortex.last.url.path == "/api/v1/catalog/payments-api/custom-events"
    assert dict(cortex.last.url.params) == {
        "type": "POD_CREATION",
        "endTime": "2025-04-30T22:00:00.000",
    }


@pytest.mark.parametrize("event_type", ["", "   "])
async def test_delete_events_without_a_type_is_refused_before_sending(
    client: CortexClient, cortex: ScriptedCortex, event_type: str
) -> None:
    with pytest.raises(ValueError, match="type"):
        await client.delete_events("payments-api", type=event_type)
    assert cortex.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page": -1},
        {"page_size": 0},
        {"page_size": 1001},
        {"start_time": datetime(2025, 5, 20, 5, 0)},
        {"end_time": datetime(2025, 5, 20, 5, 0)},
        {"start_time": UTC_TIME, "end_time": UTC_TIME - timedelta(seconds=1)},
        {"type": ""},
    ],
    ids=["page", "size-0", "size-1001", "naive-start", "naive-end", "reversed", "empty-type"],
)
async def test_list_arguments_are_checked_before_sending(
    client: CortexClient, cortex: ScriptedCortex, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        await client.list_events("payments-api", **kwargs)
    assert cortex.requests == []


@pytest.mark.parametrize("tag", ["", " "])
async def test_empty_tag_is_refused(client: CortexClient, cortex: ScriptedCortex, tag: str) -> None:
    with pytest.raises(ValueError, match="tag"):
        await client.get_event(tag, "e-1")
    assert cortex.requests == []


async def test_iter_events_walks_every_page(client: CortexClient, cortex: ScriptedCortex) -> None:
    cortex.reply(
        ok({"events": [event_json("a"), event_json("b")], "page": 0, "total": 5, "totalPages": 3}),
        ok({"events": [event_json("c"), event_json("d")], "page": 1, "total": 5, "totalPages": 3}),
        ok({"events": [event_json("e")], "page": 2, "total": 5, "totalPages": 3}),
    )

    seen = [e.uuid async for e in client.iter_events("svc", type="POD_CREATION", page_size=2)]

    assert seen == ["a", "b", "c", "d", "e"]
    assert [dict(r.url.params) for r in cortex.requests] == [
        {"type": "POD_CREATION", "page": str(n), "pageSize": "2"} for n in range(3)
    ]


async def test_iter_events_stops_at_an_empty_page(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(
        ok({"events": [event_json("a")], "page": 0, "total": 3, "totalPages": 3}),
        ok({"events": [], "page": 1, "total": 1, "totalPages": 3}),
    )

    seen = [e.uuid async for e in client.iter_events("svc")]

    assert seen == ["a"]
    assert len(cortex.requests) == 2
    assert cortex.requests[0].url.params["pageSize"] == "1000"


def test_iter_events_checks_arguments_when_called(client: CortexClient) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.iter_events("svc", page_size=5000)
    with pytest.raises(ValueError, match="aware"):
        client.iter_events("svc", start_time=datetime(2025, 1, 1))


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, CortexBadRequest),
        (401, CortexAuthError),
        (403, CortexAuthError),
        (404, CortexNotFound),
        (409, CortexBadRequest),
        (422, CortexBadRequest),
        (429, CortexRateLimited),
        (500, CortexServerError),
        (503, CortexServerError),
    ],
)
async def test_each_status_raises_its_error_with_the_servers_message(
    make_client: MakeClient, cortex: ScriptedCortex, status: int, error_class: type[CortexError]
) -> None:
    client = make_client(max_retries=0)
    cortex.reply(httpx.Response(status, json={"message": f"nope {status}"}))

    with pytest.raises(error_class) as caught:
        await client.get_event("svc", "e-1")

    assert caught.value.status_code == status
    assert caught.value.message == f"nope {status}"
    assert f"nope {status}" in str(caught.value)
    assert str(status) in str(caught.value)
    assert "/api/v1/catalog/svc/custom-events/e-1" in str(caught.value)


async def test_rate_limited_error_carries_retry_after(
    make_client: MakeClient, cortex: ScriptedCortex
) -> None:
    client = make_client(max_retries=0)
    cortex.reply(
        httpx.Response(
            429,
            headers={"Retry-After": "12", "Content-Type": "application/problem+json"},
            json={"title": "Too Many Requests", "status": 429},
        )
    )

    with pytest.raises(CortexRateLimited) as caught:
        await client.list_events("svc")

    assert caught.value.retry_after == 12.0
    assert caught.value.message == "Too Many Requests"


async def test_not_found_on_create_is_not_retried_and_names_the_entity(
    client: CortexClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    cortex.reply(httpx.Response(404, json={"detail": "Entity with tag nope not found"}))
    request = CustomEventRequest(title="t", type="POD_CREATION", timestamp=UTC_TIME)

    with pytest.raises(CortexNotFound, match="Entity with tag nope not found"):
        await client.create_event("nope", request)
    assert len(cortex.requests) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_never_retried(
    client: CortexClient, cortex: ScriptedCortex, fake_time: FakeTime, status: int
) -> None:
    cortex.reply(httpx.Response(status, text="bad"))

    with pytest.raises(CortexError):
        await client.delete_event("svc", "e-1")

    assert len(cortex.requests) == 1
    assert fake_time.sleeps == []


async def test_success_body_of_the_wrong_shape_is_a_response_error(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(ok({"unexpected": True}), httpx.Response(200, text="<html>"))

    with pytest.raises(CortexResponseError, match="CustomEvent"):
        await client.get_event("svc", "e-1")
    with pytest.raises(CortexResponseError, match="not JSON"):
        await client.get_event("svc", "e-1")


@pytest.mark.parametrize(
    ("exc_type", "sent"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.PoolTimeout, False),
        (httpx.ReadTimeout, True),
        (httpx.RemoteProtocolError, True),
        (httpx.ReadError, True),
        (httpx.DecodingError, True),  # an answer came, but its body could not be decoded
    ],
)
async def test_transport_failures_become_connection_errors(
    make_client: MakeClient,
    cortex: ScriptedCortex,
    exc_type: type[httpx.RequestError],
    sent: bool,
) -> None:
    client = make_client(max_retries=0)
    cortex.reply(request_error(exc_type, "link down"))

    with pytest.raises(CortexConnectionError) as caught:
        await client.get_event("svc", "e-1")

    assert caught.value.status_code is None
    assert caught.value.request_sent is sent
    assert "link down" in str(caught.value)


# -- retries ---------------------------------------------------------------------------------


async def test_retry_after_seconds_is_honoured(
    client: CortexClient,
    cortex: ScriptedCortex,
    fake_time: FakeTime,
    observer: RecordingObserver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cortex.reply(httpx.Response(429, headers={"Retry-After": "7"}), ok(event_json()))

    with caplog.at_level(logging.DEBUG, logger="cortex_events.cortex"):
        event = await client.get_event("svc", "e-1")

    assert event.uuid == "e-1"
    assert fake_time.sleeps == [7.0]
    assert observer.retries == [("GET", 1, 7.0, "HTTP 429")]
    assert observer.finished == [("GET", "429"), ("GET", "200")]
    assert any("retry 1 of 5 in 7.00s" in r.getMessage() for r in caplog.records)


async def test_a_429_holds_every_request_on_the_key_until_cortex_allows_them_again(
    make_client: MakeClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    # The client's own back-off sleeps on a clock of its own here, so that what the shared
    # bucket does is seen apart: it holds the retry, and any other request, for Retry-After.
    own_sleeps: list[float] = []

    async def own_sleep(seconds: float) -> None:
        own_sleeps.append(seconds)

    bucket = TokenBucket(60_000, burst=1_000, clock=fake_time.clock, sleep=fake_time.sleep)
    first = make_client(rate_limiter=bucket, sleep=own_sleep)
    other = make_client(rate_limiter=bucket)
    cortex.reply(
        httpx.Response(429, headers={"Retry-After": "7"}), ok(event_json()), ok(event_json())
    )

    await first.get_event("svc", "e-1")
    assert own_sleeps == [7.0]
    assert fake_time.sleeps == [7.0], "the bucket held the retry until Retry-After"
    await other.get_event("svc", "e-1")
    assert fake_time.sleeps == [7.0, pytest.approx(60 / 59_000)], (
        "the next request waits for the next token: after a 429, no burst"
    )


async def test_a_429_without_the_header_waits_the_retry_after_of_its_problem_body(
    client: CortexClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    problem = {"type": "about:blank", "title": "Too Many Requests", "status": 429}
    cortex.reply(
        httpx.Response(429, json={**problem, "retryAfter": 9}),
        httpx.Response(429, headers={"Retry-After": "3"}, json={**problem, "retryAfter": 9}),
        ok(event_json()),
    )

    await client.get_event("svc", "e-1")

    # The body's retryAfter where the header is missing; the header where both are there.
    assert fake_time.sleeps == [9.0, 3.0]


@pytest.mark.parametrize(
    "retry_after",
    ["3600", format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)],
    ids=["seconds", "http-date"],
)
async def test_retry_after_is_capped_at_max_retry_after(
    make_client: MakeClient, cortex: ScriptedCortex, fake_time: FakeTime, retry_after: str
) -> None:
    client = make_client(max_retry_after=45.0)
    cortex.reply(httpx.Response(503, headers={"Retry-After": retry_after}), httpx.Response(204))

    await client.delete_event("svc", "e-1")

    assert fake_time.sleeps == [45.0]


async def test_server_errors_back_off_exponentially_with_jitter(
    make_client: MakeClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    client = make_client(jitter=lambda: 0.0, backoff_base=0.5)
    cortex.reply(httpx.Response(500), httpx.Response(502), httpx.Response(504), ok(event_json()))

    await client.get_event("svc", "e-1")

    # Jitter 0 gives half of 0.5, 1 and 2 seconds.
    assert fake_time.sleeps == [0.25, 0.5, 1.0]


async def test_backoff_is_capped(
    make_client: MakeClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    client = make_client(backoff_base=10.0, backoff_cap=15.0)
    cortex.reply(
        request_error(httpx.ReadTimeout),
        request_error(httpx.ReadTimeout),
        request_error(httpx.ReadTimeout),
        ok(event_json()),
    )

    await client.update_event(
        "svc", "e-1", CustomEventRequest(title="t", type="POD_CREATION", timestamp=UTC_TIME)
    )

    assert fake_time.sleeps == [10.0, 15.0, 15.0]
    assert len(cortex.requests) == 4


async def test_last_error_is_raised_when_retries_run_out(
    make_client: MakeClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    client = make_client(max_retries=2)
    cortex.reply(*(httpx.Response(500, json={"message": f"down {n}"}) for n in range(3)))

    with pytest.raises(CortexServerError, match="down 2") as caught:
        await client.list_events("svc")

    assert caught.value.status_code == 500
    assert len(cortex.requests) == 3
    assert len(fake_time.sleeps) == 2


async def test_create_is_not_retried_after_a_read_timeout(
    client: CortexClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    cortex.reply(request_error(httpx.ReadTimeout))
    request = CustomEventRequest(title="t", type="POD_CREATION", timestamp=UTC_TIME)

    with pytest.raises(CortexConnectionError) as caught:
        await client.create_event("svc", request)

    assert caught.value.request_sent is True
    assert len(cortex.requests) == 1
    assert fake_time.sleeps == []


async def test_create_is_not_retried_after_a_server_error(
    client: CortexClient, cortex: ScriptedCortex
) -> None:
    cortex.reply(httpx.Response(502))
    request = CustomEventRequest(title="t", type="POD_CREATION", timestamp=UTC_TIME)

    with pytest.raises(CortexServerError):
        await client.create_event("svc", request)
    assert len(cortex.requests) == 1


async def test_create_is_retried_when_it_surely_was_not_processed(
    client: CortexClient, cortex: ScriptedCortex, fake_time: FakeTime
) -> None:
    cortex.reply(
        request_error(httpx.ConnectError),
        httpx.Response(429, headers={"Retry-After": "2"}),
        ok(event_json("created")),
    )
    request = CustomEventRequest(title="t", type="POD_CREATION", timestamp=UTC_TIME)

    created = await client.create_event("svc", request)

    assert created.uuid == "created"
    assert [r.method for r in cortex.requests] == ["POST"] * 3
    assert cortex.body(0) == cortex.body(2)
    assert fake_time.sleeps == [0.5, 2.0]


async def test_every_attempt_takes_a_rate_limit_token(
    make_client: MakeClient,
    cortex: ScriptedCortex,
    fake_time: FakeTime,
    observer: RecordingObserver,
) -> None:
    # 61 a minute with a burst of 1: one token a second after the first.
    bucket = TokenBucket(61, burst=1, clock=fake_time.clock, sleep=fake_time.sleep)
    client = make_client(rate_limiter=bucket)
    cortex.reply(httpx.Response(429, headers={"Retry-After": "0"}), ok(event_json()))

    await client.get_event("svc", "e-1")

    # The retry (after a Retry-After of 0) still waits one second for its token.
    assert observer.waits == [0.0, 1.0]
    assert fake_time.sleeps == [0.0, 1.0]


async def test_rate_limiter_holds_a_burst_of_requests_to_its_budget(
    make_client: MakeClient,
    cortex: ScriptedCortex,
    fake_time: FakeTime,
    observer: RecordingObserver,
) -> None:
    # 123 a minute with a burst of 3: 3 at once, then 120 a minute.
    bucket = TokenBucket(123, burst=3, clock=fake_time.clock, sleep=fake_time.sleep)
    client = make_client(rate_limiter=bucket)
    sent_at: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent_at.append(fake_time.now - 1000.0)
        return httpx.Response(204)

    cortex.reply(*(answer for _ in range(5)))

    await asyncio.wait_for(
        asyncio.gather(*(client.delete_event("svc", f"e-{n}") for n in range(5))), timeout=5
    )

    # 3 go at once, then one every half second (120 a minute).
    assert sent_at == [0.0, 0.0, 0.0, 0.5, 1.0]
    assert sum(observer.waits) == pytest.approx(1.0)


async def test_clients_given_one_bucket_share_its_budget() -> None:
    bucket = TokenBucket(300)
    async with (
        CortexClient(BASE_URL, SecretStr(API_KEY), rate_limiter=bucket) as first,
        CortexClient(BASE_URL, SecretStr(API_KEY), rate_limiter=bucket) as second,
        CortexClient(BASE_URL, SecretStr(API_KEY), per_minute=300) as own,
    ):
        assert first.rate_limiter is second.rate_limiter is bucket
        assert own.rate_limiter is not bucket
        assert own.rate_limiter.per_minute == 300


# -- the key stays secret ---------------------------------------------------------------------


async def test_key_never_appears_in_repr_errors_or_logs(
    make_client: MakeClient, cortex: ScriptedCortex, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(max_retries=1)
    echo = {"message": f"key {API_KEY} is not valid"}
    cortex.reply(
        request_error(httpx.ConnectError, f"cannot reach {BASE_URL}"),
        httpx.Response(401, json=echo),
        httpx.Response(503, json=echo),
        httpx.Response(503, json=echo),
    )
    errors: list[CortexError] = []

    with caplog.at_level(logging.DEBUG):
        for _ in range(2):
            with pytest.raises(CortexError) as caught:
                await client.list_events("svc")
            errors.append(caught.value)

    assert [type(e) for e in errors] == [CortexAuthError, CortexServerError]
    assert cortex.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    texts = [repr(client), repr(client.rate_limiter), caplog.text]
    texts += [t for e in errors for t in (str(e), repr(e), e.message)]
    assert caplog.records, "the retries were logged"
    for text in texts:
        assert API_KEY not in text
    assert "key [REDACTED] is not valid" in errors[0].message


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        CortexClient(BASE_URL, SecretStr(""))


async def test_observer_failure_does_not_break_requests(
    make_client: MakeClient, cortex: ScriptedCortex
) -> None:
    class Broken(RecordingObserver):
        def request_finished(self, method: str, status: str, seconds: float) -> None:
            raise RuntimeError("metrics down")

    client = make_client(observer=Broken())
    cortex.reply(httpx.Response(204))

    await client.delete_event("svc", "e-1")


# -- the gate (leader election's fence) ---------------------------------------------------------


class Refused(Exception):
    pass


async def test_a_closed_gate_stops_an_attempt_before_it_is_sent(
    make_client: MakeClient, cortex: ScriptedCortex
) -> None:
    open_ = [True]

    def gate() -> None:
        if not open_[0]:
            raise Refused

    client = make_client(gate=gate, max_retries=3)
    # The first attempt fails with a 503; before the retry goes, the gate closes.
    cortex.reply(lambda request: (open_.__setitem__(0, False), httpx.Response(503))[1])
    with pytest.raises(Refused):
        await client.get_event("svc", "e-1")
    assert len(cortex.requests) == 1, "the retry was not sent"
    with pytest.raises(Refused):
        await client.delete_event("svc", "e-1")
    assert len(cortex.requests) == 1


async def test_an_attempt_that_waited_for_a_connection_is_refused_as_it_would_be_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A real socket: the second request passes the gate, then waits for the pool's only
    # connection while the first is answered. Leadership is lost meanwhile; the gate is asked
    # again as the request goes on the wire, and nothing reaches the server. At DEBUG the
    # client says which requests passed that last check.
    caplog.set_level(logging.DEBUG, "cortex_events.cortex")
    received: list[bytes] = []
    arrived, answer, passed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                received.append(head.split(b"\r\n", 1)[0])
                arrived.set()
                await answer.wait()
                body = json.dumps(event_json()).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    leading = [True]

    def gate() -> None:
        passed.set()
        if not leading[0]:
            raise Refused

    client = CortexClient(
        f"http://127.0.0.1:{port}",
        SecretStr(API_KEY),
        transport=httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1)),
        gate=gate,
        max_retries=0,
    )
    try:
        first = asyncio.create_task(client.get_event("svc", "e-1"))
        await arrived.wait()
        passed.clear()
        second = asyncio.create_task(client.get_event("svc", "e-2"))
        await passed.wait()  # the second has passed the gate, and now waits for the connection
        leading[0] = False
        answer.set()
        assert (await first).uuid == "e-1"
        with pytest.raises(Refused):
            await second
        assert received == [b"GET /api/v1/catalog/svc/custom-events/e-1 HTTP/1.1"]
        assert [r.getMessage() for r in caplog.records if r.name == "cortex_events.cortex"] == [
            "Cortex GET /api/v1/catalog/svc/custom-events/e-1: passed the fence, writing it",
            "Cortex GET /api/v1/catalog/svc/custom-events/e-2: held back as it is written"
            " (Refused)",
        ]
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
