"""Argo Rollouts on the real controller: canary steps, a pause and its promotion, an abort, a
blue-green promotion, and a workloadRef Rollout.

The controller (built from its Go module by ``scripts/k8s-assets``, with the CRDs of the same
module) runs beside the control plane (`testbed.argo`); it creates the ReplicaSets, moves the
canary's weights and writes every status. The test does what a person does: it changes the
Rollout's template, and promotes or aborts as ``kubectl argo rollouts promote`` and ``abort``
do, with the same patches of the status subresource (and of ``spec.paused``). The audit log
shows the controller wrote the statuses, and the test only those patches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
from testbed.argo import USER as CONTROLLER_USER
from testbed.argo import ArgoRollouts
from testbed.controlplane import ControlPlane

from .conftest import (
    API_KEY,
    Operator,
    Release,
    assert_once_per_key,
    data,
    deployment,
    event_writes,
    events,
    make_operator,
    module_namespace,
    wait_for,
)

TAG, BLUE_GREEN_TAG, REF_TAG = "rc-argo", "rc-argo-bg", "rc-argo-ref"
# A pause to promote at step 2, a timed pause (which ends by itself) at step 4.
STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {"duration": "3s"}}]
ADMIN = "testbed-admin"


@pytest.fixture(scope="module")
def argo(plane: ControlPlane) -> Iterator[ArgoRollouts]:
    controller = ArgoRollouts(plane)
    controller.install()
    controller.start()
    yield controller
    controller.stop()
    controller.uninstall()


@pytest.fixture(scope="module")
def cortex() -> Iterator[FakeCortex]:
    with run_in_thread(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def namespace(plane: ControlPlane) -> Iterator[str]:
    with module_namespace(plane, "rc-argo") as name:
        yield name


@pytest.fixture(scope="module")
def operator(
    plane: ControlPlane,
    release: Release,
    cortex: FakeCortex,
    argo: ArgoRollouts,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    log = Path(tmp_path_factory.mktemp("argo-operator")) / "operator.log"
    running = make_operator(plane, release, cortex, log, watch=[namespace],
                            CORTEX_DEPLOYS="true", CORTEX_DEPLOY_SETTLE="0")  # fmt: skip
    running.start(also=frozenset({"rollouts"}))
    yield running
    running.stop()
    assert running.violations() == [], "the operator wrote to workloads or was refused"
    assert_once_per_key(cortex)


def rollout(name: str, namespace: str, tag: str | None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"cortex.io/tag": tag} if tag else {},
        },
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": name}}, **spec},
    }


def template(name: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}],
                     "terminationGracePeriodSeconds": 0}}  # fmt: skip


class Person:
    """What a person does to a Rollout: a new image, and the plugin's promote and abort."""

    def __init__(self, plane: ControlPlane, namespace: str, name: str) -> None:
        self.plane, self.namespace, self.name = plane, namespace, name
        self.status_writes = 0

    def get(self) -> dict[str, Any]:
        found: dict[str, Any] = self.plane.get(f"rollout/{self.name}", "-n", self.namespace)
        return found

    def image(self, image: str) -> None:
        change = [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                   "value": image}]  # fmt: skip
        self._patch("--type=json", "-p", json.dumps(change))

    def promote(self) -> None:
        """``kubectl argo rollouts promote``: clear the pause conditions (status), and unpause
        the spec where it is paused."""
        found = self.get()
        if (found.get("status") or {}).get("pauseConditions"):
            self._patch("--subresource=status", "--type=merge",
                        "-p", '{"status":{"pauseConditions":null}}')  # fmt: skip
            self.status_writes += 1
        if found["spec"].get("paused"):
            self._patch("--type=merge", "-p", '{"spec":{"paused":false}}')

    def abort(self) -> None:
        """``kubectl argo rollouts abort``: ``status.abort`` set."""
        self._patch("--subresource=status", "--type=merge", "-p", '{"status":{"abort":true}}')
        self.status_writes += 1

    def paused(self) -> bool:
        status = self.get().get("status") or {}
        return status.get("phase") == "Paused" and bool(status.get("pauseConditions"))

    def _patch(self, *args: str) -> None:
        self.plane.kubectl("patch", f"rollout/{self.name}", "-n", self.namespace, *args)


