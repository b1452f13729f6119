"""What matters first, on the stand-ins: failures and rollouts ahead of a backlog of Pod churn,
one namespace's flood no obstacle to another's failure, Pod churn folded into summaries that
account for every Pod across a restart, and failures first again after Cortex's 429s.

Every assertion is on order or on counts, never on a duration: a backlog is built with a low
``CORTEX_RATE_LIMIT``, and what jumped it is told by how much of it was still waiting.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex, RecordedRequest, run_in_thread
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.integration.conftest import API_KEY
from tests.support.accounting import accounted
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"
NOISY = "noisy"


def accepted(cortex: FakeCortex, *methods: str) -> list[RecordedRequest]:
    return [
        r
        for r in cortex.state.requests
        if r.status == 200 and r.method in methods and isinstance(r.body, dict)
    ]


def body(request: RecordedRequest) -> dict[str, Any]:
    return request.body if isinstance(request.body, dict) else {}


def data(request: RecordedRequest) -> dict[str, Any]:
    found: dict[str, Any] = body(request).get("customData") or {}
    return found


def type_of(request: RecordedRequest) -> str:
    return str(body(request).get("type"))


def posts(cortex: FakeCortex) -> list[RecordedRequest]:
    return accepted(cortex, "POST")


def first_post(cortex: FakeCortex, event_type: str, tag: str) -> int | None:
    """The position of the first accepted create of this type on this entity among all
    accepted creates, if there is one."""
    for index, request in enumerate(posts(cortex)):
        if request.tag == tag and type_of(request) == event_type:
            return index
    return None


def wait_post(cortex: FakeCortex, event_type: str, tag: str, timeout: float, what: str) -> int:
    wait_for(lambda: first_post(cortex, event_type, tag) is not None, timeout, what)
    found = first_post(cortex, event_type, tag)
    assert found is not None
    return found


def noisy_creates_after(cortex: FakeCortex, index: int, event_type: str) -> int:
    return sum(
        1 for r in posts(cortex)[index + 1 :] if r.tag == "noisy" and type_of(r) == event_type
    )


def assert_once_per_key(cortex: FakeCortex) -> None:
    stored = collections.Counter(
        (e.tag, (e.custom_data or {}).get("eventKey")) for e in cortex.state.events()
    )
    assert not {k: n for k, n in stored.items() if n > 1}, "events stored twice"
    created = collections.Counter((r.tag, data(r).get("eventKey")) for r in posts(cortex))
    assert not {k: n for k, n in created.items() if n > 1}, "events created twice"


def new_image(kubectl: Kubectl, deployment: str) -> None:
    """A rollout: the Deployment's one container gets a new image."""
    container = {"name": "app", "image": "nginx:1.26"}
    template = {"spec": {"containers": [container]}}
    kubectl.patch("Deployment", deployment, NS, {"spec": {"template": template}})


@pytest.fixture
def two_namespaces(kubectl: Kubectl) -> None:
    kubectl.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NOISY}})


def test_a_failure_and_a_rollout_go_ahead_of_a_backlog_of_another_namespaces_pods(
    kube: ServerThread,
    cortex: FakeCortex,
    kubectl: Kubectl,
    operator: OperatorProcess,
    two_namespaces: None,
) -> None:
    # 120 a minute: the 60 Pods below and their readiness are a minute of budget.
    operator.env.update(CORTEX_RATE_LIMIT="120", CORTEX_POD_EVENTS="each")
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("api", namespace=NS, tag="shop-api", replicas=1))
    wait_post(cortex, "POD_CREATION", "shop-api", 30, "api's Pod")
    kubectl.create(workloads.deployment("flood", namespace=NOISY, tag="noisy", replicas=60))
    wait_for(
        lambda: sum(1 for r in posts(cortex) if r.tag == "noisy") >= 3, 60, "the flood to start"
    )

    kubectl.create(workloads.pod("payments-1", namespace=NS, tag="shop-api", behavior="OOMKilled"))
    new_image(kubectl, "api")
    failure = wait_post(cortex, "POD_FAILURE", "shop-api", 60, "the OOM kill")
    rollout = wait_post(cortex, "DEPLOYMENT_ROLLOUT", "shop-api", 60, "the rollout's start")
    # First come, first served, both would wait for every one of the 60 Pods' creates.
    wait_for(
        lambda: sum(1 for r in posts(cortex) if r.tag == "noisy") >= 61, 180, "the flood's end"
    )
    assert noisy_creates_after(cortex, failure, "POD_CREATION") >= 40
    assert noisy_creates_after(cortex, rollout, "POD_CREATION") >= 40
    assert_once_per_key(cortex)


