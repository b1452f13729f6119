"""The emulator's Deploys API: an entity's deploys (list, create, update, delete one, delete by
filter) and the two deletes across every entity, served as Cortex documents them.

Like the custom-events operations, each validates path, query and body (400) before it looks
up the entity and the deploy (404). The list has no filters, only ``page`` and ``pageSize``,
and answers ``{"deployments", "page", "total", "totalPages"}`` whose items have a ``deployer``
object (``CustomDeploy1``). A create, an update and the delete of one deploy answer 200 with
that deploy as a ``CustomDeploy``: its deployer flat (``deployerEmail``, ``deployerName``),
with its numeric ``id`` and its entity's ``serviceId``. An entity's ``DELETE .../deploys``
without a filter deletes all of its deploys, as Cortex's does, and answers 204 (Cortex's
description gives this delete of many one ``CustomDeploy`` as its answer, which cannot tell of
several or of none). The delete across entities needs at least one filter (400 otherwise), and
``DELETE /api/v1/catalog/deploys/all`` deletes every deploy of every entity. Both answer 200
with the deploys they deleted.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from typing import Any

from aiohttp import web

from cortex_events_sim.fake_cortex.answers import error
from cortex_events_sim.fake_cortex.gate import Emulator, read_body
from cortex_events_sim.fake_cortex.records import StoredDeploy
from cortex_events_sim.fake_cortex.validation import (
    DeployFilter,
    DeployInput,
    InvalidRequest,
    Page,
)

__all__ = ["add_deploy_routes"]


async def json_body(request: web.Request) -> Any:
    """The request's decoded JSON body; 400 when it is missing or not JSON."""
    # The gate has read the body already; aiohttp keeps it, so this read is free.
    body = await read_body(request)
    if not body.raw:
        raise InvalidRequest("request body is required")
    if not body.is_json:
        raise InvalidRequest("request body is not valid JSON")
    return body.value


_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)


def path_uuid(request: web.Request) -> str:
    """The path's ``uuid``, in the hyphenated form of a UUID (8-4-4-4-12 hex digits) only, as
    the description's ``format: uuid`` has it: not braced, not ``urn:uuid:``, not 32 digits."""
    raw = request.match_info["uuid"]
    if not _UUID.fullmatch(raw):
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        raise InvalidRequest(f"uuid is not a valid UUID: {shown!r}")
    return str(uuidlib.UUID(raw))


def add_deploy_routes(app: web.Application, emulator: Emulator, prefix: str) -> None:
    state = emulator.state

    def entity_missing(tag: str) -> web.Response | None:
        return None if state.entity_exists(tag) else error(404, f"Entity {tag} not found")

    def deploy_missing(tag: str, deploy_uuid: str) -> web.Response:
        return error(404, f"Deploy {deploy_uuid} not found for entity {tag}")

    async def list_deploys(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        page = Page.from_query(request.query)
        if (missing := entity_missing(tag)) is not None:
            return missing
        deploys, total, total_pages = state.list_deploy_page(tag, page)
        return web.json_response(
            {
                "deployments": [d.to_api() for d in deploys],
                "page": page.number,
                "total": total,
                "totalPages": total_pages,
            }
        )

    def answer(deploy: StoredDeploy) -> web.Response:
        return web.json_response(deploy.to_saved(state.service_id(deploy.tag)))

    async def create_deploy(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        data = DeployInput.from_body(await json_body(request))
        return entity_missing(tag) or answer(state.create_deploy(tag, data))

    async def update_deploy(request: web.Request) -> web.StreamResponse:
        tag, deploy_uuid = request.match_info["tag"], path_uuid(request)
        data = DeployInput.from_body(await json_body(request))
        # The entity first (404 for it), then the deploy.
        replaced = entity_missing(tag) or state.replace_deploy(tag, deploy_uuid, data)
        if isinstance(replaced, web.Response):
            return replaced
        return deploy_missing(tag, deploy_uuid) if replaced is None else answer(replaced)

    async def delete_deploy(request: web.Request) -> web.StreamResponse:
        tag, deploy_uuid = request.match_info["tag"], path_uuid(request)
        deleted = entity_missing(tag) or state.delete_deploy(tag, deploy_uuid)
        if isinstance(deleted, web.Response):
            return deleted
        return deploy_missing(tag, deploy_uuid) if deleted is None else answer(deleted)

    async def delete_entity_deploys(request: web.Request) -> web.StreamResponse:
        tag, deploy_filter = request.match_info["tag"], DeployFilter.from_query(request.query)
        deleted = entity_missing(tag) or state.delete_deploys_matching(tag, deploy_filter)
        return deleted if isinstance(deleted, web.Response) else web.Response(status=204)

    async def delete_across_entities(request: web.Request) -> web.StreamResponse:
        deploy_filter = DeployFilter.from_query(request.query)
        if deploy_filter.empty:
            raise InvalidRequest("at least one of sha, environment or type is required")
        deleted = state.delete_deploys_matching(None, deploy_filter)
        return web.json_response({"deploys": [d.to_api() for d in deleted]})

    async def delete_all(_: web.Request) -> web.StreamResponse:
        deleted = state.delete_deploys_matching(None, DeployFilter())
        return web.json_response({"deploys": [d.to_api() for d in deleted]})

    app.router.add_delete(prefix + "/deploys/all", delete_all)
    app.router.add_delete(prefix + "/deploys", delete_across_entities)
    collection = prefix + "/{tag:[^/]+}/deploys"  # any segment, as in `app`
    item = collection + "/{uuid:[^/]+}"
    app.router.add_get(collection, list_deploys, allow_head=False)
    app.router.add_post(collection, create_deploy)
    app.router.add_delete(collection, delete_entity_deploys)
    app.router.add_put(item, update_deploy)
    app.router.add_delete(item, delete_deploy)
