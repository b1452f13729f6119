"""A tiny kubectl over the official Kubernetes client, for the demo and the tests.

It sends plain dict manifests through the official client's request layer (its authentication,
serialisation and error handling), so scenarios read like the YAML a user would apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import config
from kubernetes.client.exceptions import ApiException

from cortex_events.kube.client import MERGE_PATCH, call

__all__ = ["RESOURCES", "ApiException", "Kubectl"]

# kind -> (API path prefix, plural, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Pod": ("/api/v1", "pods", True),
    "Event": ("/api/v1", "events", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
    "ControllerRevision": ("/apis/apps/v1", "controllerrevisions", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "CronJob": ("/apis/batch/v1", "cronjobs", True),
    "CortexEntity": ("/apis/cortex.io/v1alpha1", "cortexentities", True),
}


class Kubectl:
    def __init__(self, kubeconfig: Mapping[str, Any]) -> None:
        self.api_client = config.new_client_from_config_dict(dict(kubeconfig))

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> Kubectl:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
        prefix, plural, namespaced = RESOURCES[kind]
        path = prefix
        if namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{plural}"
        if name:
            path += f"/{name}"
        return path

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API call; the decoded JSON answer. Raises `ApiException` on an error status."""
        return call(self.api_client, method, path, body, query=query, content_type=content_type)

    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        namespace = (manifest.get("metadata") or {}).get("namespace")
        created: dict[str, Any] = self.request(
            "POST", self.path(str(manifest["kind"]), namespace), dict(manifest)
        )
        return created

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", self.path(kind, namespace, name))
        return found

    def list(
        self, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        answer = self.request("GET", self.path(kind, namespace), query=query)
        items: list[dict[str, Any]] = answer.get("items") or []
        return items

    def patch(
        self,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        path = self.path(kind, namespace, name) + (f"/{subresource}" if subresource else "")
        patched: dict[str, Any] = self.request("PATCH", path, dict(patch), content_type=MERGE_PATCH)
        return patched

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        self.request("DELETE", self.path(kind, namespace, name))

    def ready_pods(self, namespace: str, prefix: str = "") -> int:
        """How many Pods whose name starts with ``prefix`` are Ready and not being deleted."""
        return sum(
            1
            for pod in self.list("Pod", namespace)
            if pod["metadata"]["name"].startswith(prefix)
            and not pod["metadata"].get("deletionTimestamp")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (pod.get("status") or {}).get("conditions") or []
            )
        )

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        try:
            self.get(kind, name, namespace)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True
