"""An in-memory Kubernetes API server for tests and the demo (kopf and kubectl-style clients).

It serves core, apps, events, coordination and apiextensions resources plus any CRD,
with server-set metadata, every patch format, finalizers, the status subresource, CRD
schema validation and defaults, and watches that resume from a resourceVersion. To run it in
a thread of its own, with or without the simulated cluster, see `cortex_events_sim.server_thread`.
"""

from __future__ import annotations

from .errors import KubeApiError
from .recording import DRIVER_USER, OPERATOR_USER, RecordedRequest
from .resources import ResourceType
from .selectors import Selector, label_selector_matches
from .server import KubeApiServer
from .store import Listener, Store

__all__ = [
    "DRIVER_USER",
    "OPERATOR_USER",
    "KubeApiError",
    "KubeApiServer",
    "Listener",
    "RecordedRequest",
    "ResourceType",
    "Selector",
    "Store",
    "label_selector_matches",
]
