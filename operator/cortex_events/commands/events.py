"""``cortex-events events``: what this operator recorded in Cortex, as a table.

It asks Cortex (or the emulator) itself, through the operator's client and its rate limiter
(``CORTEX_RATE_LIMIT``: the command shares the key's budget with a running operator), for the
custom events and the deploys of each entity, and keeps those this operator recorded for this
cluster (``customData.managedBy`` and ``cluster``). Without ``--tag``, the entities are those
the cluster names: every CortexEntity's tag and every ``cortex.io/tag`` in use.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from cortex_events.config.settings import Settings
from cortex_events.cortex.client import CortexClient
from cortex_events.cortex.errors import CortexError, CortexNotFound
from cortex_events.cortex.retries import RetryLog
from cortex_events.domain.render import read_owned

_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ListingError(Exception):
    """One line for the user: why nothing could be listed."""


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``2h``, ``7d`` ago, or an ISO-8601 time."""
    match = _SINCE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ListingError(
            f"--since: {text!r} is neither a duration (30m, 2h, 7d) nor an ISO-8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    at: datetime
    tag: str
    what: str  # "event" or "deploy"
    type: str
    title: str


async def collect(
    settings: Settings,
    tags: Sequence[str],
    *,
    types: frozenset[str] = frozenset(),
    since: datetime | None = None,
) -> tuple[list[Row], list[str]]:
    """The rows of every tag, oldest first, and a line for each tag that could not be read."""
    assert settings.api_key is not None
    rows: list[Row] = []
    problems: list[str] = []
    # A type filter Cortex applies itself when there is one type; several are filtered here.
    one_type = next(iter(types)) if len(types) == 1 else None
    async with CortexClient(
        settings.base_url,
        settings.api_key,
        per_minute=settings.rate_limit,
        max_retries=2,
        retry_log=RetryLog(settings.base_url, log=None),
    ) as cortex:
        for tag in tags:
            try:
                async for event in cortex.iter_events(tag, type=one_type, start_time=since):
                    if read_owned(event.custom_data, cluster=settings.cluster_name):
                        rows.append(Row(event.timestamp, tag, "event", event.type, event.title))
                async for deploy in cortex.iter_deploys(tag):
                    if read_owned(deploy.custom_data, cluster=settings.cluster_name):
                        rows.append(Row(deploy.timestamp, tag, "deploy", deploy.type, deploy.title))
            except CortexNotFound:
                problems.append(f"Cortex has no entity {tag!r}")
            except CortexError as error:
                problems.append(f"{tag!r}: {error}")
    kept = [
        row
        for row in rows
        if (not types or row.type in types) and (since is None or row.at >= since)
    ]
    return sorted(kept, key=lambda row: (row.at, row.tag)), problems


def render(rows: Sequence[Row], *, width: int = 100) -> str:
    """A table: TIME (UTC), ENTITY, WHAT, TYPE, TITLE, the title cut to fit ``width``."""
    header = ("TIME (UTC)", "ENTITY", "WHAT", "TYPE", "TITLE")
    cells = [
        (
            row.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            row.tag,
            row.what,
            row.type,
            row.title,
        )
        for row in rows
    ]
    widths = [max(len(header[i]), *(len(c[i]) for c in cells)) for i in range(4)]
    room = max(20, width - sum(widths) - 8)

    def line(values: Sequence[str]) -> str:
        title = values[4] if len(values[4]) <= room else values[4][: room - 3] + "..."
        return "  ".join([*(v.ljust(w) for v, w in zip(values[:4], widths, strict=True)), title])

    return "\n".join(line(values).rstrip() for values in [header, *cells])


def list_recorded(
    settings: Settings,
    tags: Sequence[str],
    *,
    types: Sequence[str] = (),
    since: str | None = None,
    limit: int = 50,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print the table of the last ``limit`` rows; 1 when an entity could not be read."""
    out, err = out or sys.stdout, err or sys.stderr
    start = parse_since(since, datetime.now(UTC)) if since else None
    rows, problems = asyncio.run(collect(settings, tags, types=frozenset(types), since=start))
    for problem in problems:
        print(f"cortex-events: {problem}", file=err)
    if rows:
        shown = rows[-limit:] if limit > 0 else rows
        print(render(shown), file=out)
        if len(shown) < len(rows):
            print(f"({len(rows) - len(shown)} older not shown: --limit)", file=err)
    else:
        print(
            f"Nothing recorded by this operator (cluster {settings.cluster_name!r}) on "
            f"{', '.join(repr(t) for t in tags) or 'no entity'}",
            file=out,
        )
    return 1 if problems else 0
