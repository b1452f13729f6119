"""The client's Deploys API operations: paths, bodies, paging, the filter a delete needs, and
the create's retry rule (never once Cortex may have stored the deploy)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexBadRequest, CortexServerError
from cortex_events.cortex.models import Deploy, Deployer, DeployRequest

BASE_URL = "https://cortex.test"
KEY = "deploy-key-0123456789"
WHEN = datetime(2025, 5, 20, 7, 16, 49, 990_000, tzinfo=timezone(timedelta(hours=2)))


def deploy_json(uuid: str = "d-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": uuid,
        "title": "Rollout of web to nginx:1.26 completed in 42s",
        "type": "DEPLOY",
        "timestamp": "2025-05-20T05:16:49.990Z",
        "sha": "abc123",
        "environment": "prod",
        "deployer": {"email": "ada@example.com", "name": "Ada"},
        "customData": {"eventKey": "deploy/deployment/u/2"},
    }
    body.update(overrides)
    return body


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[CortexClient, list[httpx.Request], list[Handler]]]:
    sent: list[httpx.Request] = []
    answers: list[Handler] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)(request)

    async def no_sleep(_: float) -> None:
        return None

    client = CortexClient(
        BASE_URL,
        SecretStr(KEY),
        per_minute=60_000,
        transport=httpx.MockTransport(handle),
        sleep=no_sleep,
        jitter=lambda: 1.0,
    )
    yield client, sent, answers
    await client.aclose()


def answer(status: int, body: Any = None) -> Handler:
    return lambda _: (
        httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    )


def request(**overrides: Any) -> DeployRequest:
    fields: dict[str, Any] = {
        "title": "Rollout of web to nginx:1.26 completed in 42s",
        "type": "DEPLOY",
        "timestamp": WHEN,
        "sha": "abc123",
        "environment": "prod",
        "deployer": Deployer(email="ada@example.com", name="Ada"),
        "custom_data": {"eventKey": "deploy/deployment/u/2"},
    }
    fields.update(overrides)
    return DeployRequest(**fields)


async def test_create_posts_the_deploy_with_its_fields_in_utc(scripted: Any) -> None:
    client, sent, answers = scripted
    answers.append(answer(200, deploy_json()))

    deploy = await client.create_deploy("payments api", request())

    assert sent[0].method == "POST"
    assert sent[0].url.raw_path == b"/api/v1/catalog/payments%20api/deploys"
    assert json.loads(sent[0].content) == {
        "title": "Rollout of web to nginx:1.26 completed in 42s",
        "type": "DEPLOY",
        "timestamp": "2025-05-20T05:16:49.990Z",
        "sha": "abc123",
        "environment": "prod",
        "deployer": {"email": "ada@example.com", "name": "Ada"},
        "customData": {"eventKey": "deploy/deployment/u/2"},
    }
    assert sent[0].headers["Authorization"] == f"Bearer {KEY}"
    assert deploy.uuid == "d-1"
    assert deploy.deployer == Deployer(email="ada@example.com", name="Ada")
    assert deploy.timestamp == datetime(2025, 5, 20, 5, 16, 49, 990_000, tzinfo=UTC)


def test_a_deploy_is_read_with_its_deployer_flat_or_nested() -> None:
    flat = deploy_json(deployer=None, deployerEmail="ada@example.com", deployerName="Ada")
    nested_wins = deploy_json(deployerEmail="bob@example.com")
    nobody = deploy_json(deployer=None)

    # A create's answer (CustomDeploy) is flat; a list's item (CustomDeploy1) nested.
    assert Deploy.model_validate(flat).deployer == Deployer(email="ada@example.com", name="Ada")
    assert Deploy.model_validate(nested_wins).deployer == Deployer(
        email="ada@example.com", name="Ada"
    )
    assert Deploy.model_validate(nobody).deployer is None


async def test_a_create_that_cortex_may_have_stored_is_not_sent_again(scripted: Any) -> None:
    client, sent, answers = scripted
    answers.append(answer(500, {"message": "boom"}))

    with pytest.raises(CortexServerError):
        await client.create_deploy("web", request())
    assert len(sent) == 1


async def test_list_pages_and_iterating_walks_every_page(scripted: Any) -> None:
    client, sent, answers = scripted
    answers.append(
        answer(200, {"deployments": [deploy_json("a")], "page": 0, "total": 2, "totalPages": 2})
    )
    answers.append(
        answer(200, {"deployments": [deploy_json("b")], "page": 1, "total": 2, "totalPages": 2})
    )

    found = [d.uuid async for d in client.iter_deploys("web", page_size=1)]

    assert found == ["a", "b"]
    assert [dict(r.url.params) for r in sent] == [
        {"page": "0", "pageSize": "1"},
        {"page": "1", "pageSize": "1"},
    ]
    assert {r.url.path for r in sent} == {"/api/v1/catalog/web/deploys"}
    with pytest.raises(ValueError, match="page_size"):
        await client.list_deploys("web", page_size=1001)


async def test_update_and_delete_address_one_deploy(scripted: Any) -> None:
    client, sent, answers = scripted
    answers.append(answer(200, deploy_json(sha="def456")))
    answers.append(answer(204))

    updated = await client.update_deploy("web", "d-1", request(sha="def456"))
    await client.delete_deploy("web", "d-1")

    assert [(r.method, r.url.path) for r in sent] == [
        ("PUT", "/api/v1/catalog/web/deploys/d-1"),
        ("DELETE", "/api/v1/catalog/web/deploys/d-1"),
    ]
    assert updated.sha == "def456"


async def test_a_filtered_delete_needs_a_filter_and_stays_on_one_entity(scripted: Any) -> None:
    client, sent, answers = scripted
    answers.append(answer(204))

    await client.delete_deploys("web", sha="abc123", type="ROLLBACK")
    with pytest.raises(ValueError, match="every deploy of the entity"):
        await client.delete_deploys("web")
    with pytest.raises(ValueError, match="type must be one of"):
        await client.delete_deploys("web", type="REDEPLOY")

    assert len(sent) == 1
    assert sent[0].url.path == "/api/v1/catalog/web/deploys"
    assert dict(sent[0].url.params) == {"sha": "abc123", "type": "ROLLBACK"}


async def test_a_deploy_cortex_refuses_is_a_bad_request(scripted: Any) -> None:
    client, _, answers = scripted
    answers.append(answer(400, {"message": "type is invalid"}))

    with pytest.raises(CortexBadRequest, match="type is invalid"):
        await client.create_deploy("web", request())


def test_a_request_takes_only_cortex_deploy_types_and_aware_times() -> None:
    with pytest.raises(ValidationError, match="must be one of DEPLOY, SCALE, ROLLBACK, RESTART"):
        request(type="POD_CREATION")
    with pytest.raises(ValidationError):
        request(timestamp=datetime(2025, 5, 20, 5))
    with pytest.raises(ValidationError):
        request(title="  ")