def test_one_namespaces_flood_of_failures_does_not_hold_back_anothers(
    kube: ServerThread,
    cortex: FakeCortex,
    kubectl: Kubectl,
    operator: OperatorProcess,
    two_namespaces: None,
) -> None:
    operator.env.update(CORTEX_RATE_LIMIT="60", CORTEX_POD_EVENTS="summary")
    start_watching(operator, kube)
    crashing = workloads.deployment(
        "crashing", namespace=NOISY, tag="noisy", replicas=30, behavior="CrashLoopBackOff"
    )
    kubectl.create(crashing)
    wait_for(
        lambda: sum(1 for r in posts(cortex) if type_of(r) == "POD_FAILURE") >= 2,
        60,
        "the flood of failures to start",
    )
    kubectl.create(workloads.pod("payments-1", namespace=NS, tag="shop-api", behavior="OOMKilled"))
    ours = wait_post(cortex, "POD_FAILURE", "shop-api", 90, "our failure")
    wait_for(
        lambda: noisy_creates_after(cortex, -1, "POD_FAILURE") >= 30, 180, "every noisy failure"
    )
    # One failure of the flood per turn: ours went after a few of them, not after all 30.
    assert noisy_creates_after(cortex, ours, "POD_FAILURE") >= 15
    assert_once_per_key(cortex)


def test_churn_folds_into_summaries_that_account_for_every_pod_across_a_restart(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    # 10 Pod changes waiting are 5 s of budget at 120 a minute: over the 4 s threshold.
    operator.env.update(CORTEX_RATE_LIMIT="120", CORTEX_POD_FOLD_AFTER="4")
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, tag="shop-web", replicas=40))
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 40, 60, "40 ready web Pods")
    new_image(kubectl, "web")
    wait_for(
        lambda: any(type_of(r) == "DEPLOYMENT_PODS" for r in accepted(cortex, "PUT")),
        60,
        "a summary updated in place",
    )
    assert operator.stop() == 0  # in the middle of the rollout's churn
    operator.start()
    wait_for(
        lambda: kubectl.ready_pods(NS, "web-") == 40 and len(kubectl.list("Pod", NS)) == 40,
        120,
        "the rollout to end",
    )
    wait_for(operator.idle, 120, "delivery to end")
    changes, summaries = accounted(cortex, "shop-web")
    created = [c for c in changes if c.startswith("created:")]
    deleted = [c for c in changes if c.startswith("deleted:")]
    assert (len(created), len(deleted)) == (80, 40), "every Pod's creation and deletion"
    assert [c for c, n in changes.items() if n > 1] == [], "none counted twice"
    assert summaries >= 1
    assert sum(1 for r in posts(cortex) if type_of(r) in {"POD_CREATION"}) < 40
    assert_once_per_key(cortex)


@pytest.fixture
def limited_cortex() -> Iterator[FakeCortex]:
    """Cortex answering 429 past 40 requests a minute: the key's budget is spent elsewhere."""
    with run_in_thread(api_key=API_KEY, rate_limit=40) as fake:
        yield fake


def test_after_cortex_answers_429_failures_still_go_first(
    kube: ServerThread,
    limited_cortex: FakeCortex,
    kubectl: Kubectl,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    cortex = limited_cortex
    operator.env.update(CORTEX_BASE_URL=cortex.base_url, CORTEX_POD_EVENTS="each")
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("flood", namespace=NS, tag="noisy", replicas=30))
    wait_for(
        lambda: any(r.status == 429 for r in cortex.state.requests), 90, "Cortex to answer 429"
    )
    kubectl.create(workloads.pod("payments-1", namespace=NS, tag="shop-api", behavior="OOMKilled"))
    wait_post(cortex, "POD_FAILURE", "shop-api", 120, "the failure")
    wait_for(lambda: operator.metric("cortex_events_queue_depth") == 0, 300, "the flood's end")
    writes = accepted(cortex, "POST", "PUT")
    failure = next(i for i, r in enumerate(writes) if type_of(r) == "POD_FAILURE")
    # The flood's creates and updates still waiting when Cortex answered 429 went after it.
    assert sum(1 for r in writes[failure + 1 :] if r.tag == "noisy") >= 10
    assert_once_per_key(cortex)
