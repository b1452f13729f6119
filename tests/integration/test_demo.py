"""``cortex-events demo``: stopped by Ctrl-C or SIGTERM at once, leaving nothing behind."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from cortex_events_sim.demo.output import Palette, summary
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.fake_cortex.validation import EventInput

pytestmark = pytest.mark.integration

# Generous: the demo stops in well under a second on an idle machine.
STOP_TIMEOUT = 15.0


class Demo:
    """The demo as a subprocess whose stdout lines can be waited for."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.tmp = tmp
        env = dict(os.environ, TMPDIR=str(tmp), PYTHONUNBUFFERED="1", NO_COLOR="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cortex_events", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the demo never printed {text!r}: {self.output}") from None
            self.output.append(line)
            if text in line:
                return line

    def stop(self, sig: signal.Signals, times: int = 1) -> tuple[int, str]:
        for _ in range(times):
            self.process.send_signal(sig)
            time.sleep(0.1)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"the demo did not stop within {STOP_TIMEOUT}s") from None
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def left_behind(self) -> list[str]:
        return sorted(path.name for path in self.tmp.iterdir())


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback only)
        return int(answer.status), answer.read().decode()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_keep_prints_where_everything_is_and_stops_at_once_on_a_signal(
    demo_dir: Path, sig: signal.Signals, code: int
) -> None:
    demo = Demo(demo_dir, "--keep")
    demo.wait_for("Still running (--keep): Ctrl-C or SIGTERM stops it")
    kubeconfig = re.search(r"KUBECONFIG=(\S+)", demo.wait_for("kubectl"))
    page_url = re.search(r"open (http://\S+/) ", demo.wait_for("Cortex timelines"))
    events_url = re.search(r"curl (\S+/_fake/events)", demo.wait_for("Cortex events"))
    metrics_url = re.search(r"curl (\S+/metrics)", demo.wait_for("metrics"))
    health_url = re.search(r"curl (\S+/healthz)", demo.wait_for("health"))
    assert kubeconfig
    assert events_url
    assert metrics_url
    assert health_url
    assert Path(kubeconfig.group(1)).is_file()
    status, events = get(events_url.group(1))
    assert status == 200
    assert {"DEPLOYMENT_ROLLOUT", "POD_FAILURE"} <= {e["type"] for e in json.loads(events)}
    assert "cortex_events_sent_total" in get(metrics_url.group(1))[1]
    assert page_url
    assert "<title>Cortex emulator: timelines</title>" in get(page_url.group(1))[1]
    assert json.loads(get(health_url.group(1))[1])["status"] == "ok"
    assert demo.left_behind() != [], "the demo's files exist while it runs"

    exit_code, stderr = demo.stop(sig)

    assert exit_code == code
    assert stderr.strip().splitlines()[-1] == f"cortex-events: demo stopped by {sig.name}"
    assert "Traceback" not in stderr
    assert "InvalidStateError" not in stderr
    assert demo.left_behind() == []


def test_ctrl_c_pressed_twice_stops_keep_as_once(demo_dir: Path) -> None:
    demo = Demo(demo_dir, "--keep")
    demo.wait_for("health")
    exit_code, stderr = demo.stop(signal.SIGINT, times=2)
    assert exit_code == 130
    assert "Traceback" not in stderr
    assert demo.left_behind() == []


def test_ctrl_c_during_the_scenario_stops_it_without_blaming_the_simulation(
    demo_dir: Path,
) -> None:
    demo = Demo(demo_dir)
    demo.wait_for("> Rollout")
    exit_code, stderr = demo.stop(signal.SIGINT)
    assert exit_code == 130
    assert stderr.strip().splitlines() == ["cortex-events: demo stopped by SIGINT"]
    assert demo.left_behind() == []


def test_the_closing_line_counts_in_words_that_agree() -> None:
    cortex = FakeCortex()
    body = {
        "title": "Pod web-1 created",
        "type": "POD_CREATION",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    cortex.state.create("web", EventInput.from_body(body))
    table, clean = summary(cortex, Palette(False))
    assert table.splitlines()[-1] == (
        "  1 event on 1 entity, 0 updated in place (PUT, same uuid), 0 duplicates."
    )
    assert clean
    cortex.state.create("api", EventInput.from_body(body))
    cortex.state.create("api", EventInput.from_body(body))
    assert "3 events on 2 entities" in summary(cortex, Palette(False))[0]
    assert "1 duplicate." in summary(cortex, Palette(False))[0]
