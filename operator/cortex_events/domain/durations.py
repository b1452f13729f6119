"""Go-style durations (``720h``, ``1h30m``, ``90s``), read within bounds: no input, however
long or large, raises anything but a ValueError that says what is wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

MAX_TEXT = 64
"""Characters of a duration read at all."""
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NANOSECONDS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
HINT = 'use numbers with units h, m or s, e.g. "720h", "1h30m" or "90s"'


def format_duration(value: timedelta) -> str:
    """``720h``, ``90m``, ``45s``: the largest unit that states ``value`` whole."""
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def parse_duration(text: str, *, maximum: timedelta = timedelta(days=36_500)) -> timedelta:
    """A Go-style duration (``"720h"``, ``"1h30m"``, ``"90s"``, ``"1.5h"``) as a timedelta.

    Raises ValueError with a message a user can act on, for a value longer than ``maximum``
    too (the numbers are added up exactly, so that none overflows on the way).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string such as 720h, got {type(text).__name__}")
    value = text.strip()
    if not value:
        raise ValueError(f"empty duration: {HINT}")
    shown = value if len(value) <= MAX_TEXT else f"{value[:MAX_TEXT]}..."
    if len(value) > MAX_TEXT:
        raise ValueError(f"invalid duration {shown!r}: more than {MAX_TEXT} characters")
    if value == "0":
        return timedelta(0)
    if value.startswith(("-", "+")):
        raise ValueError(f"invalid duration {shown!r}: a duration cannot carry a sign")
    total = Decimal(0)
    position = 0
    while position < len(value):
        match = _PART.match(value, position)
        if match is None:
            if re.search(r"\dd", value):
                raise ValueError(f"invalid duration {shown!r}: days are not supported, {HINT}")
            raise ValueError(f"invalid duration {shown!r}: {HINT}")
        total += Decimal(match.group(1)) * _NANOSECONDS[match.group(2)]
        position = match.end()
    limit = Decimal(int(maximum.total_seconds())) * _NANOSECONDS["s"]
    if total > limit:
        raise ValueError(f"{shown!r} is longer than the maximum of {format_duration(maximum)}")
    return timedelta(microseconds=int(total / 1000))
