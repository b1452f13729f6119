"""An event loop of its own in a daemon thread: how synchronous code runs the stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def loop_in_thread(name: str, *, stop_timeout: float) -> Iterator[asyncio.AbstractEventLoop]:
    """A new event loop running in the daemon thread ``name``. On exit the loop stops; it is
    closed once its thread has ended, which it is given ``stop_timeout`` seconds to do."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(stop_timeout)
        if not thread.is_alive():
            loop.close()
