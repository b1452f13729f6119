"""Every common way a workload fails, on the real control plane.

The real scheduler makes a Pod unschedulable and preempts one; the API server's Eviction API,
the taint eviction controller and the Pod garbage collector disrupt Pods; kwok plays the
kubelet's part (`testbed/stages.yaml`, by the `testbed.cortex.io/fate` label). Each cause is
recorded once per occurrence, with the reason and the message the cluster wrote, which the
tests read back from the API server rather than restate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any

import kubernetes
import pytest

from cortex_events_sim.fake_cortex import FakeCortex, StoredEvent
from testbed.controlplane import ControlPlane

from .conftest import (
    Operator,
    assert_once_per_key,
    data,
    deployment,
    event_writes,
    events,
    pod,
    ready_pods,
    wait_for,
)

# Short thresholds, so that the waiting states become failures within a test.
THRESHOLDS = ("--unschedulable-after", "4", "--container-error-after", "3",
              "--not-ready-after", "4", "--restart-threshold", "3")  # fmt: skip
TAG = "rc-failing"
FAILURE_TYPES = ("POD_FAILURE", "POD_DISRUPTION")


def of_test(cortex: FakeCortex, namespace: str, kind: str | None = None) -> list[StoredEvent]:
    """The events of one test's workloads: the Pods of an earlier test, deleted with its
    namespace, may still be there when the next one starts its operator."""
    return [e for e in events(cortex, TAG, kind) if data(e)["namespace"] == namespace]


def failures(cortex: FakeCortex, namespace: str) -> list[StoredEvent]:
    return [e for e in of_test(cortex, namespace) if e.type in FAILURE_TYPES]


def of_pod(cortex: FakeCortex, namespace: str, name: str) -> dict[str, StoredEvent]:
    """A Pod's failure events by the change in their key (``crashloop/app``, ...)."""
    found = {}
    for event in failures(cortex, namespace):
        if data(event)["name"] == name:
            found[data(event)["eventKey"].split("/", 2)[2]] = event
    return found


def status(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = plane.get("pod", name, "-n", namespace)["status"]
    return found


def condition(plane: ControlPlane, namespace: str, name: str, kind: str) -> dict[str, Any]:
    conditions = status(plane, namespace, name).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def fated(name: str, namespace: str, fate: str | None, **spec: Any) -> dict[str, Any]:
    manifest = pod(name, namespace, tag=TAG, fate=fate)
    manifest["spec"].update(spec)
    return manifest


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "busybox:1.36", **fields}


