"""The in-memory object store: the semantics of the API verbs, and the watch fan-out.

Everything here runs on one event loop and never awaits, so each verb is atomic: a watch
that is set up sees either the state before a write or the write's event, never neither.
Stored objects are never mutated after they are stored; every write builds a new object,
so watch history entries and the current object can share one value.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .errors import KubeApiError
from .patching import JSON_PATCH, apply_patch, merge_patch
from .resources import BUILTIN_TYPES, ResourceType, types_from_crd
from .selectors import Selector
from .validation import check_builtin, check_custom, check_name, initial_status

CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"

#: ``listener(resource_key, event_type, new_object, old_object)``, called after every write.
Listener = Callable[[str, str, Mapping[str, Any], Mapping[str, Any] | None], None]


def now_iso(offset_seconds: float = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(length))


def clone(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy (JSON round trip: the objects are JSON by construction, and it is fast)."""
    result: dict[str, Any] = json.loads(json.dumps(obj))
    return result


def encode_event(event_type: str, obj: Mapping[str, Any]) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n").encode()


@dataclass(slots=True)
class _HistoryEntry:
    rv: int
    namespace: str
    line: bytes


@dataclass(eq=False)
class Watcher:
    """One open watch: events are queued as encoded lines; ``None`` ends the stream."""

    key: str
    namespace: str | None
    selector: Selector
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    def wants(self, namespace: str) -> bool:
        return self.namespace is None or self.namespace == namespace


