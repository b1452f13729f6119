"""The OpenAPI v3 documents kubectl reads before ``kubectl apply`` and ``kubectl explain``.

``GET /openapi/v3`` lists one document per group-version; each document has a path per
resource whose operations carry ``x-kubernetes-group-version-kind`` and declare the
``fieldValidation`` query parameter. From that kubectl learns that the server validates fields
itself (it then sends ``fieldValidation=Strict`` instead of validating on its side, which would
need the full built-in schemas). Custom resources also get their CRD's schema, so that
``kubectl explain`` can describe them. Built-in kinds get no schema and no request body: kubectl
then computes strategic merge patches from its own compiled-in types, as it does for any server
whose document it cannot use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from .resources import ResourceType

_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "Ignore, Warn or Strict: how to treat fields the schema does not know.",
    "schema": {"type": "string", "uniqueItems": True},
}
_OK = {"200": {"description": "OK"}, "201": {"description": "Created"}}


def group_version_path(group: str, version: str) -> str:
    """``api/v1`` for the core group, ``apis/GROUP/VERSION`` otherwise."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rtype: ResourceType, version: str) -> str:
    reversed_group = (
        ".".join(reversed(rtype.group.split("."))) if rtype.group else "io.k8s.api.core"
    )
    return f"{reversed_group}.{version}.{rtype.kind}"


def _operation(
    rtype: ResourceType, version: str, action: str, *, body_ref: str | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{action}{rtype.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rtype.group,
            "version": version,
            "kind": rtype.kind,
        },
        "responses": _OK,
    }
    if action in ("post", "put", "patch"):
        operation["parameters"] = [_FIELD_VALIDATION]
    if body_ref is not None and action != "patch":
        operation["requestBody"] = {"content": {"application/json": {"schema": {"$ref": body_ref}}}}
    return operation


def document(types: Iterable[ResourceType], group: str, version: str) -> dict[str, Any]:
    """The OpenAPI v3 document of one group-version."""
    prefix = "/" + group_version_path(group, version)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rtype in types:
        if rtype.group != group or version not in rtype.served_versions:
            continue
        body_ref = None
        if rtype.schema is not None:
            name = _schema_name(rtype, version)
            schemas[name] = {
                **rtype.schema,
                "x-kubernetes-group-version-kind": [
                    {"group": rtype.group, "version": version, "kind": rtype.kind}
                ],
            }
            body_ref = f"#/components/schemas/{name}"
        scope = f"{prefix}/namespaces/{{namespace}}" if rtype.namespaced else prefix
        paths[f"{scope}/{rtype.plural}"] = {
            "get": _operation(rtype, version, "list"),
            "post": _operation(rtype, version, "post", body_ref=body_ref),
        }
        paths[f"{scope}/{rtype.plural}/{{name}}"] = {
            "get": _operation(rtype, version, "get"),
            "put": _operation(rtype, version, "put", body_ref=body_ref),
            "patch": _operation(rtype, version, "patch"),
            "delete": _operation(rtype, version, "delete"),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (cortex-events stand-in)", "version": "v1.31.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index(types: Iterable[ResourceType]) -> dict[str, Any]:
    """``/openapi/v3``: where each group-version's document is, with a hash of its content."""
    served = list(types)
    found: dict[str, tuple[str, str]] = {}
    for rtype in served:
        for version in rtype.served_versions:
            found[group_version_path(rtype.group, version)] = (rtype.group, version)
    paths = {}
    for path, (group, version) in sorted(found.items()):
        digest = hashlib.sha256(
            json.dumps(document(served, group, version), sort_keys=True).encode()
        ).hexdigest()[:16]
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": paths}
