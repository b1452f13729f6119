"""The Cortex emulator's Custom Events API over real HTTP on loopback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cortex_events_sim.fake_cortex import FakeCortex

EVENTS = "/api/v1/catalog/payments/custom-events"
PAGE = {"page": 0, "pageSize": 250}


def event_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Created K8s pod",
        "type": "POD_CREATION",
        "timestamp": "2025-05-20T05:16:49.990Z",
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, path: str = EVENTS, **fields: Any) -> dict[str, Any]:
    response = await client.post(path, json=event_body(**fields))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


# -- create / get ---------------------------------------------------------------------------


async def test_create_assigns_a_uuid_and_returns_the_stored_event(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    body = event_body(
        description="pod web-1 created", url="https://cortex.io", customData={"ns": "shop"}
    )
    response = await client.post(EVENTS, json=body)

    assert response.status_code == 200
    created = response.json()
    assert created == {**body, "uuid": created["uuid"]}
    stored = fake.state.events("payments")
    assert [e.uuid for e in stored] == [created["uuid"]]
    assert stored[0].timestamp == datetime(2025, 5, 20, 5, 16, 49, 990000, tzinfo=UTC)
    assert stored[0].custom_data == {"ns": "shop"}


async def test_get_by_uuid_returns_the_event_only_under_its_own_entity(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client)

    found = await client.get(f"{EVENTS}/{created['uuid']}")
    elsewhere = await client.get(f"/api/v1/catalog/shop/custom-events/{created['uuid']}")

    assert found.status_code == 200
    assert found.json() == created
    assert elsewhere.status_code == 404


@pytest.mark.parametrize(
    ("sent", "returned"),
    [
        ("2025-05-20T05:16:49.990Z", "2025-05-20T05:16:49.990Z"),
        ("2025-05-20T07:16:49+02:00", "2025-05-20T05:16:49Z"),
        ("2025-05-20T05:16:49", "2025-05-20T05:16:49Z"),
        ("2025-05-20T05:16:49.123456", "2025-05-20T05:16:49.123456Z"),
    ],
)
async def test_timestamps_are_read_as_iso_8601_and_answered_in_utc(
    client: httpx.AsyncClient, sent: str, returned: str
) -> None:
    created = await create(client, timestamp=sent)

    assert created["timestamp"] == returned


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "POD_CREATION", "timestamp": "2025-05-20T05:16:49Z"}, "title"),
        ({"title": "t", "timestamp": "2025-05-20T05:16:49Z"}, "type"),
        ({"title": "t", "type": "POD_CREATION"}, "timestamp"),
        (event_body(title=None), "title"),
        (event_body(title=7), "title"),
        (event_body(type="  "), "type"),
        (event_body(timestamp="yesterday"), "timestamp"),
        (event_body(timestamp="2025-05-20"), "timestamp"),
        (event_body(timestamp=1747718209), "timestamp"),
        (event_body(description=["x"]), "description"),
        (event_body(url=3), "url"),
        (event_body(customData="team=payments"), "customData"),
    ],
)
async def test_invalid_bodies_answer_400_naming_the_field(
    fake: FakeCortex, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post(EVENTS, json=body)

    assert response.status_code == 400
    assert field in response.json()["message"]
    assert fake.state.events() == []


async def test_a_body_that_is_not_a_json_object_answers_400(client: httpx.AsyncClient) -> None:
    not_json = await client.post(EVENTS, content=b"{title", headers={"Content-Type": "text/plain"})
    array = await client.post(EVENTS, json=[event_body()])

    assert (not_json.status_code, array.status_code) == (400, 400)
    assert "JSON" in not_json.json()["message"]


async def test_unknown_entities_answer_404_on_every_operation(client: httpx.AsyncClient) -> None:
    base = "/api/v1/catalog/nobody/custom-events"
    some_uuid = "d853c6e0-1bca-40bf-a264-db5d4ee38d77"

    answers = [
        (await client.get(base, params=PAGE)).status_code,
        (await client.post(base, json=event_body())).status_code,
        (await client.delete(base)).status_code,
        (await client.get(f"{base}/{some_uuid}")).status_code,
        (await client.put(f"{base}/{some_uuid}", json=event_body())).status_code,
        (await client.delete(f"{base}/{some_uuid}")).status_code,
    ]

    assert answers == [404] * 6
    assert "nobody" in (await client.get(base, params=PAGE)).json()["message"]


async def test_without_an_entity_list_every_tag_exists() -> None:
    async with (
        FakeCortex() as fake,
        httpx.AsyncClient(
            base_url=fake.base_url, headers={"Authorization": "Bearer any"}, timeout=5.0
        ) as http,
    ):
        response = await http.post("/api/v1/catalog/whatever/custom-events", json=event_body())
        assert response.status_code == 200
        assert len(fake.state.events("whatever")) == 1


async def test_added_entities_start_to_exist(fake: FakeCortex, client: httpx.AsyncClient) -> None:
    path = "/api/v1/catalog/late/custom-events"
    assert (await client.get(path, params=PAGE)).status_code == 404

    fake.state.add_entity("late")

    assert (await client.get(path, params=PAGE)).status_code == 200


# -- update / delete ------------------------------------------------------------------------


async def test_put_replaces_the_whole_event_and_keeps_its_uuid(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    created = await create(client, description="starting", customData={"phase": "Pending"})

    response = await client.put(
        f"{EVENTS}/{created['uuid']}",
        json=event_body(title="Pod ready", timestamp="2025-05-20T05:20:00Z"),
    )

    assert response.status_code == 200
    assert response.json() == {
        "uuid": created["uuid"],
        "title": "Pod ready",
        "type": "POD_CREATION",
        "timestamp": "2025-05-20T05:20:00Z",
    }
    (stored,) = fake.state.events("payments")
    assert (stored.description, stored.custom_data) == (None, None)


async def test_put_validates_like_create_and_404s_unknown_uuids(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    created = await create(client)

    invalid = await client.put(f"{EVENTS}/{created['uuid']}", json={"title": "only a title"})
    unknown = await client.put(f"{EVENTS}/00000000-0000-0000-0000-000000000000", json=event_body())
    malformed = await client.put(f"{EVENTS}/not-a-uuid", json=event_body())

    assert (invalid.status_code, unknown.status_code, malformed.status_code) == (400, 404, 400)
    assert fake.state.events()[0].title == created["title"]


async def test_delete_by_uuid_removes_only_that_event(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    first = await create(client, title="first")
    second = await create(client, title="second")

    deleted = await client.delete(f"{EVENTS}/{first['uuid']}")
    again = await client.delete(f"{EVENTS}/{first['uuid']}")

    assert deleted.status_code in (200, 204)
    assert again.status_code == 404
    assert [e.uuid for e in fake.state.events()] == [second["uuid"]]


async def test_delete_all_applies_every_filter_and_spares_other_entities(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    for ts in ("2025-05-20T05:00:00Z", "2025-05-20T06:00:00Z", "2025-05-20T07:00:00Z"):
        await create(client, type="POD_CREATION", timestamp=ts, title=f"pod {ts}")
    await create(client, type="POD_FAILURE", timestamp="2025-05-20T06:00:00Z")
    await create(client, "/api/v1/catalog/shop/custom-events", type="POD_CREATION")

    response = await client.delete(
        EVENTS,
        params={
            "type": "POD_CREATION",
            "startTime": "2025-05-20T06:00:00",
            "endTime": "2025-05-20T07:00:00",
        },
    )

    assert response.status_code in (200, 204)
    left = [(e.type, e.timestamp.hour) for e in fake.state.events("payments")]
    assert left == [("POD_CREATION", 5), ("POD_FAILURE", 6)]
    assert len(fake.state.events("shop")) == 1


async def test_delete_all_without_filters_removes_every_event_of_the_entity(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.state.add_event(
        "payments", title="someone else's", type="DEPLOY", timestamp=datetime(2024, 1, 1)
    )
    await create(client)

    response = await client.delete(EVENTS)

    assert response.status_code in (200, 204)
    assert fake.state.events("payments") == []


# -- list: filters, pages, order ------------------------------------------------------------


async def test_list_filters_are_inclusive_and_zone_less_times_are_utc(
    client: httpx.AsyncClient,
) -> None:
    for hour in (5, 6, 7, 8):
        await create(client, timestamp=f"2025-05-20T{hour:02d}:00:00Z", title=f"h{hour}")
    await create(client, type="POD_FAILURE", timestamp="2025-05-20T06:30:00Z", title="fail")

    response = await client.get(
        EVENTS,
        params={
            **PAGE,
            "type": "POD_CREATION",
            "startTime": "2025-05-20T06:00:00",
            "endTime": "2025-05-20T07:00:00.000",
        },
    )

    assert response.status_code == 200
    assert [e["title"] for e in response.json()["events"]] == ["h6", "h7"]


async def test_deprecated_timestamp_parameter_acts_as_start_time(
    client: httpx.AsyncClient,
) -> None:
    await create(client, timestamp="2025-05-20T05:00:00Z", title="early")
    await create(client, timestamp="2025-05-20T09:00:00Z", title="late")

    response = await client.get(EVENTS, params={**PAGE, "timestamp": "2025-05-20T06:00:00"})

    assert [e["title"] for e in response.json()["events"]] == ["late"]


@pytest.mark.parametrize(
    "params",
    [
        {"startTime": "2025-05-20T06:00:00Z"},
        {"endTime": "2025-05-20T06:00:00+02:00"},
        {"startTime": "not a time"},
        {"pageSize": "0"},
        {"pageSize": "1001"},
        {"pageSize": "ten"},
        {"page": "-1"},
    ],
)
async def test_invalid_list_parameters_answer_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(EVENTS, params={**PAGE, **params})

    assert response.status_code == 400
    (name,) = params
    assert name in response.json()["message"]


async def test_pages_split_the_ordered_list_and_report_totals(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await create(client, title=f"e{i}", timestamp=f"2025-05-20T05:0{i}:00Z")

    pages = [
        (await client.get(EVENTS, params={**PAGE, "pageSize": 2, "page": n})).json()
        for n in range(4)
    ]

    assert [[e["title"] for e in p["events"]] for p in pages] == [
        ["e0", "e1"],
        ["e2", "e3"],
        ["e4"],
        [],
    ]
    assert [(p["page"], p["total"], p["totalPages"]) for p in pages] == [
        (0, 5, 3),
        (1, 5, 3),
        (2, 5, 3),
        (3, 5, 3),
    ]


async def test_page_size_bounds_are_accepted_and_the_default_is_250(
    client: httpx.AsyncClient,
) -> None:
    smallest = await client.get(EVENTS, params={**PAGE, "pageSize": 1})
    largest = await client.get(EVENTS, params={**PAGE, "pageSize": 1000})
    empty = (await client.get(EVENTS, params=PAGE)).json()

    assert (smallest.status_code, largest.status_code) == (200, 200)
    assert empty == {"events": [], "page": 0, "total": 0, "totalPages": 0}


async def test_default_page_holds_250_events(fake: FakeCortex, client: httpx.AsyncClient) -> None:
    for i in range(251):
        fake.state.add_event(
            "payments", title=f"e{i}", type="T", timestamp=datetime(2025, 1, 1, tzinfo=UTC)
        )

    page = (await client.get(EVENTS, params=PAGE)).json()

    assert (len(page["events"]), page["total"], page["totalPages"]) == (250, 251, 2)


async def test_order_is_by_timestamp_then_creation_and_put_keeps_the_place(
    client: httpx.AsyncClient,
) -> None:
    same = "2025-05-20T06:00:00Z"
    a = await create(client, title="a", timestamp=same)
    await create(client, title="b", timestamp=same)
    await create(client, title="c", timestamp="2025-05-20T05:00:00Z")
    await client.put(f"{EVENTS}/{a['uuid']}", json=event_body(title="a2", timestamp=same))

    titles = [e["title"] for e in (await client.get(EVENTS, params=PAGE)).json()["events"]]

    assert titles == ["c", "a2", "b"]


async def test_unknown_api_paths_and_methods_answer_json_errors(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/v1/catalog/payments")
    wrong_method = await client.patch(EVENTS, json=event_body())

    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert "PATCH" in wrong_method.json()["message"]


async def test_a_tag_with_braces_reaches_its_entity(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.state.add_entity("team{a}")
    path = "/api/v1/catalog/team%7Ba%7D/custom-events"

    created = await client.post(path, json=event_body())
    listed = await client.get(path, params=PAGE)

    assert (created.status_code, listed.status_code) == (200, 200)
    assert [e.uuid for e in fake.state.events("team{a}")] == [created.json()["uuid"]]
