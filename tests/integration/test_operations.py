"""Running it: metrics, liveness, logs, dry run, ``check``, the demo, and RBAC coverage."""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from cortex_events.kube.crd import crd_manifest
from cortex_events_sim import workloads
from cortex_events_sim.fake_cortex import FakeCortex
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.ports import free_port
from cortex_events_sim.server_thread import ServerThread, serve_in_thread
from tests.support.harness import OperatorProcess, start_watching, wait_for

from .conftest import API_KEY

pytestmark = pytest.mark.integration

NS = "shop"
ROOT = Path(__file__).resolve().parents[2]


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def failing(operator: OperatorProcess) -> tuple[int, str] | None:
    """The /healthz answer when it is a failure, else None."""
    status, body = fetch(operator.health_port, "/healthz")
    return (status, body) if status == 500 else None


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? ([0-9.eE+-]+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def test_metrics_count_what_cortex_received(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, tag="shop-web", replicas=2))
    kubectl.create(workloads.pod("worker", namespace=NS, tag="jobs", behavior="OOMKilled"))
    wait_for(
        lambda: any(e.type == "POD_FAILURE" for e in cortex.state.events("jobs")),
        what="the OOMKilled event",
    )
    wait_for(
        lambda: sum(1 for e in cortex.state.events("shop-web") if e.type == "POD_CREATION") == 2,
        what="web's pods",
    )
    time.sleep(2)  # let the last updates land
    _, text = fetch(operator.metrics_port, "/metrics")
    received = cortex.state.requests
    posts = sum(1 for r in received if r.method == "POST" and r.status == 200)
    puts = sum(1 for r in received if r.method == "PUT" and r.status == 200)
    assert posts == len(cortex.state.events()) > 0
    assert metric(text, "cortex_events_sent_total", result="created") == posts
    assert metric(text, "cortex_events_sent_total", result="updated") == puts
    assert metric(text, "cortex_events_sent_total", type="POD_FAILURE") == 1
    assert metric(text, "cortex_api_requests_total", method="POST", code="200") == posts
    assert metric(text, "cortex_api_requests_total", method="PUT", code="200") == puts
    gets = sum(1 for r in received if r.method == "GET")
    assert metric(text, "cortex_api_requests_total", method="GET") == gets
    assert metric(text, "cortex_events_queue_depth") == 0
    assert metric(text, "cortex_events_delivery_latency_seconds_count") == posts + puts
    # Every request, and only those, passed the rate limiter.
    assert metric(text, "cortex_api_rate_limit_wait_seconds_count") == len(received)
    assert "# TYPE cortex_events_dropped_total counter" in text
    assert metric(text, "cortex_events_dropped_total") == 0


def test_an_unknown_tag_is_one_warning_and_each_dropped_event_one_drop(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    cortex.state.entities = {"known"}
    start_watching(operator, kube)
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="no-such-tag"))
    kubectl.create(workloads.pod("web-2", namespace=NS, tag="no-such-tag"))
    wait_for(lambda: kubectl.ready_pods(NS, "web-") == 2, what="both pods ready")
    # Each pod's creation event was submitted once per state (Pending, Running, ready).
    wait_for(
        lambda: len([e for e in operator.logs() if "Not recorded on" in e["message"]]) >= 2,
        what="both drops logged",
    )
    time.sleep(2)
    _, text = fetch(operator.metrics_port, "/metrics")
    assert metric(text, "cortex_events_dropped_total", reason="entity_not_found") == 2
    warnings = [e for e in operator.logs() if e["level"] in ("warning", "error")]
    assert [e["message"] for e in warnings if "no-such-tag" in e["message"]] == [
        "Cortex has no entity with tag or id 'no-such-tag': its events are dropped until it "
        "exists (asked again every 5 minutes)"
    ]
    assert [r.method for r in cortex.state.requests] == ["GET"], "Cortex was asked once"


