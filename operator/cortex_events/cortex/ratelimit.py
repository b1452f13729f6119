"""Client-side rate limit: a token bucket per API key, shared by every request of the process.

Cortex limits requests per key (1000 a minute). The operator spends a configured share of that
(``CORTEX_RATE_LIMIT``, 600 by default) through one `TokenBucket` per key, which every request
and every retry attempt passes before it is sent.

The bucket holds at most ``burst`` tokens (by default one second's worth, at least 1) and
refills continuously at ``(per_minute - burst) / 60`` tokens a second. A bucket that starts full
can hand out ``burst`` tokens at once and then what 60 seconds of refill bring, so with that
rate no window of 60 seconds ever sees more than ``per_minute`` requests: the budget is a hard
ceiling, and the sustained rate is ``per_minute - burst`` (590 a minute for the default 600).

Tokens go to the most urgent caller first, then in arrival order. A caller's urgency is a level
(lower is more urgent) that it sets for a whole task with `urgency` (a context variable, so
that every request made on behalf of one piece of work, its look-ups and retries included,
carries it) and that may rise while it waits (`Urgency.raise_to`). When Cortex answers 429,
`pause` holds every caller until the time it asked for, and then tokens go by urgency again,
one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["TokenBucket", "Urgency", "current_urgency", "urgency"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Urgency:
    """How urgent a task's requests are: a level, lower first. Shared by reference, so that
    raising it also raises the requests already waiting on its behalf."""

    __slots__ = ("level",)

    def __init__(self, level: int) -> None:
        self.level = level

    def raise_to(self, level: int) -> None:
        """Make it at least as urgent as ``level``."""
        self.level = min(self.level, level)

    def __repr__(self) -> str:
        return f"Urgency({self.level})"


_URGENCY: ContextVar[Urgency | None] = ContextVar("cortex_request_urgency", default=None)


def current_urgency() -> Urgency | None:
    """The urgency the current task set with `urgency`, if any."""
    return _URGENCY.get()


@contextlib.contextmanager
def urgency(level: int | Urgency) -> Iterator[Urgency]:
    """Run the block's requests (and those of the tasks it starts) at ``level``."""
    value = level if isinstance(level, Urgency) else Urgency(level)
    token = _URGENCY.set(value)
    try:
        yield value
    finally:
        _URGENCY.reset(token)


@dataclass(eq=False)
class _Waiter:
    urgency: Urgency
    number: int
    wake: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def order(self) -> tuple[int, int]:
        return (self.urgency.level, self.number)


def _wake(waiter: _Waiter | None) -> None:
    if waiter is not None and not waiter.wake.done():
        waiter.wake.set_result(None)


class TokenBucket:
    """Hands out one token per request at ``per_minute`` a minute: the most urgent caller
    first, callers of one urgency in arrival order.

    ``default_level`` is the urgency of requests made outside any `urgency` block. ``clock``
    (seconds, monotonic) and ``sleep`` are injectable so that tests run instantly. The bucket
    binds to no event loop: one instance may serve several loops in turn.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        default_level: int = 0,
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
        self._default_level = default_level
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = -math.inf
        self._waiters: list[_Waiter] = []
        self._numbers = itertools.count()

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
        return len(self._waiters)

    def _level(self, now: float) -> float:
        return min(float(self._burst), self._tokens + max(0.0, now - self._updated) * self._rate)

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = self._level(now)
        self._updated = max(self._updated, now)
        return now

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (Cortex asked to wait: a 429), then
        hand out tokens one at a time at the sustained rate, with no burst: each goes to the
        most urgent caller waiting then, and a failure whose delivery takes two requests (a
        listing, then its create) is not overtaken between them."""
        until = max(self._paused_until, self._clock() + max(seconds, 0.0))
        self._paused_until = until
        self._tokens = 0.0
        self._updated = max(self._updated, until - 1.0 / self._rate)

    def _first(self) -> _Waiter | None:
        return min(self._waiters, key=_Waiter.order, default=None)

    async def acquire(self, level: int | None = None) -> float:
        """Wait for a token and take it; returns the seconds spent waiting.

        The caller's urgency is ``level``, else the one its task set (`urgency`), else the
        bucket's default. Callers are served by urgency, then in the order they called, so a
        steady stream of new callers of one urgency cannot starve an earlier one. Cancelling
        a waiting caller gives up its place.
        """
        started = self._clock()
        caller = Urgency(level) if level is not None else current_urgency()
        waiter = _Waiter(caller or Urgency(self._default_level), next(self._numbers))
        self._waiters.append(waiter)
        try:
            while True:
                first = self._first()
                if first is not waiter:
                    # Only the first may take tokens; it may have just become first (a new
                    # caller, or an urgency raised) while parked, so it is woken to look.
                    _wake(first)
                    await waiter.wake
                    waiter.wake = asyncio.get_running_loop().create_future()
                    continue
                now = self._refill()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                # The tolerance absorbs floating-point dust (0.9999999999 after a refill).
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    break
                await self._sleep((1.0 - self._tokens) / self._rate)
        finally:
            self._waiters.remove(waiter)
            _wake(self._first())
        return max(0.0, self._clock() - started)

    def __repr__(self) -> str:
        return f"TokenBucket(per_minute={self._per_minute:g}, burst={self._burst})"
