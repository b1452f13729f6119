"""Fixtures that run the real operator process against the stand-ins on loopback.

The Kubernetes API stand-in (with its simulated controllers and kubelet) and the Cortex emulator
run in threads of the test process; the operator is ``python -m cortex_events run`` in a
subprocess, exactly as users run it; tests drive the cluster with the official client.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cortex_events_sim.cluster import SimTimings
from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.ports import free_port
from cortex_events_sim.server_thread import ServerThread, serve_in_thread
from tests.support.harness import OperatorProcess

API_KEY = "it-secret-key-0123456789"
CLUSTER = "it-cluster"
NAMESPACE = "shop"


@pytest.fixture
def kube() -> Iterator[ServerThread]:
    # Containers take a second to start, so a pod's Pending state reaches Cortex before its
    # Running state does, as on a real node pulling an image.
    timings = SimTimings(start=1.0)
    with serve_in_thread(
        cluster=True, cluster_options={"timings": timings}, namespaces=("default", NAMESPACE)
    ) as server:
        yield server


@pytest.fixture
def cortex() -> Iterator[FakeCortex]:
    with run_in_thread(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def kubectl(kube: ServerThread) -> Iterator[Kubectl]:
    """The test's own hands on the cluster: the official client, as user "driver"."""
    with Kubectl(kube.kubeconfig("driver")) as k:
        yield k


@pytest.fixture
def operator_env(kube: ServerThread, cortex: FakeCortex, tmp_path: Path) -> dict[str, str]:
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", "operator")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORTEX_", "KUBE"))}
    env.update(
        KUBECONFIG=str(kubeconfig),
        CORTEX_API_KEY=API_KEY,
        CORTEX_BASE_URL=cortex.base_url,
        CORTEX_ALLOW_HTTP="true",  # the emulator, on loopback
        CORTEX_CLUSTER_NAME=CLUSTER,
        CORTEX_STATUS_INTERVAL="0.5",
        CORTEX_SWEEP_DELAY="1",
        CORTEX_DRAIN_TIMEOUT="10",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def operator(operator_env: dict[str, str], tmp_path: Path) -> Iterator[OperatorProcess]:
    health, metrics = free_port(), free_port()
    env = dict(operator_env, CORTEX_HEALTH_PORT=str(health), CORTEX_METRICS_PORT=str(metrics))
    proc = OperatorProcess(env, tmp_path / "operator.log", health, metrics)
    yield proc
    if proc.process is not None:
        proc.stop()
