"""Ctrl-C on ``cortex-events run``: the first drains, a second stops now, the exit is 130."""

from __future__ import annotations

import signal
import subprocess

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"


def interrupt(operator: OperatorProcess) -> subprocess.Popen[bytes]:
    assert operator.process is not None
    operator.process.send_signal(signal.SIGINT)
    return operator.process


def test_a_second_ctrl_c_stops_the_drain_at_once_and_the_exit_is_not_zero(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    operator.env.update(CORTEX_DRAIN_TIMEOUT="600")  # far longer than the test waits
    start_watching(operator, kube)
    cortex.faults.outage(True)  # events wait in the queue
    kubectl.create(workloads.deployment("web", namespace=NS, tag="web"))
    wait_for(lambda: "Cortex is not accepting events" in operator.log_text(), 30, "a pause")

    process = interrupt(operator)
    wait_for(lambda: "a second Ctrl-C stops now" in operator.log_text(), 30, "the drain line")
    process.send_signal(signal.SIGINT)
    code = process.wait(60)  # the drain would take 600 s
    operator.process = None

    assert code == 130
    messages = [line["message"] for line in operator.logs()]
    (draining,) = [m for m in messages if m.startswith("Stopping: ")]
    assert draining.endswith(
        "events wait for delivery (up to 600s); a second Ctrl-C stops now (they are "
        "recorded at the next start)"
    )
    assert int(draining.split()[1]) > 0
    assert any(m.startswith("Stopped at once: ") for m in messages)


def test_one_ctrl_c_with_nothing_queued_stops_with_130_and_sigterm_with_0(
    kube: ServerThread, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    assert interrupt(operator).wait(60) == 130
    operator.process = None
    operator.start()
    wait_for(
        lambda: operator.log_text().count("Initial authentication has finished") == 2,
        30,
        "the second run's watches",
    )
    assert operator.stop() == 0