def test_each_way_a_pod_fails_is_recorded_once_with_what_kubernetes_says(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start(*THRESHOLDS)
    secret = {"secretKeyRef": {"name": "db-credentials", "key": "password"}}  # no such Secret
    secret_env = {"name": "PASSWORD", "valueFrom": secret}
    liveness = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}
    init = [{"name": "migrate", "image": "migrate:2"}]
    plane.apply(
        # More CPU than any kwok node has: the real scheduler cannot place it.
        fated("p-unschedulable", namespace, None,
              containers=[container(resources={"requests": {"cpu": "2k"}})]),
        fated("p-configerror", namespace, "configerror", containers=[container(env=[secret_env])]),
        fated("p-createerror", namespace, "createerror"),
        fated("p-runerror", namespace, "runerror"),
        fated("p-initcrash", namespace, "initcrash", initContainers=init),
        fated("p-initerror", namespace, "initerror", initContainers=init),
        fated("p-probekill", namespace, "probekill",
              containers=[container(livenessProbe=liveness)]),
        fated("p-crashloop", namespace, "crashloop"),
        fated("p-relapse", namespace, "relapse"),
        fated("p-notready", namespace, "notready"),
    )  # fmt: skip
    expected = {
        "p-unschedulable": {"unschedulable"},
        "p-configerror": {"configerror/app/0"},
        "p-createerror": {"createerror/app/0"},
        "p-runerror": {"crashloop/app"},
        "p-initcrash": {"crashloop/migrate"},
        "p-initerror": {"crashloop/migrate"},
        "p-probekill": {"crashloop/app"},
        "p-crashloop": {"crashloop/app"},
        "p-relapse": {"crashloop/app", "crashloop/app/3"},
        "p-notready": {"notready/"},
    }

    def all_recorded() -> bool:
        for name, keys in expected.items():
            found = set(of_pod(cortex, namespace, name))
            found = {"notready/" if k.startswith("notready/") else k for k in found}
            if found != keys:
                return False
        # The restart loops have gone as far as their stages take them.
        looping = of_pod(cortex, namespace, "p-crashloop")["crashloop/app"]
        killed = of_pod(cortex, namespace, "p-probekill")["crashloop/app"]
        return bool(data(looping)["restartCount"] == 5 and data(killed)["restartCount"] == 4)

    wait_for(all_recorded, 120, "every failure, as far as it goes")

    # Unschedulable: the scheduler's own reason and message, from when it began.
    scheduled = condition(plane, namespace, "p-unschedulable", "PodScheduled")
    (unschedulable,) = of_pod(cortex, namespace, "p-unschedulable").values()
    assert scheduled["reason"] == data(unschedulable)["reason"] == "Unschedulable"
    assert "Insufficient cpu" in scheduled["message"]
    assert unschedulable.description == data(unschedulable)["message"] == scheduled["message"]
    assert unschedulable.timestamp == when(scheduled["lastTransitionTime"])
    assert unschedulable.title == "Pod p-unschedulable cannot be scheduled"

    # Configuration errors: the kubelet's reason and message (a missing Secret).
    for name, reason in (("p-configerror", "CreateContainerConfigError"),
                         ("p-createerror", "CreateContainerError")):  # fmt: skip
        waiting = status(plane, namespace, name)["containerStatuses"][0]["state"]["waiting"]
        (event,) = of_pod(cortex, namespace, name).values()
        assert waiting["reason"] == data(event)["reason"] == reason
        assert data(event)["message"] == waiting["message"]
        assert (event.description or "").endswith(f"{reason}: {waiting['message']}")
        # Timed from when the Pod started waiting, not from when it became a failure.
        assert event.timestamp == when(status(plane, namespace, name)["startTime"])

    (cannot_start,) = of_pod(cortex, namespace, "p-runerror").values()
    run_error = status(plane, namespace, "p-runerror")["containerStatuses"][0]
    assert cannot_start.title == "Pod p-runerror: container app cannot start"
    assert data(cannot_start)["message"] == run_error["state"]["waiting"]["message"]

    # Init containers: Init:CrashLoopBackOff and Init:Error.
    (init_loop,) = of_pod(cortex, namespace, "p-initcrash").values()
    (init_error,) = of_pod(cortex, namespace, "p-initerror").values()
    assert init_loop.title == "Pod p-initcrash: init container migrate in CrashLoopBackOff"
    assert init_error.title == "Pod p-initerror: init container migrate failed"
    assert data(init_loop)["initContainer"] is data(init_error)["initContainer"] is True
    assert data(init_error)["lastExitCode"] == 1

    # A liveness probe's kills, repeated: one event, created at the third restart and updated
    # in place at the fourth.
    killed = of_pod(cortex, namespace, "p-probekill")["crashloop/app"]
    assert "exit code 137 (Error), as when its liveness probe fails" in (killed.description or "")
    writes = event_writes(cortex, TAG, data(killed)["eventKey"])
    assert [method for method, _ in writes] == ["POST", "PUT"]
    assert [body["customData"]["restartCount"] for _, body in writes] == [3, 4]

    # A crash loop: one event, updated in place (PUT) with each restart count.
    looping = of_pod(cortex, namespace, "p-crashloop")["crashloop/app"]
    writes = event_writes(cortex, TAG, data(looping)["eventKey"])
    assert [method for method, _ in writes] == ["POST", "PUT", "PUT"]
    assert [body["customData"]["restartCount"] for _, body in writes] == [3, 4, 5]
    assert looping.title == "Pod p-crashloop: container app in CrashLoopBackOff"

    # Back after a recovery (a 15-minute run): a new event; the first one stays as it was.
    relapse = of_pod(cortex, namespace, "p-relapse")
    assert data(relapse["crashloop/app"])["restartCount"] == 3
    assert data(relapse["crashloop/app/3"])["restartCount"] == 5
    assert data(relapse["crashloop/app/3"])["restartsInLoop"] == 2

    # Never ready: the kubelet's Ready condition, from when it went False.
    ready = condition(plane, namespace, "p-notready", "Ready")
    (never_ready,) = of_pod(cortex, namespace, "p-notready").values()
    assert data(never_ready)["reason"] == ready["reason"] == "ContainersNotReady"
    assert data(never_ready)["message"] == ready["message"]
    assert never_ready.timestamp == when(ready["lastTransitionTime"])
    assert data(never_ready)["toleratedSeconds"] == 4
    assert_once_per_key(cortex)


