"""The stand-in Kubernetes API server: its store, listening on loopback, and its Python API.

HTTP requests are answered by `routing.Router`; every request answered is kept in
``requests``. The in-loop methods (``create``, ``get``, ...) work on the store directly and
return copies, for code on the server's loop (tests and the benchmark reach it through
`ServerThread.call`).
"""

from __future__ import annotations

import builtins
import collections
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from cortex_events.kube.crd import crd_manifest

from .objects import clone
from .recording import DRIVER_USER, OPERATOR_USER, RecordedRequest
from .routing import Router
from .selectors import Selector
from .store import CRD_KEY, Store


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
        self.requests: collections.deque[RecordedRequest] = collections.deque(
            maxlen=max_recorded_requests
        )
        # (verb, group, resource) that access reviews answer "not allowed" for (see Router).
        self.denied: set[tuple[str, str, str]] = set()
        # user (Bearer token) -> 401 or 403 for every request of theirs (see Router).
        self.refused: dict[str, int] = {}
        self.url = ""
        self._router = Router(
            self.store,
            record=self.requests.append,
            denied=self.denied,
            refused=self.refused,
            bookmark_interval=bookmark_interval,
        )
        self._runner: web.AppRunner | None = None
        if crds is None:
            crds = [crd_manifest()]
        for crd in crds:
            self.store.create(CRD_KEY, crd)
        self.store.ensure_namespaces(namespaces)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port) and return the base URL."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._router.handle)
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
