"""What delivery needs from the world and tells it: the Cortex surface and the listeners.

The Cortex surface is the client's own (`cortex_events.cortex.api.CortexApi`), not a copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cortex_events.cortex.api import CortexApi
from cortex_events.cortex.errors import CortexError

if TYPE_CHECKING:
    from cortex_events.delivery.queue import Outgoing, OutgoingDeploy

__all__ = [
    "CortexApi",
    "DeliveryListener",
    "DeployListener",
    "NullDeployListener",
    "NullListener",
]


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
