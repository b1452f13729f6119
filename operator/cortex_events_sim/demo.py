"""``cortex-events demo``: the real operator against a simulated cluster and Cortex emulator.

Everything runs in this process: the Kubernetes API stand-in with its simulated controllers and
kubelet, and the Cortex emulator, each on loopback in a thread; the operator (the same
`OperatorApp` that ``cortex-events run`` starts) on the main thread. A scenario thread applies
sample workloads with the official Kubernetes client, as a user would with kubectl, and the
events are printed as Cortex records them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from cortex_events.app import OperatorApp
from cortex_events.logconfig import configure_logging
from cortex_events.settings import Settings
from cortex_events_sim import workloads
from cortex_events_sim.cluster import SimTimings
from cortex_events_sim.fake_cortex import FakeCortex, StoredEvent, run_in_thread
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.ports import free_port
from cortex_events_sim.server_thread import ServerThread, serve_in_thread

NAMESPACE = "shop"
DEMO_KEY = "demo-key"
STEP_TIMEOUT = 20.0
# How long each part (the operator, the simulated cluster, the emulator) may take to stop.
STOP_TIMEOUT = 1.5


class Palette:
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


class Scenario:
    """The sample workloads, applied step by step with the official Kubernetes client."""

    def __init__(
        self,
        kube: ServerThread,
        app: OperatorApp,
        view: LiveView,
        out: TextIO,
        paint: Palette,
        interrupts: Interrupts,
    ) -> None:
        self.kubectl = Kubectl(kube.kubeconfig("demo-user"))
        self.app = app
        self.view = view
        self.out = out
        self.paint = paint
        self.interrupts = interrupts

    def step(self, text: str) -> None:
        print(f"\n{self.paint.bold('>')} {self.paint.bold(text)}", file=self.out, flush=True)

    def wait(self, probe: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not probe():
            self.view.poll()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the simulated cluster did not reach: {what}")
            self.interrupts.sleep(0.1)
        self.settle()

    def settle(self, quiet: float = 1.0) -> None:
        """Wait until the operator has delivered everything and Cortex stays quiet."""
        deadline = time.monotonic() + STEP_TIMEOUT
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            self.view.poll()
            count = len(self.view.cortex.state.requests)
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif self.app.delivery.depth == 0 and time.monotonic() - last_change >= quiet:
                return
            self.interrupts.sleep(0.1)

    def _rollout_done(self, name: str, revision: str) -> bool:
        deployment = self.kubectl.get("Deployment", name, NAMESPACE)
        annotations = deployment["metadata"].get("annotations") or {}
        conditions = (deployment.get("status") or {}).get("conditions") or []
        return annotations.get("deployment.kubernetes.io/revision") == revision and any(
            c.get("type") == "Progressing" and c.get("reason") == "NewReplicaSetAvailable"
            for c in conditions
        )

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.kubectl.close()

    def _run(self) -> None:
        self.step("CortexEntity 'payments' maps pods labelled app=payments to entity payments-api")
        self.kubectl.create(
            workloads.cortex_entity(
                "payments",
                "payments-api",
                namespace=NAMESPACE,
                match_labels={"app": "payments"},
                custom_data={"team": "payments"},
            ),
        )
        self.settle(0.5)

        self.step("Deployment 'web' (cortex.io/tag: shop-web) with 2 replicas of nginx:1.25")
        self.kubectl.create(
            workloads.deployment("web", namespace=NAMESPACE, tag="shop-web", replicas=2)
        )
        self.wait(lambda: self.kubectl.ready_pods(NAMESPACE, "web-") >= 2, "2 ready pods of web")

        self.step("Rollout: web to nginx:1.26")
        self.kubectl.patch(
            "Deployment",
            "web",
            NAMESPACE,
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}
                }
            },
        )
        self.wait(lambda: self._rollout_done("web", "2"), "rollout of web revision 2")

        self.step("Scale: web to 3 replicas")
        self.kubectl.patch("Deployment", "web", NAMESPACE, {"spec": {"replicas": 3}})
        self.wait(lambda: self.kubectl.ready_pods(NAMESPACE, "web-") >= 3, "3 ready pods of web")

        self.step("A payments worker that runs out of memory")
        self.kubectl.create(
            workloads.pod(
                "payments-worker",
                namespace=NAMESPACE,
                labels={"app": "payments"},
                behavior="OOMKilled",
            ),
        )
        self.wait(lambda: self._failure_recorded("payments-api"), "an OOMKilled event")

        self.step("Deletion: Deployment web")
        self.kubectl.delete("Deployment", "web", NAMESPACE)
        self.wait(lambda: self.kubectl.ready_pods(NAMESPACE, "web-") == 0, "web's pods gone")

    def _failure_recorded(self, tag: str) -> bool:
        return any(e.type == "POD_FAILURE" for e in self.view.cortex.state.events(tag))


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


def keep_banner(kubeconfig: Path, cortex: FakeCortex, settings: Settings) -> str:
    """How to reach everything the demo keeps running."""
    base = cortex.base_url
    rows = [
        ("kubectl", f"KUBECONFIG={kubeconfig} kubectl get cxe -A   (or kubectl apply -f ...)"),
        (
            "Cortex events",
            f"curl {base}/_fake/events   (what the emulator stores; "
            f"{base}/_fake/requests: every request)",
        ),
        ("Cortex API", f"CORTEX_BASE_URL={base} CORTEX_API_KEY={DEMO_KEY}"),
        ("metrics", f"curl http://127.0.0.1:{settings.metrics_port}/metrics"),
        ("health", f"curl http://127.0.0.1:{settings.health_port}/healthz"),
    ]
    lines = ["", "Still running (--keep): Ctrl-C or SIGTERM stops it and removes what it made."]
    lines += [f"  {name:<14} {how}" for name, how in rows]
    return "\n".join(lines)


def run_demo(*, keep: bool = False, out: TextIO | None = None) -> int:
    """Run the scenario; 0 when it completed with events recorded once each, 128 + the
    signal's number when Ctrl-C or SIGTERM stopped it."""
    stream = out or sys.stdout
    paint = Palette(stream.isatty() and "NO_COLOR" not in os.environ)
    configure_logging(level="WARNING", fmt="text", secrets=[DEMO_KEY])
    logging.getLogger("kopf").setLevel(logging.ERROR)
    print(
        paint.bold("cortex-events demo")
        + ": the operator against a simulated cluster and a Cortex emulator (no cluster, no key)",
        file=stream,
    )
    error: BaseException | None = None
    clean = False
    with Interrupts() as interrupts:
        try:
            clean = _run(keep, stream, paint, interrupts)
        except Interrupted:
            pass
        except Exception as failure:
            error = failure
    if interrupts.signal is not None:
        print(f"cortex-events: demo stopped by {interrupts.signal.name}", file=sys.stderr)
        return 128 + int(interrupts.signal)
    if error is not None:
        print(f"cortex-events: demo failed: {error}", file=sys.stderr)
        return 1
    return 0 if clean else 1


