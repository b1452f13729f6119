"""Run the operator as users do (a subprocess) against the stand-ins, and wait on what it does.

Test-only: a timeout here fails the test (AssertionError).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cortex_events_sim.server_thread import ServerThread

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@dataclass
class OperatorProcess:
    """The operator as a subprocess; its log lines are kept in a file."""

    env: dict[str, str]
    log_path: Path
    health_port: int
    metrics_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def start(self, *args: str) -> None:
        assert self.process is None, "already running"
        self.starts += 1
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cortex_events", "run", "--log-format", "json", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as Kubernetes stops a pod; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError("the operator did not stop within the timeout") from None
        self.process = None
        return code

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                lines.append({"message": line, "level": "raw"})
        return lines

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def idle(self) -> bool:
        """Nothing waits for delivery: the queue is empty and no Pod summary waits for its
        refresh."""
        return (
            self.metric("cortex_events_queue_depth") == 0
            and self.metric("cortex_events_pod_summaries_waiting") == 0
        )

    def metric(self, name: str) -> float | None:
        """The value of an unlabelled metric on ``/metrics``; None when it cannot be read."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


def start_watching(
    operator: OperatorProcess, kube: ServerThread, *args: str, timeout: float = 30.0
) -> None:
    """Start the operator and wait until it has listed every resource it watches."""
    operator.start(*args)
    wanted = {"pods", "replicasets", "deployments", "cortexentities"}
    wait_for(
        lambda: (
            wanted
            <= {r.resource for r in kube.requests if r.user == "operator" and r.verb == "list"}
        ),
        timeout=timeout,
        what="the operator to list what it watches",
    )
    time.sleep(0.3)  # from the list to the watch request
