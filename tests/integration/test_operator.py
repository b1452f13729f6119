"""The real operator process against the Kubernetes API stand-in and the Cortex emulator.

The stand-in's simulated controllers and kubelet turn the Deployments and Pods a test creates
into ReplicaSets, Pods and status changes, as a cluster would; the test drives it only through
the official Kubernetes client and reads what Cortex received from the emulator.
"""

from __future__ import annotations

import collections
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex, StoredEvent
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread
from tests.support.harness import OperatorProcess, start_watching, wait_for

pytestmark = pytest.mark.integration

NS = "shop"
WORKLOAD_RESOURCES = {"pods", "replicasets", "deployments"}


def events(
    cortex: FakeCortex, tag: str | None = None, kind: str | None = None
) -> list[StoredEvent]:
    return [e for e in cortex.state.events(tag) if kind is None or e.type == kind]


def has(cortex: FakeCortex, tag: str, kind: str, count: int = 1) -> bool:
    return len(events(cortex, tag, kind)) >= count


def assert_once_per_key(cortex: FakeCortex) -> None:
    keys = collections.Counter(
        (e.tag, (e.custom_data or {}).get("eventKey")) for e in cortex.state.events()
    )
    duplicates = {key: n for key, n in keys.items() if n > 1}
    assert not duplicates, f"events recorded more than once: {duplicates}"


def assert_no_workload_writes(kube: ServerThread) -> None:
    writes = [
        (r.method, r.path)
        for r in kube.requests
        if r.user == "operator" and r.resource in WORKLOAD_RESOURCES and r.is_write
    ]
    assert writes == [], f"the operator wrote to workloads: {writes}"


def status_of(kubectl: Kubectl, name: str) -> dict[str, Any]:
    found: dict[str, Any] = kubectl.get("CortexEntity", name, NS).get("status") or {}
    return found


def ready_condition(kubectl: Kubectl, name: str) -> dict[str, Any] | None:
    for condition in status_of(kubectl, name).get("conditions") or []:
        if condition.get("type") == "Ready":
            found: dict[str, Any] = condition
            return found
    return None


def test_deployment_lifecycle_reaches_its_entity_with_updates_in_place(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, tag="shop-web", replicas=2))
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 2, what="2 ready web pods")
    wait_for(lambda: has(cortex, "shop-web", "DEPLOYMENT_CREATION"), what="DEPLOYMENT_CREATION")
    wait_for(
        lambda: (
            sum(
                1
                for e in events(cortex, "shop-web", "POD_CREATION")
                if (e.custom_data or {}).get("ready") is True
            )
            == 2
        ),
        what="both POD_CREATION events updated to ready",
    )
    puts = [r for r in cortex.state.requests if r.method == "PUT" and r.status == 200]
    assert puts, "pod readiness reached Cortex as updates of the same event"
    created_uuids = {e.uuid for e in events(cortex, "shop-web", "POD_CREATION")}
    assert {r.path.rsplit("/", 1)[-1] for r in puts} <= created_uuids

    kubectl.patch(
        "Deployment",
        "web",
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}},
    )
    wait_for(
        lambda: any(
            (e.custom_data or {}).get("result") == "Completed"
            for e in events(cortex, "shop-web", "DEPLOYMENT_ROLLOUT")
        ),
        what="the rollout recorded as completed",
    )
    (rollout,) = events(cortex, "shop-web", "DEPLOYMENT_ROLLOUT")
    assert "nginx:1.26" in rollout.title
    assert "completed" in rollout.title

    kubectl.patch("Deployment", "web", NS, {"spec": {"replicas": 3}})
    wait_for(lambda: has(cortex, "shop-web", "DEPLOYMENT_SCALE"), what="DEPLOYMENT_SCALE")
    (scale,) = events(cortex, "shop-web", "DEPLOYMENT_SCALE")
    assert (scale.custom_data or {}).get("fromReplicas") == 2
    assert (scale.custom_data or {}).get("toReplicas") == 3

    kubectl.delete("Deployment", "web", NS)
    wait_for(lambda: has(cortex, "shop-web", "DEPLOYMENT_DELETION"), what="DEPLOYMENT_DELETION")
    wait_for(lambda: has(cortex, "shop-web", "POD_DELETION", 3), what="POD_DELETION x3")

    for event in cortex.state.events():
        data = event.custom_data or {}
        assert data["cluster"] == operator.env["CORTEX_CLUSTER_NAME"]
        assert data["namespace"] == NS
        assert {"kind", "name", "uid", "eventKey"} <= data.keys()
    assert_once_per_key(cortex)
    assert_no_workload_writes(kube)


