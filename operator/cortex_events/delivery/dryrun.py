"""A stand-in for the Cortex client in ``--dry-run``: sends nothing, logs every event and deploy
in full."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from cortex_events.cortex.models import (
    CustomEvent,
    CustomEventRequest,
    Deploy,
    DeployPage,
    DeployRequest,
)

logger = logging.getLogger("cortex_events.dryrun")


class DryRunCortex:
    """Answers like an empty Cortex that accepts everything, and logs what would be sent."""

    async def iter_events(self, tag: str, **filters: Any) -> AsyncIterator[CustomEvent]:
        """Lists nothing: a dry run starts from an empty Cortex every time."""
        for _ in ():
            yield _

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent:
        body = event.to_json()
        logger.info("Dry run: would record a new event on entity %r: %s", tag, _text(body))
        return CustomEvent.model_validate({**body, "uuid": str(uuid.uuid4())})

    async def update_event(self, tag: str, uuid: str, event: CustomEventRequest) -> CustomEvent:
        body = event.to_json()
        logger.info(
            "Dry run: would update event %s in place on entity %r: %s",
            uuid,
            tag,
            json.dumps(body, sort_keys=True),
        )
        return CustomEvent.model_validate({**body, "uuid": uuid})

    async def delete_event(self, tag: str, uuid: str) -> None:
        logger.info("Dry run: would delete event %s on entity %r", uuid, tag)

    async def delete_events(self, tag: str, *, type: str, **window: datetime | None) -> None:
        logger.info(
            "Dry run: would delete events of type %s on entity %r between %s and %s",
            type,
            tag,
            window.get("start_time"),
            window.get("end_time"),
        )

    async def list_deploys(self, tag: str, *, page: int = 0, page_size: int = 250) -> DeployPage:
        return DeployPage(deployments=[], page=page, total=0, total_pages=0)

    async def iter_deploys(self, tag: str, **_: Any) -> AsyncIterator[Deploy]:
        none: tuple[Deploy, ...] = ()
        for deploy in none:
            yield deploy

    async def create_deploy(self, tag: str, deploy: DeployRequest) -> Deploy:
        body = deploy.to_json()
        logger.info("Dry run: would record a new deploy on entity %r: %s", tag, _text(body))
        return Deploy.model_validate({**body, "uuid": str(uuid.uuid4())})

    async def update_deploy(self, tag: str, uuid: str, deploy: DeployRequest) -> Deploy:
        logger.info("Dry run: would replace deploy %s on entity %r", uuid, tag)
        return Deploy.model_validate({**deploy.to_json(), "uuid": uuid})

    async def delete_deploy(self, tag: str, uuid: str) -> None:
        logger.info("Dry run: would delete deploy %s on entity %r", uuid, tag)

    async def delete_deploys(self, tag: str, **filters: str | None) -> None:
        logger.info("Dry run: would delete the deploys of entity %r matching %s", tag, filters)


def _text(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
