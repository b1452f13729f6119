"""The client's catalog operations: the descriptors and the entity list, page by page, each
request through the one rate limiter, and the query Cortex's OpenAPI requires."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexAuthError, CortexResponseError
from tests.support.openapi import MISSING, REFERENCE
from tests.unit.cortex.test_deploys_client import KEY, Handler, scripted

__all__ = ["scripted"]  # the fixture, shared with the Deploys API's tests

OPENAPI = REFERENCE  # ../shared beside the repository


def required_parameters(path: str) -> set[str]:
    """The query parameters Cortex's OpenAPI marks required for ``GET path``."""
    if not OPENAPI.exists():
        pytest.skip(MISSING)
    operation = json.loads(OPENAPI.read_text())["paths"][path]["get"]
    return {p["name"] for p in operation["parameters"] if p.get("required")}


def page(key: str, items: list[Any], number: int, total_pages: int) -> Handler:
    body = {key: items, "page": number, "total": 99, "totalPages": total_pages}
    return lambda _: httpx.Response(200, json=body)


async def test_descriptors_are_read_page_by_page_as_json(
    scripted: tuple[CortexClient, list[httpx.Request], list[Handler]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, sent, answers = scripted
    taken: list[float] = []
    acquire = client.rate_limiter.acquire

    async def counting() -> float:
        taken.append(await acquire())
        return taken[-1]

    monkeypatch.setattr(client.rate_limiter, "acquire", counting)
    first = {"openapi": "3.0.1", "info": {"x-cortex-tag": "web"}}
    second = {"openapi": "3.0.1", "info": {"x-cortex-tag": "api"}}
    answers += [page("descriptors", [first], 0, 2), page("descriptors", [second], 1, 2)]
    found = [d async for d in client.iter_descriptors()]
    assert found == [first, second]
    assert [r.url.path for r in sent] == ["/api/v1/catalog/descriptors"] * 2
    assert [dict(r.url.params) for r in sent] == [
        {"page": "0", "pageSize": "250", "yaml": "false"},
        {"page": "1", "pageSize": "250", "yaml": "false"},
    ]
    assert all(r.method == "GET" for r in sent)
    assert sent[0].headers["Authorization"] == f"Bearer {KEY}"
    assert len(taken) == 2, "each page takes a token of the one rate limiter"


async def test_the_entity_list_is_read_in_pages_of_a_thousand(
    scripted: tuple[CortexClient, list[httpx.Request], list[Handler]],
) -> None:
    client, sent, answers = scripted
    answers.append(page("entities", [{"tag": "web", "isArchived": False}], 0, 1))
    found = [e async for e in client.iter_entities()]
    assert found == [{"tag": "web", "isArchived": False}]
    assert sent[0].url.path == "/api/v1/catalog"
    assert dict(sent[0].url.params) == {"page": "0", "pageSize": "1000"}


async def test_an_answer_that_is_not_a_page_is_a_response_error(
    scripted: tuple[CortexClient, list[httpx.Request], list[Handler]],
) -> None:
    client, _, answers = scripted
    answers.append(lambda _: httpx.Response(200, json={"items": []}))
    with pytest.raises(CortexResponseError, match="DescriptorPage"):
        await client.list_descriptors()


async def test_a_refused_key_is_not_retried(
    scripted: tuple[CortexClient, list[httpx.Request], list[Handler]],
) -> None:
    client, sent, answers = scripted
    answers.append(lambda _: httpx.Response(401, json={"message": "bad key"}))
    with pytest.raises(CortexAuthError):
        await client.list_entities()
    assert len(sent) == 1


async def test_a_429_is_retried_after_its_delay(
    scripted: tuple[CortexClient, list[httpx.Request], list[Handler]],
) -> None:
    client, sent, answers = scripted
    answers.append(lambda _: httpx.Response(429, headers={"Retry-After": "1"}))
    answers.append(page("entities", [], 0, 0))
    assert [e async for e in client.iter_entities()] == []
    assert len(sent) == 2


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/api/v1/catalog/descriptors", "list_descriptors"),
        ("/api/v1/catalog", "list_entities"),
    ],
)
async def test_every_required_query_parameter_of_the_openapi_is_sent(
    scripted: tuple[CortexClient, list[httpx.Request], list[Handler]], path: str, call: str
) -> None:
    required = required_parameters(path)
    assert required  # pageSize and page
    client, sent, answers = scripted
    key = "descriptors" if call == "list_descriptors" else "entities"
    answers.append(page(key, [], 0, 0))
    await getattr(client, call)()
    assert required <= set(sent[0].url.params)
