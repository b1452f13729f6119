"""Pods, scale, deletion and failures, driven by the real controllers, scheduler and kwok."""

from __future__ import annotations

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import (
    Operator,
    assert_once_per_key,
    data,
    deployment,
    events,
    pod,
    ready_pods,
    wait_for,
)


def test_pod_creation_follows_each_pod_to_ready_by_put(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start()
    plane.apply(deployment("web", namespace, replicas=3, tag="rc-pods"))
    wait_for(lambda: ready_pods(plane, namespace, "web-") == 3, what="3 ready pods")
    pods = plane.get("pods", "-n", namespace)["items"]
    assert {p["spec"]["nodeName"] for p in pods} <= set(plane.node_names())

    def ready_events() -> bool:
        found = events(cortex, "rc-pods", "POD_CREATION")
        return len(found) == 3 and all(data(e).get("ready") is True for e in found)

    wait_for(ready_events, what="3 POD_CREATION events showing Ready")
    by_uid = {data(e)["uid"]: e for e in events(cortex, "rc-pods", "POD_CREATION")}
    assert set(by_uid) == {p["metadata"]["uid"] for p in pods}
    for item in pods:
        event = by_uid[item["metadata"]["uid"]]
        assert event.title == f"Pod {item['metadata']['name']} created"
        assert event.description == f"Running and ready on {item['spec']['nodeName']}"
        assert data(event)["replicaSet"] == item["metadata"]["ownerReferences"][0]["name"]
    # Each pod's event was created once and then replaced in place (PUT on its uuid) as the
    # pod went from Pending to Ready.
    requests = [r for r in cortex.state.requests if r.tag == "rc-pods" and r.status == 200]
    for event in by_uid.values():
        puts = [r for r in requests if r.method == "PUT" and r.path.endswith(event.uuid)]
        assert puts, f"{event.title}: never updated in place"
    created = [r.body for r in requests if r.method == "POST" and isinstance(r.body, dict)]
    pending = [body for body in created if body["type"] == "POD_CREATION"]
    assert len(pending) == 3
    assert all(body["customData"]["ready"] is False for body in pending)
    assert len(events(cortex, "rc-pods", "DEPLOYMENT_CREATION")) == 1
    assert_once_per_key(cortex)


def test_scale_then_delete_with_cascade(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start()
    plane.apply(deployment("api", namespace, replicas=2, tag="rc-scale"))
    wait_for(lambda: ready_pods(plane, namespace, "api-") == 2, what="2 ready pods")
    plane.kubectl("scale", "deployment/api", "-n", namespace, "--replicas=4")
    wait_for(lambda: ready_pods(plane, namespace, "api-") == 4, what="4 ready pods")
    (scale,) = wait_for(
        lambda: events(cortex, "rc-scale", "DEPLOYMENT_SCALE"), what="DEPLOYMENT_SCALE"
    )
    assert scale.title == "Scaled api from 2 to 4 replicas"
    assert (data(scale)["fromReplicas"], data(scale)["toReplicas"]) == (2, 4)
    uids = {p["metadata"]["uid"] for p in plane.get("pods", "-n", namespace)["items"]}
    # The garbage collector deletes the ReplicaSet and then the pods after the Deployment.
    plane.kubectl("delete", "deployment/api", "-n", namespace, "--cascade=background")
    wait_for(
        lambda: not plane.get("pods", "-n", namespace)["items"], what="the pods to be collected"
    )
    wait_for(lambda: len(events(cortex, "rc-scale", "POD_DELETION")) == 4, what="4 POD_DELETION")
    (deleted,) = wait_for(
        lambda: events(cortex, "rc-scale", "DEPLOYMENT_DELETION"), what="DEPLOYMENT_DELETION"
    )
    assert deleted.title == "Deployment api deleted"
    assert {data(e)["uid"] for e in events(cortex, "rc-scale", "POD_DELETION")} == uids
    assert_once_per_key(cortex)


FAILURES = {
    "oomkilled": ("OOMKilled", "container app OOMKilled"),
    "crashloop": ("CrashLoopBackOff", "container app in CrashLoopBackOff"),
    "imagepull": ("ImagePullBackOff", "cannot pull image busybox:1.36"),
    "failed": ("Failed", "failed"),
    "evicted": ("Evicted", "evicted"),
}


def test_each_kind_of_failure_gives_a_pod_failure(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    operator.start()
    plane.apply(*(pod(f"p-{fate}", namespace, tag="rc-failures", fate=fate) for fate in FAILURES))

    def all_failed() -> bool:
        names = {data(e)["name"] for e in events(cortex, "rc-failures", "POD_FAILURE")}
        return names == {f"p-{fate}" for fate in FAILURES}

    wait_for(all_failed, what="a POD_FAILURE for every failing pod")
    for fate, (reason, title_part) in FAILURES.items():
        (failure,) = [
            e
            for e in events(cortex, "rc-failures", "POD_FAILURE")
            if data(e)["name"] == f"p-{fate}" and data(e)["reason"] == reason
        ]
        assert title_part in failure.title, failure.title
    oom = next(e for e in events(cortex, "rc-failures", "POD_FAILURE") if "OOM" in e.title)
    assert data(oom)["exitCode"] == 137
    assert_once_per_key(cortex)
