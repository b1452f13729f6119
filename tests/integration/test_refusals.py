"""The Kubernetes API refusing the operator mid-run: said as such, once, and liveness fails."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"


def healthz(operator: OperatorProcess) -> tuple[int, dict[str, object]]:
    url = f"http://127.0.0.1:{operator.health_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except urllib.error.URLError:
        return 0, {}  # stopping: it no longer listens


def refuse(kube: ServerThread, status: int) -> None:
    kube.call(kube.server.refused.__setitem__, "operator", status)


def test_rbac_taken_away_is_said_once_per_back_off_step_and_fails_liveness(
    kube: ServerThread, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    operator.env.update(CORTEX_WEDGED_AFTER="6", CORTEX_LEASE_NAMESPACE="default")
    kubectl.create(workloads.deployment("web", namespace=NS, tag="web"))
    start_watching(operator, kube)
    refuse(kube, 403)
    kube.call(kube.server.store.close_watches)  # the streams reconnect, and are refused

    def failing() -> dict[str, object] | None:
        status, body = healthz(operator)
        return body if status == 500 else None

    problems = wait_for(failing, 30, "/healthz to fail")["problems"]
    assert isinstance(problems, list)
    assert problems[0].startswith("the Kubernetes API has refused the operator's requests for")
    assert "HTTP 403 Forbidden" in problems[0]
    wait_for(lambda: "attempt #3/" in operator.log_text(), 30, "three back-off steps")
    operator.stop()
    messages = [line["message"] for line in operator.logs()]
    refusals = [m for m in messages if "refuses the operator's requests (HTTP 403" in m]
    steps = [m for m in refusals if "request attempt #" in m]
    attempts = [m.split("request attempt ")[1].split(" ")[0] for m in steps]
    assert attempts[:3] == ["#1/9", "#2/9", "#3/9"], "one line per back-off step"
    assert len(attempts) == len(set(attempts)), "not one per watch stream"
    probe = [m for m in refusals if "/healthz fails after 6s" in m]
    assert len(probe) == 1
    assert not any("not answering" in m for m in messages)
    assert not any("HTTP response headers" in m or "Audit-Id" in m for m in messages)
    lease = [m for m in messages if m.startswith("Leader election: access to Lease")]
    assert len(lease) == 1, "said once, not at every try"


def test_a_refused_token_is_said_as_such_and_stops_or_fails_liveness(
    kube: ServerThread, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    """A token no longer valid (a deleted ServiceAccount): the watch streams, asking kopf for
    new credentials, either end the operator with one line, or wait, and liveness fails."""
    operator.env.update(CORTEX_WEDGED_AFTER="6", CORTEX_LEASE_NAMESPACE="default")
    kubectl.create(workloads.deployment("web", namespace=NS, tag="web"))
    start_watching(operator, kube)
    refuse(kube, 401)
    kube.call(kube.server.store.close_watches)
    assert operator.process is not None
    process = operator.process

    def ended_or_failing() -> str | None:
        if process.poll() is not None:
            return "ended"
        status, body = healthz(operator)
        return json.dumps(body) if status == 500 else None

    outcome = wait_for(ended_or_failing, 60, "the operator to stop or /healthz to fail")
    if outcome == "ended":
        operator.process = None
        assert process.returncode == 1
        assert operator.log_text().rstrip().splitlines()[-1] == (
            "cortex-events: error: the Kubernetes API refused the operator's credentials "
            "(HTTP 401) on its watch streams: the token expired, or its ServiceAccount was "
            "deleted (helm uninstall deletes it); the operator stops"
        )
    else:
        assert "refused the operator's requests for" in outcome
        assert "HTTP 401 Unauthorized" in outcome
        process.kill()  # the kubelet's restart, which the failing liveness probe asks for
        process.wait(10)
        operator.process = None
    messages = [line["message"] for line in operator.logs()]
    assert not any("HTTP response headers" in m or "Audit-Id" in m for m in messages)
    assert not any("is not answering" in m for m in messages), "it answered: 401"
    assert any("credentials" in m and "HTTP 401" in m for m in messages)
