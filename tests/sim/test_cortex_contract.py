"""The Cortex client and the emulator, held to Cortex's published OpenAPI description.

Every request the project's client sends, through each of its operations, must be one the
description allows (no parameter it does not declare, no missing required one, bodies of its
schemas); every answer the emulator gives, for each operation and each status it answers, must
be one the description documents, with a body of its schema (`tests.support.openapi.KEPT`
lists the few kept differences, each with why). The description is read from beside the
repository; where it is absent these tests skip, saying so.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexBadRequest, CortexNotFound
from cortex_events.cortex.models import CustomEventRequest, Deployer, DeployRequest
from cortex_events.cortex.ratelimit import TokenBucket
from cortex_events_sim.fake_cortex import FakeCortex, RecordedRequest
from tests.support.openapi import Contract, contract_or_skip

KEY = "contract-key-0123456789"
TAG, OTHER = "payments-api", "nobody"
T0 = datetime(2025, 5, 20, 5, 16, 49, 990_000, tzinfo=UTC)
EVENT = {"title": "Created K8s pod", "type": "POD_CREATION", "timestamp": "2025-05-20T05:16:49Z"}
DEPLOY = {**EVENT, "type": "DEPLOY", "deployer": {"email": "ada@example.com", "name": "Ada"}}
PAGE = {"page": "0", "pageSize": "250"}
DESCRIPTOR = {
    "openapi": "3.0.1",
    "info": {
        "title": "Payments API",
        "x-cortex-tag": TAG,
        "x-cortex-k8s": {"deployment": [{"identifier": "shop/web", "cluster": "prod"}]},
    },
}
NO_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return contract_or_skip()


@pytest.fixture
async def fake() -> AsyncIterator[FakeCortex]:
    async with FakeCortex(
        api_key=KEY, entities=[TAG], record_answers=True, descriptors=[DESCRIPTOR]
    ) as cortex:
        yield cortex


def answer_problems(contract: Contract, requests: list[RecordedRequest]) -> list[str]:
    return [
        f"{r.method} {r.path} -> {r.status}: {problem}"
        for r in requests
        for problem in contract.answer_problems(r.method, r.path, r.status, r.answer_type, r.answer)
    ]


async def test_every_answer_the_emulator_gives_is_documented_with_its_body(
    contract: Contract, fake: FakeCortex
) -> None:
    base = f"/api/v1/catalog/{TAG}"
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as http:
        event = (await http.post(f"{base}/custom-events", json=EVENT)).json()
        deploy = (await http.post(f"{base}/deploys", json=DEPLOY)).json()
        item, deploy_item = (
            f"{base}/custom-events/{event['uuid']}",
            f"{base}/deploys/{deploy['uuid']}",
        )
        calls: list[tuple[str, str, dict[str, str], Any]] = [
            ("GET", f"{base}/custom-events", {**PAGE, "type": "POD_CREATION",
                                              "startTime": "2025-05-20T00:00:00"}, None),
            ("GET", item, {}, None),
            ("PUT", item, {}, {**EVENT, "title": "Pod ready", "customData": {"ready": True}}),
            ("GET", f"{base}/deploys", PAGE, None),
            ("PUT", deploy_item, {}, {**DEPLOY, "type": "ROLLBACK", "sha": "abc"}),
            ("DELETE", deploy_item, {}, None),
            ("DELETE", f"{base}/deploys", {"type": "SCALE"}, None),
            ("DELETE", "/api/v1/catalog/deploys", {"sha": "nothing"}, None),
            ("DELETE", "/api/v1/catalog/deploys/all", {}, None),
            ("DELETE", item, {}, None),
            ("DELETE", f"{base}/custom-events", {"type": "POD_CREATION"}, None),
            ("GET", "/api/v1/catalog/descriptors", {**PAGE, "yaml": "false"}, None),
            ("GET", "/api/v1/catalog", PAGE, None),
        ]  # fmt: skip
        refusals = [  # 400 each
            ("GET", f"{base}/custom-events", {"page": "0"}, None),
            ("GET", f"{base}/deploys", {**PAGE, "pageSize": "0"}, None),
            ("POST", f"{base}/custom-events", {}, {**EVENT, "timestamp": "soon"}),
            ("POST", f"{base}/deploys", {}, {**DEPLOY, "type": "REDEPLOY"}),
            ("PUT", f"{base}/custom-events/x", {}, EVENT),
            ("PUT", f"{base}/deploys/x", {}, DEPLOY),
            ("GET", f"{base}/custom-events/x", {}, None),
            ("DELETE", f"{base}/custom-events/x", {}, None),
            ("DELETE", f"{base}/deploys/x", {}, None),
            ("DELETE", f"{base}/custom-events", {"endTime": "2025-05-20T00:00:00Z"}, None),
            ("DELETE", f"{base}/deploys", {"type": "REDEPLOY"}, None),
            ("DELETE", "/api/v1/catalog/deploys", {}, None),
            ("GET", "/api/v1/catalog/descriptors", {"page": "0"}, None),
            ("GET", "/api/v1/catalog", {"pageSize": "-1"}, None),
        ]
        missing = (
            [  # 404 each: the entity, else the event or deploy
                (method, path.replace(TAG, OTHER) if "{" not in path else path, query, body)
                for method, path, query, body in calls[:5]
            ]
            + [
                ("GET", f"{base}/custom-events/{NO_UUID}", {}, None),
                ("PUT", f"{base}/deploys/{NO_UUID}", {}, DEPLOY),
                ("DELETE", f"{base}/deploys/{NO_UUID}", {}, None),
                ("POST", f"/api/v1/catalog/{OTHER}/deploys", {}, DEPLOY),
                ("DELETE", f"/api/v1/catalog/{OTHER}/custom-events/{NO_UUID}", {}, None),
            ]
        )
        for method, path, query, body in calls + refusals + missing:
            await http.request(method, path, params=query, json=body)
        for method, path, query, body in calls[:2] + refusals[:1]:
            fake.faults.rate_limit_next(1, retry_after=2)
            await http.request(method, path, params=query, json=body)
            await http.request(
                method, path, params=query, json=body, headers={"Authorization": "Bearer x"}
            )

    recorded = fake.state.requests
    assert answer_problems(contract, recorded) == []
    seen = collections.Counter(r.status for r in recorded)
    assert {200, 204, 400, 401, 404, 429} <= set(seen), seen
    assert seen[400] >= len(refusals)
    assert seen[404] >= len(missing)


async def test_every_request_the_client_sends_is_in_the_description(
    contract: Contract, fake: FakeCortex
) -> None:
    async with CortexClient(
        fake.base_url, SecretStr(KEY), rate_limiter=TokenBucket(60_000, burst=1_000)
    ) as client:
        sent = CustomEventRequest(
            title="Created K8s pod web-1", type="POD_CREATION", timestamp=T0,
            description="Pending", url="https://cortex.io", custom_data={"eventKey": "k", "n": 1},
        )  # fmt: skip
        created = await client.create_event(TAG, sent)
        await client.update_event(TAG, created.uuid, sent.model_copy(update={"title": "ready"}))
        await client.get_event(TAG, created.uuid)
        await client.list_events(TAG, type="POD_CREATION", start_time=T0, end_time=T0, page=0)
        assert [e.uuid async for e in client.iter_events(TAG, page_size=1)] == [created.uuid]
        await client.delete_events(TAG, type="POD_CREATION", end_time=T0 - timedelta(days=1))
        await client.delete_event(TAG, created.uuid)
        deploy = DeployRequest(
            title="Rollout of web completed", type="DEPLOY", timestamp=T0, sha="4f2a9c1",
            environment="prod", deployer=Deployer(email="ada@example.com", name="Ada"),
            custom_data={"eventKey": "deploy/deployment/u/2"},
        )  # fmt: skip
        saved = await client.create_deploy(TAG, deploy)
        assert saved.deployer == Deployer(email="ada@example.com", name="Ada")
        await client.update_deploy(TAG, saved.uuid, deploy.model_copy(update={"type": "ROLLBACK"}))
        assert [d.uuid async for d in client.iter_deploys(TAG, page_size=1)] == [saved.uuid]
        await client.delete_deploys(TAG, sha="none-such")
        await client.delete_deploy(TAG, saved.uuid)
        assert [d["info"]["x-cortex-tag"] async for d in client.iter_descriptors()] == [TAG]
        assert [e.get("tag") async for e in client.iter_entities()] == [TAG]
        with pytest.raises(CortexNotFound):
            await client.list_events(OTHER)
        with pytest.raises(CortexBadRequest):
            await client.get_event(TAG, "not-a-uuid")

    recorded = fake.state.requests
    used = {op.name for r in recorded if (op := contract.operation(r.method, r.path))}
    assert used == {"GET /api/v1/catalog/descriptors", "GET /api/v1/catalog"} | {
        f"{method} /api/v1/catalog/{{tagOrId}}/{path}"
        for method, path in [
            ("GET", "custom-events"), ("POST", "custom-events"), ("DELETE", "custom-events"),
            ("GET", "custom-events/{uuid}"), ("PUT", "custom-events/{uuid}"),
            ("DELETE", "custom-events/{uuid}"), ("GET", "deploys"), ("POST", "deploys"),
            ("DELETE", "deploys"), ("PUT", "deploys/{uuid}"), ("DELETE", "deploys/{uuid}"),
        ]
    }  # fmt: skip
    problems = [
        f"{r.method} {r.path}: {problem}"
        for r in recorded
        if r.path.rsplit("/", 1)[-1] != "not-a-uuid"  # sent to be refused
        for problem in contract.request_problems(r.method, r.path, r.query, r.body)
    ]
    assert problems == []
    assert answer_problems(contract, recorded) == []