def test_a_deployments_progress_deadline_is_how_long_its_pods_may_stay_not_ready(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start("--not-ready-after", "3600")
    slow = deployment("slow", namespace, replicas=1, tag=TAG, fate="notready")
    slow["spec"]["progressDeadlineSeconds"] = 5
    plane.apply(slow)
    (event,) = wait_for(lambda: failures(cortex, namespace), what="the Deployment's Pod not ready")
    assert event.title.endswith("not ready for 5s")
    assert data(event)["toleratedSeconds"] == 5
    assert_once_per_key(cortex)


def test_a_short_pending_is_no_failure(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start(*THRESHOLDS)
    node = plane.node_names()[0]
    selector = {"testbed.cortex.io/pool": f"late-{namespace}"}
    plane.apply(
        fated("p-late", namespace, None, nodeSelector=selector),
        # Unschedulable for good, from the same moment: its event says the threshold passed.
        fated("p-never", namespace, None,
              containers=[container(resources={"requests": {"cpu": "2k"}})]),
    )  # fmt: skip
    wait_for(lambda: condition(plane, namespace, "p-late", "PodScheduled").get("reason")
             == "Unschedulable", what="the real scheduler to find no node")  # fmt: skip
    label = f"testbed.cortex.io/pool=late-{namespace}"
    plane.kubectl("label", "node", node, label)
    try:
        wait_for(lambda: ready_pods(plane, namespace, "p-late") == 1, what="p-late to run")
        wait_for(lambda: of_pod(cortex, namespace, "p-never"), what="p-never's threshold to pass")
    finally:
        plane.kubectl("label", "node", node, "testbed.cortex.io/pool-")
    assert of_pod(cortex, namespace, "p-late") == {}
    assert set(of_pod(cortex, namespace, "p-never")) == {"unschedulable"}


# The official client's generated types make mypy --strict noisy; it is used through Any.
_kubernetes: Any = kubernetes


@contextlib.contextmanager
def core_api(plane: ControlPlane) -> Iterator[Any]:
    """The official client's CoreV1Api, as the test bed's admin."""
    client = _kubernetes.config.new_client_from_config(str(plane.admin_kubeconfig))
    try:
        yield _kubernetes.client.CoreV1Api(client)
    finally:
        client.close()


def on_node(name: str, namespace: str, node: str, **spec: Any) -> dict[str, Any]:
    return fated(name, namespace, None, nodeSelector={"kubernetes.io/hostname": node}, **spec)


def test_disruptions_are_recorded_with_who_ended_the_pod(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start(*THRESHOLDS)
    node = plane.node_names()[0]
    low, high = f"low-{namespace}", f"high-{namespace}"
    plane.apply(
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
         "metadata": {"name": low}, "value": 10},
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
         "metadata": {"name": high}, "value": 1000},
        fated("p-evicted-by-api", namespace, None),
        fated("p-kubelet-evicted", namespace, "evicted"),
        # Two thirds of a node's CPU: the high-priority one needs the low one's place.
        on_node("p-preempted", namespace, node, priorityClassName=low,
                containers=[container(resources={"requests": {"cpu": "700"}})]),
    )  # fmt: skip
    try:
        for name in ("p-evicted-by-api", "p-preempted"):
            wait_for(partial(ready_pods, plane, namespace, name), what=f"{name} to run")
        with core_api(plane) as api:
            eviction = _kubernetes.client.V1Eviction(
                metadata=_kubernetes.client.V1ObjectMeta(
                    name="p-evicted-by-api", namespace=namespace
                )
            )
            api.create_namespaced_pod_eviction("p-evicted-by-api", namespace, eviction)
        plane.apply(
            on_node("p-preemptor", namespace, node, priorityClassName=high,
                    containers=[container(resources={"requests": {"cpu": "700"}})])
        )  # fmt: skip
        wait_for(lambda: {"p-evicted-by-api", "p-preempted"}
                 <= {data(e)["name"] for e in of_test(cortex, namespace, "POD_DISRUPTION")},
                 what="both disruptions")  # fmt: skip
    finally:
        plane.kubectl("delete", "priorityclass", low, high, "--ignore-not-found")
    (evicted,) = of_pod(cortex, namespace, "p-evicted-by-api").values()
    assert (evicted.type, data(evicted)["reason"]) == ("POD_DISRUPTION", "EvictionByEvictionAPI")
    assert evicted.description == data(evicted)["message"] == "Eviction API: evicting"
    assert evicted.title.startswith("Pod p-evicted-by-api evicted by the Eviction API on ")
    (preempted,) = of_pod(cortex, namespace, "p-preempted").values()
    assert data(preempted)["reason"] == "PreemptionByScheduler"
    assert "preempting to accommodate a higher priority pod" in data(preempted)["message"]
    assert preempted.title == f"Pod p-preempted preempted by the scheduler on {node}"
    # Node pressure: the kubelet's own eviction stays a failure of the Pod's, once.
    wait_for(lambda: of_pod(cortex, namespace, "p-kubelet-evicted"), what="the kubelet's eviction")
    (kubelet,) = of_pod(cortex, namespace, "p-kubelet-evicted").values()
    assert (kubelet.type, data(kubelet)["reason"]) == ("POD_FAILURE", "Evicted")
    disruption = condition(plane, namespace, "p-kubelet-evicted", "DisruptionTarget")
    assert disruption["reason"] == "TerminationByKubelet"
    assert_once_per_key(cortex)


def test_a_lost_node_disrupts_its_pods_through_the_taint_manager_and_the_pod_gc(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start(*THRESHOLDS)
    before = set(plane.node_names())
    plane.add_nodes(1, prefix="failures-node-")
    (node,) = set(plane.node_names()) - before
    try:
        plane.apply(on_node("p-tainted", namespace, node))
        wait_for(lambda: ready_pods(plane, namespace, "p-tainted") == 1, what="p-tainted to run")
        plane.kubectl("taint", "node", node, "testbed.cortex.io/gone=now:NoExecute")
        wait_for(
            lambda: of_pod(cortex, namespace, "p-tainted"), what="the taint manager's deletion"
        )
        plane.kubectl("taint", "node", node, "testbed.cortex.io/gone-")
        plane.apply(on_node("p-orphaned", namespace, node))
        wait_for(lambda: ready_pods(plane, namespace, "p-orphaned") == 1, what="p-orphaned to run")
    finally:
        plane.kubectl("delete", "node", node, "--ignore-not-found")
    # The Pod garbage collector waits 40 s before it deletes the Pods of a node that is gone.
    wait_for(
        lambda: of_pod(cortex, namespace, "p-orphaned"), 180, "the Pod garbage collector's deletion"
    )
    (tainted,) = of_pod(cortex, namespace, "p-tainted").values()
    assert (tainted.type, data(tainted)["reason"]) == ("POD_DISRUPTION", "DeletionByTaintManager")
    assert data(tainted)["message"] == "Taint manager: deleting due to NoExecute taint"
    assert tainted.title == f"Pod p-tainted deleted by the taint manager on {node}"
    (orphaned,) = of_pod(cortex, namespace, "p-orphaned").values()
    assert (orphaned.type, data(orphaned)["reason"]) == ("POD_DISRUPTION", "DeletionByPodGC")
    assert data(orphaned)["message"] == "PodGC: node no longer exists"
    assert_once_per_key(cortex)


@pytest.mark.parametrize("replicas", [50])
def test_a_healthy_rollout_records_no_failure(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator, replicas: int
) -> None:
    """Its Pods are Pending for a moment, and the old ones report Failed (exit code 143) as
    they are stopped, as a real kubelet's do: none of that is a failure."""
    operator.start(*THRESHOLDS)
    web = deployment("web", namespace, replicas=replicas, tag=TAG, fate="sigterm")
    web["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    plane.apply(web)
    plane.rollout_status("deployment/web", namespace, timeout=180)
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.22"
    plane.apply(web)
    plane.rollout_status("deployment/web", namespace, timeout=180)
    wait_for(lambda: len(plane.get("pods", "-n", namespace)["items"]) == replicas, 180,
             "the old Pods to be removed")  # fmt: skip
    wait_for(lambda: len(of_test(cortex, namespace, "POD_DELETION")) == replicas, 180,
             "every old Pod's deletion recorded")  # fmt: skip
    rollout = wait_for(lambda: [e for e in of_test(cortex, namespace, "DEPLOYMENT_ROLLOUT")
                                if data(e).get("result") == "Completed"], 120,
                       "the rollout's completion recorded")  # fmt: skip
    assert len(rollout) == 1
    wait_for(lambda: len(of_test(cortex, namespace, "POD_CREATION")) == 2 * replicas, 120,
             "every Pod's creation recorded")  # fmt: skip
    assert failures(cortex, namespace) == []
    assert_once_per_key(cortex)
