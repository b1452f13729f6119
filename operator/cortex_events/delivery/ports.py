"""What delivery needs from the world and tells it: the Cortex APIs and listeners."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from cortex_events.cortex.errors import CortexError
from cortex_events.cortex.models import (
    CustomEvent,
    CustomEventRequest,
    Deploy,
    DeployPage,
    DeployRequest,
)

if TYPE_CHECKING:
    from cortex_events.delivery.queue import Outgoing, OutgoingDeploy


class CortexApi(Protocol):
    """The part of `cortex_events.cortex.client.CortexClient` that delivery uses."""

    def iter_events(
        self,
        tag: str,
        *,
        type: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[CustomEvent]: ...

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent: ...

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent: ...

    async def delete_event(self, tag: str, uuid: str) -> None: ...

    async def delete_events(
        self,
        tag: str,
        *,
        type: str,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> None: ...


class DeployApi(Protocol):
    """The client's Deploys API (`cortex_events.cortex.deploys_api`)."""

    async def list_deploys(
        self, tag: str, *, page: int = 0, page_size: int = 250
    ) -> DeployPage: ...

    def iter_deploys(self, tag: str, *, page_size: int = 1000) -> AsyncIterator[Deploy]: ...

    async def create_deploy(self, tag: str, deploy: DeployRequest) -> Deploy: ...

    async def update_deploy(self, tag: str, uuid: str, deploy: DeployRequest) -> Deploy: ...

    async def delete_deploy(self, tag: str, uuid: str) -> None: ...

    async def delete_deploys(
        self,
        tag: str,
        *,
        sha: str | None = None,
        environment: str | None = None,
        type: str | None = None,
    ) -> None: ...


class CortexApis(CortexApi, DeployApi, Protocol):
    """Both APIs, as the operator's one client speaks them."""


class DeployListener(Protocol):
    """What deploy delivery reports: one line and one count per deploy."""

    def deploy_sent(self, item: OutgoingDeploy) -> None: ...

    def deploy_not_sent(self, item: OutgoingDeploy, reason: str, detail: str) -> None:
        """``reason``: ``other_source``, ``entity_not_found`` or ``rejected``; told once."""


class NullDeployListener:
    def deploy_sent(self, item: OutgoingDeploy) -> None:
        pass

    def deploy_not_sent(self, item: OutgoingDeploy, reason: str, detail: str) -> None:
        pass


class DeliveryListener(Protocol):
    """What delivery reports: metrics, logs and CortexEntity status listen to it."""

    def queue_changed(self, depth: int) -> None: ...

    def delivered(self, item: Outgoing, result: str, latency: float) -> None: ...

    def deduplicated(self, item: Outgoing) -> None: ...

    def dropped(self, item: Outgoing, reason: str, detail: str) -> None: ...

    def entity_missing(self, tag: str) -> None: ...

    def cortex_failing(self, error: CortexError | None) -> None: ...

    def folded(self, item: Outgoing) -> None:
        """A Pod's change was folded into its workload's summary instead of being sent."""

    def pod_update_skipped(self, item: Outgoing) -> None:
        """An in-place update of a Pod's own event was skipped under pressure."""

    def folding(self, on: bool, seconds: float) -> None:
        """Folding under pressure started (``on``) or stopped; ``seconds``: the pressure."""


class NullListener:
    def queue_changed(self, depth: int) -> None:
        pass

    def delivered(self, item: Outgoing, result: str, latency: float) -> None:
        pass

    def deduplicated(self, item: Outgoing) -> None:
        pass

    def dropped(self, item: Outgoing, reason: str, detail: str) -> None:
        pass

    def entity_missing(self, tag: str) -> None:
        pass

    def cortex_failing(self, error: CortexError | None) -> None:
        pass

    def folded(self, item: Outgoing) -> None:
        pass

    def pod_update_skipped(self, item: Outgoing) -> None:
        pass

    def folding(self, on: bool, seconds: float) -> None:
        pass
