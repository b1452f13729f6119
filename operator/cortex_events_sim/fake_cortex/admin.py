"""The emulator's admin API under ``/_fake/`` (no auth, never recorded, never rate-limited or
faulted): its health, what it stores and was asked, faults to arm, and a reset. See the
package documentation for each route."""

from __future__ import annotations

import math
from typing import Any, cast

from aiohttp import web

from cortex_events_sim.fake_cortex.faults import GARBLE_FORMS, Faults, GarbleForm
from cortex_events_sim.fake_cortex.gate import Emulator

__all__ = ["add_admin_routes"]


def add_admin_routes(app: web.Application, emulator: Emulator) -> None:
    state = emulator.state
    faults = emulator.faults

    async def health(_: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "status": "ok",
                "events": len(state.events()),
                "deploys": len(state.deploys()),
                "requests": len(state.requests),
                "outage": faults.in_outage,
            }
        )

    async def events(request: web.Request) -> web.StreamResponse:
        tag = request.query.get("tag") or None
        return web.json_response(
            [{"tag": e.tag, **e.to_api()} for e in state.events(tag)],
        )

    async def deploys(request: web.Request) -> web.StreamResponse:
        tag = request.query.get("tag") or None
        return web.json_response([{"tag": d.tag, **d.to_api()} for d in state.deploys(tag)])

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
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            return web.json_response({"message": f"bad fault: {exc}"}, status=400)
        return web.json_response({"status": "armed", "pending": faults.pending()})

    app.router.add_get("/_fake/health", health)
    app.router.add_get("/_fake/events", events)
    app.router.add_get("/_fake/deploys", deploys)
    app.router.add_get("/_fake/requests", requests)
    app.router.add_post("/_fake/reset", reset)
    app.router.add_post("/_fake/faults", arm_fault)


MAX_FAULT_SECONDS = 3600.0
"""The longest delay or Retry-After a fault may be armed with."""


def _whole(spec: dict[str, Any], name: str, default: int) -> int:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    return value


def _seconds(spec: dict[str, Any], name: str, default: float | None) -> float:
    value = spec.get(name, default)
    if value is None:
        raise KeyError(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and 0 <= value <= MAX_FAULT_SECONDS):
        raise ValueError(f"{name} must be between 0 and {MAX_FAULT_SECONDS:g} seconds")
    return float(value)


def _flag(spec: dict[str, Any], name: str, default: bool) -> bool:
    value = spec.get(name, default)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


def _arm(faults: Faults, spec: Any) -> None:
    """Arm one fault from its admin JSON form (see the package documentation)."""
    if not isinstance(spec, dict):
        raise TypeError("expected a JSON object")
    kind = spec.get("kind")
    count = _whole(spec, "count", 1)
    method, path = spec.get("method"), spec.get("path")
    if method is not None and not isinstance(method, str):
        raise TypeError("method must be a string")
    if path is not None and not isinstance(path, str):
        raise TypeError("path must be a string")
    if kind == "rate_limit":
        retry_after = _seconds(spec, "retry_after", 1.0)
        faults.rate_limit_next(count, retry_after, method=method, path=path)
    elif kind == "fail":
        faults.fail_next(count, _whole(spec, "status", 500), method=method, path=path)
    elif kind == "delay":
        faults.delay_next(count, _seconds(spec, "seconds", None), method=method, path=path)
    elif kind == "drop":
        faults.drop_next(count, method=method, path=path)
    elif kind == "garble":
        form = spec.get("form", "html")
        if form not in GARBLE_FORMS:
            raise ValueError(f"form must be one of {', '.join(GARBLE_FORMS)}, got {form!r}")
        faults.garble_next(count, cast(GarbleForm, form), method=method, path=path)
    elif kind == "outage":
        faults.outage(_flag(spec, "on", True), drop=_flag(spec, "drop", False))
    elif kind == "clear":
        faults.clear()
    else:
        raise ValueError(
            f"unknown kind {kind!r}: use rate_limit, fail, delay, drop, garble, outage or clear"
        )
