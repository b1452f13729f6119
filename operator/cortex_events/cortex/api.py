"""The Cortex API surface the operator speaks, written once: custom events and deploys.

`CortexApi` holds every operation (`EventOperations`, `DeployOperations`), each built on one
request path, ``_request``, which asks the leadership gate as the call starts and then hands
the `Request` to ``_exchange``. Two classes implement ``_exchange``:
`cortex_events.cortex.client.CortexClient` over HTTP (which asks the gate again before each
attempt and as it is written) and `cortex_events.delivery.dryrun.DryRunCortex`, which sends
nothing. Delivery and the controllers type against `CortexApi`, so an operation added here
reaches them through the gate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cortex_events.cortex.deploys_api import DeployOperations
from cortex_events.cortex.events_api import EventOperations

__all__ = ["CortexApi", "Gate", "Request"]

logger = logging.getLogger("cortex_events.cortex")

Gate = Callable[[], None]
"""Asked before a request leaves; what it raises ends the call unsent (leader election's fence)."""


@dataclass(frozen=True)
class Request:
    """One request of the surface, as its implementations answer it."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: dict[str, Any] | None = None
    read_body: bool = True
    """False: the answer's body is not read (deletes)."""


class CortexApi(EventOperations, DeployOperations):
    """Every Cortex operation the operator makes, fenced by ``gate`` in one place."""

    def __init__(self, *, gate: Gate | None = None) -> None:
        self._gate = gate

    async def aclose(self) -> None:
        """Release what the implementation holds (nothing, unless it says otherwise)."""

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: dict[str, Any] | None = None,
        read_body: bool = True,
    ) -> Any:
        """The one path of every operation: the gate as the call starts, then the exchange.

        Answers the decoded JSON body, or None when it is empty or ``read_body`` is false.
        """
        self._pass_gate(lambda: f"{method} {path}", "as the call starts")
        return await self._exchange(Request(method, path, params, json, read_body))

    async def _exchange(self, request: Request) -> Any:
        """The implementation's answer to ``request`` (it may ask the gate again)."""
        raise NotImplementedError

    def _pass_gate(self, what: Callable[[], str], when: str) -> None:
        """The gate, saying at DEBUG which request (``what()``, only then) it held back."""
        if self._gate is None:
            return
        try:
            self._gate()
        except Exception as refusal:
            if logger.isEnabledFor(logging.DEBUG):
                reason = str(refusal) or type(refusal).__name__
                logger.debug("Cortex %s: held back %s (%s)", what(), when, reason)
            raise
