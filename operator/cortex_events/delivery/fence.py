"""The fence of leader election: no request reaches Cortex from a replica that does not lead.

`Fence.check` is the gate of the Cortex surface (`cortex_events.cortex.api.CortexApi`): every
operation asks it in its one request path, as the call starts, and the HTTP client again before
each attempt and as the attempt's request is written to the socket. So neither a retry after a
back-off, nor a request that waited for the rate limiter or a connection, leaves a replica that
has passed its renew deadline, well before another replica may take the Lease over; not even
when the process was frozen meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable


class NotLeading(Exception):
    """This replica does not hold the Lease (or could not renew it in time)."""

    def __init__(self) -> None:
        super().__init__("this replica is not the leader")


class Fence:
    """Raises `NotLeading` from `check` while ``leading()`` is false."""

    def __init__(self, leading: Callable[[], bool]) -> None:
        self._leading = leading

    def check(self) -> None:
        if not self._leading():
            raise NotLeading