@pytest.mark.parametrize(
    ("behavior", "reason"),
    [
        ("OOMKilled", "oomkilled"),
        ("CrashLoopBackOff", "crashloopbackoff"),
        ("ImagePullBackOff", "pull image"),
        ("Evicted", "evicted"),
    ],
)
def test_pod_failures_are_recorded(
    kube: ServerThread,
    cortex: FakeCortex,
    kubectl: Kubectl,
    operator: OperatorProcess,
    behavior: str,
    reason: str,
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.pod("worker", namespace=NS, tag="jobs", behavior=behavior))
    wait_for(lambda: has(cortex, "jobs", "POD_FAILURE"), what=f"POD_FAILURE for {behavior}")
    failure = events(cortex, "jobs", "POD_FAILURE")[0]
    assert reason in f"{failure.title} {failure.description}".lower()


def test_unmapped_and_opted_out_workloads_record_nothing(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.pod("plain", namespace=NS))
    kubectl.create(
        workloads.pod(
            "quiet", namespace=NS, tag="shop-web", annotations={"cortex.io/events": "disabled"}
        )
    )
    kubectl.create(
        workloads.deployment(
            "muted",
            namespace=NS,
            tag="shop-web",
            annotations={"cortex.io/events": "disabled"},
            replicas=1,
        )
    )
    kubectl.create(workloads.pod("marker", namespace=NS, tag="marker"))
    # The marker is created last: once its event is in, the others were seen and skipped.
    wait_for(lambda: has(cortex, "marker", "POD_CREATION"), what="the marker pod's event")
    wait_for(lambda: kubectl.ready_pods(NS, "muted-") == 1, what="muted's pod")
    kubectl.create(workloads.pod("marker-2", namespace=NS, tag="marker"))
    wait_for(lambda: has(cortex, "marker", "POD_CREATION", 2), what="the second marker")
    assert {e.tag for e in cortex.state.events()} == {"marker"}


def test_restart_records_nothing_twice_and_what_happened_while_down(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, tag="shop-web", replicas=2))
    kubectl.create(workloads.pod("doomed", namespace=NS, tag="shop-web"))
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 2, what="2 ready web pods")
    wait_for(
        lambda: (
            sum(
                1
                for e in events(cortex, "shop-web", "POD_CREATION")
                if (e.custom_data or {}).get("ready") is True
            )
            == 3
        ),
        what="ready pods recorded",
    )
    assert operator.stop() == 0
    before = len(cortex.state.requests)

    created = kubectl.create(workloads.pod("while-down", namespace=NS, tag="shop-web"))
    kubectl.delete("Pod", "doomed", NS)
    wait_for(lambda: kubectl.ready_pods(NS, "while-down") == 1, what="the pod made while down")
    wait_for(lambda: not kubectl.exists("Pod", "doomed", NS), what="the pod deleted while down")

    start_watching(operator, kube)
    wait_for(
        lambda: any(
            (e.custom_data or {}).get("name") == "while-down"
            for e in events(cortex, "shop-web", "POD_CREATION")
        ),
        what="the POD_CREATION of the pod created during the downtime",
    )
    (late,) = [
        e
        for e in events(cortex, "shop-web", "POD_CREATION")
        if (e.custom_data or {}).get("name") == "while-down"
    ]
    assert late.timestamp == datetime.fromisoformat(
        created["metadata"]["creationTimestamp"].replace("Z", "+00:00")
    ), "the event carries the pod's real creation time"
    wait_for(
        lambda: any(
            (e.custom_data or {}).get("name") == "doomed"
            for e in events(cortex, "shop-web", "POD_DELETION")
        ),
        what="the POD_DELETION of the pod deleted during the downtime",
    )
    wait_for(lambda: operator_settled(cortex), what="Cortex to stay quiet")
    assert_once_per_key(cortex)
    after = cortex.state.requests[before:]
    posts = [r for r in after if r.method == "POST"]
    lists = [r for r in after if r.method == "GET"]
    assert len(posts) == 2, f"only what changed while down is posted after the restart: {posts}"
    assert len(lists) <= 3, "the ledger is rebuilt with a bounded number of list calls"


