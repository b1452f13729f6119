"""The operator's own small use of the Kubernetes API, beside kopf's watches.

Three things run outside kopf's handlers: the periodic CortexEntity status refresh, the downtime
sweep's look-ups by name, and the liveness probe's version check. They go through the official
client's request layer (its credentials and TLS handling) with plain JSON paths, in a worker thread
since that client is synchronous. The client's per-group API classes are not used: importing them
costs tens of MiB, which an operator sized for thousands of pods should not spend. Credentials
come from the service account in a cluster, else from the kubeconfig, as for kopf.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from cortex_events.kube.errors import REFUSAL_HINTS, KubeRequestFailed, describe
from cortex_events.kube.leases import LeaseConflict, LeaseForbidden, LeaseUnavailable
from cortex_events.kube.watched import BY_KIND

logger = logging.getLogger("cortex_events.kube")

MERGE_PATCH = "application/merge-patch+json"
API_JSON_DEPTH = 10_000
"""How deep the API server lets JSON nest; a CortexEntity's ``customData`` may go that deep,
since a schema that keeps unknown fields cannot bound their depth."""
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


def allow_api_json_depth() -> None:
    """Let every object the API server accepts be handled: Python's JSON decoder counts each
    level of nesting against the recursion limit (1,000 by default), and kopf's watch of
    CortexEntities, failing on one nested deeper, stopped the operator; kopf's copy of an
    object takes two Python frames a level. The operator then refuses that entity's
    ``customData`` (nested deeper than 8) like any invalid spec. Only the decoder's levels
    take C stack (about 2 MiB at 10,000 levels, within the usual 8 MiB); Python frames do not
    since Python 3.11."""
    needed = 3 * API_JSON_DEPTH + 2_000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def load_api_client() -> client.ApiClient:
    """An API client for the in-cluster service account, else the current kubeconfig context."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        # Read KUBECONFIG now: the client library reads it once, when it is imported.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return client.ApiClient()


