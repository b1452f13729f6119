"""The liveness probe's view of the Kubernetes API: answering, refusing the operator, or silent.

Now and then the probe lists one CortexEntity, as the operator's own identity, in the scope it
watches. That request needs the same credentials and RBAC as the watch streams, so a token that
is no longer valid (401: it expired, or `helm uninstall` deleted its ServiceAccount) or RBAC
taken away (403) shows here even while the open watch streams still deliver. Each change of
state is one log line; `/healthz` fails once the API has refused or not answered for
``CORTEX_WEDGED_AFTER`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException

from cortex_events.kube.errors import REFUSAL_HINTS, describe, refusal

logger = logging.getLogger("cortex_events.app")

ENTITIES = "/apis/cortex.io/v1alpha1"


class Requester(Protocol):
    async def request(self, method: str, path: str, body: Any = None, **options: Any) -> Any: ...


class ApiState(Protocol):
    """What liveness reads: when the API last answered, and what it refuses now."""

    api_answered: float
    api_refusal: str | None


def probe_path(namespaces: tuple[str, ...]) -> str:
    """A list the operator's RBAC allows: every namespace's CortexEntities, or the first
    watched namespace's."""
    if namespaces:
        return f"{ENTITIES}/namespaces/{namespaces[0]}/cortexentities"
    return f"{ENTITIES}/cortexentities"


class ApiProbe:
    def __init__(
        self,
        kube: Requester,
        state: ApiState,
        *,
        path: str,
        host: str,
        wedged_after: float,
    ) -> None:
        self._kube, self._state, self._path, self._host = kube, state, path, host
        self._wedged_after = wedged_after
        self.interval = min(30.0, wedged_after / 3)
        self._said: str | None = None  # the state last logged; None: answering

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self.interval)

    async def once(self) -> None:
        try:
            await self._kube.request("GET", self._path, query={"limit": "1"}, timeout=self.interval)
        except ApiException as error:
            code = refusal(error)
            if code is None:
                self._answered()  # it answered: a 404 or a 500 is not a dead connection
            else:
                self._refused(code, describe(error))
        except Exception as error:
            self._state.api_refusal = None
            self._say(f"The Kubernetes API at {self._host} is not answering: {describe(error)}")
        else:
            self._answered()

    def _answered(self) -> None:
        self._state.api_answered = time.monotonic()
        self._state.api_refusal = None
        if self._said is not None:
            logger.info("The Kubernetes API answers again")
        self._said = None

    def _refused(self, code: int, what: str) -> None:
        self._state.api_refusal = what
        whom = "the operator's credentials" if code == 401 else "the operator's requests"
        self._say(
            f"The Kubernetes API at {self._host} refuses {whom} ({what}): "
            f"{REFUSAL_HINTS[code]}; /healthz fails after {self._wedged_after:.0f}s of this"
        )

    def _say(self, line: str) -> None:
        if line != self._said:
            logger.warning(line)
            self._said = line