def operator_settled(cortex: FakeCortex, quiet: float = 1.5) -> bool:
    requests = cortex.state.requests
    return not requests or time.time() - requests[-1].at > quiet


def test_cortex_outage_and_429_burst_lose_nothing(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.pod("first", namespace=NS, tag="jobs"))
    wait_for(lambda: has(cortex, "jobs", "POD_CREATION"), what="the first event")

    cortex.faults.outage(True)
    for index in range(3):
        kubectl.create(workloads.pod(f"during-outage-{index}", namespace=NS, tag="jobs"))
    wait_for(
        lambda: sum(1 for r in cortex.state.requests if r.status == 503) >= 2,
        what="the operator trying while Cortex is down",
    )
    cortex.faults.outage(False)
    wait_for(lambda: has(cortex, "jobs", "POD_CREATION", 4), timeout=60, what="catch-up")

    cortex.faults.rate_limit_next(15, retry_after=0.2)
    for index in range(5):
        kubectl.create(workloads.pod(f"during-429-{index}", namespace=NS, tag="jobs"))
    wait_for(lambda: has(cortex, "jobs", "POD_CREATION", 9), timeout=60, what="after the 429s")
    assert_once_per_key(cortex)


def test_cortex_entity_maps_workloads_and_reports_status(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.pod("pay-1", namespace=NS, labels={"app": "payments"}))
    kubectl.create(
        workloads.cortex_entity(
            "payments",
            "payments-api",
            namespace=NS,
            match_labels={"app": "payments"},
            event_types=["POD_CREATION"],
            custom_data={"team": "payments"},
        )
    )
    wait_for(lambda: has(cortex, "payments-api", "POD_CREATION"), what="mapped by the entity")
    (event,) = events(cortex, "payments-api")
    assert (event.custom_data or {}).get("team") == "payments"
    assert (event.custom_data or {}).get("cortexEntities") == [f"{NS}/payments"]
    wait_for(
        lambda: status_of(kubectl, "payments").get("eventsRecorded") == 1,
        what="status eventsRecorded",
    )
    status = status_of(kubectl, "payments")
    assert status["matchedWorkloads"] == 1
    assert status["observedGeneration"] == 1
    assert "lastEventTime" in status
    condition = ready_condition(kubectl, "payments")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "Synced")
    wait_for(
        lambda: "Recorded" in {e.get("reason") for e in kubectl.list("Event", NS)},
        what="a Recorded Kubernetes Event",
    )

    # A burst of changes makes a few aggregated Kubernetes Events, not one per change.
    for index in range(8):
        kubectl.create(
            workloads.pod(f"pay-burst-{index}", namespace=NS, labels={"app": "payments"})
        )
    wait_for(
        lambda: status_of(kubectl, "payments").get("eventsRecorded") == 9,
        what="the burst recorded",
    )
    wait_for(
        lambda: recorded_in_events(kubectl) == 9, what="Kubernetes Events to account for all 9"
    )
    recorded = [e for e in kubectl.list("Event", NS) if e.get("reason") == "Recorded"]
    assert len(recorded) < 9, "aggregated: fewer Kubernetes Events than recorded events"
    assert any(int(e["message"].split()[1]) > 1 for e in recorded), "one Event tells several"
    assert all(e["involvedObject"]["name"] == "payments" for e in recorded)


