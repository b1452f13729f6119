"""The emulator's catalog: entity descriptors it is given, served as Cortex serves them.

* ``GET /api/v1/catalog/descriptors``: the descriptors as JSON objects (``yaml=true``: as YAML
  text), in tag order, ``{"descriptors", "page", "total", "totalPages"}``; ``types`` keeps those
  whose ``x-cortex-type`` (``service`` when absent) it lists.
* ``GET /api/v1/catalog``: a summary of every entity (``tag``, ``name``, ``id``, ``type``,
  ``isArchived`` ...), ``{"entities", "page", "total", "totalPages"}``: the entities of the
  emulator's entity list and those it has descriptors for; archived ones only with
  ``includeArchived=true``.

Both require ``page`` (0 and up) and ``pageSize`` (1 to 1000), as Cortex's OpenAPI says, and
answer 400 without them. A descriptor names its tag in ``x-cortex-tag`` (under ``info``, or at
the top); given one, that tag exists (404s stop for it). Descriptors come from `FakeCortex`'s
``descriptors``, ``cortex-events fake-cortex --descriptor FILE``, or the admin API:
``POST /_fake/descriptors`` (one descriptor or a list; ``?archived=true`` marks them archived),
``GET /_fake/descriptors``, ``DELETE /_fake/descriptors/{tag}``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from aiohttp import web

from cortex_events_sim.fake_cortex.answers import error
from cortex_events_sim.fake_cortex.descriptors import descriptor_field, descriptor_tag
from cortex_events_sim.fake_cortex.gate import read_body
from cortex_events_sim.fake_cortex.store import FakeCortexState
from cortex_events_sim.fake_cortex.validation import InvalidRequest, Page

__all__ = ["add_catalog_routes", "put_descriptors"]

DESCRIPTORS_PATH = "/api/v1/catalog/descriptors"
ENTITIES_PATH = "/api/v1/catalog"


def _page(query: Mapping[str, str]) -> Page:
    missing = [name for name in ("page", "pageSize") if name not in query]
    if missing:
        raise InvalidRequest(f"{' and '.join(missing)} is required")
    return Page.from_query(query)


def _sliced(items: list[Any], page: Page, key: str) -> dict[str, Any]:
    start = page.number * page.size
    return {
        key: items[start : start + page.size],
        "page": page.number,
        "total": len(items),
        "totalPages": math.ceil(len(items) / page.size),
    }


def _summary(tag: str, descriptor: Mapping[str, Any], archived: bool, updated: str) -> Any:
    return {
        "tag": tag,
        "name": descriptor_field(descriptor, "title") or tag,
        "id": "en" + hashlib.sha256(tag.encode()).hexdigest()[:16],
        "type": descriptor_field(descriptor, "x-cortex-type") or "service",
        "isArchived": archived,
        "lastUpdated": updated,
        "groups": list(descriptor_field(descriptor, "x-cortex-groups") or []),
        "hierarchy": {"parents": [], "children": []},
        "links": [],
        "slackChannels": [],
    }


def add_catalog_routes(app: web.Application, state: FakeCortexState) -> None:
    catalog = state.catalog

    def known(query: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
        """(tag, descriptor) of every entity, in tag order; one without a descriptor gets a
        minimal one."""
        described = {descriptor_tag(d): d for d in catalog.descriptors()}
        tags = set(described) | set(state.entities or ())
        kinds = {t.strip() for t in query.get("types", "").split(",") if t.strip()}
        found = []
        for tag in sorted(tags):
            minimal = {"openapi": "3.0.1", "info": {"title": tag, "x-cortex-tag": tag}}
            descriptor = described.get(tag) or minimal
            if kinds and (descriptor_field(descriptor, "x-cortex-type") or "service") not in kinds:
                continue
            found.append((tag, descriptor))
        return found

    async def list_descriptors(request: web.Request) -> web.StreamResponse:
        page = _page(request.query)
        described: list[Any] = [d for _, d in known(request.query)]
        if request.query.get("yaml", "false").lower() == "true":
            described = [yaml.safe_dump(d, sort_keys=False) for d in described]
        return web.json_response(_sliced(described, page, "descriptors"))

    async def list_entities(request: web.Request) -> web.StreamResponse:
        page = _page(request.query)
        archived = request.query.get("includeArchived", "false").lower() == "true"
        updated = catalog.updated.isoformat().replace("+00:00", "Z")
        entities = [
            _summary(tag, descriptor, catalog.archived(tag), updated)
            for tag, descriptor in known(request.query)
            if archived or not catalog.archived(tag)
        ]
        return web.json_response(_sliced(entities, page, "entities"))

    async def admin_put(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        items = body.value if isinstance(body.value, list) else [body.value]
        archived = request.query.get("archived", "false").lower() == "true"
        try:
            tags = put_descriptors(state, items, archived=archived)
        except ValueError as exc:
            return error(400, f"bad descriptor: {exc}")
        return web.json_response({"tags": tags})

    async def admin_list(_: web.Request) -> web.StreamResponse:
        return web.json_response(catalog.descriptors())

    async def admin_delete(request: web.Request) -> web.StreamResponse:
        if not catalog.remove(request.match_info["tag"]):
            return error(404, f"no descriptor for {request.match_info['tag']}")
        return web.Response(status=204)

    app.router.add_get(DESCRIPTORS_PATH, list_descriptors, allow_head=False)
    app.router.add_get(ENTITIES_PATH, list_entities, allow_head=False)
    app.router.add_post("/_fake/descriptors", admin_put)
    app.router.add_get("/_fake/descriptors", admin_list)
    app.router.add_delete("/_fake/descriptors/{tag}", admin_delete)


def put_descriptors(
    state: FakeCortexState, descriptors: Iterable[Any], *, archived: bool = False
) -> list[str]:
    """Give the emulator these descriptors: each one's entity exists from now on."""
    checked = list(descriptors)
    for descriptor in checked:
        descriptor_tag(descriptor)  # all or nothing
    tags = [state.catalog.put(d, archived=archived) for d in checked]
    for tag in tags:
        state.add_entity(tag)
    return tags
