"""Ctrl-C and SIGTERM during the demo: it stops where it is, at once."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

__all__ = ["Interrupted", "Interrupts"]


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived: the demo stops where it is."""


class Interrupts:
    """SIGINT and SIGTERM set ``stop`` (which also stops the operator) and remember which
    signal came; the scenario checks `raise_if_set` between steps. Installed only in the main
    thread; the previous handlers come back on exit. Further signals change nothing: the
    shutdown that the first one started is already bounded."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signal: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._caught)
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            # Once stopped by a signal the process is ending: a second Ctrl-C must not cut
            # the last lines short.
            signal.signal(sig, signal.SIG_IGN if self.signal is not None else handler)

    def _caught(self, signum: int, _frame: object) -> None:
        if self.signal is None:
            self.signal = signal.Signals(signum)
        self.stop.set()

    def raise_if_set(self) -> None:
        if self.signal is not None:
            raise Interrupted(self.signal.name)

    def sleep(self, seconds: float) -> None:
        """Sleep, but end at once (raising `Interrupted`) when a signal comes."""
        self.raise_if_set()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.stop.wait(min(left, 0.05))
            self.raise_if_set()
