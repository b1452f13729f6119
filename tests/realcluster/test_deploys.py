"""Cortex deploys from the real deployment controller's rollouts: ``kubectl set image``,
``kubectl rollout undo``, ``kubectl rollout restart`` and ``kubectl scale`` become DEPLOY,
ROLLBACK, RESTART and SCALE; a lost answer and a restart of the operator send nothing twice;
Argo CD's deploy of a sync stops the operator's; Cortex's official CLI lists them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, StoredDeploy
from testbed.controlplane import ControlPlane
from tests.support.cortex_cli import cortex_cli_json

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

TAG = "rc-deploys"
ENVIRONMENT = "production"


@pytest.fixture
def operator(
    plane: ControlPlane, release: Release, cortex: FakeCortex, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    running = make_operator(
        plane, release, cortex, tmp_path / "operator.log", watch=[namespace],
        CORTEX_DEPLOYS="true", CORTEX_DEPLOY_ENVIRONMENT=ENVIRONMENT,
        CORTEX_DEPLOY_SCALES="true", CORTEX_DEPLOY_SETTLE="0",
    )  # fmt: skip
    yield running
    if running.process.process is not None:
        running.stop()
    assert running.violations() == [], "the operator wrote to workloads or was refused"


def ours(cortex: FakeCortex) -> list[StoredDeploy]:
    return [d for d in cortex.state.deploys(TAG) if data_of(d).get("cluster") == CLUSTER]


def data_of(deploy: StoredDeploy) -> dict[str, object]:
    return deploy.custom_data or {}


def by_revision(cortex: FakeCortex) -> dict[object, StoredDeploy]:
    return {data_of(d)["revision"]: d for d in ours(cortex) if d.type != "SCALE"}


def rollout_completed(cortex: FakeCortex, revision: int) -> bool:
    return any(
        data(e)["revision"] == revision and data(e)["result"] == "Completed"
        for e in events(cortex, TAG, "DEPLOYMENT_ROLLOUT")
    )


def deploy_posts(cortex: FakeCortex) -> int:
    """The deploys POSTed for this test's entity."""
    return sum(
        1
        for r in cortex.state.requests
        if r.method == "POST" and r.path.endswith(f"/{TAG}/deploys")
    )


def test_each_deploy_type_from_the_real_controller_recorded_once(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator, tmp_path: Path
) -> None:
    # Argo CD's notifications recipe recorded its sync of sha "s3" a moment ago.
    cortex.state.add_deploy(
        TAG, title="Sync by ArgoCD", type="DEPLOY", sha="s3", environment=ENVIRONMENT,
        timestamp=datetime.now(UTC), custom_data={"source": "argocd"},
    )  # fmt: skip
    operator.start()
    kubectl = ("-n", namespace)
    manifest = deployment("web", namespace, image="nginx:1.21", replicas=2, tag=TAG)
    manifest["spec"]["template"]["metadata"]["annotations"] = {"cortex.io/sha": "s1"}
    plane.apply(manifest)
    plane.rollout_status("deployment/web", namespace)

    def roll(image: str, sha: str) -> None:
        pod = {"metadata": {"annotations": {"cortex.io/sha": sha}},
               "spec": {"containers": [{"name": "app", "image": image}]}}  # fmt: skip
        plane.kubectl("patch", "deployment/web", *kubectl, "--type=strategic", "-p",
                      json.dumps({"spec": {"template": pod}}))  # fmt: skip
        plane.rollout_status("deployment/web", namespace)

    # Revision 2: Cortex stores the deploy, but the answer to the POST is lost.
    cortex.faults.garble_next(1, method="POST", path="/deploys")
    roll("nginx:1.22", "s2")
    wait_for(lambda: 2 in by_revision(cortex), what="revision 2's deploy")
    # Revision 3 is the sync Argo CD recorded.
    roll("nginx:1.23", "s3")
    wait_for(lambda: rollout_completed(cortex, 3), what="revision 3's rollout event")
    plane.kubectl("rollout", "undo", "deployment/web", *kubectl, "--to-revision=2")
    plane.rollout_status("deployment/web", namespace)
    wait_for(lambda: 4 in by_revision(cortex), what="the rollback's deploy")
    plane.kubectl("rollout", "restart", "deployment/web", *kubectl)
    plane.rollout_status("deployment/web", namespace)
    wait_for(lambda: 5 in by_revision(cortex), what="the restart's deploy")
    plane.kubectl("scale", "deployment/web", *kubectl, "--replicas=3")
    wait_for(lambda: any(d.type == "SCALE" for d in ours(cortex)), what="the scale's deploy")

    found = by_revision(cortex)
    assert {n: (d.type, d.sha, d.environment) for n, d in found.items()} == {
        2: ("DEPLOY", "s2", ENVIRONMENT),
        4: ("ROLLBACK", "s2", ENVIRONMENT),
        5: ("RESTART", "s2", ENVIRONMENT),
    }
    assert found[4].title.startswith("Rollback of web to nginx:1.22 completed")
    assert found[5].title.startswith("Restart of web (nginx:1.22) completed")
    (scale,) = [d for d in ours(cortex) if d.type == "SCALE"]
    assert (scale.title, scale.sha) == ("Scaled web from 2 to 3 replicas", "s2")
    for deploy in ours(cortex):
        assert data_of(deploy)["managedBy"] == "cortex-events-operator"
        assert (data_of(deploy)["namespace"], data_of(deploy)["name"]) == (namespace, "web")
    assert deploy_posts(cortex) == 4, "the lost answer was looked up, not sent again"

    # The operator restarts: its deploys come back from Cortex and none is sent again.
    operator.stop()
    operator.start()
    plane.kubectl("annotate", "deployment/web", *kubectl, "example.com/touched=yes")
    wait_for(lambda: "Loaded 4 recorded deploys" in operator.log_text(), what="the reload")
    assert deploy_posts(cortex) == 4
    assert len(cortex.state.deploys(TAG)) == 5  # four of ours and Argo CD's
    assert not [r for r in cortex.state.requests if r.path.startswith("/api/v1/catalog/deploys")]

    listed = cortex_cli_json(tmp_path, cortex.base_url, API_KEY, "deploys", "list", "-t", TAG)
    kinds = sorted(d["type"] for d in listed["deployments"])
    assert kinds == ["DEPLOY", "DEPLOY", "RESTART", "ROLLBACK", "SCALE"]
