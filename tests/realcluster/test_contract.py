"""A real-cluster run held to Cortex's published OpenAPI description: every request the operator
sends, and every answer the emulator gives it.

The operator records a Deployment's pods, its creation and a rollout, the rollout as a deploy,
runs a CortexEntity's retention and, as the entity is deleted, its cleanup: creates, updates,
lists, deletes of events and deploys. Each request must be one the description allows, each
answer one it documents (`tests.support.openapi`); where the description is absent, this test
skips, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
from testbed.controlplane import ControlPlane
from tests.support.openapi import DELIVERY, Contract, contract_or_skip, used

from .conftest import (
    API_KEY,
    CLUSTER,
    Operator,
    Release,
    data,
    deployment,
    events,
    make_operator,
    wait_for,
)

TAG = "rc-contract"


@pytest.fixture
def contract() -> Contract:
    return contract_or_skip()


@pytest.fixture
def cortex() -> Iterator[FakeCortex]:
    with run_in_thread(api_key=API_KEY, record_answers=True) as fake:
        yield fake


@pytest.fixture
def operator(
    plane: ControlPlane, release: Release, cortex: FakeCortex, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    running = make_operator(plane, release, cortex, tmp_path / "operator.log", watch=[namespace],
                            CORTEX_DEPLOYS="true", CORTEX_DEPLOY_SETTLE="0")  # fmt: skip
    running.start()
    yield running
    running.stop()
    assert running.violations() == [], "the operator wrote to workloads or was refused"


def test_every_request_and_answer_of_a_real_cluster_run_is_in_the_description(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, contract: Contract, operator: Operator
) -> None:
    # An expired event of this operator's, for retention to delete (in milliseconds, as the
    # operator writes every timestamp).
    old = {"cluster": CLUSTER, "managedBy": "cortex-events-operator", "eventKey": "pod/gone/c"}
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    cortex.state.add_event(TAG, title="old", type="POD_CREATION", custom_data=old, timestamp=when)
    plane.apply(
        deployment("web", namespace, replicas=2, labels={"team": "contract"}),
        {"apiVersion": "cortex.io/v1alpha1", "kind": "CortexEntity",
         "metadata": {"name": "web", "namespace": namespace},
         "spec": {"tag": TAG, "selector": {"matchLabels": {"team": "contract"}},
                  "retention": "240h", "cleanupOnDelete": True}},
    )  # fmt: skip
    wait_for(lambda: all(e.title != "old" for e in events(cortex, TAG)), what="retention")
    plane.rollout_status("deployment/web", namespace)
    plane.kubectl("set", "image", "deployment/web", "-n", namespace, "app=nginx:1.27")
    wait_for(lambda: cortex.state.deploys(TAG), what="the rollout's deploy")
    wait_for(
        lambda: any(data(e).get("result") == "Completed"
                    for e in events(cortex, TAG, "DEPLOYMENT_ROLLOUT")),
        what="the rollout completed",
    )  # fmt: skip
    plane.kubectl("delete", "cortexentity", "web", "-n", namespace, "--timeout=60s")
    wait_for(lambda: not cortex.state.deploys(TAG), what="cleanup of the entity's deploys")

    recorded = [r for r in cortex.state.requests if r.status]
    operations = used(contract, ((r.method, r.path) for r in recorded))
    assert DELIVERY | {"DELETE /api/v1/catalog/{tagOrId}/deploys/{uuid}"} <= operations
    assert any(name.startswith("DELETE") and "custom-events" in name for name in operations)
    problems = [
        f"{r.method} {r.path} {r.query}: {problem}"
        for r in recorded
        for problem in contract.request_problems(r.method, r.path, r.query, r.body)
        + contract.answer_problems(r.method, r.path, r.status, r.answer_type, r.answer)
    ]
    assert problems == []
