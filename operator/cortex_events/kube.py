"""The operator's own small use of the Kubernetes API: writing CortexEntity status.

kopf reads the cluster and patches CortexEntity objects from its handlers; the periodic status
refresh runs outside any handler, so it writes through the official client (in a worker thread,
since that client is synchronous). Credentials come from the service account in a cluster, else
from the kubeconfig, as for kopf.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger("cortex_events.kube")


def load_api_client() -> client.ApiClient:
    """An API client for the in-cluster service account, else the current kubeconfig context."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        # Read KUBECONFIG now: the client library reads it once, when it is imported.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return client.ApiClient()


def check_cluster(timeout: float = 10.0) -> str | None:
    """Why the Kubernetes API can't be used (one line), or None when it answers."""
    try:
        api_client = load_api_client()
    except (config.ConfigException, OSError) as error:
        return (
            f"no Kubernetes cluster configured (no service account, no usable kubeconfig): {error}"
        )
    host = api_client.configuration.host
    try:
        client.VersionApi(api_client).get_code(_request_timeout=timeout)
    except ApiException as error:
        if error.status in (401, 403):
            return f"the Kubernetes API at {host} refused the credentials (HTTP {error.status})"
        return f"the Kubernetes API at {host} answered HTTP {error.status} {error.reason}"
    except Exception as error:  # urllib3 raises many kinds for an unreachable host
        return f"cannot reach the Kubernetes API at {host}: {type(error).__name__}"
    finally:
        api_client.close()
    return None


class WorkloadReader:
    """Looks workloads up by name (``get`` only), for the downtime sweep."""

    def __init__(self, api_client: Any) -> None:
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)

    async def current_uid(self, kind: str, namespace: str, name: str) -> str | None:
        try:
            if kind == "Pod":
                metadata = (
                    await asyncio.to_thread(self._core.read_namespaced_pod, name, namespace)
                ).metadata
            else:
                metadata = (
                    await asyncio.to_thread(self._apps.read_namespaced_deployment, name, namespace)
                ).metadata
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return None if metadata is None else metadata.uid


class StatusWriter:
    """Patches the ``status`` subresource of custom objects."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        self._objects = client.CustomObjectsApi(api_client)

    @classmethod
    async def create(cls) -> StatusWriter:
        return cls(await asyncio.to_thread(load_api_client))

    async def patch_status(
        self, resource: tuple[str, str, str], namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        group, version, plural = resource
        try:
            await asyncio.to_thread(
                self._objects.patch_namespaced_custom_object_status,
                group,
                version,
                namespace,
                plural,
                name,
                {"status": status},
            )
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
