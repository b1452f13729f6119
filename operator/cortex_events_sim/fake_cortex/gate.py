"""The gate every Cortex API request passes, in this order: injected faults (outage, delay,
rate limit, failure, drop, garble), Bearer authentication (401), the per-key rate limit (429),
then the operation. Each API request is recorded with the status it got; admin requests
(``/_fake/...``) pass straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from aiohttp import web

from cortex_events_sim.fake_cortex.answers import error, too_many
from cortex_events_sim.fake_cortex.faults import Faults
from cortex_events_sim.fake_cortex.page import PAGE_PATH
from cortex_events_sim.fake_cortex.ratelimit import RateLimiter
from cortex_events_sim.fake_cortex.records import RecordedRequest
from cortex_events_sim.fake_cortex.store import FakeCortexState
from cortex_events_sim.fake_cortex.validation import InvalidRequest

if TYPE_CHECKING:
    from aiohttp.typedefs import Middleware

__all__ = ["ADMIN_PREFIX", "Emulator", "api_gate", "read_body"]

logger = logging.getLogger("cortex_events_sim.fake_cortex")

ADMIN_PREFIX = "/_fake/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Emulator(Protocol):
    """What the HTTP layer needs from the server object."""

    @property
    def state(self) -> FakeCortexState: ...

    @property
    def faults(self) -> Faults: ...

    @property
    def api_key(self) -> str | None: ...

    @property
    def limiter(self) -> RateLimiter: ...

    @property
    def record_answers(self) -> bool: ...


@dataclass(frozen=True)
class _Body:
    raw: bytes
    value: Any
    is_json: bool

    @property
    def recorded(self) -> Any | None:
        if not self.raw:
            return None
        return self.value if self.is_json else self.raw.decode("utf-8", "replace")


PROXY_PAGE = (
    "<html><head><title>Service Temporarily Unavailable</title></head>"
    "<body><h1>Please wait</h1><p>The gateway is busy; your request was forwarded.</p>"
    "</body></html>"
)


def _garbled(response: web.StreamResponse, form: str) -> web.StreamResponse:
    """A success answer spoiled after the work was done; error answers pass unchanged."""
    if not 200 <= response.status < 300 or not isinstance(response, web.Response):
        return response
    if form == "truncated":
        body = bytes(response.body or b"") if isinstance(response.body, bytes) else b""
        return web.Response(
            status=response.status, body=body[: len(body) // 2], content_type="application/json"
        )
    return web.Response(status=response.status, text=PROXY_PAGE, content_type="text/html")


def _drop(request: web.Request) -> NoReturn:
    """Close the connection without an answer; the raised cancellation ends the handler."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


def _bearer_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_body(request: web.Request) -> _Body:
    """The request's body, decoded when it is JSON: strict JSON, so ``NaN`` and ``Infinity``
    (which Python's decoder would take) and nesting too deep to decode make it not JSON."""
    raw = await request.read()
    if not raw:
        return _Body(raw, None, is_json=False)
    try:
        return _Body(raw, json.loads(raw, parse_constant=_no_constant), is_json=True)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _Body(raw, None, is_json=False)


def _answer(response: web.StreamResponse) -> tuple[Any | None, str]:
    """An answer's body (decoded JSON, else text, else None) and its content type."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return None, response.content_type if isinstance(response, web.Response) else ""
    raw = response.body
    if not raw:
        return None, response.content_type
    try:
        return json.loads(raw), response.content_type
    except ValueError:
        return raw.decode("utf-8", "replace"), response.content_type


def api_gate(emulator: Emulator, stopping: asyncio.Event) -> Middleware:
    """The middleware for ``emulator``'s application. Once ``stopping`` is set, API requests
    (held ones included) are dropped, so that stopping the server does not wait on them."""
    state = emulator.state

    async def gated(request: web.Request, handler: Handler) -> web.StreamResponse:
        received = time.time()
        too_large: web.Response | None = None
        try:
            body = await read_body(request)
        except web.HTTPRequestEntityTooLarge as refused:
            body = _Body(b"", None, is_json=False)
            too_large = error(400, f"request body is too large: {refused.text}")
        tag = request.match_info.get("tag")

        def record(status: int, response: web.StreamResponse | None = None) -> None:
            answer, answer_type = (
                _answer(response)
                if response is not None and emulator.record_answers
                else (None, "")
            )
            state.record(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    status=status,
                    body=body.recorded,
                    at=time.time(),
                    tag=tag,
                    received_at=received,
                    agent=request.headers.get("User-Agent", ""),
                    answer=answer,
                    answer_type=answer_type,
                )
            )
            logger.info(
                "fake-cortex %s %s -> %s", request.method, request.path_qs, status or "dropped"
            )

        action = emulator.faults.take(request.method, request.path)
        if action.delay:
            # A server that is stopping drops held requests instead of making stop() wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=action.delay)
        response: web.StreamResponse
        if action.kind == "drop" or stopping.is_set():
            record(0)
            _drop(request)
        if action.kind == "rate_limit":
            response = too_many(action.retry_after, "Rate limit exceeded (injected)")
        elif action.kind == "fail":
            reason = "Service unavailable (outage)" if action.outage else "Failure"
            response = error(action.status, f"{reason}: injected by the Cortex emulator")
        elif action.kind == "garble":
            response = _garbled(await authorized(request, handler, too_large), action.form)
        else:
            response = await authorized(request, handler, too_large)
        record(response.status, response)
        return response

    async def authorized(
        request: web.Request, handler: Handler, refused: web.Response | None
    ) -> web.StreamResponse:
        """Authentication, the rate limit, then ``refused`` (a body that could not be read)
        or the operation."""
        key = _bearer_key(request)
        expected = emulator.api_key
        if key is None or (
            expected is not None and not hmac.compare_digest(key.encode(), expected.encode())
        ):
            return error(
                401,
                "Missing or invalid API key: send Authorization: Bearer <API key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        wait = emulator.limiter.admit(key)
        if wait is not None:
            return too_many(
                float(max(1, math.ceil(wait))),
                f"Rate limit of {emulator.limiter.per_minute} requests per minute exceeded",
            )
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except InvalidRequest as exc:
            return error(400, str(exc))
        except web.HTTPMethodNotAllowed as exc:
            return error(
                405,
                f"Method {request.method} is not allowed on {request.path}",
                headers={"Allow": exc.headers.get("Allow", "")},
            )
        except web.HTTPException as exc:
            return error(exc.status, f"{exc.reason}: {request.method} {request.path}")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX) or request.path == PAGE_PATH:
            return await handler(request)
        return await gated(request, handler)

    return middleware
