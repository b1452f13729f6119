"""Delivery as the operator wires it, built in one place for the operator and its tests: the
Cortex surface behind the leadership gate, the queue, the ledger, the folder, the workers and
the deleter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cortex_events import __version__
from cortex_events.config.secret import ApiKeyFile, Redactor
from cortex_events.config.settings import Settings
from cortex_events.config.tls import trust
from cortex_events.cortex.api import CortexApi, Gate
from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.observer import ClientObserver
from cortex_events.cortex.ratelimit import TokenBucket
from cortex_events.delivery.deletions import Deleter
from cortex_events.delivery.deploy_pipeline import DeployDelivery
from cortex_events.delivery.dryrun import DryRunCortex
from cortex_events.delivery.folding import REFRESH_SECONDS, Folder, Pressure
from cortex_events.delivery.ledger import Ledger
from cortex_events.delivery.pipeline import Delivery
from cortex_events.delivery.ports import DeliveryListener, DeployListener, NullListener
from cortex_events.delivery.queue import EventQueue
from cortex_events.domain.priority import Priority
from cortex_events.domain.quiet import PodEvents


def connect(
    settings: Settings, *, gate: Gate, observer: ClientObserver, identity: str, secrets: Redactor
) -> CortexApi:
    """The Cortex surface ``settings`` ask for, fenced by ``gate``: the dry run's, or the HTTP
    client's under the key's one rate limiter."""
    if settings.dry_run:
        return DryRunCortex(gate=gate)
    assert settings.api_key is not None
    key_file = settings.api_key_file
    return CortexClient(
        settings.base_url,
        settings.api_key,
        rate_limiter=TokenBucket(settings.rate_limit, default_level=Priority.WORKLOAD),
        observer=observer,
        gate=gate,
        user_agent=f"cortex-events-operator/{__version__} ({identity})",
        api_key_source=ApiKeyFile(key_file, secrets) if key_file else None,
        redactor=secrets,
        verify=trust(settings.ca_bundle),
    )


@dataclass(frozen=True)
class DeliveryParts:
    """One delivery: what `build` makes, each part handed what it uses."""

    api: CortexApi
    queue: EventQueue
    ledger: Ledger
    folder: Folder
    deploys: DeployDelivery | None
    delivery: Delivery
    deleter: Deleter

    @classmethod
    def build(
        cls,
        api: CortexApi,
        *,
        cluster: str,
        queue_size: int,
        listener: DeliveryListener | None = None,
        on_depth: Callable[[int], None] | None = None,
        leading: Callable[[], bool] = lambda: True,
        on_loaded: Callable[[str], None] | None = None,
        pod_events: PodEvents = PodEvents.AUTO,
        pressure: Pressure | None = None,
        refresh: float = REFRESH_SECONDS,
        deploys: bool = True,
        deploy_listener: DeployListener | None = None,
    ) -> DeliveryParts:
        """Delivery to ``api`` for ``cluster``; ``deploys``: whether it delivers deploys too."""
        queue = EventQueue(queue_size, on_depth=on_depth)
        ledger = Ledger()
        folder = Folder(
            queue,
            listener or NullListener(),
            cluster=cluster,
            default=pod_events,
            pressure=pressure,
            refresh=refresh,
        )
        deploy_delivery = (
            DeployDelivery(api, queue, ledger, cluster=cluster, listener=deploy_listener)
            if deploys
            else None
        )
        delivery = Delivery(
            api,
            queue,
            cluster=cluster,
            ledger=ledger,
            listener=listener,
            on_loaded=on_loaded,
            leading=leading,
            deploys=deploy_delivery,
            folder=folder,
        )
        deleter = Deleter(api, queue, ledger, deploys=api if deploys else None, cluster=cluster)
        return cls(api, queue, ledger, folder, deploy_delivery, delivery, deleter)
