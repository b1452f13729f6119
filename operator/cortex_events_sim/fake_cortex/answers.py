"""The answers Cortex gives when it refuses a request: a JSON error, or 429 with Retry-After."""

from __future__ import annotations

import json
import uuid as uuidlib

from aiohttp import web

__all__ = ["error", "too_many"]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"httpStatus": status, "message": message, "requestId": str(uuidlib.uuid4())},
        status=status,
        headers=headers,
    )


def _retry_after_header(seconds: float) -> str:
    # Integral delays are written as HTTP's delay-seconds; fractional ones (only ever armed by
    # tests, to keep them fast) keep their fraction.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def too_many(retry_after: float, detail: str) -> web.Response:
    header = _retry_after_header(retry_after)
    body = {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": f"{detail}; retry after {header} s",
    }
    return web.Response(
        status=429,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers={"Retry-After": header},
    )
