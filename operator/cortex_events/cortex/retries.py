"""What the Cortex client says about its retries: one line per cause, then a count a minute.

Every entity's requests fail together when Cortex (or the way to it) fails, so a line per
retry would say the same thing many times a second. The first retry of a cause (a connection
error, an HTTP status) is one WARNING that names the cause and what to check; the retries of
the same cause that follow are counted and said as one line once ``window`` seconds have
passed, when the next one comes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("cortex_events.cortex")

SUMMARY_WINDOW_SECONDS = 60.0

# Errors that mean no connection was made: a wrong host or port, or Cortex unreachable.
_NO_CONNECTION = ("ConnectError", "ConnectTimeout")


@dataclass
class _Cause:
    said_at: float
    count: int = 0


class RetryLog:
    """Told of each retry by the client; logs as the module documentation says."""

    def __init__(
        self,
        base_url: str,
        *,
        window: float = SUMMARY_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = logger,
    ) -> None:
        self._base_url = base_url
        self._window = window
        self._clock = clock
        self._log = log
        self._causes: dict[str, _Cause] = {}

    def retrying(self, method: str, path: str, cause: str, detail: str) -> None:
        """A request failed with ``cause`` (``ConnectError``, ``HTTP 503``) and will be
        tried again; ``detail`` is the error's text."""
        now = self._clock()
        seen = self._causes.get(cause)
        if seen is not None and now - seen.said_at < self._window:
            seen.count += 1
            return
        if self._log is None:
            return
        if seen is None or seen.count == 0:
            self._log.warning(
                "Cortex requests are being retried: %s %s failed (%s); %s. Further retries "
                "for this cause are counted and said once a minute",
                method,
                path,
                detail,
                self.hint(cause),
                extra={"cause": cause},
            )
        else:
            self._log.warning(
                "Cortex requests were retried %d more times in the last %.0fs (%s); %s",
                seen.count + 1,
                now - seen.said_at,
                cause,
                self.hint(cause),
                extra={"cause": cause},
            )
        self._causes[cause] = _Cause(said_at=now)

    def hint(self, cause: str) -> str:
        """What a person can do about ``cause``."""
        if cause in _NO_CONNECTION:
            return f"nothing answers at {self._base_url}: check CORTEX_BASE_URL"
        if cause == "HTTP 429":
            return (
                "Cortex asks this API key to slow down: another client may be spending its "
                "budget (the operator keeps to CORTEX_RATE_LIMIT)"
            )
        if cause.startswith("HTTP 5"):
            return "Cortex is failing: the events wait and go out when it answers again"
        return f"the connection to {self._base_url} is failing: the events wait"