def recorded_in_events(kubectl: Kubectl) -> int:
    """Events recorded, as told by the CortexEntity's "Recorded N events" Kubernetes Events."""
    total = 0
    for event in kubectl.list("Event", NS):
        if event.get("reason") == "Recorded":
            total += int(str(event.get("message", "")).split()[1])
    return total


def test_invalid_entity_shows_the_bad_field_and_the_operator_keeps_going(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    invalid = workloads.cortex_entity("typo", "payments-api", namespace=NS)
    # Valid for the CRD schema, but an In expression needs values.
    invalid["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In"}]}
    kubectl.create(invalid)
    wait_for(lambda: ready_condition(kubectl, "typo"), what="status on the invalid entity")
    condition = ready_condition(kubectl, "typo")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert "spec.selector.matchExpressions[0]" in condition["message"]
    kubectl.create(workloads.pod("after", namespace=NS, tag="jobs"))
    wait_for(lambda: has(cortex, "jobs", "POD_CREATION"), what="events still flowing")


def test_entity_not_found_in_cortex(
    kube: ServerThread, kubectl: Kubectl, operator: OperatorProcess, cortex: FakeCortex
) -> None:
    cortex.state.entities = {"payments-api"}
    start_watching(operator, kube)
    kubectl.create(workloads.cortex_entity("ghost", "no-such-entity", namespace=NS))
    wait_for(
        lambda: (ready_condition(kubectl, "ghost") or {}).get("reason") == "EntityNotFound",
        what="EntityNotFound",
    )
    condition = ready_condition(kubectl, "ghost")
    assert condition is not None
    assert condition["status"] == "False"
    assert "no-such-entity" in condition["message"]
    warnings = [e for e in kubectl.list("Event", NS) if e.get("reason") == "EntityNotFound"]
    assert warnings
    assert warnings[0]["type"] == "Warning"


