"""The emulator's HTTP application: the Cortex Custom Events API and the Deploys API (see
`deploys`) behind the gate, and the ``/_fake`` admin API.

Each operation validates the path, query and body (400) before it looks up the entity and
the event (404); the gate in front (see `gate`) handles faults, authentication and the rate
limit first.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from cortex_events_sim.fake_cortex.admin import add_admin_routes
from cortex_events_sim.fake_cortex.answers import error
from cortex_events_sim.fake_cortex.catalog import add_catalog_routes
from cortex_events_sim.fake_cortex.deploys_api import add_deploy_routes, json_body, path_uuid
from cortex_events_sim.fake_cortex.gate import Emulator, api_gate
from cortex_events_sim.fake_cortex.page import add_page_route
from cortex_events_sim.fake_cortex.validation import EventFilter, EventInput, Page

__all__ = ["API_PREFIX", "build_app"]

API_PREFIX = "/api/v1/catalog"
# Any segment: aiohttp's plain ``{name}`` would not match one holding ``{`` or ``}``, which a
# tag may (and a malformed uuid must reach the handler, to be refused with a 400).
TAG_SEGMENT = "/{tag:[^/]+}"
UUID_SEGMENT = "/{uuid:[^/]+}"


def build_app(emulator: Emulator) -> web.Application:
    """The aiohttp application serving ``emulator``'s store."""
    state = emulator.state
    stopping = asyncio.Event()

    async def on_shutdown(_: web.Application) -> None:
        stopping.set()

    def entity_missing(tag: str) -> web.Response | None:
        if state.entity_exists(tag):
            return None
        return error(404, f"Entity {tag} not found")

    def event_missing(tag: str, event_uuid: str) -> web.Response:
        return error(404, f"Custom event {event_uuid} not found for entity {tag}")

    async def list_events(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        event_filter = EventFilter.from_query(request.query)
        page = Page.from_query(request.query)
        if (missing := entity_missing(tag)) is not None:
            return missing
        events, total, total_pages = state.list_page(tag, event_filter, page)
        return web.json_response(
            {
                "events": [e.to_api() for e in events],
                "page": page.number,
                "total": total,
                "totalPages": total_pages,
            }
        )

    async def create_event(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        data = EventInput.from_body(await json_body(request))
        if (missing := entity_missing(tag)) is not None:
            return missing
        return web.json_response(state.create(tag, data).to_api())

    async def delete_events(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        event_filter = EventFilter.from_query(request.query)
        if (missing := entity_missing(tag)) is not None:
            return missing
        state.delete_matching(tag, event_filter)
        return web.Response(status=204)

    async def get_event(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        event_uuid = path_uuid(request)
        if (missing := entity_missing(tag)) is not None:
            return missing
        event = state.get(tag, event_uuid)
        if event is None:
            return event_missing(tag, event_uuid)
        return web.json_response(event.to_api())

    async def update_event(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        event_uuid = path_uuid(request)
        data = EventInput.from_body(await json_body(request))
        if (missing := entity_missing(tag)) is not None:
            return missing
        event = state.replace(tag, event_uuid, data)
        if event is None:
            return event_missing(tag, event_uuid)
        return web.json_response(event.to_api())

    async def delete_event(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        event_uuid = path_uuid(request)
        if (missing := entity_missing(tag)) is not None:
            return missing
        if not state.delete(tag, event_uuid):
            return event_missing(tag, event_uuid)
        return web.Response(status=204)

    app = web.Application(middlewares=[api_gate(emulator, stopping)])
    app.on_shutdown.append(on_shutdown)
    collection = API_PREFIX + TAG_SEGMENT + "/custom-events"
    item = collection + UUID_SEGMENT
    app.router.add_get(collection, list_events, allow_head=False)
    app.router.add_post(collection, create_event)
    app.router.add_delete(collection, delete_events)
    app.router.add_get(item, get_event, allow_head=False)
    app.router.add_put(item, update_event)
    app.router.add_delete(item, delete_event)
    add_deploy_routes(app, emulator, API_PREFIX)
    add_catalog_routes(app, state)
    add_admin_routes(app, emulator)
    add_page_route(app)
    return app
