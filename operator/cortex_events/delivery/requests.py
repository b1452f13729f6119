"""What delivery sends and reads back: the domain's bodies as Cortex API requests, and back."""

from __future__ import annotations

from datetime import datetime

from cortex_events.cortex.models import (
    CustomEvent,
    CustomEventRequest,
    Deployer,
    DeployRequest,
)
from cortex_events.domain.render import EventBody
from cortex_events.domain.rollout_deploys import DeployBody


def to_request(body: EventBody, *, timestamp: datetime | None = None) -> CustomEventRequest:
    return CustomEventRequest(
        title=body.title,
        type=body.type,
        timestamp=timestamp or body.timestamp,
        description=body.description or None,
        custom_data=body.custom_data,
    )


def body_of(event: CustomEvent) -> EventBody:
    return EventBody(
        title=event.title,
        type=event.type,
        timestamp=event.timestamp,
        description=event.description or "",
        custom_data=dict(event.custom_data),
    )


def deploy_request(body: DeployBody) -> DeployRequest:
    deployer = body.deployer
    return DeployRequest(
        title=body.title,
        type=body.type,
        timestamp=body.timestamp,
        sha=body.sha,
        environment=body.environment,
        deployer=Deployer(email=deployer.email, name=deployer.name) if deployer else None,
        custom_data=body.custom_data,
    )