def test_retention_deletes_only_old_events_the_operator_owns(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    cluster = operator.env["CORTEX_CLUSTER_NAME"]
    old = datetime(2020, 1, 1, tzinfo=UTC)
    owned = {
        "cluster": cluster,
        "managedBy": "cortex-events-operator",
        "eventKey": "pod/old/created",
    }
    cortex.state.add_event(
        "payments-api", title="old, ours", type="POD_CREATION", timestamp=old, custom_data=owned
    )
    cortex.state.add_event(
        "payments-api",
        title="old, not ours",
        type="POD_CREATION",
        timestamp=old,
        custom_data={"source": "ci"},
    )
    cortex.state.add_event(
        "payments-api",
        title="old, other cluster",
        type="POD_CREATION",
        timestamp=old,
        custom_data=owned | {"cluster": "other"},
    )
    start_watching(operator, kube)
    kubectl.create(
        workloads.cortex_entity("payments", "payments-api", namespace=NS, retention="24h")
    )
    wait_for(
        lambda: all(e.title != "old, ours" for e in events(cortex, "payments-api")),
        what="retention to delete the old owned event",
    )
    titles = sorted(e.title for e in events(cortex, "payments-api"))
    assert titles == ["old, not ours", "old, other cluster"]
    deletes = [r for r in cortex.state.requests if r.method == "DELETE"]
    assert deletes, "retention deleted through the API"
    assert all(r.path.count("/") > 5 or "type" in r.query for r in deletes), (
        "no delete-all without a type filter"
    )


def test_cleanup_on_delete_removes_exactly_what_the_entity_recorded(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    cortex.state.add_event(
        "payments-api",
        title="someone else's",
        type="POD_CREATION",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        custom_data={},
    )
    start_watching(operator, kube)
    kubectl.create(workloads.pod("pay-1", namespace=NS, labels={"app": "payments"}))
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="payments-api"))
    kubectl.create(
        workloads.cortex_entity(
            "payments",
            "payments-api",
            namespace=NS,
            match_labels={"app": "payments"},
            cleanup_on_delete=True,
        )
    )
    wait_for(lambda: has(cortex, "payments-api", "POD_CREATION", 3), what="both pods recorded")

    def settled(name: str) -> bool:
        return any(
            data.get("name") == name
            and data.get("ready") is True
            and f"{NS}/payments" in (data.get("cortexEntities") or [])
            for data in ((e.custom_data or {}) for e in events(cortex, "payments-api"))
        )

    # web-1's event came before the CortexEntity: it is updated to name it. Both Pods are left
    # to become ready first: a Pod still annotated with the tag is recorded again from its next
    # change once the CortexEntity is gone.
    wait_for(lambda: settled("web-1") and settled("pay-1"), what="both events ready and governed")
    kubectl.delete("CortexEntity", "payments", NS)
    wait_for(lambda: not kubectl.exists("CortexEntity", "payments", NS), what="entity gone")
    titles = sorted(e.title for e in events(cortex, "payments-api"))
    assert "someone else's" in titles
    remaining_names = {(e.custom_data or {}).get("name") for e in events(cortex, "payments-api")}
    assert "pay-1" not in remaining_names, "the entity's own event was cleaned up"
    # web-1 is mapped by its annotation to the entity's tag: the CortexEntity governs that
    # tag's events in its namespace, so they are its own too.
    assert "web-1" not in remaining_names, "an annotated workload's event of its tag as well"


def test_api_key_never_reaches_the_logs(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube, "--log-level", "DEBUG")
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="jobs"))
    wait_for(lambda: has(cortex, "jobs", "POD_CREATION"), what="an event")
    operator.stop()
    text = operator.log_text()
    assert "Recorded POD_CREATION" in text
    assert operator.env["CORTEX_API_KEY"] not in text


def test_sigterm_delivers_what_is_queued_before_exiting(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.pod("first", namespace=NS, tag="jobs"))
    wait_for(lambda: has(cortex, "jobs", "POD_CREATION"), what="the ledger loaded")
    cortex.faults.delay_next(10, seconds=0.6, method="POST")  # Cortex is slow: a queue builds
    names = [f"queued-{index}" for index in range(10)]
    for name in names:
        kubectl.create(workloads.pod(name, namespace=NS, tag="jobs"))
    wait_for(
        lambda: sum(1 for r in cortex.state.requests if r.method == "POST") >= 2,
        what="delivery under way",
    )
    assert operator.stop(timeout=15) == 0
    recorded = {(e.custom_data or {}).get("name") for e in events(cortex, "jobs", "POD_CREATION")}
    assert set(names) <= recorded, "everything queued at SIGTERM was delivered before exit"


def test_a_scale_made_while_down_is_recorded_after_the_restart(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, tag="shop-web", replicas=2))
    wait_for(lambda: has(cortex, "shop-web", "DEPLOYMENT_CREATION"), what="the creation")
    assert operator.stop() == 0
    kubectl.patch("Deployment", "web", NS, {"spec": {"replicas": 4}})
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 4, what="4 ready pods")
    start_watching(operator, kube)
    wait_for(lambda: has(cortex, "shop-web", "DEPLOYMENT_SCALE"), what="the scale made while down")
    (scale,) = events(cortex, "shop-web", "DEPLOYMENT_SCALE")
    data = scale.custom_data or {}
    assert (data.get("fromReplicas"), data.get("toReplicas")) == (2, 4)
