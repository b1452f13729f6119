"""The answers Cortex gives when it refuses a request, in the forms its API description gives
them: an ``ErrorResponse`` (``{"type", "message", "httpStatus", "requestId"}``), or for 429 an
``application/problem+json`` body with ``retryAfter`` and the ``Retry-After`` header."""

from __future__ import annotations

import json
import math
import uuid as uuidlib

from aiohttp import web

__all__ = ["ERROR_TYPES", "error", "too_many"]

ERROR_TYPES = {
    400: "BAD_REQUEST",
    401: "FORBIDDEN",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "BAD_REQUEST",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
}
"""The ``type`` of an ``ErrorResponse`` by status: values of the description's enum. It has no
value for a refused key (401), so FORBIDDEN stands for it; a 5xx is UNHANDLED_EXCEPTION, any
other status UNCATEGORIZED."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = ERROR_TYPES.get(status, "UNHANDLED_EXCEPTION" if status >= 500 else "UNCATEGORIZED")
    return web.json_response(
        {
            "type": kind,
            "message": message,
            "httpStatus": status,
            "requestId": str(uuidlib.uuid4()),
        },
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
        # The body's field is whole seconds (an integer), so a fraction is rounded up.
        "retryAfter": math.ceil(retry_after),
    }
    return web.Response(
        status=429,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers={"Retry-After": header},
    )
