"""The stand-in's deployment controller against what the real one showed (tests/realcluster):
the same successive rollouts, a superseded one, an undo and a restart give the same events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.cluster import BEHAVIOR_ANNOTATION
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"
TAG = "sim-rollouts"


def result_of(cortex: FakeCortex, revision: int) -> str | None:
    for event in cortex.state.events(TAG):
        data = event.custom_data or {}
        if event.type == "DEPLOYMENT_ROLLOUT" and data.get("revision") == revision:
            return str(data["result"])
    return None


def template_patch(image: str, behavior: str | None = None) -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "metadata": {"annotations": {BEHAVIOR_ANNOTATION: behavior}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            }
        }
    }


def test_each_revision_keeps_an_event_of_its_own(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, image="nginx:1.21", tag=TAG))
    # As `kubectl rollout status`: revision 1 is out before the next change is made.
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 2, 60, "revision 1's pods")

    def roll(revision: int, patch: dict[str, Any], result: str = "Completed") -> None:
        kubectl.patch("Deployment", "web", NS, patch)
        wait_for(lambda: result_of(cortex, revision) == result, 60, f"revision {revision}")

    roll(2, template_patch("nginx:1.22"))
    # Never ready: revision 3 is still rolling out when revision 4 replaces it.
    roll(3, template_patch("nginx:1.23", "ImagePullBackOff"), "InProgress")
    roll(4, template_patch("nginx:1.24"))
    # kubectl rollout undo --to-revision=2: revision 2's template, written back by the client.
    revision_two = next(
        rs
        for rs in kubectl.list("ReplicaSet", NS)
        if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    )
    template = revision_two["spec"]["template"]
    template["metadata"]["labels"].pop("pod-template-hash")
    kubectl.request(
        "PATCH",
        kubectl.path("Deployment", NS, "web"),
        [{"op": "replace", "path": "/spec/template", "value": template}],
        content_type="application/json-patch+json",
    )
    wait_for(lambda: result_of(cortex, 5) == "Completed", 60, "revision 5")
    restarted = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    roll(6, {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": restarted}}}}})  # fmt: skip

    expected = {
        2: ("nginx:1.22", "update", "Completed"),
        3: ("nginx:1.23", "update", "Superseded"),
        4: ("nginx:1.24", "update", "Completed"),
        5: ("nginx:1.22", "rollback", "Completed"),
        6: ("nginx:1.22", "restart", "Completed"),
    }
    found = {
        (e.custom_data or {})["revision"]: e
        for e in cortex.state.events(TAG)
        if e.type == "DEPLOYMENT_ROLLOUT"
    }
    assert sorted(found) == sorted(expected)
    for revision, (image, change, result) in expected.items():
        data = found[revision].custom_data or {}
        assert (data["images"], data["change"], data["result"]) == ([image], change, result)
