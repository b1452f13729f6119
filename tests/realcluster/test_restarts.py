"""Restarts of the operator and of kube-apiserver, and a watch that cannot resume (410 Gone):
nothing recorded twice, nothing lost."""

from __future__ import annotations

import os
import signal
import threading
import time

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


def ready_creations(cortex: FakeCortex, tag: str) -> set[str]:
    """Names of the pods whose POD_CREATION event shows them Ready."""
    return {
        data(e)["name"] for e in events(cortex, tag, "POD_CREATION") if data(e).get("ready") is True
    }


def pod_names(plane: ControlPlane, namespace: str) -> set[str]:
    return {p["metadata"]["name"] for p in plane.get("pods", "-n", namespace)["items"]}


def test_changes_made_while_the_operator_was_stopped_are_recorded_once(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    tag = "rc-restart"
    operator.start()
    plane.apply(deployment("web", namespace, replicas=2, tag=tag))
    wait_for(lambda: len(ready_creations(cortex, tag)) == 2, what="2 pods recorded")
    assert operator.stop() == 0
    # While it is down: a recorded pod deleted (its ReplicaSet replaces it), a scale, a new pod.
    victim = sorted(ready_creations(cortex, tag))[0]
    plane.kubectl("delete", "pod", victim, "-n", namespace)
    plane.kubectl("scale", "deployment/web", "-n", namespace, "--replicas=3")
    plane.apply(pod("solo", namespace, tag=tag))
    wait_for(lambda: ready_pods(plane, namespace) == 4, what="4 ready pods")
    names = pod_names(plane, namespace)
    operator.start()
    wait_for(lambda: ready_creations(cortex, tag) >= names, what="every new pod recorded")
    (scale,) = wait_for(lambda: events(cortex, tag, "DEPLOYMENT_SCALE"), what="the scale")
    assert (data(scale)["fromReplicas"], data(scale)["toReplicas"]) == (2, 3)
    deleted = wait_for(lambda: events(cortex, tag, "POD_DELETION"), what="the deleted pod")
    assert [data(e)["name"] for e in deleted] == [victim]
    assert_once_per_key(cortex)


def test_a_restart_of_the_api_server_while_pods_are_created_loses_nothing(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    tag = "rc-apiserver"
    operator.start()
    total, created = 24, threading.Event()
    failures: list[str] = []

    def create_pods() -> None:
        for index in range(total):
            deadline = time.monotonic() + 90
            while True:
                try:
                    plane.apply(pod(f"p-{index}", namespace, tag=tag))
                    break
                except RuntimeError as error:  # the API server is down: try again
                    if time.monotonic() > deadline:
                        failures.append(str(error))
                        return
                    time.sleep(0.5)
            if index == total // 3:
                created.set()
            time.sleep(0.2)

    creator = threading.Thread(target=create_pods)
    creator.start()
    try:
        assert created.wait(60)
        plane.restart_apiserver(down_for=2)
    finally:
        creator.join(120)
    assert not failures, failures
    expected = {f"p-{index}" for index in range(total)}
    wait_for(lambda: ready_creations(cortex, tag) == expected, 90, "every pod recorded as ready")
    assert_once_per_key(cortex)


def test_a_watch_that_cannot_resume_relists_and_misses_nothing(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    """The API server restarts without its watch cache while the operator is frozen; changes
    follow and etcd's history is compacted. Resuming the watches from their old resource
    versions then answers 410 Gone, so kopf lists again: a pod deleted meanwhile is in no
    event, only absent from the new listing."""
    tag = "rc-gone"
    operator.start()
    plane.apply(deployment("web", namespace, replicas=2, tag=tag), pod("solo", namespace, tag=tag))
    wait_for(lambda: len(ready_creations(cortex, tag)) == 3, what="3 pods recorded")
    assert operator.process.process is not None
    pid = operator.process.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        # Restarted first, so that the frozen operator's watches end without the changes.
        plane.restart_apiserver(watch_cache=False)
        plane.kubectl("delete", "pod", "solo", "-n", namespace)
        plane.kubectl("scale", "deployment/web", "-n", namespace, "--replicas=3")
        plane.apply(pod("late", namespace, tag=tag))
        wait_for(lambda: ready_pods(plane, namespace) == 4, what="4 ready pods")
        plane.compact_etcd()
        mark = plane.audit_mark()
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        names = pod_names(plane, namespace)
        wait_for(lambda: ready_creations(cortex, tag) >= names, 60, "the new pods recorded")
        deleted = wait_for(lambda: events(cortex, tag, "POD_DELETION"), 60, "solo's deletion")
        assert [data(e)["name"] for e in deleted] == ["solo"]
        wait_for(lambda: events(cortex, tag, "DEPLOYMENT_SCALE"), what="the scale")
        # The watch did not resume: the operator listed pods again (kopf's answer to 410).
        after = plane.audit(operator.release.user, since=mark)
        assert any(r.resource == "pods" and r.verb == "list" for r in after), [
            (r.verb, r.resource, r.code) for r in after
        ]
        assert_once_per_key(cortex)
    finally:
        plane.restart_apiserver(watch_cache=True)
