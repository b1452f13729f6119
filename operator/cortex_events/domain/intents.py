"""An event the domain wants recorded, and the text helpers its titles and descriptions use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cortex_events.domain.model import EventType, WorkloadRef
from cortex_events.domain.parsing import MESSAGE_KEPT, bounded
from cortex_events.domain.quiet import Quiet

MESSAGE_LIMIT = MESSAGE_KEPT
"""Kubernetes messages (pull errors in particular) can be long; titles and descriptions
carry at most this many characters of one."""


@dataclass(frozen=True, slots=True)
class EventIntent:
    """One event the state implies, before it is addressed to a Cortex entity.

    ``key`` is the eventKey (e.g. ``pod/<uid>/created``); ``details`` are the type-specific
    customData (JSON values only); ``updatable`` events are replaced in place (same uuid)
    when their title, description or details change; a ``quiet`` event goes only to the
    entities that want it (`cortex_events.domain.quiet`).
    """

    key: str
    type: EventType
    subject: WorkloadRef
    title: str
    description: str
    timestamp: datetime
    details: Mapping[str, Any]
    updatable: bool = False
    quiet: Quiet | None = None

    def __hash__(self) -> int:
        return hash((self.key, self.title, self.description, self.timestamp))


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def clip(text: str) -> str:
    return bounded(text) or ""


def short_image(image: str) -> str:
    """An image as a title shows it: without registry and path, digests cut to 12 digits.

    ``registry.example.com/team/web:1.26`` -> ``web:1.26``.
    """
    name, at, digest = image.partition("@")
    name = name.rsplit("/", 1)[-1]
    if at:
        algorithm, _, value = digest.partition(":")
        return f"{name}@{algorithm}:{value[:12]}" if value else f"{name}@{digest}"
    return name


def format_duration(seconds: float) -> str:
    """``42`` -> ``42s``, ``600`` -> ``10m``, ``90`` -> ``1m30s``, ``7500`` -> ``2h5m``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def replicas_text(count: int) -> str:
    return f"{count} replica" if count == 1 else f"{count} replicas"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def images_text(images: tuple[str, ...]) -> str:
    return ", ".join(short_image(i) for i in images) if images else "a new template"


def iso(moment: datetime | None) -> str | None:
    return utc(moment).isoformat().replace("+00:00", "Z") if moment else None
