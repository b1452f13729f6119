"""The operators under test as subprocesses: ours (``python -m cortex_events run``) and the kopf
baselines (``python bench/baselines/<name>.py``), with their resource use and settling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.procinfo import Usage, usage
from cortex_events_sim.ports import free_port

BASELINES = Path(__file__).resolve().parent / "baselines"

# A process that spends less CPU than this in one poll interval, while neither stand-in sees a
# request, counts as idle.
POLL_SECONDS = 0.25
BUSY_CPU_SECONDS = 0.02


class BenchError(RuntimeError):
    """The benchmark could not measure what it wanted (a process died, nothing settled)."""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without CORTEX_* and KUBE* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORTEX_", "KUBE"))}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


@dataclass
class Proc:
    """One operator process. ``argv`` is started with this interpreter."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    metrics_port: int = 0
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    starts: int = field(default=0)

    @classmethod
    def ours(cls, env: dict[str, str], log_path: Path) -> Proc:
        metrics = free_port()
        env = dict(env, CORTEX_METRICS_PORT=str(metrics), CORTEX_HEALTH_PORT=str(free_port()))
        argv = ["-m", "cortex_events", "run", "--log-format", "json"]
        return cls("operator", argv, env, log_path, metrics_port=metrics)

    @classmethod
    def baseline(cls, name: str, env: dict[str, str], log_path: Path) -> Proc:
        return cls(name, [str(BASELINES / f"{name}.py")], env, log_path)

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise BenchError(f"{self.name} is not running")
        return self.popen.pid

    def start(self) -> None:
        if self.popen is not None:
            raise BenchError(f"{self.name} is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                [sys.executable, *self.argv],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started_at = time.monotonic()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as Kubernetes stops a pod; SIGKILL after ``timeout``. Returns the exit code."""
        if self.popen is None:
            return 0
        popen, self.popen = self.popen, None
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
        try:
            return popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)
            raise BenchError(f"{self.name} did not stop within {timeout}s") from None

    def usage(self) -> Usage:
        return usage(self.pid)

    def check_alive(self) -> None:
        if self.popen is not None and (code := self.popen.poll()) is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise BenchError(f"{self.name} exited with code {code}; its log ends:\n{tail}")

    def metrics(self) -> dict[str, float]:
        """The operator's Prometheus metrics, summed over labels, by family name."""
        if not self.metrics_port:
            raise BenchError(f"{self.name} serves no metrics")
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5.0).text
        return parse_metrics(text)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {name: sum of its samples}; labelled lines are summed."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        try:
            totals[name] = totals.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return totals


@dataclass(frozen=True, slots=True)
class Settled:
    """When a process went quiet (seconds after its start) and what it used by then."""

    seconds: float
    usage: Usage


def wait_settled(
    proc: Proc,
    *,
    activity: Callable[[], int],
    ready: Callable[[], bool],
    quiet: float,
    timeout: float,
) -> Settled:
    """Wait until ``ready()`` holds and the process has been idle for ``quiet`` seconds.

    Idle: under `BUSY_CPU_SECONDS` of CPU per poll and no change in ``activity()`` (a count
    of requests the stand-ins received). The settle time is the last busy moment.
    """
    deadline = time.monotonic() + timeout
    last_cpu = proc.usage().cpu_seconds
    last_activity = activity()
    last_busy = time.monotonic()
    while True:
        time.sleep(POLL_SECONDS)
        proc.check_alive()
        now = time.monotonic()
        cpu = proc.usage().cpu_seconds
        seen = activity()
        if cpu - last_cpu > BUSY_CPU_SECONDS or seen != last_activity:
            last_busy = now
        last_cpu, last_activity = cpu, seen
        if now - last_busy >= quiet and ready():
            return Settled(seconds=last_busy - proc.started_at, usage=proc.usage())
        if now > deadline:
            raise BenchError(f"{proc.name} did not settle within {timeout:.0f}s")
