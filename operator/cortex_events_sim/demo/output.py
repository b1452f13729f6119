"""What the demo prints: each event as Cortex stores it, and the closing summary."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, TextIO

from cortex_events_sim.fake_cortex import FakeCortex, StoredEvent

__all__ = ["LiveView", "Palette", "plural", "summary"]


class Palette:
    """ANSI styles for a terminal; plain text when ``enabled`` is false (no tty, NO_COLOR)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self(text, "1")

    def dim(self, text: str) -> str:
        return self(text, "2")


TYPE_COLORS = {
    "POD_CREATION": "32",
    "POD_FAILURE": "31",
    "POD_DELETION": "33",
    "DEPLOYMENT_CREATION": "36",
    "DEPLOYMENT_ROLLOUT": "35",
    "DEPLOYMENT_SCALE": "34",
    "DEPLOYMENT_DELETION": "33",
}


@dataclass
class LiveView:
    """Prints each event as Cortex stores it, and again when it is updated in place."""

    cortex: FakeCortex
    out: TextIO
    paint: Palette
    seen: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self) -> None:
        with self.lock:
            for event in self.cortex.state.events():
                signature = (
                    event.title,
                    event.description,
                    sorted((event.custom_data or {}).items()),
                )
                previous = self.seen.get(event.uuid)
                if previous == signature:
                    continue
                self.seen[event.uuid] = signature
                self._print(event, updated=previous is not None)

    def _print(self, event: StoredEvent, *, updated: bool) -> None:
        mark = self.paint("~", "2") if updated else self.paint("+", "1")
        kind = self.paint(f"{event.type:<20}", TYPE_COLORS.get(event.type, "0"))
        when = event.timestamp.strftime("%H:%M:%S")
        text = event.title
        if event.description:
            text += self.paint.dim(f" - {event.description}")
        print(f"  {mark} {when} {event.tag:<13} {kind} {text}", file=self.out, flush=True)


def plural(count: int, one: str, many: str = "") -> str:
    """``1 entity``, ``2 entities``; ``many`` defaults to ``one`` + s."""
    return f"{count} {one if count == 1 else many or one + 's'}"


def summary(cortex: FakeCortex, paint: Palette) -> tuple[str, bool]:
    """A table of events per entity and type, and whether every eventKey appears once."""
    counts: dict[tuple[str, str], int] = {}
    keys: dict[tuple[str, str], int] = {}
    for event in cortex.state.events():
        counts[(event.tag, event.type)] = counts.get((event.tag, event.type), 0) + 1
        key = (event.tag, str((event.custom_data or {}).get("eventKey")))
        keys[key] = keys.get(key, 0) + 1
    duplicates = sum(n - 1 for n in keys.values() if n > 1)
    updates = sum(1 for r in cortex.state.requests if r.method == "PUT" and r.status == 200)
    lines = [f"\n{paint.bold('Recorded in Cortex')}", f"  {'entity':<13} {'type':<20} events"]
    for (tag, kind), n in sorted(counts.items()):
        lines.append(f"  {tag:<13} {kind:<20} {n}")
    total = sum(counts.values())
    entities = len({t for t, _ in counts})
    lines.append(
        f"\n  {plural(total, 'event')} on {plural(entities, 'entity', 'entities')}, "
        f"{updates} updated in place (PUT, same uuid), {plural(duplicates, 'duplicate')}."
    )
    return "\n".join(lines), duplicates == 0 and total > 0