def test_a_namespace_to_watch_that_does_not_exist_is_warned_about(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    start_watching(operator, kube, "--namespaces", f"{NS},shpo")
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="jobs"))
    wait_for(lambda: cortex.state.events("jobs"), what="the watched namespace still works")
    warnings = [e["message"] for e in operator.logs() if e["level"] == "warning"]
    assert warnings == [
        "Namespace 'shpo' (from --namespaces / CORTEX_NAMESPACES) does not exist: check its "
        "spelling; workloads created in it later are still recorded"
    ]


def test_liveness_fails_when_the_kubernetes_api_stops_answering(
    kube: ServerThread, operator: OperatorProcess
) -> None:
    operator.env["CORTEX_WEDGED_AFTER"] = "2"
    start_watching(operator, kube)
    wait_for(lambda: fetch(operator.health_port, "/healthz")[0] == 200, what="healthy")
    kube.run(kube.server.stop())
    status, body = wait_for(lambda: failing(operator), timeout=20, what="/healthz to fail")
    assert status == 500
    assert "Kubernetes API has not answered" in json.loads(body)["problems"][0]
    # kopf's four watch streams fail and back off together (1 s, 1 s, 2 s, ...).
    wait_for(
        lambda: "attempt #4/" in operator.log_text(), timeout=20, what="a fourth back-off step"
    )
    steps = [
        re.search(r"attempt (#\d+/\d+)", entry["message"])
        for entry in operator.logs()
        if "request attempt" in entry["message"].lower()
    ]
    attempts = [step.group(1) for step in steps if step]
    assert attempts[:4] == ["#1/9", "#2/9", "#3/9", "#4/9"], "one line per back-off step"
    assert len(attempts) == len(set(attempts))
    assert "urllib3" not in {entry.get("logger") for entry in operator.logs()}


def test_liveness_fails_when_delivery_is_stuck(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    operator.env["CORTEX_WEDGED_AFTER"] = "2"
    start_watching(operator, kube)
    assert fetch(operator.health_port, "/healthz")[0] == 200
    cortex.faults.delay_next(1, seconds=12)  # the ledger load hangs; nothing moves
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="jobs"))
    _, body = wait_for(lambda: failing(operator), timeout=15, what="/healthz to fail")
    assert "delivery made no progress" in body
    wait_for(lambda: cortex.state.events("jobs"), timeout=30, what="the event once Cortex answers")
    wait_for(lambda: fetch(operator.health_port, "/healthz")[0] == 200, what="healthy again")


def test_text_logs_at_the_chosen_level(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    operator.env["CORTEX_LOG_FORMAT"] = "text"
    operator.process = subprocess.Popen(
        [sys.executable, "-m", "cortex_events", "run", "--log-format", "text"],
        env=operator.env,
        stdout=operator.log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_for(
        lambda: (
            "pods"
            in {r.resource for r in kube.requests if r.user == "operator" and r.verb == "list"}
        ),
        what="the operator to start",
    )
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="jobs"))
    wait_for(lambda: cortex.state.events("jobs"), what="an event")
    operator.stop()
    lines = operator.log_text().splitlines()
    recorded = [line for line in lines if "Recorded POD_CREATION" in line]
    assert recorded, lines
    assert not recorded[0].startswith("{")
    assert " INFO " in recorded[0]


def test_dry_run_needs_no_key_and_sends_nothing(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    del operator.env["CORTEX_API_KEY"]
    start_watching(operator, kube, "--dry-run")
    kubectl.create(workloads.pod("web-1", namespace=NS, tag="jobs"))
    wait_for(
        lambda: "Dry run: would update event" in operator.log_text(),
        what="the dry-run line for the pod's update",
    )
    _, text = fetch(operator.metrics_port, "/metrics")
    operator.stop()
    (line,) = [entry for entry in operator.logs() if "would record a new" in entry["message"]]
    assert line["message"].startswith("Dry run: would record a new event on entity 'jobs': ")
    body = json.loads(line["message"].split(": ", 2)[2])
    assert body["type"] == "POD_CREATION"
    assert body["customData"]["name"] == "web-1"
    assert not [e for e in operator.logs() if e["message"].startswith("Recorded")]
    assert metric(text, "cortex_events_sent_total") == 0, "nothing was sent"
    assert cortex.state.requests == []


@pytest.mark.parametrize("which", ["health", "metrics"])
def test_a_port_in_use_is_one_line_naming_its_flag(
    kube: ServerThread, operator_env: dict[str, str], which: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = free_port()
        ports = {"health": (port, other), "metrics": (other, port)}[which]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "cortex_events",
                "run",
                "--health-port",
                str(ports[0]),
                "--metrics-port",
                str(ports[1]),
            ],
            env=operator_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("cortex-events:")]
    assert errors == [
        f"cortex-events: error: cannot serve /{'healthz' if which == 'health' else 'metrics'} "
        f"(--{which}-port, CORTEX_{which.upper()}_PORT) on 0.0.0.0:{port}: Address already in "
        "use; choose another port, or 0 to turn it off"
    ]
    assert "Traceback" not in result.stderr


