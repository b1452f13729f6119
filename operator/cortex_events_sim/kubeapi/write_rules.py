"""The rules of a write that depend only on the object: what the server sets on a create, what an
update may change, and how long a deletion waits.

Pure functions over JSON objects; the store applies them and stores the result.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from . import errors
from .objects import clone, now_iso
from .resources import ResourceType
from .validation import check_builtin, check_custom, initial_status

#: Metadata only the server writes: an update keeps what the stored object has.
SERVER_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)


def checked(
    rtype: ResourceType, obj: dict[str, Any], old: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``obj`` validated, with its schema's defaults (custom resources) or the built-in checks."""
    if rtype.schema is not None:
        return check_custom(rtype, obj)
    return check_builtin(rtype, obj, old)


def stamp_created(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Give an object being created its server-set metadata and initial status, in place."""
    metadata = obj["metadata"]
    for server_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
        metadata.pop(server_field, None)
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = now_iso()
    metadata["generation"] = 1
    if rtype.status_subresource:
        status = initial_status(rtype, obj)
        if status or rtype.schema is None:
            obj["status"] = status
        else:
            obj.pop("status", None)


def updated(
    rtype: ResourceType,
    old: Mapping[str, Any],
    new: dict[str, Any],
    subresource: str | None,
) -> dict[str, Any]:
    """What an update of ``old`` to ``new`` stores, checked.

    Through ``/status`` only the status changes; through the main endpoint the status stays
    where it is a subresource. Server-set metadata stays as stored, and an object being
    deleted takes no new finalizers.
    """
    if subresource not in (None, "status") or (
        subresource == "status" and not rtype.status_subresource
    ):
        raise errors.KubeApiError(
            404,
            f"the server could not find the requested resource ({rtype.plural}/{subresource})",
        )
    if subresource == "status":
        status = new.get("status")
        new = clone(old)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
    elif rtype.status_subresource:
        if "status" in old:
            new["status"] = json.loads(json.dumps(old["status"]))
        else:
            new.pop("status", None)
    metadata = new.get("metadata")
    if not isinstance(metadata, dict):
        metadata = new["metadata"] = {}
    old_metadata = old["metadata"]
    if metadata.get("name", old_metadata["name"]) != old_metadata["name"]:
        raise errors.invalid(
            rtype.kind,
            rtype.group,
            old_metadata["name"],
            [("metadata.name", "Invalid value: field is immutable")],
        )
    for key in SERVER_METADATA:
        if key in old_metadata:
            metadata[key] = old_metadata[key]
        else:
            metadata.pop(key, None)
    new["apiVersion"] = old["apiVersion"]
    new["kind"] = old["kind"]
    if old_metadata.get("deletionTimestamp"):
        added = set(metadata.get("finalizers") or []) - set(old_metadata.get("finalizers") or [])
        if added:
            raise errors.invalid(
                rtype.kind,
                rtype.group,
                old_metadata["name"],
                [
                    (
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being deleted",
                    )
                ],
            )
    return checked(rtype, new, old)


def advance_generation(old: Mapping[str, Any], new: dict[str, Any]) -> None:
    """A change outside metadata and status moves ``metadata.generation`` on, in place."""
    spec_changed = any(
        new.get(key) != old.get(key)
        for key in {*new, *old} - {"metadata", "status", "apiVersion", "kind"}
    )
    if spec_changed:
        new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1


def deletion_done(metadata: Mapping[str, Any]) -> bool:
    """Marked for deletion with nothing left to wait for: no finalizers, no grace period."""
    return bool(
        metadata.get("deletionTimestamp")
        and not metadata.get("finalizers")
        and not metadata.get("deletionGracePeriodSeconds")
    )


def deletion_grace(rtype: ResourceType, obj: Mapping[str, Any], requested: int | None) -> int:
    """Seconds a deletion waits: a pod on a node gets its termination grace period (or the
    one the request gives), anything else none."""
    spec = obj.get("spec") or {}
    if rtype.key == "pods" and spec.get("nodeName"):
        default = spec.get("terminationGracePeriodSeconds", 30)
        return int(default if requested is None else requested)
    return 0