def _run(keep: bool, stream: TextIO, paint: Palette, interrupts: Interrupts) -> bool:
    with (
        serve_in_thread(
            cluster=True,
            cluster_options={"timings": SimTimings(start=1.0)},
            namespaces=("default", NAMESPACE),
            stop_timeout=STOP_TIMEOUT,
        ) as kube,
        run_in_thread(api_key=DEMO_KEY, stop_timeout=STOP_TIMEOUT) as cortex,
        tempfile.TemporaryDirectory(prefix="cortex-events-demo-") as tmp,
    ):
        os.environ["KUBECONFIG"] = str(kube.write_kubeconfig(Path(tmp) / "operator.kubeconfig"))
        kubeconfig = kube.write_kubeconfig(Path(tmp) / "kubeconfig", "demo-user")
        settings = Settings(
            api_key=SecretStr(DEMO_KEY),
            base_url=cortex.base_url,
            cluster_name="demo",
            health_port=free_port() if keep else 0,
            metrics_port=free_port() if keep else 0,
            status_interval=1.0,
            drain_timeout=1.0,
        )
        app = OperatorApp(settings, listen_host="127.0.0.1")
        view = LiveView(cortex, stream, paint)
        scenario = Scenario(kube, app, view, stream, paint, interrupts)
        ready = threading.Event()
        crashed: list[BaseException] = []

        def operate() -> None:
            try:
                asyncio.run(app.run(stop_flag=interrupts.stop, ready_flag=ready))
            except BaseException as failure:  # reported by the main thread
                crashed.append(failure)

        operator = threading.Thread(target=operate, name="demo-operator", daemon=True)
        operator.start()
        try:
            deadline = time.monotonic() + STEP_TIMEOUT
            while not ready.is_set():
                if crashed or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the operator did not start: {crashed[0] if crashed else 'timed out'}"
                    )
                interrupts.sleep(0.05)
            scenario.run()
            view.poll()
            if keep:
                print(keep_banner(kubeconfig, cortex, settings), file=stream, flush=True)
                while True:
                    view.poll()
                    interrupts.sleep(0.5)
        finally:
            interrupts.stop.set()
            operator.join(STOP_TIMEOUT)
            view.poll()
            table, clean = summary(cortex, paint)
            print(table, file=stream, flush=True)
    return clean
