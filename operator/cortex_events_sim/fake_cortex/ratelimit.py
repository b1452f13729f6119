"""The emulator's per-key rate limit: a sliding 60-second window, as Cortex enforces it."""

from __future__ import annotations

import collections
import threading
import time

__all__ = ["RateLimiter"]

WINDOW_SECONDS = 60.0


class RateLimiter:
    """A sliding 60-second window of accepted requests per API key.

    ``per_minute`` of ``None`` means unlimited. Requests answered 429 do not count.
    """

    def __init__(self, per_minute: int | None = None) -> None:
        if per_minute is not None and per_minute < 1:
            raise ValueError(f"rate limit must be at least 1 request a minute, got {per_minute}")
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._seen: dict[str, collections.deque[float]] = {}

    def admit(self, key: str, now: float | None = None) -> float | None:
        """Count one request for ``key``; ``None`` if admitted, else seconds until a slot frees."""
        if self.per_minute is None:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._seen.setdefault(key, collections.deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= self.per_minute:
                return max(window[0] + WINDOW_SECONDS - now, 0.0)
            window.append(now)
            return None

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
