"""Turning an event intent and its target entity into the body the Cortex client sends."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cortex_events.domain.intents import EventIntent
from cortex_events.domain.mapping import Target

MANAGED_BY = "cortex-events-operator"
"""``customData.managedBy`` of every event this operator records; with ``cluster`` it tells
the operator's own events from everyone else's, so it never deletes an event it did not make."""


@dataclass(frozen=True)
class EventBody:
    """A Cortex custom event as the operator creates or replaces it."""

    title: str
    type: str
    timestamp: datetime
    description: str
    custom_data: dict[str, Any]


def render(intent: EventIntent, target: Target, *, cluster: str) -> EventBody:
    """The body for ``intent`` on ``target``: the entity's customData, then the event's
    details, then the operator's own keys, which always win."""
    subject = intent.subject
    custom_data: dict[str, Any] = {**target.custom_data, **intent.details}
    custom_data.update(
        cluster=cluster,
        namespace=subject.namespace,
        kind=subject.kind,
        name=subject.name,
        uid=subject.uid,
        eventKey=intent.key,
        managedBy=MANAGED_BY,
        cortexEntities=list(target.entities),
    )
    return EventBody(
        title=intent.title,
        type=intent.type.value,
        timestamp=intent.timestamp,
        description=intent.description,
        custom_data=custom_data,
    )


def is_owned(custom_data: Mapping[str, Any] | None, *, cluster: str) -> bool:
    """True for an event this operator recorded for ``cluster`` (and so may update or delete)."""
    if not isinstance(custom_data, Mapping):
        return False
    key = custom_data.get("eventKey")
    return (
        custom_data.get("managedBy") == MANAGED_BY
        and custom_data.get("cluster") == cluster
        and isinstance(key, str)
        and bool(key)
    )


def body_fingerprint(body: EventBody) -> str:
    """A stable hash of what a reader sees change: title, type, description and customData.

    The timestamp is left out: an updatable event keeps its time while its content changes.
    Key order does not matter; values that are not JSON are hashed by their text.
    """
    canonical = json.dumps(
        {
            "title": body.title,
            "type": body.type,
            "description": body.description,
            "customData": body.custom_data,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
