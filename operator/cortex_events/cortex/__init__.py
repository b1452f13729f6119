"""The Cortex Custom Events and Deploys API client: models, errors, rate limit, retries, paging."""

from __future__ import annotations

from cortex_events.cortex.client import DEFAULT_TIMEOUT, CortexClient
from cortex_events.cortex.errors import (
    CortexAuthError,
    CortexBadRequest,
    CortexConnectionError,
    CortexError,
    CortexNotFound,
    CortexRateLimited,
    CortexResponseError,
    CortexServerError,
    error_from_response,
)
from cortex_events.cortex.models import (
    CustomEvent,
    CustomEventPage,
    CustomEventRequest,
    Deploy,
    DeployPage,
    DeployRequest,
)
from cortex_events.cortex.observer import ClientObserver
from cortex_events.cortex.ratelimit import TokenBucket

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientObserver",
    "CortexAuthError",
    "CortexBadRequest",
    "CortexClient",
    "CortexConnectionError",
    "CortexError",
    "CortexNotFound",
    "CortexRateLimited",
    "CortexResponseError",
    "CortexServerError",
    "CustomEvent",
    "CustomEventPage",
    "CustomEventRequest",
    "Deploy",
    "DeployPage",
    "DeployRequest",
    "TokenBucket",
    "error_from_response",
]
