"""An in-memory Kubernetes API server for tests and the demo (kopf and kubectl-style clients).

It serves core, apps, events, coordination and apiextensions resources plus any CRD,
with server-set metadata, every patch format, finalizers, the status subresource, CRD
schema validation and defaults, and watches that resume from a resourceVersion.
"""

from __future__ import annotations

from .errors import KubeApiError
from .resources import ResourceType
from .selectors import Selector, label_selector_matches
from .server import (
    DRIVER_USER,
    OPERATOR_USER,
    KubeApiServer,
    RecordedRequest,
    ServerThread,
    serve_in_thread,
)
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
    "ServerThread",
    "Store",
    "label_selector_matches",
    "serve_in_thread",
]
