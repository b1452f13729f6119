"""Give freed heap memory back to the system.

The initial listing of thousands of objects is parsed in one go; once it is processed, most of
that memory is free again, but glibc's allocator keeps it mapped, so the process's RSS stays at
its peak. ``malloc_trim`` returns it. Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import time
from collections.abc import Callable

logger = logging.getLogger("cortex_events.memory")

TRIM_AFTER_EVENTS = 1000  # a burst: this many watch events, then a quiet check interval
CHECK_INTERVAL = 2.0
TRIM_INTERVAL = 300.0  # and now and then regardless


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


async def release_after_bursts(events_seen: Callable[[], int]) -> None:
    """Return freed memory once a burst of watch events (the initial listing above all) has
    passed, and now and then; ``events_seen`` counts the watch events handled so far."""
    last_trim, seen_at_trim, seen_before = time.monotonic(), 0, 0
    while True:
        await asyncio.sleep(CHECK_INTERVAL)
        seen = events_seen()
        burst_over = seen - seen_at_trim >= TRIM_AFTER_EVENTS and seen == seen_before
        seen_before = seen
        if burst_over or time.monotonic() - last_trim >= TRIM_INTERVAL:
            last_trim, seen_at_trim = time.monotonic(), seen
            release_free_memory()
