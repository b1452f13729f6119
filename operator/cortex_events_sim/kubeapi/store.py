"""The in-memory object store: the API verbs over the tables of the served resources.

What is served is the `catalog`'s; the rules of a write that depend only on the object are in
`write_rules`; each write's fan-out to open watches is in `watches`.

Everything here runs on one event loop and never awaits, so each verb is atomic: a watch
that is set up sees either the state before a write or the write's event, never neither.
Stored objects are never mutated after they are stored; every write builds a new object,
so watch history entries and the current object can share one value.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import errors, write_rules
from .catalog import Catalog, Table
from .errors import KubeApiError
from .objects import clone, now_iso, random_suffix
from .patching import JSON_PATCH, apply_patch, merge_patch
from .resources import ResourceType
from .selectors import Selector
from .validation import check_name
from .watches import Watcher

CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"

#: ``listener(resource_key, event_type, new_object, old_object)``, called after every write.
Listener = Callable[[str, str, Mapping[str, Any], Mapping[str, Any] | None], None]


class Store:
    """All objects of all served resources, with a global resourceVersion counter."""

    def __init__(self, *, watch_history: int = 20000) -> None:
        self.rv = 0
        self.catalog = Catalog(watch_history=watch_history)
        self._namespace_counts: collections.Counter[str] = collections.Counter()
        self._listeners: list[Listener] = []

    # --- resource types ------------------------------------------------------------------

    def types(self) -> list[ResourceType]:
        return self.catalog.types()

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self.catalog.lookup(group, version, plural)

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        """A resource by key (``pods``, ``deployments.apps``) or by an unambiguous plural."""
        return self.catalog.table(resource).rtype

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # --- reads ---------------------------------------------------------------------------

    def peek(
        self, resource: str | ResourceType, name: str, namespace: str | None = None
    ) -> Mapping[str, Any] | None:
        """The stored object itself (never mutate it), or None."""
        table = self.catalog.table(resource)
        return table.find(self._namespace_of(table.rtype, namespace), name)

    def get(
        self, resource: str | ResourceType, name: str, namespace: str | None = None
    ) -> Mapping[str, Any]:
        table = self.catalog.table(resource)
        obj = table.find(self._namespace_of(table.rtype, namespace), name)
        if obj is None:
            raise errors.not_found(table.rtype.group, table.rtype.plural, name)
        return obj

    def list(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        selector: Selector | None = None,
    ) -> list[Mapping[str, Any]]:
        """Matching objects sorted by namespace and name (what ``kubectl get`` shows)."""
        table = self.catalog.table(resource)
        scope = namespace if table.rtype.namespaced else None
        items: list[Mapping[str, Any]] = [
            obj for obj in table.iter_objects(scope) if not selector or selector.matches(obj)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items

    def count(self, resource: str | ResourceType) -> int:
        return sum(len(bucket) for bucket in self.catalog.table(resource).objects.values())

    # --- writes --------------------------------------------------------------------------

    def create(
        self, resource: str | ResourceType, body: Mapping[str, Any], namespace: str | None = None
    ) -> Mapping[str, Any]:
        table = self.catalog.table(resource)
        rtype = table.rtype
        if not isinstance(body, Mapping):
            raise KubeApiError(400, "the body of a create must be an object")
        obj = clone(body)
        metadata = obj.setdefault("metadata", {})
        if rtype.namespaced:
            given = metadata.get("namespace")
            if namespace and given and given != namespace:
                raise KubeApiError(
                    400,
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request",
                )
            ns = namespace or given or "default"
            metadata["namespace"] = ns
            self._check_namespace_open(ns)
        else:
            metadata.pop("namespace", None)
            ns = ""
        obj["apiVersion"] = rtype.api_version if not body.get("apiVersion") else body["apiVersion"]
        obj["kind"] = rtype.kind
        name = metadata.get("name")
        if not name:
            prefix = metadata.get("generateName")
            if not prefix:
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    "",
                    [("metadata.name", "Required value: name or generateName is required")],
                )
            name = prefix + random_suffix()
            while table.find(ns, name) is not None:
                name = prefix + random_suffix()
            metadata["name"] = name
        check_name(rtype, name)
        if table.find(ns, name) is not None:
            raise errors.already_exists(rtype.group, rtype.plural, name)
        write_rules.stamp_created(rtype, obj)
        obj = write_rules.checked(rtype, obj, None)
        if rtype.key == CRD_KEY:
            self.catalog.serve_crd(obj)
        table.objects.setdefault(ns, {})[name] = obj
        self._namespace_counts[ns] += 1
        self._commit(table, "ADDED", obj, None)
        return obj

    def replace(
        self,
        resource: str | ResourceType,
        name: str,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> Mapping[str, Any]:
        table = self.catalog.table(resource)
        old = self.get(table.rtype, name, namespace)
        if not isinstance(body, Mapping):
            raise KubeApiError(400, "the body of an update must be an object")
        given_rv = (body.get("metadata") or {}).get("resourceVersion")
        if given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(table.rtype.group, table.rtype.plural, name)
        given_name = (body.get("metadata") or {}).get("name")
        if given_name and given_name != name:
            raise KubeApiError(
                400,
                f"the name of the object ({given_name}) does not match the name on the "
                f"URL ({name})",
            )
        return self._update(table, old, clone(body), subresource)

    def patch(
        self,
        resource: str | ResourceType,
        name: str,
        body: Any,
        namespace: str | None = None,
        *,
        content_type: str = "application/merge-patch+json",
        subresource: str | None = None,
    ) -> Mapping[str, Any]:
        table = self.catalog.table(resource)
        old = self.get(table.rtype, name, namespace)
        if content_type.split(";")[0].strip() != JSON_PATCH and isinstance(body, Mapping):
            given_rv = (body.get("metadata") or {}).get("resourceVersion")
            if given_rv and given_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(table.rtype.group, table.rtype.plural, name)
        new = apply_patch(content_type, clone(old), body)
        return self._update(table, old, new, subresource)

    def delete(
        self,
        resource: str | ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """Delete now, or mark for deletion (finalizers, or a pod's graceful termination).

        Returns the removed object, or the object as marked for deletion.
        """
        table = self.catalog.table(resource)
        rtype = table.rtype
        old = self.get(rtype, name, namespace)
        metadata = old["metadata"]
        for key in ("uid", "resourceVersion"):
            if preconditions and preconditions.get(key) and preconditions[key] != metadata[key]:
                raise errors.conflict(rtype.group, rtype.plural, name)
        finalizers = metadata.get("finalizers") or []
        if rtype.key == "namespaces":
            return self._delete_namespace(table, old)
        if metadata.get("deletionTimestamp"):
            pending = metadata.get("deletionGracePeriodSeconds") or 0
            if grace_period_seconds == 0 and pending:
                if not finalizers:
                    return self._remove(table, old)
                new = clone(old)
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._commit_update(table, old, new)
            if not pending and not finalizers:
                return self._remove(table, old)
            return old
        grace = write_rules.deletion_grace(rtype, old, grace_period_seconds)
        if not finalizers and grace <= 0:
            return self._remove(table, old)
        new = clone(old)
        new["metadata"]["deletionTimestamp"] = now_iso(grace)
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        return self._commit_update(table, old, new)

    # --- watching ------------------------------------------------------------------------

    def watch(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        selector: Selector | None = None,
        since: int | None = None,
    ) -> Watcher:
        """Open a watch: replay from ``since`` (or the current state as ADDED) and subscribe.

        A ``since`` older than the kept history yields one ERROR event (410) and the end.
        """
        table = self.catalog.table(resource)
        scope = namespace if table.rtype.namespaced else None
        watcher = Watcher(table.rtype.key, scope, selector or Selector())
        table.feed.open(watcher, since, lambda: self.list(table.rtype, scope, watcher.selector))
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        table = self.catalog.get(watcher.key)
        if table is not None:
            table.feed.remove(watcher)

    def close_watches(self) -> None:
        for table in self.catalog.tables():
            table.feed.close()

    # --- internals -----------------------------------------------------------------------

    def _namespace_of(self, rtype: ResourceType, namespace: str | None) -> str:
        return (namespace or "default") if rtype.namespaced else ""

    def _check_namespace_open(self, namespace: str) -> None:
        ns_obj = self.catalog.table("namespaces").find("", namespace)
        if ns_obj is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise KubeApiError(
                403,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _update(
        self,
        table: Table,
        old: Mapping[str, Any],
        new: dict[str, Any],
        subresource: str | None,
    ) -> Mapping[str, Any]:
        return self._commit_update(
            table, old, write_rules.updated(table.rtype, old, new, subresource)
        )

    def _commit_update(
        self, table: Table, old: Mapping[str, Any], new: dict[str, Any]
    ) -> Mapping[str, Any]:
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        write_rules.advance_generation(old, new)
        metadata = new["metadata"]
        if write_rules.deletion_done(metadata):
            return self._remove(table, new)
        if table.rtype.key == CRD_KEY:
            self.catalog.serve_crd(new)
        ns = metadata.get("namespace", "")
        table.objects[ns][metadata["name"]] = new
        self._commit(table, "MODIFIED", new, old)
        return new

    def _remove(self, table: Table, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = obj["metadata"]
        ns = metadata.get("namespace", "")
        bucket = table.objects.get(ns, {})
        bucket.pop(metadata["name"], None)
        if not bucket:
            table.objects.pop(ns, None)
        self._namespace_counts[ns] -= 1
        final = {**obj, "metadata": {**metadata}}
        self._commit(table, "DELETED", final, obj)
        if table.rtype.key == CRD_KEY:
            self._withdraw_crd(final)
        if ns:
            self._finish_namespace(ns)
        return final

    def _commit(
        self, table: Table, event_type: str, obj: dict[str, Any], old: Mapping[str, Any] | None
    ) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        table.feed.publish(self.rv, event_type, obj, old)
        key = table.rtype.key
        for listener in list(self._listeners):
            listener(key, event_type, obj, old)

    def _withdraw_crd(self, crd: Mapping[str, Any]) -> None:
        table = self.catalog.withdraw_crd(crd)
        if table is not None:
            for namespace, bucket in table.objects.items():
                self._namespace_counts[namespace] -= len(bucket)

    def _delete_namespace(self, table: Table, old: Mapping[str, Any]) -> Mapping[str, Any]:
        name = old["metadata"]["name"]
        current = old
        if not old["metadata"].get("deletionTimestamp"):
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = now_iso()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["status"] = merge_patch(new.get("status"), {"phase": "Terminating"})
            table.objects[""][name] = new
            self._commit(table, "MODIFIED", new, old)
            current = new
            for other in self.catalog.tables():
                if not other.rtype.namespaced:
                    continue
                for obj in list(other.objects.get(name, {}).values()):
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.delete(other.rtype, obj["metadata"]["name"], name)
        finished = self._finish_namespace(name)
        return finished if finished is not None else current

    def _finish_namespace(self, namespace: str) -> Mapping[str, Any] | None:
        table = self.catalog.table("namespaces")
        ns_obj = table.find("", namespace)
        if (
            ns_obj is None
            or not ns_obj["metadata"].get("deletionTimestamp")
            or self._namespace_counts[namespace] > 0
            or ns_obj["metadata"].get("finalizers")
        ):
            return None
        return self._remove(table, ns_obj)

    def ensure_namespaces(self, names: Iterable[str]) -> None:
        for name in names:
            if self.catalog.table("namespaces").find("", name) is None:
                self.create("namespaces", {"metadata": {"name": name}})
