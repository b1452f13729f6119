"""The resources the stand-in serves: the built-in ones and those its stored CRDs define.

Each served resource has a `Table`: its objects by namespace and name, and its watch feed.
A CRD's resource is served from the moment the CRD is stored, served anew when it changes
(its objects kept) and withdrawn, objects and open watches with it, when it is removed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .errors import KubeApiError
from .resources import BUILTIN_TYPES, ResourceType, types_from_crd
from .watches import WatchFeed


@dataclass(eq=False)
class Table:
    """One served resource: its type, its objects by namespace ("" if cluster-scoped) and
    name, and its watch feed."""

    rtype: ResourceType
    feed: WatchFeed
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def find(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(namespace, {}).get(name)

    def iter_objects(self, namespace: str | None) -> Iterator[dict[str, Any]]:
        if namespace is not None:
            yield from self.objects.get(namespace, {}).values()
        else:
            for bucket in self.objects.values():
                yield from bucket.values()


class Catalog:
    """The tables of every served resource, by key (``pods``, ``deployments.apps``)."""

    def __init__(self, *, watch_history: int) -> None:
        self._watch_history = watch_history
        self._tables: dict[str, Table] = {}
        for rtype in BUILTIN_TYPES:
            self.serve(rtype)

    def serve(self, rtype: ResourceType) -> None:
        """Serve a resource type (again, with a new definition, keeping its objects)."""
        table = self._tables.get(rtype.key)
        if table is None:
            self._tables[rtype.key] = Table(rtype, WatchFeed(self._watch_history))
        else:
            table.rtype = rtype

    def withdraw(self, key: str) -> Table | None:
        """Stop serving a resource; its open watches end. Returns its table, if it was served."""
        table = self._tables.pop(key, None)
        if table is not None:
            table.feed.close()
        return table

    def serve_crd(self, crd: Mapping[str, Any]) -> None:
        try:
            rtype = types_from_crd(crd)
        except (KeyError, TypeError, ValueError) as exc:
            name = crd.get("metadata", {}).get("name", "")
            raise errors.invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                name,
                [("spec", f"Invalid value: {exc}")],
            ) from exc
        self.serve(rtype)

    def withdraw_crd(self, crd: Mapping[str, Any]) -> Table | None:
        spec = crd.get("spec") or {}
        return self.withdraw(f"{spec.get('names', {}).get('plural')}.{spec.get('group')}")

    def get(self, key: str) -> Table | None:
        return self._tables.get(key)

    def tables(self) -> list[Table]:
        return list(self._tables.values())

    def types(self) -> list[ResourceType]:
        return [table.rtype for table in self._tables.values()]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type a request path names, if that version of it is served."""
        table = self._tables.get(f"{plural}.{group}" if group else plural)
        if table is None or version not in table.rtype.served_versions:
            return None
        return table.rtype

    def table(self, resource: str | ResourceType) -> Table:
        """A resource by key (``pods``, ``deployments.apps``) or by an unambiguous plural."""
        key = resource.key if isinstance(resource, ResourceType) else resource
        table = self._tables.get(key)
        if table is not None:
            return table
        matches = [t for t in self._tables.values() if key in (t.rtype.plural, t.rtype.kind)]
        if len(matches) == 1:
            return matches[0]
        raise KubeApiError(404, f"the server could not find the requested resource ({key})")
