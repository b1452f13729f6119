"""The Cortex emulator's Deploys API over real HTTP on loopback: validation, paging, updates,
the entity's filtered delete, and the deletes across entities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cortex_events_sim.fake_cortex import FakeCortex

DEPLOYS = "/api/v1/catalog/payments/deploys"
PAGE = {"page": 0, "pageSize": 250}


def deploy_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Rollout of web to nginx:1.26 completed in 42s",
        "type": "DEPLOY",
        "timestamp": "2025-05-20T05:16:49.990Z",
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, path: str = DEPLOYS, **fields: Any) -> dict[str, Any]:
    response = await client.post(path, json=deploy_body(**fields))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_stores_every_field_and_answers_the_saved_deploy_with_a_flat_deployer(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    body = deploy_body(
        sha="abc123",
        environment="prod",
        url="https://ci.example.com/1",
        deployer={"email": "ada@example.com", "name": "Ada"},
        customData={"eventKey": "deploy/deployment/u/2"},
        unknownField="ignored",
    )
    created = await create(client, **body)

    # Cortex answers a create with a CustomDeploy: the deployer flat, the deploy's numeric id
    # and its entity's serviceId; its list shows the deployer as an object (CustomDeploy1).
    sent = {k: v for k, v in body.items() if k not in ("unknownField", "deployer")}
    assert created == {
        **sent,
        "uuid": created["uuid"],
        "id": created["id"],
        "serviceId": created["serviceId"],
        "deployerEmail": "ada@example.com",
        "deployerName": "Ada",
    }
    assert isinstance(created["id"], int)
    assert isinstance(created["serviceId"], int)
    (listed,) = (await client.get(DEPLOYS, params=PAGE)).json()["deployments"]
    assert listed == {**sent, "uuid": created["uuid"], "deployer": body["deployer"]}
    (stored,) = fake.state.deploys("payments")
    assert stored.uuid == created["uuid"]
    assert stored.deployer == {"email": "ada@example.com", "name": "Ada"}
    assert fake.state.events("payments") == []  # deploys are not custom events


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": None}, "title is required"),
        ({"title": " "}, "title must be a non-blank string"),
        ({"type": None}, "type is required"),
        ({"type": "POD_CREATION"}, "type must be one of DEPLOY, SCALE, ROLLBACK, RESTART"),
        ({"timestamp": None}, "timestamp is required"),
        ({"timestamp": "2025-05-20"}, "timestamp is not an ISO-8601 date-time"),
        ({"sha": 12}, "sha must be a string"),
        ({"environment": ["prod"]}, "environment must be a string"),
        ({"deployer": "ada"}, "deployer must be a JSON object"),
        ({"deployer": {"email": 1}}, "deployer.email must be a string"),
        ({"customData": []}, "customData must be a JSON object"),
    ],
)
async def test_invalid_deploys_answer_400_naming_the_field(
    fake: FakeCortex, client: httpx.AsyncClient, fields: dict[str, Any], message: str
) -> None:
    body = {k: v for k, v in deploy_body(**fields).items() if v is not None}
    response = await client.post(DEPLOYS, json=body)

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert fake.state.deploys() == []


async def test_unknown_entities_answer_404(client: httpx.AsyncClient) -> None:
    path = "/api/v1/catalog/nope/deploys"
    assert (await client.get(path, params=PAGE)).status_code == 404
    assert (await client.post(path, json=deploy_body())).status_code == 404
    assert (await client.delete(path, params={"type": "DEPLOY"})).status_code == 404


async def test_pages_split_the_list_and_report_totals_and_the_default_is_250(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    for second in range(251):
        fake.state.add_deploy(
            "payments", title=f"d{second}", type="DEPLOY",
            timestamp=datetime(2025, 5, 20, 5, second // 60, second % 60, tzinfo=UTC),
        )  # fmt: skip

    first = (await client.get(DEPLOYS, params=PAGE)).json()
    last = (await client.get(DEPLOYS, params={**PAGE, "page": 2, "pageSize": 100})).json()
    past = (await client.get(DEPLOYS, params={**PAGE, "page": 9, "pageSize": 100})).json()

    assert len(first["deployments"]) == 250
    assert (first["page"], first["total"], first["totalPages"]) == (0, 251, 2)
    assert [d["title"] for d in last["deployments"]] == [f"d{n}" for n in range(200, 251)]
    assert (last["page"], last["totalPages"]) == (2, 3)
    assert past["deployments"] == []
    for bad in ({"pageSize": 0}, {"pageSize": 1001}, {"page": -1}, {"page": "x"}):
        assert (await client.get(DEPLOYS, params={**PAGE, **bad})).status_code == 400, bad


async def test_put_replaces_the_deploy_and_keeps_its_uuid(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    created = await create(client, sha="abc", environment="prod")

    response = await client.put(
        f"{DEPLOYS}/{created['uuid']}", json=deploy_body(type="ROLLBACK", sha="def")
    )

    assert response.status_code == 200
    saved = {"uuid": created["uuid"], "id": created["id"], "serviceId": created["serviceId"]}
    assert response.json() == {**deploy_body(type="ROLLBACK", sha="def"), **saved}
    (stored,) = fake.state.deploys("payments")
    assert (stored.type, stored.sha, stored.environment) == ("ROLLBACK", "def", None)
    missing = "/api/v1/catalog/shop/deploys/" + created["uuid"]
    assert (await client.put(missing, json=deploy_body())).status_code == 404
    assert (await client.put(f"{DEPLOYS}/not-a-uuid", json=deploy_body())).status_code == 400


async def test_delete_by_uuid_removes_that_deploy_only(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    first, second = await create(client), await create(client)

    deleted = await client.delete(f"{DEPLOYS}/{first['uuid']}")
    assert (deleted.status_code, deleted.json()) == (200, first)
    assert (await client.delete(f"{DEPLOYS}/{first['uuid']}")).status_code == 404
    assert [d.uuid for d in fake.state.deploys()] == [second["uuid"]]


async def test_the_entity_delete_applies_every_filter_and_spares_other_entities(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    await create(client, sha="a", environment="prod", type="DEPLOY")
    keep_env = await create(client, sha="a", environment="staging", type="DEPLOY")
    keep_type = await create(client, sha="a", environment="prod", type="ROLLBACK")
    other = await create(client, "/api/v1/catalog/shop/deploys", sha="a", environment="prod")

    response = await client.delete(
        DEPLOYS, params={"sha": "a", "environment": "prod", "type": "DEPLOY"}
    )

    assert response.status_code == 204
    assert {d.uuid for d in fake.state.deploys()} == {
        keep_env["uuid"], keep_type["uuid"], other["uuid"]
    }  # fmt: skip
    assert (await client.delete(DEPLOYS, params={"type": "REDEPLOY"})).status_code == 400
    # Without a filter, Cortex deletes every deploy of the entity; so does the emulator.
    assert (await client.delete(DEPLOYS)).status_code == 204
    assert [d.uuid for d in fake.state.deploys()] == [other["uuid"]]


async def test_the_deletes_across_entities_are_served_and_need_a_filter_or_all(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    await create(client, type="SCALE")
    await create(client, "/api/v1/catalog/shop/deploys", type="SCALE")
    kept = await create(client, "/api/v1/catalog/shop/deploys", type="DEPLOY")

    refused = await client.delete("/api/v1/catalog/deploys")
    by_type = await client.delete("/api/v1/catalog/deploys", params={"type": "SCALE"})

    assert refused.status_code == 400
    assert by_type.status_code == 200
    assert len(by_type.json()["deploys"]) == 2
    assert [d.uuid for d in fake.state.deploys()] == [kept["uuid"]]
    everything = await client.delete("/api/v1/catalog/deploys/all")
    assert everything.status_code == 200
    assert fake.state.deploys() == []


async def test_admin_api_lists_deploys_and_reset_forgets_them(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    created = await create(client, sha="abc")
    (stored,) = fake.state.deploys()
    async with httpx.AsyncClient(base_url=fake.base_url) as admin:
        listed = (await admin.get("/_fake/deploys", params={"tag": "payments"})).json()
        health = (await admin.get("/_fake/health")).json()
        await admin.post("/_fake/reset")

    assert listed == [{"tag": "payments", **stored.to_api()}]
    assert listed[0]["uuid"] == created["uuid"]
    assert health["deploys"] == 1
    assert fake.state.deploys() == []


async def test_a_fault_can_be_limited_to_the_deploys_path(
    fake: FakeCortex, client: httpx.AsyncClient
) -> None:
    fake.faults.garble_next(1, method="POST", path="/deploys")

    event = await client.post(
        "/api/v1/catalog/payments/custom-events",
        json={"title": "t", "type": "POD_CREATION", "timestamp": "2025-05-20T05:16:49Z"},
    )
    garbled = await client.post(DEPLOYS, json=deploy_body())

    assert event.status_code == 200
    assert event.json()["title"] == "t"
    assert garbled.status_code == 200
    assert garbled.text.lstrip().startswith("<"), "an HTML page, not the deploy"
    assert len(fake.state.deploys("payments")) == 1, "carried out, its answer spoilt"