@dataclass(eq=False)
class _Table:
    rtype: ResourceType
    history: collections.deque[_HistoryEntry]
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    watchers: set[Watcher] = field(default_factory=set)
    evicted_rv: int = 0

    def find(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(namespace, {}).get(name)

    def iter_objects(self, namespace: str | None) -> Iterator[dict[str, Any]]:
        if namespace is not None:
            yield from self.objects.get(namespace, {}).values()
        else:
            for bucket in self.objects.values():
                yield from bucket.values()


class Store:
    """All objects of all served resources, with a global resourceVersion counter."""

    def __init__(self, *, watch_history: int = 20000) -> None:
        self.rv = 0
        self._watch_history = watch_history
        self._tables: dict[str, _Table] = {}
        self._namespace_counts: collections.Counter[str] = collections.Counter()
        self._listeners: list[Listener] = []
        for rtype in BUILTIN_TYPES:
            self.register(rtype)

    # --- resource types ------------------------------------------------------------------

    def register(self, rtype: ResourceType) -> None:
        """Serve a resource type (again, with a new definition, keeping its objects)."""
        table = self._tables.get(rtype.key)
        if table is None:
            self._tables[rtype.key] = _Table(rtype, collections.deque(maxlen=self._watch_history))
        else:
            table.rtype = rtype

    def unregister(self, key: str) -> None:
        table = self._tables.pop(key, None)
        if table is None:
            return
        for watcher in table.watchers:
            watcher.queue.put_nowait(None)
        for namespace, bucket in table.objects.items():
            self._namespace_counts[namespace] -= len(bucket)

    def types(self) -> list[ResourceType]:
        return [table.rtype for table in self._tables.values()]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        table = self._tables.get(f"{plural}.{group}" if group else plural)
        if table is None or version not in table.rtype.served_versions:
            return None
        return table.rtype

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        """A resource by key (``pods``, ``deployments.apps``) or by an unambiguous plural."""
        return self._table(resource).rtype

    def _table(self, resource: str | ResourceType) -> _Table:
        key = resource.key if isinstance(resource, ResourceType) else resource
        table = self._tables.get(key)
        if table is not None:
            return table
        matches = [t for t in self._tables.values() if key in (t.rtype.plural, t.rtype.kind)]
        if len(matches) == 1:
            return matches[0]
        raise KubeApiError(404, f"the server could not find the requested resource ({key})")

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # --- reads ---------------------------------------------------------------------------

    def peek(
        self, resource: str | ResourceType, name: str, namespace: str | None = None
    ) -> Mapping[str, Any] | None:
        """The stored object itself (never mutate it), or None."""
        table = self._table(resource)
        return table.find(self._namespace_of(table.rtype, namespace), name)

    def get(
        self, resource: str | ResourceType, name: str, namespace: str | None = None
    ) -> Mapping[str, Any]:
        table = self._table(resource)
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
        table = self._table(resource)
        scope = namespace if table.rtype.namespaced else None
        items: list[Mapping[str, Any]] = [
            obj for obj in table.iter_objects(scope) if not selector or selector.matches(obj)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items

    def count(self, resource: str | ResourceType) -> int:
        return sum(len(bucket) for bucket in self._table(resource).objects.values())

    # --- writes --------------------------------------------------------------------------

    def create(
        self, resource: str | ResourceType, body: Mapping[str, Any], namespace: str | None = None
    ) -> Mapping[str, Any]:
        table = self._table(resource)
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
        obj = self._checked(rtype, obj, None)
        if rtype.key == CRD_KEY:
            self._serve_crd(obj)
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
        table = self._table(resource)
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
        table = self._table(resource)
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
        table = self._table(resource)
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
        grace = 0
        if rtype.key == "pods" and (old.get("spec") or {}).get("nodeName"):
            default = (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            grace = default if grace_period_seconds is None else grace_period_seconds
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
        table = self._table(resource)
        scope = namespace if table.rtype.namespaced else None
        watcher = Watcher(table.rtype.key, scope, selector or Selector())
        if since is not None and since < table.evicted_rv:
            gone = errors.status_object(
                410, "Expired", f"too old resource version: {since} ({table.evicted_rv})"
            )
            watcher.queue.put_nowait(encode_event("ERROR", gone))
            watcher.queue.put_nowait(None)
            return watcher
        if since is None or since == 0:
            for obj in self.list(table.rtype, scope, watcher.selector):
                watcher.queue.put_nowait(encode_event("ADDED", obj))
        else:
            for entry in table.history:
                if entry.rv <= since or not watcher.wants(entry.namespace):
                    continue
                if watcher.selector and not watcher.selector.matches(
                    json.loads(entry.line)["object"]
                ):
                    continue
                watcher.queue.put_nowait(entry.line)
        table.watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        table = self._tables.get(watcher.key)
        if table is not None:
            table.watchers.discard(watcher)

    def close_watches(self) -> None:
        for table in self._tables.values():
            for watcher in table.watchers:
                watcher.queue.put_nowait(None)
            table.watchers.clear()

    # --- internals -----------------------------------------------------------------------

    def _namespace_of(self, rtype: ResourceType, namespace: str | None) -> str:
        return (namespace or "default") if rtype.namespaced else ""

    def _check_namespace_open(self, namespace: str) -> None:
        ns_obj = self._tables["namespaces"].find("", namespace)
        if ns_obj is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise KubeApiError(
                403,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _checked(
        self, rtype: ResourceType, obj: dict[str, Any], old: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if rtype.schema is not None:
            return check_custom(rtype, obj)
        return check_builtin(rtype, obj, old)

    def _update(
        self,
        table: _Table,
        old: Mapping[str, Any],
        new: dict[str, Any],
        subresource: str | None,
    ) -> Mapping[str, Any]:
        rtype = table.rtype
        if subresource not in (None, "status") or (
            subresource == "status" and not rtype.status_subresource
        ):
            raise KubeApiError(
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
        for key in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ):
            if key in old_metadata:
                metadata[key] = old_metadata[key]
            else:
                metadata.pop(key, None)
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = old["kind"]
        if old_metadata.get("deletionTimestamp"):
            added = set(metadata.get("finalizers") or []) - set(
                old_metadata.get("finalizers") or []
            )
            if added:
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    old_metadata["name"],
                    [
                        (
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if "
                            "the object is being deleted",
                        )
                    ],
                )
        new = self._checked(rtype, new, old)
        return self._commit_update(table, old, new)

    def _commit_update(
        self, table: _Table, old: Mapping[str, Any], new: dict[str, Any]
    ) -> Mapping[str, Any]:
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        metadata = new["metadata"]
        spec_changed = any(
            new.get(key) != old.get(key)
            for key in {*new, *old} - {"metadata", "status", "apiVersion", "kind"}
        )
        if spec_changed:
            metadata["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if (
            metadata.get("deletionTimestamp")
            and not metadata.get("finalizers")
            and not metadata.get("deletionGracePeriodSeconds")
        ):
            return self._remove(table, new)
        if table.rtype.key == CRD_KEY:
            self._serve_crd(new)
        ns = metadata.get("namespace", "")
        table.objects[ns][metadata["name"]] = new
        self._commit(table, "MODIFIED", new, old)
        return new

    def _remove(self, table: _Table, obj: Mapping[str, Any]) -> Mapping[str, Any]:
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
            self._unserve_crd(final)
        if ns:
            self._finish_namespace(ns)
        return final

    def _commit(
        self, table: _Table, event_type: str, obj: dict[str, Any], old: Mapping[str, Any] | None
    ) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        line = encode_event(event_type, obj)
        ns = obj["metadata"].get("namespace", "")
        if len(table.history) == table.history.maxlen:
            table.evicted_rv = table.history[0].rv
        table.history.append(_HistoryEntry(self.rv, ns, line))
        for watcher in table.watchers:
            if not watcher.wants(ns):
                continue
            if not watcher.selector:
                watcher.queue.put_nowait(line)
                continue
            now = event_type != "DELETED" and watcher.selector.matches(obj)
            before = old is not None and watcher.selector.matches(old)
            if event_type == "DELETED":
                seen_type = "DELETED" if watcher.selector.matches(obj) else None
            elif now and before:
                seen_type = event_type
            elif now:
                seen_type = "ADDED"
            elif before:
                seen_type = "DELETED"
            else:
                seen_type = None
            if seen_type == event_type:
                watcher.queue.put_nowait(line)
            elif seen_type is not None:
                watcher.queue.put_nowait(encode_event(seen_type, obj))
        key = table.rtype.key
        for listener in list(self._listeners):
            listener(key, event_type, obj, old)

    def _serve_crd(self, crd: Mapping[str, Any]) -> None:
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
        self.register(rtype)

    def _unserve_crd(self, crd: Mapping[str, Any]) -> None:
        spec = crd.get("spec") or {}
        self.unregister(f"{spec.get('names', {}).get('plural')}.{spec.get('group')}")

    def _delete_namespace(self, table: _Table, old: Mapping[str, Any]) -> Mapping[str, Any]:
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
            for other in list(self._tables.values()):
                if not other.rtype.namespaced:
                    continue
                for obj in list(other.objects.get(name, {}).values()):
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.delete(other.rtype, obj["metadata"]["name"], name)
        finished = self._finish_namespace(name)
        return finished if finished is not None else current

    def _finish_namespace(self, namespace: str) -> Mapping[str, Any] | None:
        table = self._tables["namespaces"]
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
            if self._tables["namespaces"].find("", name) is None:
                self.create("namespaces", {"metadata": {"name": name}})
