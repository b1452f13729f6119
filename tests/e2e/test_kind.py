"""End to end on a real cluster: build the images, install the chart on kind, watch events arrive.

Needs ``docker`` (with a running daemon), ``kind``, ``helm`` and ``kubectl``; skips itself, with
the reason, when one is missing. Run it with ``pytest -m e2e tests/e2e``. It creates its own
kind cluster with its own kubeconfig (your current context is never touched) and deletes the
cluster at the end, passed or failed.

The Cortex side is the project's own emulator (``cortex-events fake-cortex``) running in the
cluster from its own image (the Dockerfile's ``fake-cortex`` target: the operator's image holds
no simulator); the test reads what it received from its admin endpoint
``GET /_fake/events?tag=<tag>`` through the API server's service proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "cortex-events-operator"
IMAGE = "cortex-events-operator:e2e"
EMULATOR_IMAGE = "cortex-events-fake-cortex:e2e"
API_KEY = "e2e-key"
CLUSTER_NAME = "kind-e2e"
OPERATOR_NAMESPACE = "cortex-events"
RELEASE = "cortex-events-operator"
CORTEX_NAMESPACE = "cortex-e2e"
APP_NAMESPACE = "shop"
EMULATOR_PORT = 8081
REQUIRED_TOOLS = ("docker", "kind", "helm", "kubectl")

T = TypeVar("T")


def missing_prerequisite() -> str | None:
    """Why this suite cannot run here, or None when it can."""
    problems = [f"{tool} is not installed" for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if shutil.which("docker") is not None:
        try:
            info = subprocess.run(
                ["docker", "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            problems.append("the docker daemon did not answer `docker info` within 30 s")
        else:
            if info.returncode != 0:
                problems.append("the docker daemon is not reachable (`docker info` failed)")
    if not problems:
        return None
    return f"the kind suite needs {', '.join(REQUIRED_TOOLS)} and a docker daemon: " + "; ".join(
        problems
    )


@dataclass
class Cluster:
    """A kind cluster and the commands that talk to it through its own kubeconfig."""

    name: str
    kubeconfig: Path

    def run(
        self, *command: str, stdin: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(command)}` exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        return self.run("kubectl", *args, stdin=stdin, timeout=timeout).stdout

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
        )

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def operator_logs(self) -> str:
        try:
            return self.kubectl(
                "-n", OPERATOR_NAMESPACE, "logs", f"deploy/{RELEASE}", "--tail=60", timeout=60
            )
        except AssertionError as failure:
            return str(failure)


def wait_for(what: str, probe: Callable[[], T | None], cluster: Cluster, timeout: float = 180) -> T:
    """Polls ``probe`` until it returns something other than None; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            found = probe()
        except AssertionError as failure:
            found, last_error = None, str(failure)
        if found is not None:
            return found
        time.sleep(3)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}. {last_error}\n"
        f"operator logs:\n{cluster.operator_logs()}"
    )


