"""How the Custom Events and Deploys APIs look on the wire: paths, query filters, answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from cortex_events.cortex.errors import CortexResponseError
from cortex_events.cortex.models import DEPLOY_TYPES, format_query_time

MAX_PAGE_SIZE = 1000


def check_page(page: int, page_size: int) -> None:
    if page < 0:
        raise ValueError(f"page must be >= 0, got {page}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")


def check_part(value: str, what: str) -> str:
    """``value`` as one percent-encoded path segment. ``.`` and ``..`` are refused: whatever
    their encoding, an HTTP client or server reads them as this folder or the one above, and
    ``/catalog/../custom-events`` would address another resource (a tag is never one; an
    event's uuid comes from Cortex's answers)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    if value.strip(".") == "" and len(value) <= 2:
        raise ValueError(f"{what} {value!r} would address another resource in a URL path")
    return quote(value, safe="")


def events_path(tag: str) -> str:
    return f"/api/v1/catalog/{check_part(tag, 'tag')}/custom-events"


def event_path(tag: str, uuid: str) -> str:
    return f"{events_path(tag)}/{check_part(uuid, 'uuid')}"


def deploys_path(tag: str) -> str:
    return f"/api/v1/catalog/{check_part(tag, 'tag')}/deploys"


def deploy_path(tag: str, uuid: str) -> str:
    return f"{deploys_path(tag)}/{check_part(uuid, 'uuid')}"


def deploy_filters(sha: str | None, environment: str | None, type: str | None) -> dict[str, str]:
    """The filters of an entity's deploy delete; at least one, since none deletes them all."""
    params = {k: v for k, v in (("sha", sha), ("environment", environment), ("type", type)) if v}
    if not params:
        raise ValueError(
            "delete_deploys needs a sha, environment or type filter: without one it would "
            "delete every deploy of the entity, other tools' included"
        )
    if type is not None and type not in DEPLOY_TYPES:
        raise ValueError(f"type must be one of {', '.join(DEPLOY_TYPES)}, got {type!r}")
    return params


def filters(
    type: str | None, start_time: datetime | None, end_time: datetime | None
) -> dict[str, str]:
    params: dict[str, str] = {}
    if type is not None:
        if not type:
            raise ValueError("type filter must not be empty (pass None for no filter)")
        params["type"] = type
    if start_time is not None:
        params["startTime"] = format_query_time(start_time)
    if end_time is not None:
        params["endTime"] = format_query_time(end_time)
    if start_time is not None and end_time is not None and start_time > end_time:
        raise ValueError("start_time is after end_time")
    return params


def decode(response: httpx.Response, method: str, path: str) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise CortexResponseError(
            "the answer is not JSON", status_code=response.status_code, method=method, path=path
        ) from exc


_Model = TypeVar("_Model", bound=BaseModel)


def parse(model: type[_Model], body: Any, method: str, path: str) -> _Model:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise CortexResponseError(
            f"the answer does not look like a {model.__name__}: "
            f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}",
            status_code=200,
            method=method,
            path=path,
        ) from exc


_Item = TypeVar("_Item")


async def walk_pages(
    fetch: Callable[[int], Awaitable[tuple[Sequence[_Item], int]]],
) -> AsyncIterator[_Item]:
    """Every item of a paged list, from page 0: ``fetch(page)`` answers the page's items and
    the number of pages."""
    page = 0
    while True:
        items, total_pages = await fetch(page)
        for item in items:
            yield item
        if not items or page + 1 >= total_pages:
            return
        page += 1
