"""The Custom Events API operations of `cortex_events.cortex.api.CortexApi`.

Requests go through the surface's one ``_request``: the leadership gate, then (in the client)
the same rate limiter and retries as every other operation. A create is never retried once
Cortex may have received it (see `cortex_events.cortex.client`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from cortex_events.cortex.models import CustomEvent, CustomEventPage, CustomEventRequest
from cortex_events.cortex.wire import (
    MAX_PAGE_SIZE,
    check_page,
    event_path,
    events_path,
    filters,
    parse,
    walk_pages,
)


class EventOperations:
    """Mixed into `CortexApi`, which provides ``_request`` (the gate, then the exchange)."""

    _request: Callable[..., Awaitable[Any]]

    async def list_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page: int = 0,
        page_size: int = 250,
    ) -> CustomEventPage:
        """One page of the entity's events, optionally filtered by type and time range."""
        check_page(page, page_size)
        params = filters(type, start_time, end_time)
        params["page"] = str(page)
        params["pageSize"] = str(page_size)
        body = await self._request("GET", events_path(tag), params=params)
        return parse(CustomEventPage, body, "GET", events_path(tag))

    def iter_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[CustomEvent]:
        """Every matching event, page by page, starting at page 0.

        Arguments are checked at once, requests are made while iterating. Events created or
        deleted during the walk may shift pages (an event may be seen twice or missed).
        """
        events_path(tag)
        check_page(0, page_size)
        filters(type, start_time, end_time)

        async def fetch(page: int) -> tuple[list[CustomEvent], int]:
            result = await self.list_events(
                tag,
                type=type,
                start_time=start_time,
                end_time=end_time,
                page=page,
                page_size=page_size,
            )
            return result.events, result.total_pages

        return walk_pages(fetch)

    async def get_event(self, tag: str, uuid: str) -> CustomEvent:
        """One event by uuid; `CortexNotFound` if the entity or the event does not exist."""
        path = event_path(tag, uuid)
        return parse(CustomEvent, await self._request("GET", path), "GET", path)

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent:
        """Record a new event; returns it with the uuid Cortex assigned.

        Never retried once Cortex may have received it: a `CortexServerError`, or a
        `CortexConnectionError` with ``request_sent=True``, leaves it unknown whether the event
        exists.
        """
        return await self._send_event("POST", events_path(tag), event)

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        """Replace the event's content (PUT: fields not given are cleared)."""
        return await self._send_event("PUT", event_path(tag, uuid), event)

    async def _send_event(self, method: str, path: str, event: CustomEventRequest) -> CustomEvent:
        body = await self._request(method, path, json=event.to_json())
        return parse(CustomEvent, body, method, path)

    async def delete_event(self, tag: str, uuid: str) -> None:
        """Delete one event.

        When a retry follows an attempt whose answer was lost, the event may already be gone
        and this raises `CortexNotFound`; callers that only want it gone can treat that as done.
        """
        await self._request("DELETE", event_path(tag, uuid), read_body=False)

    async def delete_events(
        self,
        tag: str,
        *,
        type: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> None:
        """Delete the entity's events of ``type`` (optionally within a time range).

        ``type`` is required: a delete without a type filter would also remove events that
        other tools recorded, so this client cannot send one.
        """
        if not type or not type.strip():
            raise ValueError("delete_events needs a non-empty event type filter")
        params = filters(type, start_time, end_time)
        await self._request("DELETE", events_path(tag), params=params, read_body=False)
