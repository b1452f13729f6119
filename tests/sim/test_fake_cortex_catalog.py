"""The Cortex emulator's catalog: the descriptors it is given and the entity list, served paged as
Cortex's OpenAPI describes them; the admin API and the ``--descriptor`` option that give them; and
what one read of the catalog costs, counted in the emulator's request log."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from pydantic import SecretStr

from cortex_events.controllers.catalog import CatalogMapping
from cortex_events.cortex.client import CortexClient
from cortex_events.domain.catalog import MappingConfig, Source
from cortex_events_sim.fake_cortex import FakeCortex
from tests.support.openapi import MISSING, REFERENCE

KEY = "catalog-test-key"
OPENAPI = REFERENCE  # ../shared beside the repository


def descriptor(tag: str, *deployments: str, kind: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"title": tag.title(), "x-cortex-tag": tag}
    if deployments:
        items = [{"identifier": d, "cluster": "prod"} for d in deployments]
        info["x-cortex-k8s"] = {"deployment": items}
    if kind:
        info["x-cortex-type"] = kind
    return {"openapi": "3.0.1", "info": info}


@pytest.fixture
async def cortex() -> AsyncIterator[FakeCortex]:
    fake = FakeCortex(
        api_key=KEY,
        entities=["payments"],
        descriptors=[descriptor("web", "shop/web"), descriptor("db", kind="postgres")],
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def client(cortex: FakeCortex) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=cortex.base_url, headers=headers) as http:
        yield http


def schema(name: str) -> dict[str, Any]:
    """A response schema of Cortex's OpenAPI, its references resolvable."""
    if not OPENAPI.exists():
        pytest.skip(MISSING)
    document = json.loads(OPENAPI.read_text())
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


async def test_descriptors_are_served_paged_in_tag_order(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/catalog/descriptors", params={"page": 0, "pageSize": 2})
    second = await client.get("/api/v1/catalog/descriptors", params={"page": 1, "pageSize": 2})
    assert first.status_code == 200
    body = first.json()
    assert [d["info"]["x-cortex-tag"] for d in body["descriptors"]] == ["db", "payments"]
    assert (body["page"], body["total"], body["totalPages"]) == (0, 3, 2)
    assert [d["info"]["x-cortex-tag"] for d in second.json()["descriptors"]] == ["web"]
    assert second.json()["descriptors"][0]["info"]["x-cortex-k8s"] == {
        "deployment": [{"identifier": "shop/web", "cluster": "prod"}]
    }
    jsonschema.validate(body, schema("JsonDescriptorsListResponse"))


async def test_descriptors_as_yaml_and_by_type(client: httpx.AsyncClient) -> None:
    query = {"page": "0", "pageSize": "10", "yaml": "true", "types": "postgres"}
    body = (await client.get("/api/v1/catalog/descriptors", params=query)).json()
    (text,) = body["descriptors"]
    assert yaml.safe_load(text)["info"]["x-cortex-tag"] == "db"
    jsonschema.validate(body, schema("YamlDescriptorsListResponse"))


async def test_the_entity_list_summarizes_every_entity_archived_ones_on_request(
    cortex: FakeCortex, client: httpx.AsyncClient
) -> None:
    put = await client.post("/_fake/descriptors?archived=true", json=descriptor("old"))
    assert put.json() == {"tags": ["old"]}
    body = (await client.get("/api/v1/catalog", params={"page": 0, "pageSize": 10})).json()
    assert [e["tag"] for e in body["entities"]] == ["db", "payments", "web"]
    assert body["entities"][0]["type"] == "postgres"
    jsonschema.validate(body, schema("ListCatalogEntities"))
    query = {"page": "0", "pageSize": "10", "includeArchived": "true"}
    every = (await client.get("/api/v1/catalog", params=query)).json()["entities"]
    assert [(e["tag"], e["isArchived"]) for e in every if e["tag"] == "old"] == [("old", True)]
    assert cortex.state.entity_exists("old")


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        ("/api/v1/catalog/descriptors", {"page": 0}, "pageSize is required"),
        ("/api/v1/catalog", {}, "page and pageSize is required"),
        ("/api/v1/catalog", {"page": 0, "pageSize": 1001}, "pageSize must be between 1 and 1000"),
        ("/api/v1/catalog/descriptors", {"page": -1, "pageSize": 5}, "page must be 0 or greater"),
    ],
)
async def test_a_bad_page_is_a_400_naming_it(
    client: httpx.AsyncClient, path: str, query: dict[str, Any], message: str
) -> None:
    answer = await client.get(path, params=query)
    assert answer.status_code == 400
    assert message in answer.json()["message"]


