"""The emulator's HTTP surface: the Cortex Custom Events API and the ``/_fake`` admin API.

Every API request goes through one gate, in this order: injected faults (outage, delay, rate
limit, failure, drop), Bearer authentication (401), the per-key rate limit (429), then the
operation itself, which validates the path, query and body (400) before it looks up the entity
and the event (404). Each API request is recorded with the status it got. Admin requests skip
the gate entirely.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import logging
import math
import threading
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from aiohttp import web

from cortex_events_sim.fake_cortex.faults import Faults
from cortex_events_sim.fake_cortex.records import RecordedRequest
from cortex_events_sim.fake_cortex.store import FakeCortexState
from cortex_events_sim.fake_cortex.validation import EventFilter, EventInput, InvalidRequest, Page

__all__ = ["Emulator", "RateLimiter", "build_app"]

logger = logging.getLogger("cortex_events_sim.fake_cortex")

API_PREFIX = "/api/v1/catalog"
ADMIN_PREFIX = "/_fake/"
WINDOW_SECONDS = 60.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RateLimiter:
    """A sliding 60-second window of accepted requests per API key.

    ``per_minute`` of ``None`` means unlimited. Requests answered 429 do not count.
    """

    def __init__(self, per_minute: int | None = None) -> None:
        if per_minute is not None and per_minute < 1:
            raise ValueError(f"rate limit must be at least 1 request a minute, got {per_minute}")
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._seen: dict[str, collections.deque[float]] = {}

    def admit(self, key: str, now: float | None = None) -> float | None:
        """Count one request for ``key``; ``None`` if admitted, else seconds until a slot frees."""
        if self.per_minute is None:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._seen.setdefault(key, collections.deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= self.per_minute:
                return max(window[0] + WINDOW_SECONDS - now, 0.0)
            window.append(now)
            return None

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


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


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"httpStatus": status, "message": message, "requestId": str(uuidlib.uuid4())},
        status=status,
        headers=headers,
    )


def _retry_after_header(seconds: float) -> str:
    # Integral delays are written as HTTP's delay-seconds; fractional ones (only ever armed by
    # tests, to keep them fast) keep their fraction.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _too_many(retry_after: float, detail: str) -> web.Response:
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


async def _read_body(request: web.Request) -> _Body:
    raw = await request.read()
    if not raw:
        return _Body(raw, None, is_json=False)
    try:
        return _Body(raw, json.loads(raw), is_json=True)
    except (ValueError, UnicodeDecodeError):
        return _Body(raw, None, is_json=False)


async def _json_body(request: web.Request) -> Any:
    # The gate has read the body already; aiohttp keeps it, so this read is free.
    body = await _read_body(request)
    if not body.raw:
        raise InvalidRequest("request body is required")
    if not body.is_json:
        raise InvalidRequest("request body is not valid JSON")
    return body.value


def _event_uuid(request: web.Request) -> str:
    raw = request.match_info["uuid"]
    try:
        return str(uuidlib.UUID(raw))
    except ValueError:
        raise InvalidRequest(f"uuid is not a valid UUID: {raw!r}") from None


def build_app(emulator: Emulator) -> web.Application:
    """The aiohttp application serving ``emulator``'s store."""
    state = emulator.state
    stopping = asyncio.Event()

    async def on_shutdown(_: web.Application) -> None:
        stopping.set()

    def entity_missing(tag: str) -> web.Response | None:
        if state.entity_exists(tag):
            return None
        return _error(404, f"Entity {tag} not found")

    def event_missing(tag: str, event_uuid: str) -> web.Response:
        return _error(404, f"Custom event {event_uuid} not found for entity {tag}")

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
        data = EventInput.from_body(await _json_body(request))
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
        event_uuid = _event_uuid(request)
        if (missing := entity_missing(tag)) is not None:
            return missing
        event = state.get(tag, event_uuid)
        if event is None:
            return event_missing(tag, event_uuid)
        return web.json_response(event.to_api())

    async def update_event(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        event_uuid = _event_uuid(request)
        data = EventInput.from_body(await _json_body(request))
        if (missing := entity_missing(tag)) is not None:
            return missing
        event = state.replace(tag, event_uuid, data)
        if event is None:
            return event_missing(tag, event_uuid)
        return web.json_response(event.to_api())

    async def delete_event(request: web.Request) -> web.StreamResponse:
        tag = request.match_info["tag"]
        event_uuid = _event_uuid(request)
        if (missing := entity_missing(tag)) is not None:
            return missing
        if not state.delete(tag, event_uuid):
            return event_missing(tag, event_uuid)
        return web.Response(status=204)

    async def api_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await _read_body(request)
        tag = request.match_info.get("tag")

        def record(status: int) -> None:
            state.record(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    status=status,
                    body=body.recorded,
                    at=time.time(),
                    tag=tag,
                )
            )
            logger.info(
                "fake-cortex %s %s -> %s", request.method, request.path_qs, status or "dropped"
            )

        action = emulator.faults.take(request.method)
        if action.delay:
            # A server that is stopping drops held requests instead of making stop() wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=action.delay)
        response: web.StreamResponse
        if action.kind == "drop" or stopping.is_set():
            record(0)
            _drop(request)
        if action.kind == "rate_limit":
            response = _too_many(action.retry_after, "Rate limit exceeded (injected)")
        elif action.kind == "fail":
            reason = "Service unavailable (outage)" if action.outage else "Failure"
            response = _error(action.status, f"{reason}: injected by the Cortex emulator")
        elif action.kind == "garble":
            response = _garbled(await _authorized(request, handler), action.form)
        else:
            response = await _authorized(request, handler)
        record(response.status)
        return response

    async def _authorized(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = _bearer_key(request)
        expected = emulator.api_key
        if key is None or (
            expected is not None and not hmac.compare_digest(key.encode(), expected.encode())
        ):
            return _error(
                401,
                "Missing or invalid API key: send Authorization: Bearer <API key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        wait = emulator.limiter.admit(key)
        if wait is not None:
            return _too_many(
                float(max(1, math.ceil(wait))),
                f"Rate limit of {emulator.limiter.per_minute} requests per minute exceeded",
            )
        try:
            return await handler(request)
        except InvalidRequest as exc:
            return _error(400, str(exc))
        except web.HTTPMethodNotAllowed as exc:
            return _error(
                405,
                f"Method {request.method} is not allowed on {request.path}",
                headers={"Allow": exc.headers.get("Allow", "")},
            )
        except web.HTTPException as exc:
            return _error(exc.status, f"{exc.reason}: {request.method} {request.path}")

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        return await api_gate(request, handler)

    app = web.Application(middlewares=[gate])
    app.on_shutdown.append(on_shutdown)
    collection = API_PREFIX + "/{tag}/custom-events"
    item = collection + "/{uuid}"
    app.router.add_get(collection, list_events, allow_head=False)
    app.router.add_post(collection, create_event)
    app.router.add_delete(collection, delete_events)
    app.router.add_get(item, get_event, allow_head=False)
    app.router.add_put(item, update_event)
    app.router.add_delete(item, delete_event)
    _add_admin_routes(app, emulator)
    return app


def _add_admin_routes(app: web.Application, emulator: Emulator) -> None:
    state = emulator.state
    faults = emulator.faults

    async def health(_: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "status": "ok",
                "events": len(state.events()),
                "requests": len(state.requests),
                "outage": faults.in_outage,
            }
        )

    async def events(request: web.Request) -> web.StreamResponse:
        tag = request.query.get("tag") or None
        return web.json_response(
            [{"tag": e.tag, **e.to_api()} for e in state.events(tag)],
        )

    async def requests(_: web.Request) -> web.StreamResponse:
        return web.json_response([r.to_json() for r in state.requests])

    async def reset(_: web.Request) -> web.StreamResponse:
        state.clear()
        faults.clear()
        emulator.limiter.clear()
        return web.json_response({"status": "reset"})

    async def arm_fault(request: web.Request) -> web.StreamResponse:
        try:
            spec = await request.json()
            _arm(faults, spec)
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"message": f"bad fault: {exc}"}, status=400)
        return web.json_response({"status": "armed", "pending": faults.pending()})

    app.router.add_get("/_fake/health", health)
    app.router.add_get("/_fake/events", events)
    app.router.add_get("/_fake/requests", requests)
    app.router.add_post("/_fake/reset", reset)
    app.router.add_post("/_fake/faults", arm_fault)


def _arm(faults: Faults, spec: Any) -> None:
    """Arm one fault from its admin JSON form (see the package documentation)."""
    if not isinstance(spec, dict):
        raise TypeError("expected a JSON object")
    kind = spec.get("kind")
    count = int(spec.get("count", 1))
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise TypeError("method must be a string")
    if kind == "rate_limit":
        faults.rate_limit_next(count, float(spec.get("retry_after", 1.0)), method=method)
    elif kind == "fail":
        faults.fail_next(count, int(spec.get("status", 500)), method=method)
    elif kind == "delay":
        faults.delay_next(count, float(spec["seconds"]), method=method)
    elif kind == "drop":
        faults.drop_next(count, method=method)
    elif kind == "garble":
        faults.garble_next(count, spec.get("form", "html"), method=method)
    elif kind == "outage":
        faults.outage(bool(spec.get("on", True)), drop=bool(spec.get("drop", False)))
    elif kind == "clear":
        faults.clear()
    else:
        raise ValueError(
            f"unknown kind {kind!r}: use rate_limit, fail, delay, drop, garble, outage or clear"
        )
