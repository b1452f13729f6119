"""CORTEX_NAMESPACE_SELECTOR on the real control plane: a namespace joining and leaving it.

A module of its own: no other operator runs meanwhile (one would post Kubernetes Events on the
CortexEntity below while its namespace is being deleted, which the API server refuses).
"""

from __future__ import annotations

from pathlib import Path

from cortex_events_sim.fake_cortex import run_in_thread
from testbed.controlplane import ControlPlane

from .conftest import (
    API_KEY,
    assert_once_per_key,
    data,
    deployment,
    events,
    install,
    make_operator,
    wait_for,
)


def test_a_namespace_joins_and_leaves_the_namespace_selector(
    plane: ControlPlane, tmp_path: Path
) -> None:
    """An operator of its own, installed with a namespace selector: labelling a namespace
    brings its workloads in at once, without a restart (its CortexEntity's matchedWorkloads
    shows when the operator has seen the change); removing the label leaves later changes out."""
    ops, watched, tag = "rc-nssel-ops", "rc-nssel", "rc-nssel"
    plane.kubectl("create", "namespace", watched)
    release = install(plane, "nssel", ops, "--set", "namespaceSelector=cortex.io/watched=yes")

    def matched() -> int:
        status = plane.get("cortexentity/web", "-n", watched).get("status", {})
        return int(status.get("matchedWorkloads", -1))

    try:
        with run_in_thread(api_key=API_KEY) as fake:
            # The whole cluster, on purpose: the selector chooses among every namespace.
            running = make_operator(plane, release, fake, tmp_path / "operator.log", watch=None,
                                    CORTEX_NAMESPACE_SELECTOR="cortex.io/watched=yes")  # fmt: skip
            running.start(also=frozenset({"namespaces"}))
            try:
                plane.apply({
                    "apiVersion": "cortex.io/v1alpha1", "kind": "CortexEntity",
                    "metadata": {"name": "web", "namespace": watched},
                    "spec": {"tag": tag, "selector": {"matchLabels": {"app": "web"}}},
                })  # fmt: skip
                plane.apply(deployment("web", watched, replicas=1))
                plane.rollout_status("deployment/web", watched)
                wait_for(lambda: matched() == 0, what="web matched by nothing: not selected")
                # A probe in a selected namespace shows the operator records meanwhile.
                plane.kubectl("label", "namespace", ops, "cortex.io/watched=yes")
                plane.apply(deployment("probe", ops, tag="rc-nssel-probe", replicas=0))
                wait_for(lambda: events(fake, "rc-nssel-probe", "DEPLOYMENT_CREATION"),
                         what="the probe in a selected namespace")  # fmt: skip
                assert events(fake, tag) == []
                plane.kubectl("label", "namespace", watched, "cortex.io/watched=yes")
                (created,) = wait_for(lambda: events(fake, tag, "DEPLOYMENT_CREATION"),
                                      what="web's creation once its namespace joined")  # fmt: skip
                assert data(created)["namespace"] == watched
                wait_for(lambda: matched() >= 1, what="web (and its Pod) matched once selected")
                plane.kubectl("scale", "deployment/web", "--replicas=2", "-n", watched)
                (scale,) = wait_for(lambda: events(fake, tag, "DEPLOYMENT_SCALE"),
                                    what="the scale while selected")  # fmt: skip
                assert scale.title == "Scaled web from 1 to 2 replicas"
                plane.kubectl("label", "namespace", watched, "cortex.io/watched-")
                wait_for(lambda: matched() == 0, what="web matched by nothing once it left")
                plane.kubectl("scale", "deployment/web", "--replicas=3", "-n", watched)
                plane.kubectl("scale", "deployment/probe", "--replicas=1", "-n", ops)
                # The probe's later scale is recorded; web's, in a namespace that left, is not.
                wait_for(lambda: events(fake, "rc-nssel-probe", "DEPLOYMENT_SCALE"),
                         what="the probe's scale")  # fmt: skip
                assert len(events(fake, tag, "DEPLOYMENT_SCALE")) == 1
                assert_once_per_key(fake)
            finally:
                running.stop()
            assert running.violations() == [], "the operator wrote to workloads or was refused"
    finally:
        plane.helm("uninstall", "nssel", "-n", ops, "--wait")
        # Gone before the next module's operator starts: one posting a Kubernetes Event on the
        # CortexEntity of a namespace still terminating would be refused (403).
        for name in (watched, ops):
            plane.kubectl("delete", "namespace", name, "--ignore-not-found", "--timeout=120s")
