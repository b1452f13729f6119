"""Argo Rollouts against the upstream CRD, with a hand-driven status.

The Rollout CRD is the one Argo Rollouts publishes (``manifests/crds/rollout-crd.yaml`` of its Go
module, fetched into Go's module cache with ``go mod download``; nothing of it is copied into
this repository). Its controller is not run: building it needs a newer Go than the test bed's
(v1.10 asks for go 1.26.10) and a cold build of its dependencies would take long on two cores.
So the test writes what the controller would write, as the controller does: the revision
annotation on the Rollout and its status through the ``/status`` subresource, one step at a
time, waiting each time for the operator to tell of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
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

ARGO_ROLLOUTS = "github.com/argoproj/argo-rollouts"
VERSION = os.environ.get("ARGO_ROLLOUTS_VERSION", "v1.10.2")
CRD_PATH = "manifests/crds/rollout-crd.yaml"
TAG, REF_TAG = "rc-argo", "rc-argo-ref"
STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "30s"}}]


def upstream_crd(folder: Path) -> Path:
    """The Rollout CRD of Argo Rollouts ``VERSION``, from its module in Go's module cache."""
    if shutil.which("go") is None:
        pytest.skip("go is not installed: the Argo Rollouts CRD comes from its Go module")
    scratch = Path(tempfile.mkdtemp(prefix="argo-mod-"))
    try:
        found = subprocess.run(
            ["go", "mod", "download", "-json", f"{ARGO_ROLLOUTS}@{VERSION}"],
            cwd=scratch, capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
        )  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        archive = Path(json.loads(found.stdout)["Zip"])
    except (ValueError, KeyError):
        pytest.skip(f"could not download {ARGO_ROLLOUTS}@{VERSION}: {found.stderr[-300:]}")
    # The module asks for a newer Go to build, which does not keep its files from being read.
    if not archive.is_file():
        pytest.skip(f"{ARGO_ROLLOUTS}@{VERSION} has no module archive: {found.stdout[-300:]}")
    with zipfile.ZipFile(archive) as module:
        text = module.read(f"{ARGO_ROLLOUTS}@{VERSION}/{CRD_PATH}")
    path = folder / "rollout-crd.yaml"
    path.write_bytes(text)
    return path


@pytest.fixture(scope="module")
def crd(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = upstream_crd(Path(tmp_path_factory.mktemp("argo")))
    # Server-side: the CRD is too large for the last-applied annotation of a client-side apply.
    plane.kubectl("apply", "--server-side", "-f", str(path))

    def established() -> bool:
        conditions = plane.get("crd", "rollouts.argoproj.io").get("status", {}).get("conditions")
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions or [])

    wait_for(established, what="the Rollout CRD established")
    yield path
    plane.kubectl("delete", "crd", "rollouts.argoproj.io", "--wait=false")


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
    crd: Path,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    log = Path(tmp_path_factory.mktemp("argo-operator")) / "operator.log"
    running = make_operator(plane, release, cortex, log, CORTEX_DEPLOYS="true",
                            CORTEX_DEPLOY_SETTLE="0")  # fmt: skip
    running.start(also=frozenset({"rollouts"}))
    yield running
    running.stop()
    assert running.violations() == [], "the operator wrote to workloads or was refused"
    assert_once_per_key(cortex)


def rollout(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": name}}, **spec},
    }


def template(name: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]}}  # fmt: skip


class Controller:
    """Writes what the Argo Rollouts controller would: the revision, then the status."""

    def __init__(self, plane: ControlPlane, namespace: str, name: str) -> None:
        self.plane, self.namespace, self.name = plane, namespace, name

    def generation(self) -> int:
        found = self.plane.get(f"rollout/{self.name}", "-n", self.namespace)
        return int(found["metadata"]["generation"])

    def revision(self, number: int) -> None:
        self.plane.kubectl("annotate", f"rollout/{self.name}", "-n", self.namespace,
                           f"rollout.argoproj.io/revision={number}", "--overwrite")  # fmt: skip

    def status(self, **fields: Any) -> None:
        body = {"status": {"observedGeneration": str(self.generation()), **fields}}
        where = (f"rollout/{self.name}", "-n", self.namespace)
        self.plane.kubectl("patch", *where, "--subresource=status", "--type=merge",
                           "-p", json.dumps(body))  # fmt: skip


def titles(cortex: FakeCortex, tag: str, key: str) -> list[str]:
    """Every title the operator sent for one event, in order (its POST, then each PUT)."""
    return [str(body.get("title")) for _, body in event_writes(cortex, tag, key)]


def test_a_canary_rollout_s_steps_pause_promotion_end_and_abort(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    name = "canary"
    manifest = rollout(name, namespace, template=template(name, "web:1"),
                       strategy={"canary": {"steps": STEPS}})  # fmt: skip
    manifest["metadata"]["annotations"] = {"cortex.io/tag": TAG}
    plane.apply(manifest)
    argo = Controller(plane, namespace, name)
    argo.revision(1)
    argo.status(currentPodHash="h1", stableRS="h1", phase="Healthy", currentStepIndex=4)
    (created,) = wait_for(lambda: events(cortex, TAG, "ARGO_ROLLOUT_CREATION"), what="creation")
    uid = data(created)["uid"]
    key = f"argo-rollout/{uid}/revision/2"

    def told(title: str, event_key: str = key) -> None:
        wait_for(lambda: title in titles(cortex, TAG, event_key), what=repr(title))

    # Revision 2: step 1, paused at step 2, promoted (the pause cleared), stable.
    plane.kubectl("patch", f"rollout/{name}", "-n", namespace, "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "web:2"}]
    ))  # fmt: skip
    argo.revision(2)
    argo.status(currentPodHash="h2", stableRS="h1", phase="Progressing", currentStepIndex=0)
    told("Rollout of canary to web:2: step 1 of 4")
    paused = [{"reason": "CanaryPauseStep", "startTime": datetime.now(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")}]  # fmt: skip
    argo.status(currentStepIndex=1, pauseConditions=paused, phase="Paused")
    told("Rollout of canary to web:2 paused at step 2 of 4")
    argo.status(currentStepIndex=2, pauseConditions=None, phase="Progressing")
    told("Rollout of canary to web:2 promoted to step 3 of 4")
    argo.status(currentStepIndex=4, stableRS="h2", phase="Healthy")
    completed = "Rollout of canary to web:2 completed"
    wait_for(lambda: any(t.startswith(completed) for t in titles(cortex, TAG, key)),
             what="revision 2 completed")  # fmt: skip
    (done,) = [e for e in events(cortex, TAG, "ARGO_ROLLOUT_REVISION") if data(e)["revision"] == 2]
    assert data(done)["promotions"] == 1
    assert data(done)["result"] == "Completed"
    # Revision 3 is aborted at its second step.
    plane.kubectl("patch", f"rollout/{name}", "-n", namespace, "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "web:3"}]
    ))  # fmt: skip
    argo.revision(3)
    why = "RolloutAborted: Rollout aborted update to revision 3"
    argo.status(currentPodHash="h3", stableRS="h2", phase="Degraded", currentStepIndex=1,
                abort=True, message=why)  # fmt: skip
    told("Rollout of canary to web:3 aborted at step 2 of 4", f"argo-rollout/{uid}/revision/3")
    # One event per revision, created once (revision 3 was aborted at its first sighting).
    for revision in (2, 3):
        found = [r.method for r in cortex.state.requests if r.tag == TAG and r.status == 200
                 and isinstance(r.body, dict)
                 and r.body.get("customData", {}).get("eventKey")
                 == f"argo-rollout/{uid}/revision/{revision}"]  # fmt: skip
        assert found.count("POST") == 1
    # Revision 2 went through four states after its first: each a PUT of the same event.
    assert len(titles(cortex, TAG, key)) >= 4
    # The stable revision is a Cortex deploy; the aborted one is not.
    expected = [("DEPLOY", f"deploy/rollout/{uid}/revision/2")]

    def deploys() -> list[tuple[str, str]] | None:
        found = [(d.type, str((d.custom_data or {}).get("eventKey")))
                 for d in cortex.state.deploys(TAG)]  # fmt: skip
        return found or None

    assert wait_for(deploys, what="the deploy") == expected


def test_a_workload_ref_rollout_maps_through_its_deployment(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    plane.apply(deployment("web-template", namespace, image="web:7", replicas=0, tag=REF_TAG))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-template"}
    plane.apply(rollout("by-ref", namespace, workloadRef=ref,
                        strategy={"canary": {"steps": STEPS}}))  # fmt: skip
    (created,) = wait_for(lambda: events(cortex, REF_TAG, "ARGO_ROLLOUT_CREATION"),
                          what="the creation, on the Deployment's tag")  # fmt: skip
    assert data(created)["name"] == "by-ref"
    assert data(created)["images"] == ["web:7"]
    # It has no tag of its own: nothing of it goes anywhere else.
    assert [data(e)["name"] for e in events(cortex, TAG) if data(e)["name"] == "by-ref"] == []
