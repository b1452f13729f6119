"""The patch formats of the Kubernetes API: JSON merge, strategic merge, JSON patch."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from .errors import KubeApiError

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

#: Lists that a strategic merge patch merges item by item, keyed by this field.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
}
#: Lists of scalars that a strategic merge patch unions instead of replacing.
_MERGED_SCALAR_LISTS = frozenset({"finalizers"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch for the well-known lists of built-in kinds, else a merge patch.

    Supported: lists merged by key (containers by name, conditions by type, ...), the
    ``$patch: delete`` / ``$patch: replace`` directives, finalizers unioned, and
    ``$deleteFromPrimitiveList/<field>``. Other ``$`` directives are ignored.
    """
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field) or [] if item not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in _MERGE_KEYS:
            result[key] = _merge_keyed_list(result.get(key), value, _MERGE_KEYS[key])
        elif isinstance(value, list) and key in _MERGED_SCALAR_LISTS:
            existing = list(result.get(key) or [])
            result[key] = existing + [item for item in value if item not in existing]
        elif isinstance(value, Mapping) and value.get("$patch") == "delete":
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_keyed_list(target: Any, patch: list[Any], merge_key: str) -> list[Any]:
    if not isinstance(target, list) or not all(
        isinstance(item, Mapping) and merge_key in item for item in [*target, *patch]
    ):
        return [strategic_merge_patch(None, item) for item in patch]
    merged: list[Any] = list(target)
    for item in patch:
        position = next(
            (i for i, old in enumerate(merged) if old[merge_key] == item[merge_key]), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del merged[position]
        elif position is None:
            merged.append(strategic_merge_patch(None, item))
        else:
            merged[position] = strategic_merge_patch(merged[position], item)
    return merged


def json_patch(target: Mapping[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902; a failed ``test`` or an impossible operation is a 422, as the API answers."""
    if not isinstance(operations, list):
        raise KubeApiError(400, "a JSON patch must be a list of operations")
    try:
        result = jsonpatch.JsonPatch(operations).apply(copy.deepcopy(dict(target)))
    except jsonpatch.JsonPatchTestFailed as exc:
        raise KubeApiError(422, f"the server rejected our request: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise KubeApiError(
            422, f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise KubeApiError(400, f"invalid JSON patch: {exc}") from exc
    if not isinstance(result, dict):
        raise KubeApiError(422, "a JSON patch must leave an object")
    return result


def apply_patch(content_type: str, target: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """Apply ``body`` to ``target`` by the patch format named in ``content_type``."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == JSON_PATCH:
        return json_patch(target, body)
    if not isinstance(body, Mapping):
        raise KubeApiError(400, "a merge patch must be a JSON object")
    if kind == MERGE_PATCH:
        return dict(merge_patch(target, body))
    if kind == STRATEGIC_MERGE_PATCH:
        return dict(strategic_merge_patch(target, body))
    raise KubeApiError(
        415,
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}",
    )
