"""The emulator's admin API under ``/_fake/`` (no auth, never recorded, never rate-limited or
faulted): its health, what it stores and was asked, faults to arm, and a reset. See the
package documentation for each route."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cortex_events_sim.fake_cortex.faults import Faults
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
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"message": f"bad fault: {exc}"}, status=400)
        return web.json_response({"status": "armed", "pending": faults.pending()})

    app.router.add_get("/_fake/health", health)
    app.router.add_get("/_fake/events", events)
    app.router.add_get("/_fake/deploys", deploys)
    app.router.add_get("/_fake/requests", requests)
    app.router.add_post("/_fake/reset", reset)
    app.router.add_post("/_fake/faults", arm_fault)


def _arm(faults: Faults, spec: Any) -> None:
    """Arm one fault from its admin JSON form (see the package documentation)."""
    if not isinstance(spec, dict):
        raise TypeError("expected a JSON object")
    kind = spec.get("kind")
    count = int(spec.get("count", 1))
    method, path = spec.get("method"), spec.get("path")
    if method is not None and not isinstance(method, str):
        raise TypeError("method must be a string")
    if path is not None and not isinstance(path, str):
        raise TypeError("path must be a string")
    if kind == "rate_limit":
        faults.rate_limit_next(count, float(spec.get("retry_after", 1.0)), method=method, path=path)
    elif kind == "fail":
        faults.fail_next(count, int(spec.get("status", 500)), method=method, path=path)
    elif kind == "delay":
        faults.delay_next(count, float(spec["seconds"]), method=method, path=path)
    elif kind == "drop":
        faults.drop_next(count, method=method, path=path)
    elif kind == "garble":
        faults.garble_next(count, spec.get("form", "html"), method=method, path=path)
    elif kind == "outage":
        faults.outage(bool(spec.get("on", True)), drop=bool(spec.get("drop", False)))
    elif kind == "clear":
        faults.clear()
    else:
        raise ValueError(
            f"unknown kind {kind!r}: use rate_limit, fail, delay, drop, garble, outage or clear"
        )
