"""Waiting states judged by how long they last, through the real operator process.

The stand-in's simulated kubelet leaves a Pod running and never ready, or its container
unable to be created (a missing Secret), and then writes nothing more: only the operator's own
clock can tell when such a state has lasted past its threshold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"
THRESHOLD = 2.0  # seconds, for both states


def began(pod: dict[str, Any], kind: str) -> datetime:
    """When the state began, as the Pod says: its Ready condition's last transition, or its
    start (a container waiting to be created since)."""
    status = pod["status"]
    if kind == "notready":
        (ready,) = [c for c in status["conditions"] if c["type"] == "Ready"]
        return datetime.fromisoformat(ready["lastTransitionTime"].replace("Z", "+00:00"))
    return datetime.fromisoformat(status["startTime"].replace("Z", "+00:00"))


def test_a_state_that_lasts_past_its_threshold_is_a_failure_from_when_it_began(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube, "--not-ready-after", str(THRESHOLD),
                   "--container-error-after", str(THRESHOLD))  # fmt: skip
    kubectl.create(workloads.pod("never-ready", namespace=NS, tag="jobs", behavior="NotReady"))
    kubectl.create(
        workloads.pod("no-secret", namespace=NS, tag="jobs", behavior="CreateContainerConfigError")
    )
    wanted = {"never-ready": "notready", "no-secret": "configerror"}

    def recorded() -> dict[str, Any]:
        found = {(e.custom_data or {})["name"]: e for e in cortex.state.events("jobs")
                 if e.type == "POD_FAILURE"}  # fmt: skip
        return found if set(found) == set(wanted) else {}

    failures = wait_for(recorded, timeout=30, what="both waiting states recorded as failures")
    for name, kind in wanted.items():
        event = failures[name]
        data = event.custom_data or {}
        assert data["eventKey"].split("/")[2] == kind
        since = began(kubectl.get("Pod", name, NS), kind)
        assert event.timestamp == since
        (post,) = [
            r
            for r in cortex.state.requests
            if r.method == "POST"
            and (r.body or {}).get("customData", {}).get("eventKey") == data["eventKey"]
        ]
        # Not at first sight: only once the state had lasted past its threshold.
        assert post.received_at >= since.timestamp() + THRESHOLD
    message = failures["no-secret"].custom_data or {}
    assert message["message"] == 'secret "db-credentials" not found'