def run_check(
    env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """``cortex-events check`` as a user runs it; its table's rows by their CHECK column."""
    result = subprocess.run(
        [sys.executable, "-m", "cortex_events", "check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rows = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()[1:]}
    return result, rows


def test_check_reports_each_problem_in_a_table(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator_env: dict[str, str]
) -> None:
    cortex.state.entities = {"payments-api"}
    kubectl.create(workloads.cortex_entity("good", "payments-api", namespace=NS))
    kubectl.create(workloads.cortex_entity("bad", "no-such-entity", namespace=NS))
    kube.server.denied.add(("watch", "apps", "deployments"))
    result, rows = run_check(operator_env)
    assert result.returncode == 1, result.stderr
    assert " ok " in rows["Kubernetes API"]
    assert " ok " in rows["Cortex API key"]
    assert " ok " in rows[f"CortexEntity {NS}/good"]
    assert "FAIL" in rows[f"CortexEntity {NS}/bad"]
    assert "no-such-entity" in rows[f"CortexEntity {NS}/bad"]
    assert "FAIL" in rows["RBAC deployments"]
    assert "missing: watch" in rows["RBAC deployments"]
    assert " ok " in rows["RBAC pods"]


def _crd_without_a_spec_schema() -> dict[str, Any]:
    """The CortexEntity CRD as an older or hand-edited install may have it: spec unchecked."""
    crd = copy.deepcopy(crd_manifest())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return crd


def test_check_fails_what_the_operator_would_reject_and_checks_annotation_tags(
    cortex: FakeCortex, tmp_path: Path
) -> None:
    cortex.state.entities = {"payments-api", "web"}
    with (
        serve_in_thread(crds=[_crd_without_a_spec_schema()], namespaces=("default", NS)) as kube,
        Kubectl(kube.kubeconfig("driver")) as kubectl,
    ):
        kubectl.create(workloads.cortex_entity("good", "payments-api", namespace=NS))
        bad_specs = {
            "long": {"tag": "x" * 300},
            "banana": {"tag": "payments-api", "retention": "banana"},
            "typo": {"tag": "payments-api", "eventTypes": ["POD_CREATED"]},
        }
        for name, spec in bad_specs.items():
            manifest = workloads.cortex_entity(name, "placeholder", namespace=NS)
            manifest["spec"] = spec
            kubectl.create(manifest)
        kubectl.create(workloads.pod("web-1", namespace=NS, tag="web, team/svc"))
        kubectl.create(workloads.pod("web-2", namespace=NS, tag="team/svc"))
        kubectl.create(workloads.deployment("api", namespace=NS, tag="ghost", replicas=0))
        kubectl.create({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": NS,
                         "annotations": {"cortex.io/tag": "ghost-cron"}},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "a", "image": "busybox"}]}}}}},
        })  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CORTEX_", "KUBE"))}
        env.update(
            KUBECONFIG=str(kube.write_kubeconfig(tmp_path / "kubeconfig", "operator")),
            CORTEX_API_KEY=API_KEY,
            CORTEX_BASE_URL=cortex.base_url,
            CORTEX_ALLOW_HTTP="true",
        )
        result, rows = run_check(env, "--namespaces", f"{NS},shpo")
    assert result.returncode == 1, result.stderr
    assert " ok " in rows[f"CortexEntity {NS}/good"]
    assert "InvalidSpec: spec.tag: " in rows[f"CortexEntity {NS}/long"]
    assert "InvalidSpec: spec.retention: " in rows[f"CortexEntity {NS}/banana"]
    assert "InvalidSpec: spec.eventTypes[0]: unknown event type" in rows[f"CortexEntity {NS}/typo"]
    for name in bad_specs:
        assert " FAIL " in rows[f"CortexEntity {NS}/{name}"]
    slash = rows[f"cortex.io/tag on Pod {NS}/web-1 and 1 more"]
    assert "FAIL" in slash
    assert "'team/svc' is not a Cortex tag: it contains a slash" in slash
    assert "entity 'web' exists" in rows[f"cortex.io/tag on Pod {NS}/web-1"]
    assert "Cortex has no entity 'ghost'" in rows[f"cortex.io/tag on Deployment {NS}/api"]
    # Every kind a cortex.io/tag maps is looked at, a CronJob's too.
    assert "Cortex has no entity 'ghost-cron'" in rows[f"cortex.io/tag on CronJob {NS}/nightly"]
    assert "does not exist" in rows["Namespace shpo"]
    assert " ok " in rows[f"Namespace {NS}"]
    asked = [r.tag for r in cortex.state.requests if r.tag != "cortex-events-operator-check"]
    assert sorted(str(tag) for tag in asked) == ["ghost", "ghost-cron", "payments-api", "web"], (
        "asked once each"
    )


def test_check_with_a_wrong_key(
    kube: ServerThread, cortex: FakeCortex, operator_env: dict[str, str]
) -> None:
    result, _ = run_check(dict(operator_env, CORTEX_API_KEY="not-the-right-key"))
    assert result.returncode == 1
    assert re.search(r"Cortex API key\s+FAIL\s+refused", result.stdout), result.stdout
    assert "not-the-right-key" not in result.stdout + result.stderr


def test_check_without_a_key_checks_kubernetes_and_marks_the_cortex_rows_not_checked(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator_env: dict[str, str]
) -> None:
    kubectl.create(workloads.cortex_entity("good", "payments-api", namespace=NS))
    kube.server.denied.add(("watch", "apps", "deployments"))
    env = {k: v for k, v in operator_env.items() if k != "CORTEX_API_KEY"}
    result, rows = run_check(env)
    assert result.returncode == 1, "the RBAC row fails"
    assert result.stderr == ""
    assert " ok " in rows["Kubernetes API"]
    assert "missing: watch" in rows["RBAC deployments"]
    assert re.search(
        r"Cortex API key\s+unknown\s+not checked: CORTEX_API_KEY is required: set it or pass "
        r"--api-key-file FILE",
        rows["Cortex API key"],
    )
    assert re.search(
        rf"CortexEntity {NS}/good\s+unknown\s+entity 'payments-api' not checked in Cortex",
        rows[f"CortexEntity {NS}/good"],
    )
    assert cortex.state.requests == [], "nothing asked of Cortex"


def test_check_prints_its_table_and_nothing_above_it(
    kube: ServerThread, operator_env: dict[str, str]
) -> None:
    # Nothing listens there: the client retries, which the operator's log would say.
    result, rows = run_check(dict(operator_env, CORTEX_BASE_URL=f"http://127.0.0.1:{free_port()}"))
    assert result.returncode == 1
    assert result.stderr == ""
    assert result.stdout.splitlines()[0].split() == ["CHECK", "RESULT", "DETAIL"]
    assert "ConnectError" in rows["Cortex API"]


def test_check_asks_for_the_lease_where_the_operator_would_elect_a_leader(
    kube: ServerThread, cortex: FakeCortex, operator_env: dict[str, str]
) -> None:
    lease = f"Lease {NS}/cortex-events-operator"
    _, rows = run_check(operator_env)
    assert "off outside a cluster" in rows["Leader election"]
    assert not any(name.startswith("RBAC leases") for name in rows)
    kube.server.denied.add(("update", "coordination.k8s.io", "leases"))
    result, rows = run_check(dict(operator_env, CORTEX_LEASE_NAMESPACE=NS))
    assert result.returncode == 1, result.stdout
    assert f"on {lease}" in rows["Leader election"]
    leases = rows[f"RBAC leases ({lease})"]
    assert "FAIL" in leases
    assert f"missing: update in {NS}" in leases
    assert " ok " in rows[f"RBAC events ({lease})"]


