"""Mapping Cortex's answers to error classes and reading Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from cortex_events.cortex.errors import (
    MAX_MESSAGE_CHARS,
    CortexAuthError,
    CortexBadRequest,
    CortexError,
    CortexNotFound,
    CortexRateLimited,
    CortexResponseError,
    CortexServerError,
    error_from_response,
    parse_retry_after,
)

URL = "https://cortex.test/api/v1/catalog/svc/custom-events"


def answer(
    status: int,
    *,
    json: object = None,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.Response(
        status, request=httpx.Request("GET", URL), json=json, text=text, headers=headers
    )


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, CortexBadRequest),
        (401, CortexAuthError),
        (403, CortexAuthError),
        (404, CortexNotFound),
        (405, CortexBadRequest),
        (413, CortexBadRequest),
        (429, CortexRateLimited),
        (500, CortexServerError),
        (502, CortexServerError),
        (302, CortexResponseError),
    ],
)
def test_status_maps_to_one_error_class(status: int, error_class: type[CortexError]) -> None:
    error = error_from_response(answer(status))

    assert type(error) is error_class
    assert error.status_code == status
    assert error.method == "GET"
    assert error.path == "/api/v1/catalog/svc/custom-events"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"json": {"message": "Entity not found"}}, "Entity not found"),
        ({"json": {"type": "about:blank", "title": "Bad", "detail": "pageSize"}}, "pageSize"),
        ({"json": {"title": "Too Many Requests"}}, "Too Many Requests"),
        ({"json": {"message": ""}}, '{"message":""}'),
        ({"text": "plain failure\n"}, "plain failure"),
        ({"json": ["odd"]}, '["odd"]'),
        ({}, "Bad Request"),
    ],
    ids=["message", "detail", "title", "empty-message", "text", "list", "empty"],
)
def test_message_is_read_from_the_body(kwargs: dict[str, Any], message: str) -> None:
    error = error_from_response(answer(400, **kwargs))

    assert error.message == message
    assert str(error) == f"GET /api/v1/catalog/svc/custom-events: HTTP 400: {message}"


def test_long_messages_are_cut() -> None:
    error = error_from_response(answer(500, text="x" * 5000))

    assert len(error.message) == MAX_MESSAGE_CHARS
    assert error.message.endswith("...")


def test_rate_limited_reads_retry_after() -> None:
    error = error_from_response(answer(429, headers={"Retry-After": "30"}))

    assert isinstance(error, CortexRateLimited)
    assert error.retry_after == 30.0
    without = error_from_response(answer(429))
    assert isinstance(without, CortexRateLimited)
    assert without.retry_after is None


@pytest.mark.parametrize(
    ("headers", "body", "seconds"),
    [
        ({}, {"status": 429, "retryAfter": 17}, 17.0),
        ({"Retry-After": "5"}, {"status": 429, "retryAfter": 17}, 5.0),
        ({}, {"status": 429, "retryAfter": "17"}, None),
        ({}, {"status": 429, "retryAfter": True}, None),
        ({}, ["retryAfter", 17], None),
    ],
)
def test_a_429_without_retry_after_reads_its_problem_body(
    headers: dict[str, str], body: object, seconds: float | None
) -> None:
    error = error_from_response(answer(429, json=body, headers=headers))

    assert isinstance(error, CortexRateLimited)
    assert error.retry_after == seconds


def test_error_without_request_still_maps() -> None:
    error = error_from_response(httpx.Response(404, text="gone"))

    assert isinstance(error, CortexNotFound)
    assert error.method is None
    assert str(error) == "HTTP 404: gone"


NOW = datetime(2025, 5, 20, 5, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("Tue, 20 May 2025 05:02:00 GMT", 120.0),
        ("soon", None),
        ("", None),
        ("nan", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds
