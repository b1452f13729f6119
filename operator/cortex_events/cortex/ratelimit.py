"""Client-side rate limit: a token bucket per API key, shared by every request of the process.

Cortex limits requests per key (1000 a minute). The operator spends a configured share of that
(``CORTEX_RATE_LIMIT``, 600 by default) through one `TokenBucket` per key, which every request
and every retry attempt passes before it is sent.

The bucket holds at most ``burst`` tokens (by default one second's worth, at least 1) and
refills continuously at ``(per_minute - burst) / 60`` tokens a second. A bucket that starts full
can hand out ``burst`` tokens at once and then what 60 seconds of refill bring, so with that
rate no window of 60 seconds ever sees more than ``per_minute`` requests: the budget is a hard
ceiling, and the sustained rate is ``per_minute - burst`` (590 a minute for the default 600).
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """Hands out one token per request at ``per_minute`` a minute, first come first served.

    ``clock`` (seconds, monotonic) and ``sleep`` are injectable so that tests run instantly.
    The bucket binds to no event loop: one instance may serve several loops in turn.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not per_minute > 0 or math.isinf(per_minute):
            raise ValueError(f"per_minute must be a positive number, got {per_minute!r}")
        if burst is None:
            burst = max(1, math.ceil(per_minute / 60))
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self._per_minute = float(per_minute)
        # Tiny budgets (a burst as large as the budget) keep the plain rate.
        sustained = per_minute - burst if per_minute > burst else per_minute
        self._rate = sustained / 60.0
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        # Callers in arrival order; only the first one may take tokens.
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def per_minute(self) -> float:
        """The configured rate, in requests per minute."""
        return self._per_minute

    @property
    def burst(self) -> int:
        """The most tokens the bucket holds (requests that may go out at once after a pause)."""
        return self._burst

    @property
    def tokens(self) -> float:
        """Tokens available right now (fractional while refilling); for metrics."""
        return self._level(self._clock())

    @property
    def waiting(self) -> int:
        """Callers currently queued for a token; for metrics."""
        return len(self._queue)

    def _level(self, now: float) -> float:
        return min(float(self._burst), self._tokens + max(0.0, now - self._updated) * self._rate)

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = self._level(now)
        self._updated = max(self._updated, now)
        return now

    async def acquire(self) -> float:
        """Wait for a token and take it; returns the seconds spent waiting.

        Callers are served in the order they called (FIFO), so a steady stream of new callers
        cannot starve an earlier one. Cancelling a waiting caller gives up its place.
        """
        started = self._clock()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            if self._queue[0] is not turn:
                await turn
            while True:
                self._refill()
                # The tolerance absorbs floating-point dust (0.9999999999 after a refill).
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    break
                await self._sleep((1.0 - self._tokens) / self._rate)
        finally:
            was_first = self._queue[0] is turn
            self._queue.remove(turn)
            if was_first and self._queue:
                successor = self._queue[0]
                if not successor.done():
                    successor.set_result(None)
        return max(0.0, self._clock() - started)

    def __repr__(self) -> str:
        return f"TokenBucket(per_minute={self._per_minute:g}, burst={self._burst})"
