"""How the Custom Events API looks on the wire: its paths, its query filters, its answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from cortex_events.cortex.errors import CortexResponseError
from cortex_events.cortex.models import CustomEvent, CustomEventPage, format_query_time


def check_part(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def events_path(tag: str) -> str:
    return f"/api/v1/catalog/{check_part(tag, 'tag')}/custom-events"


def event_path(tag: str, uuid: str) -> str:
    return f"{events_path(tag)}/{check_part(uuid, 'uuid')}"


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


_Model = TypeVar("_Model", CustomEvent, CustomEventPage)


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
