"""``cortex.io/tag`` values as the operator process meets them: one rule with CortexEntity."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"


def warnings_about(kubectl: Kubectl, kind: str, name: str) -> list[dict[str, Any]]:
    return [
        event
        for event in kubectl.list("Event", NS)
        if event.get("type") == "Warning"
        and (event.get("involvedObject") or {}).get("kind") == kind
        and (event.get("involvedObject") or {}).get("name") == name
    ]


def operator_lines(operator: OperatorProcess, text: str) -> list[dict[str, Any]]:
    return [line for line in operator.logs() if text in str(line.get("message"))]


def test_a_bad_annotation_tag_is_warned_about_once_and_the_good_tags_still_get_events(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="web, team/svc"))
    wait_for(lambda: warnings_about(kubectl, "Pod", "web-1"), what="a Warning Event on the pod")
    wait_for(
        lambda: any(
            (e.description or "").startswith("Running") for e in cortex.state.events("web")
        ),
        what="the pod's event on 'web', updated to Running",
    )
    time.sleep(1)  # let any repeated report arrive
    (warning,) = warnings_about(kubectl, "Pod", "web-1")
    assert warning["reason"] == "InvalidTag"
    assert "'team/svc' is not a Cortex tag: it contains a slash" in warning["message"]
    assert "events still go to 'web'" in warning["message"]
    (line,) = operator_lines(operator, "'team/svc' is not a Cortex tag")
    assert line["level"] == "warning"
    assert "printable ASCII" in line["message"], "the line names the rule"
    assert {e.tag for e in cortex.state.events()} == {"web"}, "nothing sent for the bad tag"
    pod_writes = [r for r in kube.requests if r.user == "operator" and r.is_write]
    assert {(r.verb, r.resource) for r in pod_writes} <= {("create", "events")}


def test_a_bad_tag_on_a_deployment_is_one_warning_on_the_deployment(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    long_tag = "x" * 300
    kubectl.create(workloads.deployment("web", namespace=NS, tag=long_tag, replicas=2))
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 2, what="2 ready pods")
    wait_for(lambda: warnings_about(kubectl, "Deployment", "web"), what="a Warning Event")
    time.sleep(1.5)
    (warning,) = warnings_about(kubectl, "Deployment", "web")
    assert "300 characters long" in warning["message"]
    assert not [e for e in kubectl.list("Event", NS) if e.get("reason") == "InvalidTag"][1:]
    assert len(operator_lines(operator, "300 characters long")) == 1
    assert cortex.state.requests == [], "no request for a tag that cannot exist"


def test_an_empty_annotation_is_logged_once_at_info(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(
        workloads.pod("web-1", namespace=NS, annotations={"cortex.io/tag": " "}, tag=None)
    )
    wait_for(lambda: operator_lines(operator, "is empty"), what="the log line")
    kubectl.patch("Pod", "web-1", NS, {"metadata": {"labels": {"touched": "yes"}}})
    time.sleep(2)
    (line,) = operator_lines(operator, "is empty")
    assert line["level"] == "info"
    assert "Pod shop/web-1" in line["message"]
    assert warnings_about(kubectl, "Pod", "web-1") == []


def test_a_tag_that_needs_path_encoding_reaches_its_entity(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="svc:api#1, 50%"))
    wait_for(lambda: len(cortex.state.events()) == 2, what="an event on each tag")
    # Sent unencoded, "#1/custom-events" would be a URL fragment and "%/" a broken escape.
    assert {e.tag for e in cortex.state.events()} == {"svc:api#1", "50%"}
    assert warnings_about(kubectl, "Pod", "web-1") == []
