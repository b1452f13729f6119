"""Cortex deploys from the real operator process, against the stand-in cluster's deployment
controller and the Cortex emulator: each type from a rollout, an undo and a restart, nothing
sent twice across a lost answer and a restart, nothing where Argo CD's deploy is there, and
Cortex's official CLI listing what was recorded."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex, StoredDeploy
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.support.cortex_cli import cortex_cli_json
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"
TAG = "sim-deploys"
ENVIRONMENT = "production"


@pytest.fixture
def operator_env(operator_env: dict[str, str]) -> dict[str, str]:
    return dict(
        operator_env,
        CORTEX_DEPLOYS="true",
        CORTEX_DEPLOY_ENVIRONMENT=ENVIRONMENT,
        CORTEX_DEPLOY_SETTLE="0",
    )


def revision_deploys(cortex: FakeCortex) -> dict[int, StoredDeploy]:
    return {
        (d.custom_data or {})["revision"]: d
        for d in cortex.state.deploys(TAG)
        if (d.custom_data or {}).get("managedBy") == "cortex-events-operator"
    }


def rollout_done(cortex: FakeCortex, revision: int) -> bool:
    return any(
        e.type == "DEPLOYMENT_ROLLOUT"
        and (e.custom_data or {}).get("revision") == revision
        and (e.custom_data or {}).get("result") == "Completed"
        for e in cortex.state.events(TAG)
    )


def template(image: str, sha: str) -> dict[str, Any]:
    pod = {"metadata": {"annotations": {"cortex.io/sha": sha}},
           "spec": {"containers": [{"name": "app", "image": image}]}}  # fmt: skip
    return {"spec": {"template": pod}}


def deploy_posts(cortex: FakeCortex) -> list[str]:
    return [
        r.body["customData"]["eventKey"]
        for r in cortex.state.requests
        if r.method == "POST" and r.path.endswith("/deploys") and isinstance(r.body, dict)
    ]


def metric(operator: OperatorProcess, line_start: str) -> str | None:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return next((line for line in text.splitlines() if line.startswith(line_start)), None)


def test_rollout_undo_and_restart_are_deploys_recorded_once_and_never_beside_argo_cds(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess,
    tmp_path: Path,
) -> None:  # fmt: skip
    # Argo CD's notifications recipe recorded its sync of sha "s3" a moment ago.
    cortex.state.add_deploy(
        TAG, title="Sync by ArgoCD", type="DEPLOY", sha="s3", environment=ENVIRONMENT,
        timestamp=datetime.now(UTC), custom_data={"source": "argocd"},
    )  # fmt: skip
    start_watching(operator, kube)
    manifest = workloads.deployment("web", namespace=NS, image="nginx:1.21", tag=TAG)
    manifest["spec"]["template"]["metadata"]["annotations"] = {"cortex.io/sha": "s1"}
    kubectl.create(manifest)
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 2, 60, "revision 1's pods")

    # Revision 2; Cortex stores its deploy but the answer to the POST is lost.
    cortex.faults.garble_next(1, method="POST", path="/deploys")
    kubectl.patch("Deployment", "web", NS, template("nginx:1.22", "s2"))
    wait_for(lambda: 2 in revision_deploys(cortex), 60, "revision 2's deploy")
    # Revision 3 is the sync Argo CD recorded: it is not recorded again.
    kubectl.patch("Deployment", "web", NS, template("nginx:1.23", "s3"))
    wait_for(lambda: rollout_done(cortex, 3), 60, "revision 3's rollout")
    wait_for(lambda: metric(operator, 'cortex_deploys_not_sent_total{reason="other_source"}'),
             20, "the deploy not sent to be counted")  # fmt: skip
    # kubectl rollout undo --to-revision=2, then kubectl rollout restart.
    revision_two = next(
        rs for rs in kubectl.list("ReplicaSet", NS)
        if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    )  # fmt: skip
    undo = revision_two["spec"]["template"]
    undo["metadata"]["labels"].pop("pod-template-hash")
    kubectl.request("PATCH", kubectl.path("Deployment", NS, "web"),
                    [{"op": "replace", "path": "/spec/template", "value": undo}],
                    content_type="application/json-patch+json")  # fmt: skip
    wait_for(lambda: 4 in revision_deploys(cortex), 60, "the rollback's deploy")
    restarted = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kubectl.patch("Deployment", "web", NS, {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": restarted}}}}})  # fmt: skip
    wait_for(lambda: 5 in revision_deploys(cortex), 60, "the restart's deploy")

    found = revision_deploys(cortex)
    assert {n: (d.type, d.sha, d.environment) for n, d in found.items()} == {
        2: ("DEPLOY", "s2", ENVIRONMENT),
        4: ("ROLLBACK", "s2", ENVIRONMENT),
        5: ("RESTART", "s2", ENVIRONMENT),
    }
    assert found[2].title.startswith("Rollout of web to nginx:1.22 completed")
    assert found[4].title.startswith("Rollback of web to nginx:1.22 completed")
    data = found[4].custom_data or {}
    assert (data["cluster"], data["namespace"], data["kind"], data["name"]) == (
        "it-cluster", NS, "Deployment", "web"
    )  # fmt: skip
    assert data["images"] == ["nginx:1.22"]
    assert isinstance(data["durationSeconds"], int)
    assert data["eventKey"].startswith("deploy/deployment/")
    assert len(deploy_posts(cortex)) == 3, "the lost answer was looked up, not sent again"

    # A restart of the operator: the ledger comes back from Cortex, nothing is sent again.
    operator.stop()
    listed_before = sum(1 for r in cortex.state.requests if r.method == "GET"
                        and r.path.endswith("/deploys"))  # fmt: skip
    start_watching(operator, kube)
    wait_for(
        lambda: sum(1 for r in cortex.state.requests if r.method == "GET"
                    and r.path.endswith("/deploys")) > listed_before,
        30, "the deploy ledger to be loaded again",
    )  # fmt: skip
    kubectl.patch("Deployment", "web", NS, {"metadata": {"labels": {"touched": "yes"}}})
    wait_for(lambda: "Loaded 3 recorded deploys" in operator.log_text(), 30, "the reload")
    assert len(deploy_posts(cortex)) == 3
    assert len(cortex.state.deploys(TAG)) == 4  # three of ours and Argo CD's
    assert not [r for r in cortex.state.requests if r.path.startswith("/api/v1/catalog/deploys")]

    # Cortex's official CLI lists them.
    key = operator.env["CORTEX_API_KEY"]
    listed = cortex_cli_json(tmp_path, cortex.base_url, key, "deploys", "list", "--tag", TAG)
    assert sorted((d["type"], d["sha"]) for d in listed["deployments"]) == [
        ("DEPLOY", "s2"), ("DEPLOY", "s3"), ("RESTART", "s2"), ("ROLLBACK", "s2")
    ]  # fmt: skip
