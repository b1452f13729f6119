"""What the demo prints: each event and deploy as Cortex stores it, and the closing summary."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, TextIO

from cortex_events_sim.fake_cortex import FakeCortex, StoredDeploy, StoredEvent

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
DEPLOY_COLOR = "1;35"


@dataclass
class LiveView:
    """Prints each event as Cortex stores it, and again when it is updated in place; and each
    Cortex deploy (``deploy DEPLOY``, ``deploy ROLLBACK``, ...) beside them."""

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
            for deploy in self.cortex.state.deploys():
                if deploy.uuid not in self.seen:
                    self.seen[deploy.uuid] = ()
                    self._print_deploy(deploy)

    def _print_deploy(self, deploy: StoredDeploy) -> None:
        kind = self.paint(f"{'deploy ' + deploy.type:<20}", DEPLOY_COLOR)
        when = deploy.timestamp.strftime("%H:%M:%S")
        where = self.paint.dim(f" - sha {deploy.sha or 'none'} to {deploy.environment}")
        print(
            f"  + {when} {deploy.tag:<13} {kind} {deploy.title}{where}", file=self.out, flush=True
        )

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
    deploys: dict[str, int] = {}
    for deploy in cortex.state.deploys():
        kind = f"deploy {deploy.type}"
        counts[(deploy.tag, kind)] = counts.get((deploy.tag, kind), 0) + 1
        deploys[deploy.type] = deploys.get(deploy.type, 0) + 1
        key = (deploy.tag, str((deploy.custom_data or {}).get("eventKey")))
        keys[key] = keys.get(key, 0) + 1
    duplicates = sum(n - 1 for n in keys.values() if n > 1)
    updates = sum(1 for r in cortex.state.requests if r.method == "PUT" and r.status == 200)
    lines = [f"\n{paint.bold('Recorded in Cortex')}", f"  {'entity':<13} {'type':<20} events"]
    for (tag, kind), n in sorted(counts.items()):
        lines.append(f"  {tag:<13} {kind:<20} {n}")
    total = sum(n for (_, kind), n in counts.items() if not kind.startswith("deploy "))
    entities = len({t for t, _ in counts})
    lines.append(
        f"\n  {plural(total, 'event')} on {plural(entities, 'entity', 'entities')}, "
        f"{updates} updated in place (PUT, same uuid), {plural(duplicates, 'duplicate')}."
    )
    if deploys:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(deploys.items()))
        lines.append(
            f"  {plural(sum(deploys.values()), 'deploy')} beside them ({kinds}): what Cortex's "
            "deployment frequency and deploys() count."
        )
    return "\n".join(lines), duplicates == 0 and total > 0