def restricted_container(
    name: str, args: list[str] | None = None, *, image: str = IMAGE
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "Never",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if args is not None:
        container["args"] = args
    return container


def deployment(
    namespace: str,
    name: str,
    container: dict[str, Any],
    *,
    annotations: dict[str, str] | None = None,
    replicas: int = 1,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 2},
            },
        },
    }


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = missing_prerequisite()
    if reason is not None:
        pytest.skip(reason)
    name = f"cortex-events-e2e-{uuid.uuid4().hex[:6]}"
    created = Cluster(name=name, kubeconfig=tmp_path_factory.mktemp("kind") / "kubeconfig")
    try:
        created.run(
            "kind",
            "create",
            "cluster",
            "--name",
            name,
            "--kubeconfig",
            str(created.kubeconfig),
            "--wait",
            "180s",
            timeout=600,
        )
        yield created
    finally:
        subprocess.run(
            ["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(created.kubeconfig)],
            capture_output=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Cluster:
    """The images built and loaded, the emulator running, and the chart installed."""
    cluster.run("docker", "build", "--tag", IMAGE, str(ROOT), timeout=900)
    cluster.run(
        "docker", "build", "--target", "fake-cortex", "--tag", EMULATOR_IMAGE, str(ROOT),
        timeout=900,
    )  # fmt: skip
    for image in (IMAGE, EMULATOR_IMAGE):
        cluster.run("kind", "load", "docker-image", image, "--name", cluster.name, timeout=600)

    emulator = restricted_container(
        "fake-cortex",
        ["fake-cortex", "--port", str(EMULATOR_PORT), "--api-key", API_KEY, "--host", "0.0.0.0"],
        image=EMULATOR_IMAGE,
    )
    emulator["ports"] = [{"name": "http", "containerPort": EMULATOR_PORT}]
    cluster.apply(
        namespace(CORTEX_NAMESPACE),
        deployment(CORTEX_NAMESPACE, "fake-cortex", emulator),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "fake-cortex", "namespace": CORTEX_NAMESPACE},
            "spec": {
                "selector": {"app": "fake-cortex"},
                "ports": [{"name": "http", "port": EMULATOR_PORT, "targetPort": "http"}],
            },
        },
    )
    cluster.kubectl(
        "-n", CORTEX_NAMESPACE, "rollout", "status", "deploy/fake-cortex", "--timeout=180s"
    )

    # The operator's namespace enforces the restricted Pod Security Standard: the chart's Pod
    # must be admitted under it.
    cluster.apply(namespace(OPERATOR_NAMESPACE), namespace(APP_NAMESPACE))
    cluster.kubectl(
        "-n",
        OPERATOR_NAMESPACE,
        "create",
        "secret",
        "generic",
        "cortex-events",
        f"--from-literal=api-key={API_KEY}",
    )
    cluster.run(
        "helm", "install", RELEASE, str(CHART),
        "--namespace", OPERATOR_NAMESPACE,
        "--set", "image.repository=cortex-events-operator",
        "--set", "image.tag=e2e",
        "--set", "image.pullPolicy=Never",
        "--set", "apiKey.existingSecret=cortex-events",
        "--set", f"baseUrl=http://fake-cortex.{CORTEX_NAMESPACE}.svc:{EMULATOR_PORT}",
        "--set", "allowHttp=true",
        "--set", f"clusterName={CLUSTER_NAME}",
        "--set", "logLevel=DEBUG",
        "--wait", "--timeout", "300s",
        timeout=420,
    )  # fmt: skip
    return cluster


def received(cluster: Cluster, tag: str) -> list[dict[str, Any]]:
    """The events the emulator holds for ``tag``, read through the API server's service proxy."""
    path = (
        f"/api/v1/namespaces/{CORTEX_NAMESPACE}/services/fake-cortex:http/proxy"
        f"/_fake/events?tag={tag}"
    )
    events: list[dict[str, Any]] = json.loads(cluster.kubectl("get", "--raw", path, timeout=60))
    return events


def event_of_type(
    cluster: Cluster, tag: str, event_type: str
) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        return next((e for e in received(cluster, tag) if e.get("type") == event_type), None)

    return probe


def sleeper(name: str) -> dict[str, Any]:
    return restricted_container(name) | {
        "command": ["python", "-c", "import signal; signal.pause()"]
    }


def test_the_operator_runs_restricted_and_cannot_write_workloads(installed: Cluster) -> None:
    pods = installed.get_json(
        "-n", OPERATOR_NAMESPACE, "pods", "-l", f"app.kubernetes.io/instance={RELEASE}"
    )
    (pod,) = pods["items"]
    assert pod["status"]["phase"] == "Running"
    account = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{RELEASE}"
    can_i = installed.run(
        "kubectl", "auth", "can-i", "list", "pods", "--all-namespaces", "--as", account
    )
    assert can_i.stdout.strip() == "yes"
    for verb, resource in (("patch", "deployments"), ("delete", "pods"), ("create", "secrets")):
        denied = subprocess.run(
            ["kubectl", "auth", "can-i", verb, resource, "-n", APP_NAMESPACE, "--as", account],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "KUBECONFIG": str(installed.kubeconfig)},
            check=False,
        )
        assert denied.stdout.strip() == "no", f"the operator may {verb} {resource}"


def test_an_annotated_deployment_becomes_cortex_events(installed: Cluster) -> None:
    tag = "payments-api"
    installed.apply(
        deployment(
            APP_NAMESPACE, "payments", sleeper("payments"), annotations={"cortex.io/tag": tag}
        )
    )
    created = wait_for(
        "DEPLOYMENT_CREATION", event_of_type(installed, tag, "DEPLOYMENT_CREATION"), installed
    )
    data = created["customData"]
    assert (data["cluster"], data["namespace"], data["kind"], data["name"]) == (
        CLUSTER_NAME, APP_NAMESPACE, "Deployment", "payments",
    )  # fmt: skip
    assert data["eventKey"]
    pod_event = wait_for("POD_CREATION", event_of_type(installed, tag, "POD_CREATION"), installed)
    assert pod_event["customData"]["kind"] == "Pod"

    installed.kubectl("-n", APP_NAMESPACE, "scale", "deploy/payments", "--replicas=2")
    wait_for("DEPLOYMENT_SCALE", event_of_type(installed, tag, "DEPLOYMENT_SCALE"), installed)

    installed.kubectl("-n", APP_NAMESPACE, "set", "env", "deploy/payments", "RELEASE=2")
    wait_for("DEPLOYMENT_ROLLOUT", event_of_type(installed, tag, "DEPLOYMENT_ROLLOUT"), installed)

    installed.kubectl("-n", APP_NAMESPACE, "delete", "deploy/payments", "--wait=true")
    wait_for("DEPLOYMENT_DELETION", event_of_type(installed, tag, "DEPLOYMENT_DELETION"), installed)

    keys = [event["customData"]["eventKey"] for event in received(installed, tag)]
    assert len(keys) == len(set(keys)), "one event per eventKey"