def titles(cortex: FakeCortex, tag: str, key: str) -> list[str]:
    """Every title the operator sent for one event, in order (its POST, then each PUT)."""
    return [str(body.get("title")) for _, body in event_writes(cortex, tag, key)]


def told(cortex: FakeCortex, tag: str, key: str, title: str, timeout: float = 90) -> None:
    wait_for(lambda: any(t.startswith(title) for t in titles(cortex, tag, key)), timeout,
             repr(title))  # fmt: skip


def revision(cortex: FakeCortex, tag: str, number: int) -> dict[str, Any]:
    (event,) = [e for e in events(cortex, tag, "ARGO_ROLLOUT_REVISION")
                if data(e)["revision"] == number]  # fmt: skip
    return data(event)


def created_and_healthy(cortex: FakeCortex, tag: str, plane: ControlPlane) -> str:
    """Wait for a Rollout's creation event and for the controller to make revision 1 healthy;
    the Rollout's uid."""
    (created,) = wait_for(lambda: events(cortex, tag, "ARGO_ROLLOUT_CREATION"), what="creation")
    found = data(created)
    person = Person(plane, found["namespace"], found["name"])
    wait_for(lambda: (person.get().get("status") or {}).get("phase") == "Healthy",
             what="revision 1 healthy")  # fmt: skip
    return str(found["uid"])


