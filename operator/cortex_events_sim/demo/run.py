"""Running the demo: the stand-ins, the operator and the scenario, and the summary at the end.

Everything runs in this process: the Kubernetes API stand-in with its simulated controllers and
kubelet, and the Cortex emulator, each on loopback in a thread; the operator (the same
`OperatorApp` that ``cortex-events run`` starts) in a thread of its own. The scenario, on the
main thread, applies sample workloads with the official Kubernetes client, as a user would
with kubectl, and the events are printed as Cortex records them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from cortex_events.app import OperatorApp
from cortex_events.config.settings import Settings
from cortex_events.ops.logconfig import configure_logging
from cortex_events_sim.cluster import SimTimings
from cortex_events_sim.demo.interrupts import Interrupted, Interrupts
from cortex_events_sim.demo.output import LiveView, Palette, summary
from cortex_events_sim.demo.scenario import NAMESPACE, STEP_TIMEOUT, Scenario
from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
from cortex_events_sim.ports import free_port
from cortex_events_sim.server_thread import serve_in_thread

__all__ = ["run_demo"]

DEMO_KEY = "demo-key"
# How long each part (the operator, the simulated cluster, the emulator) may take to stop.
STOP_TIMEOUT = 1.5


def keep_banner(kubeconfig: Path, cortex: FakeCortex, settings: Settings) -> str:
    """How to reach everything the demo keeps running."""
    base = cortex.base_url
    rows = [
        ("kubectl", f"KUBECONFIG={kubeconfig} kubectl get cxe -A   (or kubectl apply -f ...)"),
        ("Cortex timelines", f"open {base}/   (each entity's events and deploys, newest first)"),
        (
            "Cortex events",
            f"curl {base}/_fake/events   (what the emulator stores; "
            f"{base}/_fake/requests: every request; {base}/_fake/deploys: the deploys)",
        ),
        ("Cortex API", f"CORTEX_BASE_URL={base} CORTEX_API_KEY={DEMO_KEY}"),
        ("metrics", f"curl http://127.0.0.1:{settings.metrics_port}/metrics"),
        ("health", f"curl http://127.0.0.1:{settings.health_port}/healthz"),
    ]
    lines = ["", "Still running (--keep): Ctrl-C or SIGTERM stops it and removes what it made."]
    lines += [f"  {name:<16} {how}" for name, how in rows]
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
            allow_http=True,  # the emulator, on loopback
            listen_address="127.0.0.1",
            cluster_name="demo",
            health_port=free_port() if keep else 0,
            metrics_port=free_port() if keep else 0,
            status_interval=1.0,
            drain_timeout=1.0,
            deploys=True,
            deploy_scales=True,
            deploy_settle=0.0,
        )
        app = OperatorApp(settings)
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
