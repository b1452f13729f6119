"""Server-side printing: the ``meta.k8s.io/v1 Table`` that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the columns
the server chooses. Custom resources get ``Name`` and their CRD's ``additionalPrinterColumns``
(evaluated with the simple JSONPath that CRDs allow; ``date`` columns shown as an age such as
``5m``); a few built-in kinds get the columns a real API server prints; everything else gets
``Name`` and ``Age``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType

TABLE_MEDIA = "as=Table"
_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_STEP = re.compile(
    r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*(\"[^\"]*\"|'[^']*')\)\]"
)

Cell = Callable[[Mapping[str, Any]], Any]


def wants_table(accept: str) -> bool:
    """Whether an ``Accept`` header asks for a Table first (as kubectl get does)."""
    first = accept.split(",")[0]
    return TABLE_MEDIA in first.replace(" ", "")


def human_duration(seconds: float) -> str:
    """An age the way kubectl prints one: ``45s``, ``3m20s``, ``5h10m``, ``3d``, ``2y``."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years, rest = divmod(days, 365)
    if years < 8 and rest:
        return f"{years}y{rest}d"
    return f"{years}y"


def age(value: object, now: datetime | None = None) -> str:
    """A timestamp as an age; ``<unknown>`` when absent, ``<invalid>`` when unreadable."""
    if not isinstance(value, str) or not value:
        return "<unknown>"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return human_duration(((now or datetime.now(UTC)) - moment).total_seconds())


def json_path(obj: Any, path: str) -> list[Any]:
    """The values a CRD printer column's JSONPath finds: ``.a.b``, ``[0]`` and the filter
    ``[?(@.type=="Ready")]``; an empty list when nothing matches."""
    values = [obj]
    position = 0
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            return []
        position = match.end()
        field, index, key, wanted = match.groups()
        found: list[Any] = []
        for value in values:
            if field is not None and isinstance(value, Mapping) and field in value:
                found.append(value[field])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                found.append(value[int(index)])
            elif key is not None and isinstance(value, list):
                target = wanted[1:-1]
                found.extend(
                    item
                    for item in value
                    if isinstance(item, Mapping) and _dig(item, key) == target
                )
        values = found
    return values


def _dig(obj: Mapping[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _cell(kind: str, value: Any) -> Any:
    if kind == "date":
        return age(value)
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value)
    return value


def _custom_columns(rtype: ResourceType) -> tuple[list[dict[str, Any]], list[Cell]]:
    definitions = rtype.printer_columns or (
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )
    columns: list[dict[str, Any]] = []
    cells: list[Cell] = []
    for column in definitions:
        kind = str(column.get("type", "string"))
        path = str(column.get("jsonPath", ""))
        columns.append(
            {
                "name": column.get("name", ""),
                "type": kind,
                "format": column.get("format", ""),
                "description": column.get("description", ""),
                "priority": int(column.get("priority", 0)),
            }
        )

        def cell(obj: Mapping[str, Any], path: str = path, kind: str = kind) -> Any:
            found = json_path(obj, path)
            return _cell(kind, found[0]) if found and found[0] is not None else None

        cells.append(cell)
    return columns, cells


def _column(name: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": kind, "format": "", "description": "", "priority": priority}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _created(obj: Mapping[str, Any]) -> str:
    return age((obj.get("metadata") or {}).get("creationTimestamp"))


def _pod_status(obj: Mapping[str, Any]) -> str:
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = _status(obj)
    reason = status.get("reason")
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = (state.get("terminated") or {}).get("reason")
        if waiting or terminated:
            return str(waiting or terminated)
    return str(reason or status.get("phase") or "Unknown")


def _pod_ready(obj: Mapping[str, Any]) -> str:
    containers = (obj.get("spec") or {}).get("containers") or []
    ready = sum(1 for c in _status(obj).get("containerStatuses") or [] if c.get("ready"))
    return f"{ready}/{len(containers)}"


def _restarts(obj: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in _status(obj).get("containerStatuses") or [])


def _replicas(obj: Mapping[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas") or 0)


def _involved(obj: Mapping[str, Any]) -> str:
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


_BUILTIN: dict[str, list[tuple[dict[str, Any], Cell]]] = {
    "pods": [
        (_column("Ready"), _pod_ready),
        (_column("Status"), _pod_status),
        (_column("Restarts", "integer"), _restarts),
        (_column("Age"), _created),
        (_column("IP", priority=1), lambda o: _status(o).get("podIP") or "<none>"),
        (_column("Node", priority=1), lambda o: (o.get("spec") or {}).get("nodeName") or "<none>"),
    ],
    "deployments.apps": [
        (_column("Ready"), lambda o: f"{_status(o).get('readyReplicas') or 0}/{_replicas(o)}"),
        (_column("Up-to-date", "integer"), lambda o: _status(o).get("updatedReplicas") or 0),
        (_column("Available", "integer"), lambda o: _status(o).get("availableReplicas") or 0),
        (_column("Age"), _created),
    ],
    "replicasets.apps": [
        (_column("Desired", "integer"), _replicas),
        (_column("Current", "integer"), lambda o: _status(o).get("replicas") or 0),
        (_column("Ready", "integer"), lambda o: _status(o).get("readyReplicas") or 0),
        (_column("Age"), _created),
    ],
    "namespaces": [
        (_column("Status"), lambda o: _status(o).get("phase") or "Active"),
        (_column("Age"), _created),
    ],
}
_EVENT_COLUMNS: list[tuple[dict[str, Any], Cell]] = [
    (_column("Last Seen"), lambda o: age(o.get("lastTimestamp") or o.get("eventTime"))),
    (_column("Type"), lambda o: o.get("type") or ""),
    (_column("Reason"), lambda o: o.get("reason") or ""),
    (_column("Object"), _involved),
    (_column("Message"), lambda o: o.get("message") or o.get("note") or ""),
]


def _columns(rtype: ResourceType) -> tuple[list[dict[str, Any]], list[Cell]]:
    if rtype.kind == "Event":
        return [c for c, _ in _EVENT_COLUMNS], [f for _, f in _EVENT_COLUMNS]
    if rtype.schema is not None or rtype.printer_columns:
        columns, cells = _custom_columns(rtype)
    else:
        pairs = _BUILTIN.get(rtype.key, [(_column("Age"), _created)])
        columns, cells = [c for c, _ in pairs], [f for _, f in pairs]
    name_cell: Cell = lambda o: (o.get("metadata") or {}).get("name", "")  # noqa: E731
    return [dict(_NAME_COLUMN), *columns], [name_cell, *cells]


def _partial_metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(obj.get("metadata") or {}),
    }


def to_table(
    rtype: ResourceType, objects: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """The Table for ``objects`` of one resource type; each row carries the object's
    metadata (kubectl reads the namespace of ``-A`` from it)."""
    columns, cells = _columns(rtype)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(metadata),
        "columnDefinitions": columns,
        "rows": [
            {"cells": [cell(obj) for cell in cells], "object": _partial_metadata(obj)}
            for obj in objects
        ],
    }
