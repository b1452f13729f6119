"""``cortex-events events``: what this operator recorded, as a table, from Cortex itself."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.ports import free_port
from cortex_events_sim.server_thread import ServerThread
from tests.support.harness import OperatorProcess, start_watching, wait_for

from .conftest import CLUSTER

pytestmark = pytest.mark.integration

NS = "shop"


def events_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cortex_events", "events", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_events_lists_what_this_operator_recorded_and_nothing_else(
    kube: ServerThread,
    cortex: FakeCortex,
    kubectl: Kubectl,
    operator: OperatorProcess,
    operator_env: dict[str, str],
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, tag="web", replicas=1))
    kubectl.create(workloads.cortex_entity("orders", "orders", namespace=NS))
    wait_for(lambda: any(e.type == "DEPLOYMENT_CREATION" for e in cortex.state.events("web")))
    now = datetime.now(UTC)
    cortex.state.add_event("web", title="Deployed by CI", type="CI_DEPLOY", timestamp=now)
    ours = {"managedBy": "cortex-events-operator", "cluster": CLUSTER, "eventKey": "deploy/x"}
    cortex.state.add_deploy("web", title="Rollout of web", type="DEPLOY", timestamp=now,
                            custom_data=ours)  # fmt: skip
    cortex.state.add_deploy("web", title="Argo CD sync", type="DEPLOY", timestamp=now)
    other_cluster = dict(ours, cluster="elsewhere")
    cortex.state.add_event("web", title="Elsewhere", type="POD_CREATION", timestamp=now,
                           custom_data=other_cluster)  # fmt: skip
    asked_before = len(cortex.state.requests)

    result = events_command(operator_env, "--tag", "web")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["TIME", "(UTC)", "ENTITY", "WHAT", "TYPE", "TITLE"]
    cells = [row.split(None, 5) for row in rows]
    assert {(c[2], c[3], c[4]) for c in cells} >= {
        ("web", "event", "DEPLOYMENT_CREATION"),
        ("web", "event", "POD_CREATION"),
        ("web", "deploy", "DEPLOY"),
    }
    assert not any("CI_DEPLOY" in r or "Argo CD" in r or "Elsewhere" in r for r in rows)
    listed = [r for r in cortex.state.requests[asked_before:] if r.method == "GET"]
    assert {r.path for r in listed} == {
        "/api/v1/catalog/web/custom-events",
        "/api/v1/catalog/web/deploys",
    }
    assert all(r.agent.startswith("cortex-events-operator/") for r in listed)

    # Without --tag: the entities the cluster names; a type filter and a time window.
    since = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    found = events_command(operator_env, "--type", "DEPLOY", "--since", since)
    assert found.returncode == 0, found.stderr
    assert [line.split()[2:5] for line in found.stdout.splitlines()[1:]] == [
        ["web", "deploy", "DEPLOY"]
    ]
    empty = events_command(operator_env, "--tag", "orders")
    assert empty.stdout.strip() == (
        f"Nothing recorded by this operator (cluster '{CLUSTER}') on 'orders'"
    )


def test_events_says_what_to_do_without_a_key_or_a_cluster(
    operator_env: dict[str, str],
) -> None:
    env = {k: v for k, v in operator_env.items() if k != "CORTEX_API_KEY"}
    result = events_command(env, "--tag", "web")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("cortex-events: error: CORTEX_API_KEY is required")
    bad = events_command(operator_env, "--tag", "web", "--since", "yesterday")
    assert bad.stderr.strip() == (
        "cortex-events: error: --since: 'yesterday' is neither a duration (30m, 2h, 7d) nor "
        "an ISO-8601 time"
    )


def test_fake_cortex_prints_the_address_of_its_page() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cortex_events", "fake-cortex", "--port", str(port)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert f"each entity's timeline: open http://127.0.0.1:{port}/" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert "Cortex emulator: timelines" in answer.read().decode()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