def test_check_asks_for_namespaces_where_a_namespace_selector_is_set(
    kube: ServerThread, cortex: FakeCortex, operator_env: dict[str, str]
) -> None:
    _, rows = run_check(operator_env)
    assert not any(name.startswith("RBAC namespaces") for name in rows)
    kube.server.denied.add(("watch", "", "namespaces"))
    result, rows = run_check(dict(operator_env, CORTEX_NAMESPACE_SELECTOR="team=shop"))
    assert result.returncode == 1, result.stdout
    row = rows["RBAC namespaces (namespace selector)"]
    assert "FAIL" in row
    assert "missing: watch" in row


def _rbac_rules() -> list[dict[str, Any]]:
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ClusterRole":
                rules: list[dict[str, Any]] = doc["rules"]
                return rules
    raise AssertionError("no ClusterRole in manifests/")


def _covered(rules: list[dict[str, Any]], verb: str, group: str, resource: str) -> bool:
    return any(
        verb in rule.get("verbs", [])
        and group in rule.get("apiGroups", [])
        and resource in rule.get("resources", [])
        for rule in rules
    )


def test_rbac_covers_every_call_the_operator_made(
    kube: ServerThread, cortex: FakeCortex, kubectl: Kubectl, operator: OperatorProcess
) -> None:
    """Runs every feature once, then checks each recorded call against the shipped RBAC."""
    start_watching(operator, kube)
    kubectl.create(workloads.deployment("web", namespace=NS, tag="shop-web", replicas=1))
    # Keeps the tag in use after web is gone, so the restart loads its ledger and sweeps it.
    kubectl.create(workloads.pod("keeper", namespace=NS, tag="shop-web"))
    kubectl.create(
        workloads.cortex_entity(
            "payments",
            "payments-api",
            namespace=NS,
            match_labels={"app": "web"},
            retention="24h",
            cleanup_on_delete=True,
        )
    )
    wait_for(lambda: cortex.state.events("payments-api"), what="events via the entity")
    wait_for(
        lambda: "Recorded" in {e.get("reason") for e in kubectl.list("Event", NS)},
        what="a Kubernetes Event",
    )
    kubectl.delete("CortexEntity", "payments", NS)
    wait_for(lambda: not kubectl.exists("CortexEntity", "payments", NS), what="cleanup")
    operator.stop()
    kubectl.delete("Deployment", "web", NS)  # while down: the restart's sweep looks it up
    wait_for(lambda: len(kubectl.list("Pod", NS)) == 1, what="web's pods gone")
    start_watching(operator, kube)
    wait_for(
        lambda: any(e.type == "DEPLOYMENT_DELETION" for e in cortex.state.events("shop-web")),
        what="the deletion noticed after the restart",
    )
    calls = {
        (r.verb, r.group or "", r.resource + (f"/{r.subresource}" if r.subresource else ""))
        for r in kube.requests
        if r.user == "operator" and r.resource
    }
    rules = _rbac_rules()
    uncovered = sorted(call for call in calls if not _covered(rules, *call))
    assert uncovered == [], f"calls the shipped ClusterRole does not allow: {uncovered}"
    workload_verbs = {verb for verb, _, resource in calls if resource in {"pods", "deployments"}}
    assert workload_verbs <= {"get", "list", "watch"}


def test_demo_runs_to_completion() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cortex_events", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for kind in (
        "POD_CREATION",
        "POD_FAILURE",
        "POD_DELETION",
        "DEPLOYMENT_CREATION",
        "DEPLOYMENT_ROLLOUT",
        "DEPLOYMENT_SCALE",
        "DEPLOYMENT_DELETION",
    ):
        assert kind in result.stdout
    assert "0 duplicates" in result.stdout
    assert "Traceback" not in result.stderr
