"""Discovery: the server's version, API groups and resource lists, and OpenAPI v3 documents.

Each answer is computed from the resource types served at the moment of asking, so a CRD
created through the API appears here at once, as on a real server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import openapi
from .errors import no_such_path
from .resources import ResourceType

VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-cortex-events-sim",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ROOT_PATHS = {"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]}


def openapi_v3(types: Sequence[ResourceType], rest: Sequence[str]) -> dict[str, Any]:
    """``/openapi/v3`` (``rest`` empty) or one group version's document below it."""
    if not rest:
        return openapi.index(types)
    if rest[0] == "api" and len(rest) == 2:
        group, version = "", rest[1]
    elif rest[0] == "apis" and len(rest) == 3:
        group, version = rest[1], rest[2]
    else:
        raise no_such_path()
    if not any(t.group == group and version in t.served_versions for t in types):
        raise no_such_path()
    return openapi.document(types, group, version)


def core_versions(host: str) -> dict[str, Any]:
    """``/api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _groups(types: Sequence[ResourceType]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for rtype in types:
        if not rtype.group:
            continue
        versions = groups.setdefault(rtype.group, [])
        for version in (rtype.version, *rtype.served_versions):
            if version not in versions:
                versions.append(version)
    return groups


def group(types: Sequence[ResourceType], name: str) -> dict[str, Any]:
    """``/apis/<group>``."""
    versions = _groups(types).get(name)
    if not versions:
        raise no_such_path()
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def group_list(types: Sequence[ResourceType]) -> dict[str, Any]:
    """``/apis``."""
    groups = [group(types, name) for name in _groups(types)]
    for entry in groups:
        del entry["kind"], entry["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(types: Sequence[ResourceType], group: str, version: str) -> dict[str, Any]:
    """``/api/v1`` or ``/apis/<group>/<version>``."""
    resources = [
        entry
        for rtype in types
        if rtype.group == group and version in rtype.served_versions
        for entry in rtype.discovery()
    ]
    if not resources:
        raise no_such_path()
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
