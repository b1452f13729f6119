"""The real operator process maps workloads from the Cortex emulator's catalog (no annotation, no
CortexEntity), applies a change in the catalog without a restart, and ``check`` counts what each
source maps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.integration.conftest import CLUSTER
from tests.integration.test_operations import run_check
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"


def descriptor(tag: str, *deployments: str) -> dict[str, Any]:
    info: dict[str, Any] = {"title": tag, "x-cortex-tag": tag}
    if deployments:
        items = [{"identifier": f"{NS}/{name}", "cluster": CLUSTER} for name in deployments]
        info["x-cortex-k8s"] = {"deployment": items}
    return {"openapi": "3.0.1", "info": info}


def types(cortex: FakeCortex, tag: str) -> set[str]:
    return {e.type for e in cortex.state.events(tag)}


def test_descriptors_map_a_deployment_and_a_change_applies_without_a_restart(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    cortex.state.entities = {"payments", "checkout", "api"}
    httpx.post(f"{cortex.base_url}/_fake/descriptors", json=[descriptor("payments", "web")])
    operator.env.update(CORTEX_MAPPING="descriptor,name", CORTEX_CATALOG_INTERVAL="10")
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, replicas=1))
    kubectl.create(workloads.deployment("api", namespace=NS, replicas=1))
    wait_for(lambda: {"DEPLOYMENT_CREATION", "POD_CREATION"} <= types(cortex, "payments"),
             what="web's events on payments, through its x-cortex-k8s block")  # fmt: skip
    wait_for(lambda: "DEPLOYMENT_CREATION" in types(cortex, "api"), what="api mapped by name")
    assert types(cortex, "checkout") == set()

    # The block moves to another entity in Cortex: the next refresh maps web there.
    httpx.post(
        f"{cortex.base_url}/_fake/descriptors",
        json=[descriptor("payments"), descriptor("checkout", "web")],
    )
    wait_for(lambda: "DEPLOYMENT_CREATION" in types(cortex, "checkout"), timeout=40,
             what="web mapped to checkout after the catalog changed")  # fmt: skip
    kubectl.patch("Deployment", "web", NS, {"spec": {"replicas": 2}})
    wait_for(lambda: "DEPLOYMENT_SCALE" in types(cortex, "checkout"), what="web's scale")
    assert "DEPLOYMENT_SCALE" not in types(cortex, "payments")
    assert "Cortex's catalog changed" in operator.log_text()
    assert operator.process is not None
    assert operator.process.poll() is None, "no restart"
    assert operator.starts == 1
    reads = [r for r in cortex.state.requests if r.path.startswith("/api/v1/catalog/descr")]
    assert len(reads) >= 2


def test_check_counts_what_each_source_maps(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator_env: dict[str, str]
) -> None:
    cortex.state.entities = {"payments", "api", "team-a"}
    httpx.post(f"{cortex.base_url}/_fake/descriptors", json=[descriptor("payments", "web")])
    kubectl.create(workloads.deployment("web", namespace=NS, replicas=1))
    kubectl.create(workloads.deployment("api", namespace=NS, replicas=1))
    kubectl.create(workloads.deployment("worker", namespace=NS, replicas=1,
                                        labels={"team": "team-a"}))  # fmt: skip
    kubectl.create(workloads.deployment("lone", namespace=NS, replicas=1, tag="payments"))
    kubectl.create(workloads.deployment("other", namespace=NS, replicas=1))
    env = dict(
        operator_env,
        CORTEX_MAPPING="descriptor,labels,name",
        CORTEX_MAPPING_LABEL_KEYS="team",
        CORTEX_NAMESPACES=NS,
    )
    result, rows = run_check(env)
    assert "Cortex's catalog" in rows, result.stdout + result.stderr
    assert " ok " in rows["Cortex's catalog"]
    assert "1 x-cortex-k8s items for cluster 'it-cluster'" in rows["Cortex's catalog"]
    assert rows["Mapped by cortex.io/tag"].endswith("1 workload")
    assert rows["Mapped by x-cortex-k8s (descriptor)"].endswith("1 workload")
    assert rows["Mapped by labels (team)"].endswith("1 workload")
    assert rows["Mapped by name"].endswith("1 workload")
    assert rows["Mapped by CortexEntity"].endswith("0 workloads")
    assert rows["Mapped by nothing"].endswith("1 workload")
    reads = [r.path for r in cortex.state.requests]
    assert (reads.count("/api/v1/catalog"), reads.count("/api/v1/catalog/descriptors")) == (1, 1)
