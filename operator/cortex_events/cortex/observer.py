"""What the Cortex client reports as it works: hooks for metrics."""

from __future__ import annotations

from typing import Protocol


class ClientObserver(Protocol):
    """Hooks for metrics. Every method is optional in spirit: see `NullObserver`."""

    def request_finished(self, method: str, status: str, seconds: float) -> None:
        """One attempt ended; ``status`` is the HTTP code (``"200"``) or ``"error"``."""

    def rate_limit_waited(self, seconds: float) -> None:
        """An attempt waited this long (possibly 0) for a rate-limit token."""

    def retrying(self, method: str, attempt: int, delay: float, reason: str) -> None:
        """Attempt ``attempt`` failed for ``reason``; the next one starts in ``delay`` s."""


class NullObserver:
    """The default observer: records nothing."""

    def request_finished(self, method: str, status: str, seconds: float) -> None:
        return None

    def rate_limit_waited(self, seconds: float) -> None:
        return None

    def retrying(self, method: str, attempt: int, delay: float, reason: str) -> None:
        return None