async def test_the_catalog_needs_the_key_like_every_api_request(cortex: FakeCortex) -> None:
    async with httpx.AsyncClient(base_url=cortex.base_url) as anonymous:
        answer = await anonymous.get("/api/v1/catalog", params={"page": 0, "pageSize": 1})
    assert answer.status_code == 401


async def test_admin_replaces_lists_and_removes_descriptors(client: httpx.AsyncClient) -> None:
    await client.post("/_fake/descriptors", json=[descriptor("web", "shop/web-v2")])
    listed = (await client.get("/_fake/descriptors")).json()
    (web,) = [d for d in listed if d["info"]["x-cortex-tag"] == "web"]
    assert web["info"]["x-cortex-k8s"]["deployment"][0]["identifier"] == "shop/web-v2"
    assert (await client.delete("/_fake/descriptors/web")).status_code == 204
    assert (await client.delete("/_fake/descriptors/web")).status_code == 404
    bad = await client.post("/_fake/descriptors", json={"info": {"title": "no tag"}})
    assert bad.status_code == 400
    assert "x-cortex-tag" in bad.json()["message"]


@pytest.mark.parametrize("entities", [100, 300, 1000])
async def test_one_read_of_the_catalog_costs_what_the_page_sizes_say(entities: int) -> None:
    """The budget of one refresh, as the emulator's request log counts it: ceil(N / 250)
    descriptor pages and ceil(N / 1000) entity pages for N entities."""
    fake = FakeCortex(api_key=KEY, descriptors=[descriptor(f"svc-{i:04}") for i in range(entities)])
    await fake.start()
    try:
        async with CortexClient(fake.base_url, SecretStr(KEY), per_minute=1000) as client:
            mapping = CatalogMapping(
                client,
                MappingConfig(frozenset(Source), ("app",), "prod"),
                reevaluate=lambda _: None,
                namespaces=lambda: (),
            )
            assert await mapping.refresh()
            assert mapping.index is not None
            assert len(mapping.index.named) == entities
    finally:
        await fake.stop()
    paths = [r.path for r in fake.state.requests]
    assert paths.count("/api/v1/catalog/descriptors") == math.ceil(entities / 250)
    assert paths.count("/api/v1/catalog") == math.ceil(entities / 1000)
    assert len(paths) == math.ceil(entities / 250) + math.ceil(entities / 1000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_descriptor_option_serves_the_files_given(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump_all([descriptor("web", "shop/web"), descriptor("api")]))
    port = free_port()
    command = [sys.executable, "-m", "cortex_events", "fake-cortex", "--port", str(port),
               "--api-key", KEY, "--descriptor", str(path)]  # fmt: skip
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = f"http://127.0.0.1:{port}/api/v1/catalog/descriptors?page=0&pageSize=10"
            deadline = time.monotonic() + 20
            while True:
                try:
                    answer = httpx.get(url, headers={"Authorization": f"Bearer {KEY}"})
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "fake-cortex exited"
                    assert time.monotonic() < deadline, "fake-cortex never listened"
                    time.sleep(0.1)
            tags = [d["info"]["x-cortex-tag"] for d in answer.json()["descriptors"]]
            assert tags == ["api", "web"]
        finally:
            process.terminate()


def test_a_descriptor_file_without_a_tag_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("info: {title: no tag}\n")
    done = subprocess.run(
        [sys.executable, "-m", "cortex_events", "fake-cortex", "--port", "1",
         "--descriptor", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"cortex-events: error: --descriptor {path}: a descriptor needs x-cortex-tag "
        "(under info, or at the top)"
    )