def status_writers(plane: ControlPlane, namespace: str, name: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for r in plane.audit():
        if (r.resource, r.subresource, r.namespace, r.name) == ("rollouts", "status", namespace,
                                                                name) and r.is_write:  # fmt: skip
            found[r.user] = found.get(r.user, 0) + 1
    return found


def deploys(cortex: FakeCortex, tag: str) -> list[tuple[str, str]] | None:
    found = [
        (d.type, str((d.custom_data or {}).get("eventKey"))) for d in cortex.state.deploys(tag)
    ]
    return found or None


def test_a_canary_s_steps_pause_promotion_end_and_an_abort(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    name = "canary"
    plane.apply(rollout(name, namespace, TAG, template=template(name, "web:1"),
                        strategy={"canary": {"steps": STEPS}}))  # fmt: skip
    person, uid = Person(plane, namespace, name), created_and_healthy(cortex, TAG, plane)
    key = f"argo-rollout/{uid}/revision/2"

    # Revision 2: the controller sets the weight and pauses at step 2; promoted, it goes on
    # to the timed pause at step 4, which ends by itself, and makes the new pods stable.
    person.image("web:2")
    told(cortex, TAG, key, "Rollout of canary to web:2 paused at step 2 of 4")
    person.promote()
    told(cortex, TAG, key, "Rollout of canary to web:2 completed")
    done = revision(cortex, TAG, 2)
    assert (done["result"], done["promotions"], done["strategy"]) == ("Completed", 1, "canary")
    assert wait_for(lambda: deploys(cortex, TAG), what="the deploy") == [
        ("DEPLOY", f"deploy/rollout/{uid}/revision/2")
    ]

    # Revision 3 is aborted where it pauses: the controller resets its step to 0 as it aborts.
    person.image("web:3")
    key3 = f"argo-rollout/{uid}/revision/3"
    told(cortex, TAG, key3, "Rollout of canary to web:3 paused at step 2 of 4")
    person.abort()
    told(cortex, TAG, key3, "Rollout of canary to web:3 aborted at step 2 of 4")
    assert revision(cortex, TAG, 3)["result"] == "Aborted"
    reason = "RolloutAborted: Rollout aborted update to revision 3"
    wait_for(lambda: any(reason in str(body.get("description"))
                         for _, body in event_writes(cortex, TAG, key3)),
             what="the controller's reason")  # fmt: skip

    # One event per revision, created once; the aborted revision is no deploy.
    for number in (2, 3):
        key_n = f"argo-rollout/{uid}/revision/{number}"
        assert [m for m, _ in event_writes(cortex, TAG, key_n)].count("POST") == 1
    assert deploys(cortex, TAG) == [("DEPLOY", f"deploy/rollout/{uid}/revision/2")]
    # The controller wrote the statuses; the test only its promote and abort.
    writers = status_writers(plane, namespace, name)
    assert writers.get(ADMIN, 0) == person.status_writes == 2
    assert writers.get(CONTROLLER_USER, 0) > 5


def test_a_blue_green_rollout_waits_for_its_promotion(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    name = "blue-green"
    services = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-{role}",
         "namespace": namespace}, "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}
        for role in ("active", "preview")
    ]  # fmt: skip
    plane.apply(*services)
    strategy = {"blueGreen": {"activeService": f"{name}-active",
                              "previewService": f"{name}-preview",
                              "autoPromotionEnabled": False,
                              "scaleDownDelaySeconds": 3}}  # fmt: skip
    plane.apply(rollout(name, namespace, BLUE_GREEN_TAG, template=template(name, "web:1"),
                        strategy=strategy, replicas=2))  # fmt: skip
    person, uid = Person(plane, namespace, name), created_and_healthy(cortex, BLUE_GREEN_TAG, plane)
    key = f"argo-rollout/{uid}/revision/2"

    person.image("web:2")
    told(cortex, BLUE_GREEN_TAG, key, "Rollout of blue-green to web:2 paused")
    wait_for(person.paused, what="the preview to wait for its promotion")
    person.promote()
    told(cortex, BLUE_GREEN_TAG, key, "Rollout of blue-green to web:2 completed")

    done = revision(cortex, BLUE_GREEN_TAG, 2)
    assert (done["strategy"], done["result"], done["promotions"]) == ("blueGreen", "Completed", 1)
    assert "BlueGreenPause" in " ".join(titles(cortex, BLUE_GREEN_TAG, key)) or any(
        "BlueGreenPause" in str(body.get("description"))
        for _, body in event_writes(cortex, BLUE_GREEN_TAG, key)
    )
    assert wait_for(lambda: deploys(cortex, BLUE_GREEN_TAG), what="the deploy") == [
        ("DEPLOY", f"deploy/rollout/{uid}/revision/2")
    ]


def test_a_workload_ref_rollout_maps_through_its_deployment_and_rolls_out_its_template(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    plane.apply(deployment("web-template", namespace, image="web:7", replicas=0, tag=REF_TAG))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-template"}
    steps = [{"setWeight": 50}, {"pause": {"duration": "2s"}}]
    plane.apply(rollout("by-ref", namespace, None, workloadRef=ref, replicas=2,
                        selector={"matchLabels": {"app": "web-template"}},
                        strategy={"canary": {"steps": steps}}))  # fmt: skip
    uid = created_and_healthy(cortex, REF_TAG, plane)  # on the Deployment's tag
    (created,) = events(cortex, REF_TAG, "ARGO_ROLLOUT_CREATION")
    assert (data(created)["name"], data(created)["images"]) == ("by-ref", ["web:7"])

    # A new template in the Deployment is the Rollout's revision 2 (its own spec, and so its
    # generation, stay as they were).
    plane.kubectl("set", "image", "deployment/web-template", "-n", namespace, "app=web:8")
    key = f"argo-rollout/{uid}/revision/2"
    told(cortex, REF_TAG, key, "Rollout of by-ref to web:8 completed")
    done = revision(cortex, REF_TAG, 2)
    assert (done["images"], done["workloadRef"], done["promotions"]) == (
        ["web:8"], "web-template", 0)  # fmt: skip
    # One deploy of the change: the Rollout's; the Deployment only holds its template.
    assert wait_for(lambda: deploys(cortex, REF_TAG), what="the deploy") == [
        ("DEPLOY", f"deploy/rollout/{uid}/revision/2")
    ]
    # It has no tag of its own: nothing of it goes anywhere else.
    assert [data(e)["name"] for e in events(cortex, TAG) if data(e)["name"] == "by-ref"] == []
