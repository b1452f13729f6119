"""Kubernetes Events the operator posts: on CortexEntity objects (what was recorded or why not),
on workloads (a tag that is no tag) and on leadership changes.

Posting creates a new core/v1 Event in the object's namespace; it never writes to the object
itself. Events are posted from a queue by `run()`, so whoever reports something never waits
for the API server; when the API server cannot take them, they are logged and given up on
(an Event is a notice, not a record: the operator's log has every decision too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

logger = logging.getLogger("cortex_events.kube")

COMPONENT = "cortex-events-operator"
MAX_WAITING = 1000
MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class InvolvedObject:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


class Requester(Protocol):
    async def request(self, method: str, path: str, body: Any = None, **options: Any) -> Any: ...


class EventPoster:
    def __init__(
        self,
        kube: Requester,
        *,
        instance: str = "",
        leading: Callable[[], bool] = lambda: True,
        redact: Callable[[str], str] = str,
    ) -> None:
        self._kube = kube
        self._redact = redact  # before the message is cut: a cut could split a secret
        self._instance = instance
        self._leading = leading  # only the leader reports; a replica says its own transitions
        self._waiting: asyncio.Queue[tuple[InvolvedObject, str, str, str]] = asyncio.Queue(
            MAX_WAITING
        )

    def post(
        self,
        about: InvolvedObject,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        always: bool = False,
    ) -> None:
        """Queue an Event (on the leader, or ``always``); returns at once."""
        if not (always or self._leading()):
            return
        try:
            self._waiting.put_nowait((about, "Warning" if warning else "Normal", reason, message))
        except asyncio.QueueFull:
            logger.debug(
                "Kubernetes Event %s on %s not posted: too many waiting", reason, about.name
            )

    def info(self, about: InvolvedObject, reason: str, message: str) -> None:
        self.post(about, reason, message)

    def warn(self, about: InvolvedObject, reason: str, message: str) -> None:
        self.post(about, reason, message, warning=True)

    async def run(self) -> None:
        """Post queued Events until cancelled."""
        while True:
            about, kind, reason, message = await self._waiting.get()
            try:
                await self._kube.request(
                    "POST",
                    f"/api/v1/namespaces/{about.namespace}/events",
                    self.body(about, kind, reason, message),
                    timeout=10.0,
                )
            except Exception as error:
                logger.debug("Kubernetes Event %s on %s not posted: %s", reason, about.name, error)

    def body(self, about: InvolvedObject, kind: str, reason: str, message: str) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{about.name}.", "namespace": about.namespace},
            "involvedObject": {
                "apiVersion": about.api_version,
                "kind": about.kind,
                "namespace": about.namespace,
                "name": about.name,
                "uid": about.uid,
            },
            "type": kind,
            "reason": reason,
            "message": self._redact(message)[:MESSAGE_LIMIT],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
