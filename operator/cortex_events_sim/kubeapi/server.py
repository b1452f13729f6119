"""The HTTP face of the stand-in Kubernetes API server (aiohttp), and its Python API."""

from __future__ import annotations

import asyncio
import base64
import builtins
import collections
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from . import openapi
from .errors import KubeApiError
from .patching import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, apply_patch
from .resources import ResourceType
from .selectors import Selector
from .store import CRD_KEY, Store, clone, encode_event
from .tables import to_table, wants_table
from .validation import unknown_fields

logger = logging.getLogger(__name__)

#: The Bearer tokens (and so the user names) tests give the driver and the operator.
DRIVER_USER = "driver"
OPERATOR_USER = "operator"

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
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


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request as the server understood it (``user`` is the Bearer token)."""

    method: str
    path: str
    verb: str
    group: str | None
    version: str | None
    resource: str | None
    subresource: str | None
    namespace: str | None
    name: str | None
    user: str | None
    status: int

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS


@dataclass
class _Target:
    """What a request path addresses."""

    group: str
    version: str
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def _error(exc: KubeApiError) -> web.Response:
    return _json(exc.status(), exc.code)


def _check_fields(target: _Target, query: Mapping[str, str], body: Any) -> None:
    """With ``fieldValidation=Strict`` (what kubectl sends), a field the CRD's schema does
    not declare is refused instead of pruned. Built-in kinds are not checked: the stand-in
    has no schemas for them."""
    schema = target.rtype.schema
    if query.get("fieldValidation") != "Strict" or schema is None:
        return
    unknown = unknown_fields(body, schema)
    if unknown:
        kind, version = target.rtype.kind, target.version
        fields = ", ".join(f'unknown field "{field}"' for field in unknown)
        raise KubeApiError(
            400,
            f'{kind} in version "{version}" cannot be handled as a {kind}: '
            f"strict decoding error: {fields}",
        )


def _scale_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    spec = obj.get("spec") or {}
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
        },
    }


class KubeApiServer:
    """A small in-memory Kubernetes API server: enough for kopf and the official client.

    ``crds`` are served from the start (default: the CortexEntity CRD), and CRDs created
    through the API are served from then on. ``namespaces`` exist from the start.
    The store methods (``create``, ``get``, ...) must be called on the server's loop.
    """

    def __init__(
        self,
        *,
        crds: Sequence[Mapping[str, Any]] | None = None,
        namespaces: Iterable[str] = ("default",),
        watch_history: int = 20000,
        bookmark_interval: float = 5.0,
        max_recorded_requests: int = 500_000,
    ) -> None:
        self.store = Store(watch_history=watch_history)
        self.bookmark_interval = bookmark_interval
        self.requests: collections.deque[RecordedRequest] = collections.deque(
            maxlen=max_recorded_requests
        )
        # (verb, group, resource) that access reviews answer "not allowed" for; the server
        # itself enforces no RBAC.
        self.denied: set[tuple[str, str, str]] = set()
        self.url = ""
        self._runner: web.AppRunner | None = None
        if crds is None:
            from cortex_events.resources import crd_manifest

            crds = [crd_manifest()]
        for crd in crds:
            self.store.create(CRD_KEY, crd)
        self.store.ensure_namespaces(namespaces)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return the base URL."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """End every watch stream and stop listening."""
        self.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- client configuration ------------------------------------------------------------

    def kubeconfig(self, token: str = DRIVER_USER) -> dict[str, Any]:
        """A kubeconfig that points at this server and authenticates with ``token``."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cortex-events-sim", "cluster": {"server": self.url}}],
            "users": [{"name": token, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "cortex-events-sim",
                    "context": {
                        "cluster": "cortex-events-sim",
                        "user": token,
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "cortex-events-sim",
        }

    def write_kubeconfig(self, path: Path, token: str = OPERATOR_USER) -> Path:
        path.write_text(yaml.safe_dump(self.kubeconfig(token)))
        return path

    # --- in-loop store access ------------------------------------------------------------

    def create(
        self, resource: str, obj: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        return clone(self.store.create(resource, obj, namespace))

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return clone(self.store.get(resource, name, namespace))

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        selector = Selector.parse(label_selector, field_selector)
        return [clone(obj) for obj in self.store.list(resource, namespace, selector)]

    def replace(
        self, resource: str, name: str, obj: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        return clone(self.store.replace(resource, name, obj, namespace))

    def patch_merge(
        self, resource: str, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """A JSON merge patch through the main endpoint (status ignored if a subresource)."""
        return clone(self.store.patch(resource, name, patch, namespace))

    def patch_status(
        self, resource: str, name: str, status: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Merge ``status`` into the object's ``.status`` (through ``/status`` if it has it)."""
        rtype = self.store.resolve(resource)
        sub = "status" if rtype.status_subresource else None
        return clone(self.store.patch(rtype, name, {"status": status}, namespace, subresource=sub))

    def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
    ) -> dict[str, Any]:
        return clone(
            self.store.delete(resource, name, namespace, grace_period_seconds=grace_period_seconds)
        )

    # --- HTTP ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        user = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "verb": request.method.lower(),
            "group": None,
            "version": None,
            "resource": None,
            "subresource": None,
            "namespace": None,
            "name": None,
            "user": user,
        }
        try:
            response = await self._route(request, record)
        except KubeApiError as exc:
            response = _error(exc)
        except Exception as exc:
            logger.exception(
                "the simulated API server failed on %s %s", request.method, request.path
            )
            response = _error(KubeApiError(500, f"internal error: {exc}"))
        if record["verb"] != "watch":
            self.requests.append(RecordedRequest(status=response.status, **record))
        return response

    async def _route(self, request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
        parts = [part for part in request.path.split("/") if part]
        method = request.method
        if method == "GET" and not parts:
            return _json({"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]})
        if method == "GET" and parts in (["version"], ["version", ""]):
            return _json(VERSION_INFO)
        if method == "GET" and parts and parts[0] in ("healthz", "readyz", "livez"):
            return web.Response(text="ok")
        if method == "GET" and parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        if not parts or parts[0] not in ("api", "apis"):
            raise KubeApiError(404, "the server could not find the requested resource")
        if parts[0] == "api":
            if len(parts) == 1:
                return _json(self._core_versions(request))
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return _json(self._group_list())
            if len(parts) == 2:
                return _json(self._group(parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        record.update(group=group, version=version)
        if not rest:
            return _json(self._resource_list(group, version))
        if (group, rest, method) == ("authorization.k8s.io", ["selfsubjectaccessreviews"], "POST"):
            record.update(verb="create", resource="selfsubjectaccessreviews")
            return _json(self._access_review(await self._body(request)), 201)
        watch_path = rest[0] == "watch"
        if watch_path:
            rest = rest[1:]
        target = self._target(group, version, rest)
        record.update(
            resource=target.rtype.plural,
            subresource=target.subresource,
            namespace=target.namespace,
            name=target.name,
        )
        query = request.query
        if method == "GET" and target.name is None:
            if watch_path or query.get("watch") in ("true", "1"):
                record["verb"] = "watch"
                return await self._watch(request, target, record)
            record["verb"] = "list"
            return self._list(target, query, table=wants_table(request.headers.get("Accept", "")))
        if target.name is None and method == "POST":
            record["verb"] = "create"
            body = await self._body(request)
            _check_fields(target, query, body)
            created = self.store.create(target.rtype, body, target.namespace)
            return _json(created, 201)
        if target.name is None and method == "DELETE":
            record["verb"] = "deletecollection"
            return self._delete_collection(target, query)
        name = target.name
        if name is None:
            raise KubeApiError(405, f"{method} is not allowed on a collection")
        if target.subresource == "scale" and target.rtype.scale_subresource:
            return await self._scale(request, target, name, record)
        if target.subresource not in (None, "status"):
            raise KubeApiError(404, "the server could not find the requested resource")
        if method == "GET":
            record["verb"] = "get"
            found = self.store.get(target.rtype, name, target.namespace)
            if target.subresource is None and wants_table(request.headers.get("Accept", "")):
                rv = {"resourceVersion": str(self.store.rv)}
                return _json(to_table(target.rtype, [found], rv))
            return _json(found)
        if method == "PUT":
            record["verb"] = "update"
            body = await self._body(request)
            _check_fields(target, query, body)
            return _json(
                self.store.replace(
                    target.rtype, name, body, target.namespace, subresource=target.subresource
                )
            )
        if method == "PATCH":
            record["verb"] = "patch"
            content_type = request.headers.get("Content-Type", MERGE_PATCH)
            if content_type.split(";")[0].strip() == APPLY_PATCH:
                raise KubeApiError(415, "server-side apply is not supported by this server")
            body = await self._body(request)
            if content_type.split(";")[0].strip() != JSON_PATCH:
                _check_fields(target, query, body)
            return _json(
                self.store.patch(
                    target.rtype,
                    name,
                    body,
                    target.namespace,
                    content_type=content_type,
                    subresource=target.subresource,
                )
            )
        if method == "DELETE":
            record["verb"] = "delete"
            options = await self._body(request, optional=True) or {}
            grace = query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
            deleted = self.store.delete(
                target.rtype,
                name,
                target.namespace,
                grace_period_seconds=None if grace is None else int(grace),
                preconditions=options.get("preconditions"),
            )
            return _json(deleted)
        raise KubeApiError(405, f"{method} is not allowed")

    async def _scale(
        self, request: web.Request, target: _Target, name: str, record: dict[str, Any]
    ) -> web.Response:
        """``/scale``: read or change ``spec.replicas`` through an ``autoscaling/v1 Scale``."""
        obj = self.store.get(target.rtype, name, target.namespace)
        if request.method in ("PUT", "PATCH"):
            record["verb"] = "update" if request.method == "PUT" else "patch"
            body = await self._body(request)
            if request.method == "PATCH":
                content_type = request.headers.get("Content-Type", MERGE_PATCH)
                body = apply_patch(content_type, _scale_of(obj), body)
            replicas = (body.get("spec") or {}).get("replicas") if isinstance(body, dict) else None
            if not isinstance(replicas, int) or replicas < 0:
                raise KubeApiError(422, "spec.replicas: Invalid value: must be an integer >= 0")
            obj = self.store.patch(
                target.rtype, name, {"spec": {"replicas": replicas}}, target.namespace
            )
        elif request.method == "GET":
            record["verb"] = "get"
        else:
            raise KubeApiError(405, f"{request.method} is not allowed on /scale")
        return _json(_scale_of(obj))

    def _target(self, group: str, version: str, rest: builtins.list[str]) -> _Target:
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            nested = self.store.lookup(group, version, rest[2])
            if nested is not None and nested.namespaced:
                namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise KubeApiError(404, "the server could not find the requested resource")
        rtype = self.store.lookup(group, version, rest[0])
        if rtype is None:
            raise KubeApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        if rtype.namespaced and name is not None and namespace is None:
            raise KubeApiError(404, "the server could not find the requested resource")
        return _Target(group, version, rtype, namespace, name, rest[2] if len(rest) > 2 else None)

    def _access_review(self, review: Any) -> dict[str, Any]:
        """Answers "can I?": yes, unless the (verb, group, resource) is in ``self.denied``."""
        spec = (review or {}).get("spec") or {}
        attributes = spec.get("resourceAttributes") or {}
        resource = str(attributes.get("resource") or "")
        if attributes.get("subresource"):
            resource += f"/{attributes['subresource']}"
        asked = (str(attributes.get("verb")), str(attributes.get("group") or ""), resource)
        allowed = asked not in self.denied
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": spec,
            "status": {"allowed": allowed, **({} if allowed else {"reason": "denied by the test"})},
        }

    async def _body(self, request: web.Request, *, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw.strip():
            if optional:
                return None
            raise KubeApiError(400, "the request has no body")
        try:
            return json.loads(raw)
        except ValueError:
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise KubeApiError(400, f"the body is neither JSON nor YAML: {exc}") from exc

    def _list(
        self, target: _Target, query: Mapping[str, str], *, table: bool = False
    ) -> web.Response:
        selector = Selector.parse(query.get("labelSelector"), query.get("fieldSelector"))
        items = self.store.list(target.rtype, target.namespace, selector)
        rv = str(self.store.rv)
        metadata: dict[str, Any] = {"resourceVersion": rv}
        token = query.get("continue")
        if token:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token.encode())))
            except ValueError as exc:
                raise KubeApiError(400, "invalid continue token") from exc
            items = [
                obj
                for obj in items
                if (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) > after
            ]
        limit = int(query.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            items = items[:limit]
            last = items[-1]["metadata"]
            position = json.dumps([last.get("namespace", ""), last["name"]])
            metadata["continue"] = base64.urlsafe_b64encode(position.encode()).decode()
            metadata["remainingItemCount"] = 0
        rtype = target.rtype
        if table:
            return _json(to_table(rtype, items, metadata))
        return _json(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": f"{target.group}/{target.version}"
                if target.group
                else target.version,
                "metadata": metadata,
                "items": items,
            }
        )

    def _delete_collection(self, target: _Target, query: Mapping[str, str]) -> web.Response:
        selector = Selector.parse(query.get("labelSelector"), query.get("fieldSelector"))
        deleted = [
            self.store.delete(
                target.rtype,
                obj["metadata"]["name"],
                target.namespace or obj["metadata"].get("namespace"),
            )
            for obj in self.store.list(target.rtype, target.namespace, selector)
        ]
        return _json(
            {
                "kind": f"{target.rtype.kind}List",
                "apiVersion": target.rtype.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": deleted,
            }
        )

    async def _watch(
        self, request: web.Request, target: _Target, record: dict[str, Any]
    ) -> web.StreamResponse:
        query = request.query
        selector = Selector.parse(query.get("labelSelector"), query.get("fieldSelector"))
        since_text = query.get("resourceVersion") or ""
        try:
            since = int(since_text) if since_text else None
        except ValueError as exc:
            raise KubeApiError(400, f"invalid resourceVersion: {since_text!r}") from exc
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        watcher = self.store.watch(target.rtype, target.namespace, selector, since)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        self.requests.append(RecordedRequest(status=200, **record))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            await response.prepare(request)
            while True:
                now = loop.time()
                waits = [next_bookmark - now] if bookmarks else []
                if deadline is not None:
                    waits.append(deadline - now)
                wait = max(0.0, min(waits)) if waits else None
                try:
                    line = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if deadline is not None and loop.time() >= deadline:
                        break
                    mark = {
                        "kind": target.rtype.kind,
                        "apiVersion": target.rtype.api_version,
                        "metadata": {"resourceVersion": str(self.store.rv)},
                    }
                    await response.write(encode_event("BOOKMARK", mark))
                    next_bookmark = loop.time() + self.bookmark_interval
                    continue
                if line is None:
                    break
                chunk = [line]
                ended = False
                while not watcher.queue.empty():
                    more = watcher.queue.get_nowait()
                    if more is None:
                        ended = True
                        break
                    chunk.append(more)
                await response.write(b"".join(chunk))
                if ended:
                    break
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
        except ConnectionError:
            pass
        finally:
            self.store.unwatch(watcher)
        return response

    # --- discovery -----------------------------------------------------------------------

    def _openapi(self, rest: builtins.list[str]) -> web.Response:
        types = self.store.types()
        if not rest:
            return _json(openapi.index(types))
        if rest[0] == "api" and len(rest) == 2:
            group, version = "", rest[1]
        elif rest[0] == "apis" and len(rest) == 3:
            group, version = rest[1], rest[2]
        else:
            raise KubeApiError(404, "the server could not find the requested resource")
        if not any(t.group == group and version in t.served_versions for t in types):
            raise KubeApiError(404, "the server could not find the requested resource")
        return _json(openapi.document(types, group, version))

    def _core_versions(self, request: web.Request) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}
            ],
        }

    def _groups(self) -> dict[str, builtins.list[str]]:
        groups: dict[str, builtins.list[str]] = {}
        for rtype in self.store.types():
            if not rtype.group:
                continue
            versions = groups.setdefault(rtype.group, [])
            for version in (rtype.version, *rtype.served_versions):
                if version not in versions:
                    versions.append(version)
        return groups

    def _group(self, name: str) -> dict[str, Any]:
        versions = self._groups().get(name)
        if not versions:
            raise KubeApiError(404, "the server could not find the requested resource")
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _group_list(self) -> dict[str, Any]:
        groups = [self._group(name) for name in self._groups()]
        for group in groups:
            del group["kind"], group["apiVersion"]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources = [
            entry
            for rtype in self.store.types()
            if rtype.group == group and version in rtype.served_versions
            for entry in rtype.discovery()
        ]
        if not resources:
            raise KubeApiError(404, "the server could not find the requested resource")
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }
