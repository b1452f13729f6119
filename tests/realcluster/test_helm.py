"""The chart installed, upgraded and uninstalled by real Helm; both RBAC variants at work."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import Release, deployment, events, install, make_operator, wait_for


def exists(plane: ControlPlane, *args: str) -> bool:
    result = plane.run(plane.binary("kubectl"), "get", *args, check=False)
    return result.returncode == 0


def env_of(plane: ControlPlane, release: Release) -> dict[str, str]:
    found = plane.get("deployment", "-n", release.namespace, "-l",
                      f"app.kubernetes.io/instance={release.name}")["items"][0]  # fmt: skip
    container = found["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_install_upgrade_uninstall_with_a_cluster_role(plane: ControlPlane) -> None:
    release = install(plane, "helm-a", "helm-a")
    name = "helm-a-cortex-events-operator"
    assert exists(plane, "crd", "cortexentities.cortex.io")
    assert exists(plane, "clusterrole", name)
    assert exists(plane, "clusterrolebinding", name)
    for kind, object_name in (
        ("serviceaccount", name),
        ("service", f"{name}-metrics"),
        ("secret", f"{name}-api-key"),
        ("deployment", name),
    ):
        assert exists(plane, kind, object_name, "-n", "helm-a"), kind  # fmt: skip
    binding = plane.get("clusterrolebinding", name)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": release.service_account, "namespace": "helm-a"}
    ]
    # --wait saw the operator's pod scheduled and Ready (on a kwok node).
    assert env_of(plane, release)["CORTEX_RATE_LIMIT"] == "600"
    plane.helm("upgrade", "helm-a", str(Path(__file__).parents[2] / "helm/cortex-events-operator"),
               "-n", "helm-a", "--reuse-values", "--set", "rateLimit=500", "--wait")  # fmt: skip
    status = json.loads(plane.helm("status", "helm-a", "-n", "helm-a", "-o", "json"))
    assert (status["version"], status["info"]["status"]) == (2, "deployed")
    assert env_of(plane, release)["CORTEX_RATE_LIMIT"] == "500"
    plane.helm("uninstall", "helm-a", "-n", "helm-a", "--wait")
    assert not exists(plane, "clusterrole", name)
    assert not exists(plane, "deployment", name, "-n", "helm-a")
    assert not exists(plane, "serviceaccount", name, "-n", "helm-a")
    assert not exists(plane, "secret", f"{name}-api-key", "-n", "helm-a")
    # Helm never deletes a chart's CRDs: CortexEntity objects outlive an uninstall.
    assert exists(plane, "crd", "cortexentities.cortex.io")


def test_namespaced_roles_grant_only_the_listed_namespaces(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, tmp_path: Path
) -> None:
    scoped = [f"{namespace}-a", f"{namespace}-b"]
    for name in scoped:
        plane.kubectl("create", "namespace", name)
    try:
        release = install(plane, "helm-b", f"{namespace}-ops",
                          "--set", f"namespaces={{{','.join(scoped)}}}")  # fmt: skip
        role = "helm-b-cortex-events-operator"
        assert not exists(plane, "clusterrole", role)
        for name in scoped:
            assert exists(plane, "role", role, "-n", name)
            assert exists(plane, "rolebinding", role, "-n", name)
        operator = make_operator(plane, release, cortex, tmp_path / "operator.log", watch=scoped)
        operator.start()
        try:
            # Outside the listed namespaces nothing is seen, and nothing is asked for.
            plane.apply(deployment("outside", namespace, tag="rc-outside"))
            plane.apply(deployment("inside", scoped[0], tag="rc-inside"))
            wait_for(lambda: events(cortex, "rc-inside", "DEPLOYMENT_CREATION"), what="inside")
            time.sleep(2)
            assert events(cortex, "rc-outside") == []
        finally:
            operator.stop()
        assert operator.violations() == []
        plane.helm("uninstall", "helm-b", "-n", f"{namespace}-ops", "--wait")
        assert not exists(plane, "role", role, "-n", scoped[0])
    finally:
        for name in [*scoped, f"{namespace}-ops"]:
            plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
