"""A stand-in for the Cortex client in ``--dry-run``: sends nothing, logs every event in full."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from cortex_events.cortex.models import CustomEvent, CustomEventRequest

logger = logging.getLogger("cortex_events.dryrun")


class DryRunCortex:
    """Answers like an empty Cortex that accepts everything, and logs what would be sent."""

    async def iter_events(self, tag: str, **filters: Any) -> AsyncIterator[CustomEvent]:
        """Lists nothing: a dry run starts from an empty Cortex every time."""
        for _ in ():
            yield _

    async def create_event(self, tag: str, event: CustomEventRequest) -> CustomEvent:
        body = event.to_json()
        logger.info(
            "Dry run: would record a new event on entity %r: %s",
            tag,
            json.dumps(body, sort_keys=True),
        )
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
