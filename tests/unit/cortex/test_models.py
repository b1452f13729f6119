"""The event models: what the operator may send, and how Cortex's answers are read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cortex_events.cortex.models import (
    CustomEvent,
    CustomEventPage,
    CustomEventRequest,
    format_event_time,
    format_query_time,
)

WHEN = datetime(2025, 5, 20, 5, 16, 49, 990_000, tzinfo=UTC)
TOKYO = timezone(timedelta(hours=9))


def test_request_body_uses_wire_names_and_omits_missing_fields() -> None:
    request = CustomEventRequest(
        title="Created K8s pod",
        type="POD_CREATION",
        timestamp=WHEN,
        custom_data={"cluster": "prod", "nested": {"n": [1, 2]}},
    )

    assert request.to_json() == {
        "title": "Created K8s pod",
        "type": "POD_CREATION",
        "timestamp": "2025-05-20T05:16:49.990Z",
        "customData": {"cluster": "prod", "nested": {"n": [1, 2]}},
    }


def test_request_timestamp_in_another_zone_is_sent_in_utc_with_millis() -> None:
    local = datetime(2025, 5, 20, 14, 16, 49, 990_789, tzinfo=TOKYO)

    request = CustomEventRequest(title="t", type="X", timestamp=local)

    assert request.timestamp == WHEN + timedelta(microseconds=789)
    assert request.to_json()["timestamp"] == "2025-05-20T05:16:49.990Z"


def test_request_rejects_a_naive_timestamp() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        CustomEventRequest(title="t", type="X", timestamp=datetime(2025, 5, 20, 5, 16))


@pytest.mark.parametrize(
    "changes",
    [
        {"title": ""},
        {"type": ""},
        {"title": "  "},
        {"uuid": "u-1"},
        {"colour": "red"},
        {"timestamp": "2025-05-20T05:16:49.990Z"},
        {"custom_data": ["not", "an", "object"]},
    ],
    ids=["empty-title", "empty-type", "blank-title", "uuid", "unknown", "string-time", "list"],
)
def test_request_rejects_invalid_fields(changes: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"title": "t", "type": "X", "timestamp": WHEN}
    fields.update(changes)

    with pytest.raises(ValidationError):
        CustomEventRequest.model_validate(fields)


def test_request_accepts_the_wire_name_of_custom_data() -> None:
    request = CustomEventRequest.model_validate(
        {"title": "t", "type": "X", "timestamp": WHEN, "customData": {"a": 1}}
    )

    assert request.custom_data == {"a": 1}


@pytest.mark.parametrize(
    "stamp",
    ["2025-05-20T05:16:49.990Z", "2025-05-20T05:16:49.990", "2025-05-20T14:16:49.990+09:00"],
    ids=["z", "zone-less", "offset"],
)
def test_event_timestamps_are_read_as_aware_utc(stamp: str) -> None:
    event = CustomEvent.model_validate({"uuid": "u", "title": "t", "type": "X", "timestamp": stamp})

    assert event.timestamp == WHEN
    assert event.timestamp.tzinfo is not None
    assert event.timestamp.utcoffset() == timedelta(0)


def test_event_tolerates_unknown_and_null_fields() -> None:
    event = CustomEvent.model_validate(
        {
            "uuid": "u",
            "title": "t",
            "type": "X",
            "timestamp": "2025-05-20T05:16:49.990Z",
            "customData": None,
            "description": None,
            "source": "api",
        }
    )

    assert event.custom_data == {}
    assert event.description is None
    assert event.model_extra == {"source": "api"}


def test_page_reads_total_pages() -> None:
    page = CustomEventPage.model_validate(
        {"events": [], "page": 1, "total": 30, "totalPages": 2, "pageSize": 25}
    )

    assert (page.page, page.total, page.total_pages) == (1, 30, 2)
    assert page.has_next is False


def test_years_before_1000_are_written_with_four_digits() -> None:
    # strftime's %Y wrote "999-...", which is no RFC 3339 date-time (found by a property test).
    early = datetime(999, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)

    assert format_event_time(early) == "0999-01-02T03:04:05.006Z"
    assert format_query_time(early) == "0999-01-02T03:04:05.006"


def test_time_formats() -> None:
    local = datetime(2025, 5, 20, 14, 16, 49, 990_999, tzinfo=TOKYO)

    assert format_event_time(local) == "2025-05-20T05:16:49.990Z"
    assert format_query_time(local) == "2025-05-20T05:16:49.990"
    assert format_query_time(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00.000"
    with pytest.raises(ValueError, match="aware"):
        format_query_time(datetime(2025, 1, 1))