def test_a_statefulset_daemonset_and_cronjob_become_cortex_events(installed: Cluster) -> None:
    """The other kinds on kind's real controllers: a StatefulSet's and a DaemonSet's rollout,
    and a CronJob's run (started by hand, as ``kubectl create job --from`` does) that fails."""
    tag = "kinds-e2e"
    sts = deployment(APP_NAMESPACE, "db", sleeper("db"), annotations={"cortex.io/tag": tag})
    sts["kind"] = "StatefulSet"
    sts["spec"]["serviceName"] = "db"
    ds = deployment(APP_NAMESPACE, "agent", sleeper("agent"), annotations={"cortex.io/tag": tag})
    ds["kind"] = "DaemonSet"
    del ds["spec"]["replicas"]
    failing = restricted_container("nightly") | {"command": ["python", "-c", "raise SystemExit(3)"]}
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": APP_NAMESPACE,
                     "annotations": {"cortex.io/tag": tag}},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"backoffLimit": 0,
                 "template": {"spec": {"restartPolicy": "Never", "containers": [failing]}}}}},
    }  # fmt: skip
    installed.apply(sts, ds, cronjob)
    for kind in ("STATEFULSET_CREATION", "DAEMONSET_CREATION"):
        wait_for(kind, event_of_type(installed, tag, kind), installed)
    for workload in ("statefulset/db", "daemonset/agent"):
        installed.kubectl("-n", APP_NAMESPACE, "rollout", "status", workload, "--timeout=180s")
        installed.kubectl("-n", APP_NAMESPACE, "set", "env", workload, "RELEASE=2")
        installed.kubectl("-n", APP_NAMESPACE, "rollout", "status", workload, "--timeout=180s")

    def completed(event_type: str) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            return next((e for e in received(installed, tag) if e.get("type") == event_type
                         and e["customData"].get("result") == "Completed"), None)  # fmt: skip

        return probe

    for kind in ("STATEFULSET_ROLLOUT", "DAEMONSET_ROLLOUT"):
        wait_for(f"{kind} completed", completed(kind), installed)
    installed.kubectl("-n", APP_NAMESPACE, "create", "job", "nightly-1", "--from=cronjob/nightly")

    def failed_run() -> dict[str, Any] | None:
        return next((e for e in received(installed, tag) if e.get("type") == "JOB_RUN"
                     and e["customData"].get("result") == "Failed"), None)  # fmt: skip

    run = wait_for("the run failed", failed_run, installed)
    assert run["customData"]["cronJob"] == "nightly"
    keys = [event["customData"]["eventKey"] for event in received(installed, tag)]
    assert len(keys) == len(set(keys)), "one event per eventKey"


def test_a_cortex_entity_maps_workloads_by_label(installed: Cluster) -> None:
    tag = "inventory-service"
    installed.apply(
        {
            "apiVersion": "cortex.io/v1alpha1",
            "kind": "CortexEntity",
            "metadata": {"name": "inventory", "namespace": APP_NAMESPACE},
            "spec": {
                "tag": tag,
                "selector": {"matchLabels": {"app": "inventory"}},
                "customData": {"team": "stock"},
            },
        },
        deployment(APP_NAMESPACE, "inventory", sleeper("inventory")),
    )
    created = wait_for(
        "DEPLOYMENT_CREATION", event_of_type(installed, tag, "DEPLOYMENT_CREATION"), installed
    )
    assert created["customData"]["team"] == "stock"

    def ready() -> dict[str, Any] | None:
        entities = installed.get_json("cxe", "-A")["items"]
        (entity,) = [e for e in entities if e["metadata"]["name"] == "inventory"]
        conditions = entity.get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Ready" and c["status"] == "True"), None)

    wait_for("the CortexEntity to be Ready", ready, installed)


def test_metrics_are_served_through_the_metrics_service(installed: Cluster) -> None:
    path = (
        f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/services/{RELEASE}-metrics:metrics/proxy/metrics"
    )
    metrics = installed.kubectl("get", "--raw", path, timeout=60)
    assert "cortex_events_sent_total" in metrics
