"""The stand-in's HTTP API: from a request path to a store verb, and back to an answer.

`Router.handle` is the server's one aiohttp handler. It answers discovery (see `discovery`),
the resource verbs (get, list, create, update, patch, delete, deletecollection), the status and
scale subresources, SelfSubjectAccessReviews and watches (see `watch_stream`), turns every
`KubeApiError` into a Kubernetes ``Status`` answer, and records each request it answered.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from . import discovery, errors
from .errors import KubeApiError
from .patching import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, apply_patch
from .recording import RecordedRequest, RequestRecord
from .resources import ResourceType
from .selectors import Selector
from .store import Store
from .tables import to_table, wants_table
from .validation import unknown_fields
from .watch_stream import stream_watch

logger = logging.getLogger(__name__)


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


def _refusal(code: int, user: str | None) -> KubeApiError:
    if code == 401:
        return KubeApiError(401, "Unauthorized")
    return KubeApiError(code, f'User "{user}" cannot do this: RBAC: access denied by the test')


class Router:
    """Answers HTTP requests from ``store``; ``record`` receives each request answered.

    ``denied`` holds the (verb, group, resource) that access reviews answer "not allowed"
    for; the router itself enforces no RBAC. It is read at every review, so a test may change
    it while the server runs. ``refused`` maps a user (Bearer token) to the status, 401 or
    403, that every request of that user gets from then on (a deleted ServiceAccount's token,
    RBAC taken away); watches already open go on, as on a real API server.
    """

    def __init__(
        self,
        store: Store,
        *,
        record: Callable[[RecordedRequest], None],
        denied: set[tuple[str, str, str]],
        bookmark_interval: float,
        refused: dict[str, int] | None = None,
    ) -> None:
        self.store = store
        self.record = record
        self.denied = denied
        self.refused = refused if refused is not None else {}
        self.bookmark_interval = bookmark_interval

    async def handle(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord.of(request)
        try:
            if record.user in self.refused:
                raise _refusal(self.refused[record.user], record.user)
            response = await self._route(request, record)
        except KubeApiError as exc:
            response = _error(exc)
        except Exception as exc:
            logger.exception(
                "the simulated API server failed on %s %s", request.method, request.path
            )
            response = _error(KubeApiError(500, f"internal error: {exc}"))
        if record.verb != "watch":  # a watch is recorded when it opens
            self.record(record.answered(response.status))
        return response

    async def _route(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        parts = [part for part in request.path.split("/") if part]
        method = request.method
        if method == "GET" and not parts:
            return _json(discovery.ROOT_PATHS)
        if method == "GET" and parts in (["version"], ["version", ""]):
            return _json(discovery.VERSION_INFO)
        if method == "GET" and parts and parts[0] in ("healthz", "readyz", "livez"):
            return web.Response(text="ok")
        if method == "GET" and parts[:2] == ["openapi", "v3"]:
            return _json(discovery.openapi_v3(self.store.types(), parts[2:]))
        if not parts or parts[0] not in ("api", "apis"):
            raise errors.no_such_path()
        if parts[0] == "api":
            if len(parts) == 1:
                return _json(discovery.core_versions(request.host))
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return _json(discovery.group_list(self.store.types()))
            if len(parts) == 2:
                return _json(discovery.group(self.store.types(), parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        record.group, record.version = group, version
        if not rest:
            return _json(discovery.resource_list(self.store.types(), group, version))
        if (group, rest, method) == ("authorization.k8s.io", ["selfsubjectaccessreviews"], "POST"):
            record.verb, record.resource = "create", "selfsubjectaccessreviews"
            return _json(self._access_review(await self._body(request)), 201)
        watch_path = rest[0] == "watch"
        if watch_path:
            rest = rest[1:]
        target = self._target(group, version, rest)
        record.resource, record.subresource = target.rtype.plural, target.subresource
        record.namespace, record.name = target.namespace, target.name
        query = request.query
        if method == "GET" and target.name is None:
            if watch_path or query.get("watch") in ("true", "1"):
                record.verb = "watch"
                return await stream_watch(
                    request,
                    self.store,
                    target.rtype,
                    target.namespace,
                    bookmark_interval=self.bookmark_interval,
                    opened=lambda: self.record(record.answered(200)),
                )
            record.verb = "list"
            return self._list(target, query, table=wants_table(request.headers.get("Accept", "")))
        if target.name is None and method == "POST":
            record.verb = "create"
            body = await self._body(request)
            _check_fields(target, query, body)
            created = self.store.create(target.rtype, body, target.namespace)
            return _json(created, 201)
        if target.name is None and method == "DELETE":
            record.verb = "deletecollection"
            return self._delete_collection(target, query)
        name = target.name
        if name is None:
            raise KubeApiError(405, f"{method} is not allowed on a collection")
        if target.subresource == "scale" and target.rtype.scale_subresource:
            return await self._scale(request, target, name, record)
        if target.subresource not in (None, "status"):
            raise errors.no_such_path()
        if method == "GET":
            record.verb = "get"
            found = self.store.get(target.rtype, name, target.namespace)
            if target.subresource is None and wants_table(request.headers.get("Accept", "")):
                rv = {"resourceVersion": str(self.store.rv)}
                return _json(to_table(target.rtype, [found], rv))
            return _json(found)
        if method == "PUT":
            record.verb = "update"
            body = await self._body(request)
            _check_fields(target, query, body)
            return _json(
                self.store.replace(
                    target.rtype, name, body, target.namespace, subresource=target.subresource
                )
            )
        if method == "PATCH":
            record.verb = "patch"
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
            record.verb = "delete"
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
        self, request: web.Request, target: _Target, name: str, record: RequestRecord
    ) -> web.Response:
        """``/scale``: read or change ``spec.replicas`` through an ``autoscaling/v1 Scale``."""
        obj = self.store.get(target.rtype, name, target.namespace)
        if request.method in ("PUT", "PATCH"):
            record.verb = "update" if request.method == "PUT" else "patch"
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
            record.verb = "get"
        else:
            raise KubeApiError(405, f"{request.method} is not allowed on /scale")
        return _json(_scale_of(obj))

    def _target(self, group: str, version: str, rest: list[str]) -> _Target:
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            nested = self.store.lookup(group, version, rest[2])
            if nested is not None and nested.namespaced:
                namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise errors.no_such_path()
        rtype = self.store.lookup(group, version, rest[0])
        if rtype is None:
            raise errors.no_such_path()
        name = rest[1] if len(rest) > 1 else None
        if rtype.namespaced and name is not None and namespace is None:
            raise errors.no_such_path()
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
