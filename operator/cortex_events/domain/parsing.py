"""Tolerant readers of raw Kubernetes objects, shared by every snapshot.

A missing or malformed field becomes its empty value, never an exception: the snapshots are
taken from whatever the API server (or a stand-in) sends.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ANNOTATION_PREFIX = "cortex.io/"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Stands in for a creation time the object does not carry (the API server always sets one)."""


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None when absent or malformed."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def object_parts(
    obj: Mapping[str, Any],
) -> tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    """A raw object's ``metadata``, ``spec`` and ``status``, each empty where it has none."""
    return as_map(obj.get("metadata")), as_map(obj.get("spec")), as_map(obj.get("status"))


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def as_int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def optional_int(value: object) -> int | None:
    """A whole number, or None when absent or not one."""
    number = as_int(value, default=-1)
    return number if number >= 0 else None


def intern(value: str) -> str:
    # Label keys and values, namespaces, node names and images repeat across thousands of pods.
    return sys.intern(value)


def labels_of(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {
        intern(k): intern(v)
        for k, v in as_map(metadata.get("labels")).items()
        if isinstance(k, str) and isinstance(v, str)
    }


ANNOTATION_VALUE_LIMIT = 4096
"""Characters of an annotation the operator reads (a namespace user writes them; the API server
allows 256 KiB). One more is kept, so that a longer value can still be told apart."""


def cortex_annotations(
    metadata: Mapping[str, Any], keep: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Only the ``cortex.io/`` annotations, and the others named in ``keep``: the rest is
    never read. A value is kept up to `ANNOTATION_VALUE_LIMIT` characters and one more."""
    return {
        intern(k): v[: ANNOTATION_VALUE_LIMIT + 1]
        for k, v in as_map(metadata.get("annotations")).items()
        if isinstance(k, str)
        and (k.startswith(ANNOTATION_PREFIX) or k in keep)
        and isinstance(v, str)
    }


def namespace_of(metadata: Mapping[str, Any]) -> str:
    return intern(as_str(metadata.get("namespace")) or "default")


def created_of(metadata: Mapping[str, Any]) -> datetime:
    return parse_time(metadata.get("creationTimestamp")) or EPOCH


def deleted_at_of(metadata: Mapping[str, Any], deleted_at: datetime | None) -> datetime | None:
    if deleted_at is not None:
        return parse_time(deleted_at)
    # The API server sets deletionTimestamp to the end of the grace period; the deletion was
    # asked for that many seconds earlier.
    ends = parse_time(metadata.get("deletionTimestamp"))
    if ends is None:
        return None
    grace = as_int(metadata.get("deletionGracePeriodSeconds"), 0)
    return ends - timedelta(seconds=max(grace, 0))


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for item in as_list(status.get("conditions")):
        if isinstance(item, Mapping) and item.get("type") == kind:
            return item
    return {}


MESSAGE_KEPT = 300
"""Characters kept of a message from an object's status (a scheduler's message names every
node's reason, a termination message is what the container wrote): what titles and
descriptions show of one, and a bound on what a snapshot holds."""


def bounded(value: object) -> str | None:
    """A status message as a snapshot keeps it: whitespace folded, at most `MESSAGE_KEPT`
    characters."""
    text = as_str(value)
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_KEPT else text[: MESSAGE_KEPT - 1] + "…"


@dataclass(frozen=True, slots=True)
class ConditionState:
    """A condition of an object in the state a rule looks for: its reason, its message and
    since when it has held (``lastTransitionTime``)."""

    reason: str | None
    message: str | None
    since: datetime | None


def condition_if(status: Mapping[str, Any], kind: str, value: str) -> ConditionState | None:
    """The condition ``kind`` when its status is ``value``, else None."""
    found = condition(status, kind)
    if found.get("status") != value:
        return None
    reason = as_str(found.get("reason"))
    return ConditionState(
        reason=intern(reason) if reason else None,
        message=bounded(found.get("message")),
        since=parse_time(found.get("lastTransitionTime")),
    )


def spec_images(pod_spec: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        intern(image)
        for container in as_list(pod_spec.get("containers"))
        if isinstance(container, Mapping) and (image := as_str(container.get("image")))
    )


RESTART_PROBES = {
    (True, False): ("liveness",),
    (False, True): ("startup",),
    (True, True): ("liveness", "startup"),
}


def restart_probes(container: Mapping[str, Any]) -> tuple[str, ...]:
    """The probes of a container's spec whose failures restart it (shared tuples)."""
    found = (bool(container.get("livenessProbe")), bool(container.get("startupProbe")))
    return RESTART_PROBES.get(found, ())


def template_images(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The images of ``spec.template`` (a workload's pod template)."""
    return spec_images(as_map(as_map(spec.get("template")).get("spec")))


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """The controlling owner of an object, as its ``ownerReferences`` name it."""

    kind: str
    name: str


def controller_owner(metadata: Mapping[str, Any], kinds: frozenset[str]) -> OwnerRef | None:
    """The owner of one of ``kinds``, the controlling one first."""
    owners = [
        o
        for o in as_list(metadata.get("ownerReferences"))
        if isinstance(o, Mapping) and o.get("kind") in kinds and as_str(o.get("name"))
    ]
    owners.sort(key=lambda o: o.get("controller") is not True)
    if not owners:
        return None
    return OwnerRef(intern(str(owners[0]["kind"])), str(owners[0]["name"]))


@dataclass(frozen=True, slots=True)
class FieldWriter:
    """Who last wrote a field, from ``metadata.managedFields``: the field manager (the client's
    name, e.g. ``kubectl``, ``kube-controller-manager``), through which subresource (``scale``,
    or empty for the object itself), and when. ``images`` names the containers whose image it
    owns (kept for template writers only: seconds-granular times may tie, and then the owner
    of a changed image tells who changed it)."""

    manager: str
    subresource: str
    at: datetime | None
    images: tuple[str, ...] = ()


def field_writer(metadata: Mapping[str, Any], *path: str) -> FieldWriter | None:
    """The managedFields entry that owns the field at ``path`` (e.g. ``spec``, ``replicas``)."""
    for entry in as_list(metadata.get("managedFields")):
        if isinstance(entry, Mapping) and _owns(as_map(entry.get("fieldsV1")), path):
            return FieldWriter(
                manager=intern(as_str(entry.get("manager")) or ""),
                subresource=intern(as_str(entry.get("subresource")) or ""),
                at=parse_time(entry.get("time")),
            )
    return None


def _owns(fields: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    for part in path:
        key = f"f:{part}"
        if key not in fields:
            return False
        fields = as_map(fields[key])
    return True