def call(
    api_client: client.ApiClient,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    timeout: float | None = None,
) -> Any:
    """One API request; the decoded JSON answer. Raises `ApiException` on an error status."""
    serialized = api_client.param_serialize(
        method,
        path,
        query_params=list((query or {}).items()),
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(*serialized, _request_timeout=timeout)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return json.loads(response.data) if response.data else None


def missing_kubeconfig() -> str | None:
    """Why ``KUBECONFIG`` cannot be used when none of the files it names exists (outside a
    cluster), else None."""
    value = os.environ.get("KUBECONFIG")
    if not value or os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    paths = [path for path in value.split(os.pathsep) if path]
    if any(os.path.exists(os.path.expanduser(path)) for path in paths):
        return None
    named = ", ".join(paths) or repr(value)
    return f"KUBECONFIG names {named}, which does not exist: point it at your kubeconfig file"


def check_cluster(timeout: float = 10.0) -> str | None:
    """Why the Kubernetes API can't be used (one line), or None when it answers."""
    missing = missing_kubeconfig()
    if missing:
        return missing
    try:
        api_client = load_api_client()
    except (config.ConfigException, OSError) as error:
        return (
            f"no Kubernetes cluster configured (no service account, no usable kubeconfig): {error}"
        )
    except Exception as error:  # YAML that is not a kubeconfig fails deep in the loader
        where = os.environ.get("KUBECONFIG") or "~/.kube/config"
        detail = " ".join(str(error).split()) or type(error).__name__
        return f"the kubeconfig {where} is not a valid kubeconfig: {detail}"
    host = api_client.configuration.host
    try:
        call(api_client, "GET", "/version", timeout=timeout)
    except ApiException as error:
        if error.status in (401, 403):
            return (
                f"the Kubernetes API at {host} refused the credentials (HTTP {error.status}): "
                f"{REFUSAL_HINTS[error.status]}"
            )
        return f"the Kubernetes API at {host} answered {describe(error)}"
    except Exception as error:  # urllib3 raises many kinds for an unreachable host
        return f"cannot reach the Kubernetes API at {host}: {describe(error)}"
    finally:
        api_client.close()
    return None


class KubeClient:
    """The few calls the operator makes itself, each in a worker thread. ``redact`` is applied
    to every string of what it writes (CortexEntity status, Events, Leases): no secret reaches
    the API server, whatever text an error carried."""

    def __init__(
        self, api_client: client.ApiClient, *, redact: Callable[[str], str] | None = None
    ) -> None:
        self.api_client = api_client
        self._redact = redact

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    async def request(self, method: str, path: str, body: Any = None, **options: Any) -> Any:
        if body is not None and self._redact is not None:
            body = _redacted(body, self._redact)
        return await asyncio.to_thread(call, self.api_client, method, path, body, **options)

    async def current_uid(self, kind: str, namespace: str, name: str) -> str | None:
        """The uid of the named object of a watched kind, None when it does not exist."""
        try:
            found = await self.request("GET", BY_KIND[kind].path(namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise KubeRequestFailed(describe(error)) from None
        except Exception as error:  # no answer: urllib3's errors name only themselves
            raise KubeRequestFailed(describe(error)) from None
        uid = (found.get("metadata") or {}).get("uid")
        return str(uid) if uid else None

    # -- Leases --------------------------------------------------------------------------------

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = await self.request("GET", f"{LEASES.format(namespace=namespace)}/{name}")
        except ApiException as error:
            if error.status == 404:
                return None
            raise _lease_error(error) from None
        return dict(found)

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(await self.request("POST", LEASES.format(namespace=namespace), body))
        except ApiException as error:
            raise _lease_error(error) from None

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            path = f"{LEASES.format(namespace=namespace)}/{name}"
            return dict(await self.request("PUT", path, body))
        except ApiException as error:
            raise _lease_error(error) from None

    async def allowed(self, verb: str, resource: str, name: str = "", namespace: str = "") -> bool:
        """Whether this identity may do ``verb`` on ``resource`` (a SelfSubjectAccessReview,
        which every identity may ask): so that nothing is tried that RBAC would refuse."""
        attributes = {"verb": verb, "resource": resource, "name": name, "namespace": namespace}
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {k: v for k, v in attributes.items() if v}},
        }
        answer = await self.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, timeout=10.0
        )
        return bool(((answer or {}).get("status") or {}).get("allowed"))

    async def service_account(self) -> tuple[str, str, str] | None:
        """(namespace, name, uid) of the ServiceAccount this client acts as, None for another
        identity or an API server without SelfSubjectReview (a question every identity may
        ask)."""
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            answer = await self.request(
                "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", review, timeout=10.0
            )
        except Exception:
            return None
        user = ((answer or {}).get("status") or {}).get("userInfo") or {}
        parts = str(user.get("username") or "").split(":")
        if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"] or not user.get("uid"):
            return None
        return parts[2], parts[3], str(user["uid"])

    async def serves(self, group_version: str, plural: str) -> bool:
        """Whether the API server serves ``plural`` in ``group_version`` (discovery, which
        every identity may read): a CRD installed or not."""
        try:
            answer = await self.request("GET", f"/apis/{group_version}", timeout=10.0)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        resources = (answer or {}).get("resources") or []
        return any(r.get("name") == plural for r in resources if isinstance(r, dict))

    async def namespace_exists(self, name: str) -> bool | None:
        """Whether the Namespace exists; None when the API does not say (no permission)."""
        if not await self.allowed("get", "namespaces", name):
            return None
        try:
            await self.request("GET", f"/api/v1/namespaces/{name}", timeout=10.0)
        except ApiException as error:
            if error.status == 404:
                return False
            return None
        return True

    async def patch_status(
        self, resource: tuple[str, str, str], namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        group, version, plural = resource
        path = f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}/status"
        try:
            await self.request("PATCH", path, {"status": status}, content_type=MERGE_PATCH)
        except ApiException as error:
            if error.status == 404:
                return  # deleted meanwhile
            logger.warning(
                "Could not write status of %s/%s: HTTP %s %s",
                namespace,
                name,
                error.status,
                error.reason,
            )

    def close(self) -> None:
        self.api_client.close()


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, redact) for item in value]
    return value


def _lease_error(error: ApiException) -> Exception:
    """A Lease request's refusal as leader election understands it."""
    if error.status == 403:
        return LeaseForbidden(f"HTTP 403 {error.reason}")
    if error.status in (404, 409):
        return LeaseConflict(f"HTTP {error.status} {error.reason}")
    hint = f": {REFUSAL_HINTS[error.status]}" if error.status in REFUSAL_HINTS else ""
    return LeaseUnavailable(f"{describe(error)}{hint}")
