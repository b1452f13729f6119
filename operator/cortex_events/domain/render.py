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
from cortex_events.domain.model import WorkloadRef

EVENT_KEY = "eventKey"
"""The customData key that holds an event's (or a deploy's) key: the one place it is held."""
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


def owned_custom_data(
    details: Mapping[str, Any], subject: WorkloadRef, key: str, target: Target, *, cluster: str
) -> dict[str, Any]:
    """The customData of an event (or a deploy) on ``target``: the entity's customData, then
    the ``details``, then the operator's own keys, which always win (`read_owned` reads them)."""
    return {
        **target.custom_data,
        **details,
        "cluster": cluster,
        "namespace": subject.namespace,
        "kind": subject.kind,
        "name": subject.name,
        "uid": subject.uid,
        EVENT_KEY: key,
        "managedBy": MANAGED_BY,
        "cortexEntities": list(target.entities),
    }


def render(intent: EventIntent, target: Target, *, cluster: str) -> EventBody:
    """The body for ``intent`` on ``target``: the entity's customData, then the event's
    details, then the operator's own keys, which always win."""
    return EventBody(
        title=intent.title,
        type=intent.type.value,
        timestamp=intent.timestamp,
        description=intent.description,
        custom_data=owned_custom_data(
            intent.details, intent.subject, intent.key, target, cluster=cluster
        ),
    )


@dataclass(frozen=True)
class OwnedEvent:
    """What the customData of an event this operator recorded says: the inverse of `render`.

    ``details`` is everything else in it: the event's details over its entity's customData.
    """

    key: str
    cluster: str
    subject: WorkloadRef
    entities: tuple[str, ...]
    details: Mapping[str, Any]


OPERATOR_KEYS = frozenset(
    {"cluster", "namespace", "kind", "name", "uid", EVENT_KEY, "managedBy", "cortexEntities"}
)


def read_owned(custom_data: object, *, cluster: str | None = None) -> OwnedEvent | None:
    """The operator's own keys of an event's customData, or None when the event is not one
    this operator recorded (for ``cluster``, when given): it may update or delete only those.

    Ownership is ``managedBy``, ``cluster`` and an ``eventKey``; the subject and entity keys
    are read as rendered, and left empty where an event lacks them."""
    if not isinstance(custom_data, Mapping) or custom_data.get("managedBy") != MANAGED_BY:
        return None
    key, owner = custom_data.get(EVENT_KEY), custom_data.get("cluster")
    if not (isinstance(key, str) and key and isinstance(owner, str)):
        return None
    if cluster is not None and owner != cluster:
        return None
    parts = [custom_data.get(k) for k in ("kind", "namespace", "name", "uid")]
    entities = custom_data.get("cortexEntities")
    return OwnedEvent(
        key=key,
        cluster=owner,
        subject=WorkloadRef(*(part if isinstance(part, str) else "" for part in parts)),
        entities=tuple(e for e in entities if isinstance(e, str))
        if isinstance(entities, list)
        else (),
        details={k: v for k, v in custom_data.items() if k not in OPERATOR_KEYS},
    )


def is_owned(custom_data: object, *, cluster: str) -> bool:
    """True for an event this operator recorded for ``cluster`` (and so may update or delete)."""
    return read_owned(custom_data, cluster=cluster) is not None


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
