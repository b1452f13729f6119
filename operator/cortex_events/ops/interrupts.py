"""Ctrl-C and SIGTERM for ``cortex-events run``: the first stops, a second stops now.

kopf installs its own handlers for both signals when it starts, and they only ever stop it
gracefully. `Interrupts` takes the signals back once kopf is ready: the first one stops the
operator (kopf, then the drain of what is queued), a second one during that shutdown cuts
it short; what was still queued is recorded at the next start, from the cluster's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    def __init__(self) -> None:
        self.stop = asyncio.Event()  # kopf's stop flag
        self.now = asyncio.Event()  # a second signal: stop without waiting
        self.received: signal.Signals | None = None

    @staticmethod
    def available() -> bool:
        return threading.current_thread() is threading.main_thread()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    async def take_over(self, ready: asyncio.Event) -> None:
        """Once kopf is ready (its handlers installed), handle the signals here again."""
        await ready.wait()
        await asyncio.sleep(0)  # kopf installs its handlers just before it reports ready
        self.install()

    def _received(self, sig: signal.Signals) -> None:
        if self.received is None:
            self.received = sig
            self.stop.set()
        else:
            self.now.set()

    def release(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)

    async def unless_stopped_now(self, work: asyncio.Future[Any]) -> bool:
        """Wait for ``work`` unless a second signal comes first (then cancel it); whether
        ``work`` ran to its end."""
        cut = asyncio.ensure_future(self.now.wait())
        try:
            await asyncio.wait({work, cut}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cut.cancel()
        if work.done():
            return True
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        return False
