"""``--dry-run``'s implementation of the Cortex surface: sends nothing, logs every event and
deploy in full.

`DryRunCortex` is a `CortexApi` like the HTTP client: the operations, and the leadership gate in
their one request path, are the surface's own; only ``_exchange`` differs. It answers each
request as an empty Cortex that accepts everything would, and logs what would have been sent.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import unquote

from cortex_events.cortex.api import CortexApi, Request
from cortex_events.cortex.errors import CortexNotFound

logger = logging.getLogger("cortex_events.dryrun")

_CATALOG = "/api/v1/catalog/"
_NOTHING: dict[str, Any] = {"page": 0, "total": 0, "totalPages": 0}


class DryRunCortex(CortexApi):
    """Answers like an empty Cortex that accepts everything, and logs what would be sent.

    Lists answer nothing: a dry run starts from an empty Cortex every time.
    """

    async def _exchange(self, request: Request) -> Any:
        method, path = request.method, request.path
        tag, collection, one = _parts(path)
        params = request.params or {}
        body = request.json or {}
        match method, collection, one:
            case "GET", "custom-events", None:
                return {**_NOTHING, "events": [], "page": int(params.get("page", 0))}
            case "GET", "deploys", None:
                return {**_NOTHING, "deployments": [], "page": int(params.get("page", 0))}
            case "GET", _, str():
                raise CortexNotFound("not found: a dry run's Cortex is empty", status_code=404)
            case "POST", "custom-events", None:
                logger.info("Dry run: would record a new event on entity %r: %s", tag, _text(body))
            case "POST", "deploys", None:
                logger.info("Dry run: would record a new deploy on entity %r: %s", tag, _text(body))
            case "PUT", "custom-events", str():
                logger.info(
                    "Dry run: would update event %s in place on entity %r: %s",
                    one,
                    tag,
                    _text(body),
                )
            case "PUT", "deploys", str():
                logger.info("Dry run: would replace deploy %s on entity %r", one, tag)
            case "DELETE", "custom-events", None:
                logger.info(
                    "Dry run: would delete events of type %s on entity %r between %s and %s",
                    params.get("type"),
                    tag,
                    params.get("startTime"),
                    params.get("endTime"),
                )
            case "DELETE", "deploys", None:
                logger.info(
                    "Dry run: would delete the deploys of entity %r matching %s", tag, dict(params)
                )
            case "DELETE", _, str():
                what = "event" if collection == "custom-events" else "deploy"
                logger.info("Dry run: would delete %s %s on entity %r", what, one, tag)
            case _:
                raise ValueError(f"a dry run does not answer {method} {path}")
        if method == "DELETE":
            return None
        return {**body, "uuid": one if one is not None else str(uuid.uuid4())}


def _parts(path: str) -> tuple[str, str, str | None]:
    """The entity's tag, the collection and the one item's uuid (None for the collection) of a
    path under ``/api/v1/catalog/``."""
    if not path.startswith(_CATALOG):
        raise ValueError(f"a dry run does not answer {path}")
    tag, collection, *one = path[len(_CATALOG) :].split("/")
    return unquote(tag), collection, unquote(one[0]) if one else None


def _text(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
