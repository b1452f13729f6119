"""On a real control plane: workloads mapped from the Cortex emulator's catalog with no annotation
(an ``x-cortex-k8s`` block, a label key, a name), and who changed what on each rollout, for a
``kubectl set image``, a server-side apply with a named field manager and a ``helm upgrade``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.fake_cortex.catalog import put_descriptors
from testbed.controlplane import ControlPlane

from .conftest import CLUSTER, Operator, assert_once_per_key, data, deployment, events, wait_for

SECRET = "rc-db-pa55word-9c1e"


def descriptor(tag: str, k8s: dict[str, Any] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"title": tag, "x-cortex-tag": tag}
    if k8s is not None:
        info["x-cortex-k8s"] = k8s
    return {"openapi": "3.0.1", "info": info}


def types(cortex: FakeCortex, tag: str) -> set[str]:
    return {e.type for e in events(cortex, tag)}


def test_the_catalog_maps_workloads_without_annotations(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    put_descriptors(
        cortex.state,
        [
            descriptor("rc-block", {
                "deployment": [{"identifier": f"{namespace}/web", "cluster": CLUSTER}],
                "statefulset": [{"identifier": f"{namespace}/web", "cluster": CLUSTER}],
            }),
            descriptor("rc-elsewhere", {
                "deployment": [{"identifier": f"{namespace}/other", "cluster": "another"}],
            }),
            descriptor("rc-team"),
            descriptor("rc-named"),
        ],
    )  # fmt: skip
    operator.process.env.update(
        CORTEX_MAPPING="descriptor,labels,name", CORTEX_MAPPING_LABEL_KEYS="team"
    )
    operator.start()
    plane.apply(
        deployment("web", namespace, replicas=1),
        deployment("worker", namespace, replicas=1, labels={"team": "rc-team"}),
        deployment("rc-named", namespace, replicas=1),
        deployment("other", namespace, replicas=1),
    )
    for tag in ("rc-block", "rc-team", "rc-named"):

        def recorded(tag: str = tag) -> bool:
            return {"DEPLOYMENT_CREATION", "POD_CREATION"} <= types(cortex, tag)

        wait_for(recorded, what=f"the Deployment and its Pod on {tag}")
    (created,) = events(cortex, "rc-block", "DEPLOYMENT_CREATION")
    assert data(created)["name"] == "web"
    assert {data(e)["name"] for e in events(cortex, "rc-team")} >= {"worker"}
    # Every workload that maps has been recorded: the one named for another cluster has not.
    assert types(cortex, "rc-elsewhere") == set()
    assert not any(data(e)["name"] == "other" for e in cortex.state.events())
    reads = [r for r in cortex.state.requests if r.path.startswith("/api/v1/catalog/descr")]
    assert reads
    assert all(r.query.get("pageSize") == "250" for r in reads)
    assert_once_per_key(cortex)


def rollout(cortex: FakeCortex, tag: str, revision: int) -> dict[str, Any] | None:
    for event in events(cortex, tag, "DEPLOYMENT_ROLLOUT"):
        if data(event)["revision"] == revision and data(event)["result"] == "Completed":
            return {"event": event, **data(event)}
    return None


def chart(folder: Path, tag: str) -> Path:
    """A chart of one Deployment whose image is a value."""
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (folder / "values.yaml").write_text("image: nginx:1.21\n")
    manifest = deployment("shop", "NAMESPACE", replicas=1, tag=tag)
    del manifest["metadata"]["namespace"]
    text = json.dumps(manifest).replace('"nginx:1.21"', '"{{ .Values.image }}"')
    (folder / "templates" / "deployment.yaml").write_text(text)
    return folder


def test_each_rollout_says_who_changed_what(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator, tmp_path: Path
) -> None:
    tag = "rc-changes"
    operator.process.env.update(CORTEX_DEPLOYS="true", CORTEX_DEPLOY_SETTLE="0")
    operator.start()
    web = deployment("web", namespace, replicas=1, tag=tag)
    web["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": SECRET}
    ]
    plane.apply(web)  # kubectl-client-side-apply
    plane.rollout_status("deployment/web", namespace)

    # 1. kubectl set image
    plane.kubectl("set", "image", "deployment/web", "app=nginx:1.22", "-n", namespace)
    plane.rollout_status("deployment/web", namespace)
    second = wait_for(lambda: rollout(cortex, tag, 2), what="revision 2 completed")
    assert second["changedBy"] == "kubectl-set"
    assert second["imageChanges"] == [
        {"container": "app", "from": "nginx:1.21", "to": "nginx:1.22"}
    ]
    assert "changed by kubectl-set: nginx:1.21 -> nginx:1.22" in second["event"].description

    # 2. a server-side apply under its own field manager, rotating the password too
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.23"
    web["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = SECRET + "-rotated"
    plane.kubectl("apply", "--server-side", "--field-manager=ci-deployer", "--force-conflicts",
                  "-f", "-", stdin=json.dumps(web))  # fmt: skip
    plane.rollout_status("deployment/web", namespace)
    third = wait_for(lambda: rollout(cortex, tag, 3), what="revision 3 completed")
    assert third["changedBy"] == "ci-deployer"
    assert third["imageChanges"] == [{"container": "app", "from": "nginx:1.22", "to": "nginx:1.23"}]
    assert third["changedEnv"] == {"app": ["DB_PASSWORD"]}
    wait_for(lambda: len(cortex.state.deploys(tag)) >= 2, what="the deploys of revisions 2, 3")
    deploys = {(d.custom_data or {}).get("revision"): d for d in cortex.state.deploys(tag)}
    assert deploys[3].deployer is not None
    assert deploys[3].deployer["name"] == "ci-deployer"

    # 3. helm install, then helm upgrade
    shop = chart(tmp_path / "shop", tag)
    plane.helm("install", "shop", str(shop), "-n", namespace, "--wait", "--timeout", "120s")
    plane.helm("upgrade", "shop", str(shop), "-n", namespace, "--set", "image=nginx:1.24",
               "--wait", "--timeout", "120s")  # fmt: skip
    upgraded = wait_for(
        lambda: next(
            (
                {"event": e, **data(e)}
                for e in events(cortex, tag, "DEPLOYMENT_ROLLOUT")
                if data(e)["name"] == "shop" and data(e)["result"] == "Completed"
            ),
            None,
        ),
        what="the helm upgrade's rollout",
    )
    assert upgraded["changedBy"] == "helm"
    assert upgraded["imageChanges"] == [
        {"container": "app", "from": "nginx:1.21", "to": "nginx:1.24"}
    ]
    assert upgraded["changeSource"] == {"tool": "helm", "release": "shop", "namespace": namespace}

    # No env value in anything the operator sent to Cortex.
    for request in cortex.state.requests:
        assert SECRET not in json.dumps(request.body), f"{request.method} {request.path}"
    assert_once_per_key(cortex)
