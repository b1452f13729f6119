"""The emulator refuses every invalid request with a 400 that names the cause, never a 500.

Each case here once got a 500, or was taken although Cortex's API description refuses it; the
property tests in `test_fake_cortex_fuzz` look for more.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cortex_events_sim.fake_cortex import FakeCortex

EVENTS = "/api/v1/catalog/payments/custom-events"
DEPLOYS = "/api/v1/catalog/payments/deploys"
PAGE = {"page": 0, "pageSize": 250}


def body(**overrides: Any) -> dict[str, Any]:
    return {"title": "t", "type": "DEPLOY", "timestamp": "2025-05-20T05:16:49Z", **overrides}


def refused(response: httpx.Response, *words: str) -> str:
    """The message of a 400 in Cortex's ErrorResponse form, which names each of ``words``."""
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert (answer["type"], answer["httpStatus"]) == ("BAD_REQUEST", 400)
    message = str(answer["message"])
    assert all(word in message for word in words), message
    return message


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: was an OverflowError, a 500
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "2025-02-30T00:00:00Z",
        "2025-05-20T24:00:00Z",
        "2025-05-20T05:16:49+24:00",
        "2025-05-20T05:16:49+05",  # an offset without its minutes is not RFC 3339
        "2025-05-20T05:16Z",  # nor a time without seconds
        "2025-W21-2T05:16:49Z",
    ],
)
@pytest.mark.parametrize("path", [EVENTS, DEPLOYS])
async def test_a_timestamp_that_is_no_utc_date_time_is_refused(
    fake: FakeCortex, client: httpx.AsyncClient, path: str, timestamp: str
) -> None:
    response = await client.post(path, json=body(timestamp=timestamp))

    refused(response, "timestamp", timestamp)
    assert (fake.state.events(), fake.state.deploys()) == ([], [])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"pageSize": "250"}, "page is required"),
        ({"page": "0"}, "pageSize is required"),
        ({**PAGE, "page": str(2**31)}, "page must be a 32-bit integer"),
        ({**PAGE, "page": "1_0"}, "page must be a 32-bit integer"),
        ({**PAGE, "pageSize": "\u0661\u0660"}, "pageSize must be a 32-bit integer"),
        ({**PAGE, "pageSize": " 10"}, "pageSize must be a 32-bit integer"),
    ],
)
@pytest.mark.parametrize("path", [EVENTS, DEPLOYS])
async def test_a_list_needs_page_and_page_size_as_32_bit_integers(
    client: httpx.AsyncClient, path: str, query: dict[str, str], message: str
) -> None:
    refused(await client.get(path, params=query), message)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"endTime": "2025-13-01T00:00:00"}, "endTime"),
        ({"startTime": "2025-05-20T05:00:00", "timestamp": "x"}, "timestamp"),
        ({"startTime": "2025-05-20T05:00:00.5+00:00"}, "startTime"),
    ],
)
async def test_an_invalid_time_filter_is_refused_even_beside_a_valid_one(
    client: httpx.AsyncClient, query: dict[str, str], name: str
) -> None:
    refused(await client.get(EVENTS, params={**PAGE, **query}), name)


async def test_the_deprecated_timestamp_filter_takes_a_time_with_or_without_a_zone(
    client: httpx.AsyncClient,
) -> None:
    await client.post(EVENTS, json=body(timestamp="2025-05-20T09:00:00Z"))

    zoned = await client.get(EVENTS, params={**PAGE, "timestamp": "2025-05-20T08:00:00+02:00"})
    plain = await client.get(EVENTS, params={**PAGE, "timestamp": "2025-05-20T08:00:00"})

    assert [len(r.json()["events"]) for r in (zoned, plain)] == [1, 1]


@pytest.mark.parametrize(
    "uuid",
    [
        "{d853c6e0-1bca-40bf-a264-db5d4ee38d77}",
        "urn:uuid:d853c6e0-1bca-40bf-a264-db5d4ee38d77",
        "d853c6e01bca40bfa264db5d4ee38d77",
    ],
)
@pytest.mark.parametrize("path", [EVENTS, DEPLOYS])
async def test_a_uuid_in_the_path_is_the_hyphenated_form_only(
    client: httpx.AsyncClient, path: str, uuid: str
) -> None:
    refused(await client.put(f"{path}/{uuid}", json=body()), "uuid")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "t", "type": "T", "timestamp": "2025-05-20T05:16:49Z", "url": NaN}',
        b'{"title": "t", "type": "T", "timestamp": "2025-05-20T05:16:49Z", "customData": '
        b'{"x": -Infinity}}',
        b"[" * 100_000 + b"]" * 100_000,  # too deep to decode: was a RecursionError, a 500
        b'{"title": "\xff"}',
    ],
    ids=["NaN", "Infinity", "deep", "not-utf-8"],
)
async def test_a_body_that_is_not_strict_json_is_refused(
    fake: FakeCortex, client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await client.post(EVENTS, content=raw, headers={"Content-Type": "application/json"})

    refused(response, "not valid JSON")
    assert fake.state.events() == []


async def test_a_body_over_the_size_limit_is_refused_in_the_error_form(
    client: httpx.AsyncClient,
) -> None:
    huge = body(customData={"blob": "x" * (2 * 1024 * 1024)})

    refused(await client.post(EVENTS, json=huge), "too large")


@pytest.mark.parametrize(
    "fault",
    [
        '{"kind": "fail", "count": 1e400}',  # was int(inf): an OverflowError, a 500
        '{"kind": "fail", "count": 1.5}',
        '{"kind": "fail", "count": true}',
        '{"kind": "fail", "status": 200}',
        '{"kind": "rate_limit", "retry_after": NaN}',  # was armed, then sent "Retry-After: nan"
        '{"kind": "delay", "seconds": Infinity}',  # was armed: a request held for ever
        '{"kind": "delay", "seconds": 1e9}',
        '{"kind": "delay"}',
        '{"kind": "garble", "form": ["html"]}',
        '{"kind": "outage", "on": "yes"}',
        '{"kind": "explode"}',
        "[" * 100_000 + "]" * 100_000,
        "not json",
    ],
)
async def test_a_malformed_fault_is_refused_and_arms_nothing(fake: FakeCortex, fault: str) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as admin:
        response = await admin.post("/_fake/faults", content=fault)

    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("bad fault: ")
    assert (fake.faults.pending(), fake.faults.in_outage) == (0, False)


async def test_errors_name_their_type_and_a_429_its_retry_after_in_whole_seconds(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.rate_limit_next(1, retry_after=0.25)

    limited = await client.get(EVENTS, params=PAGE)
    missing = await client.get("/api/v1/catalog/nobody/custom-events", params=PAGE)
    unauthorized = await client.get(EVENTS, params=PAGE, headers={"Authorization": "Bearer x"})

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "0.25"
    problem = json.loads(limited.text)
    assert (problem["status"], problem["retryAfter"]) == (429, 1)
    assert [(r.status_code, r.json()["type"]) for r in (missing, unauthorized)] == [
        (404, "NOT_FOUND"),
        (401, "FORBIDDEN"),
    ]


async def test_an_answer_writes_a_year_before_1000_with_four_digits(
    client: httpx.AsyncClient,
) -> None:
    # strftime's %Y answered "999-01-01T00:00:00Z" (found by the property tests).
    created = await client.post(EVENTS, json=body(timestamp="0999-01-01T00:00:00Z"))

    assert created.json()["timestamp"] == "0999-01-01T00:00:00Z"
