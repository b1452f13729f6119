"""The stand-in answers kubectl as a real API server does: Tables, OpenAPI v3, strict fields.

The HTTP tests send what kubectl sends; the last ones run a real ``kubectl`` when one is on
PATH (or built into the project's asset cache) and skip, saying so, when none is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim import workloads
from cortex_events_sim.kubeapi.tables import human_duration, json_path
from cortex_events_sim.kubectl import Kubectl
from cortex_events_sim.server_thread import ServerThread, serve_in_thread

pytestmark = pytest.mark.integration

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
NS = "shop"


@pytest.fixture
def sim() -> Iterator[ServerThread]:
    with serve_in_thread(namespaces=("default", NS)) as handle:
        yield handle


@pytest.fixture
def kubectl(sim: ServerThread) -> Iterator[Kubectl]:
    with Kubectl(sim.kubeconfig()) as k:
        yield k


def http(
    sim: ServerThread,
    method: str,
    path: str,
    body: Any = None,
    *,
    accept: str = "application/json",
    content_type: str = "application/json",
) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (the stand-in's http:// URL)
        sim.url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Accept": accept, "Content-Type": content_type, "Authorization": "Bearer t"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (loopback)
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def entity_with_status(kubectl: Kubectl, name: str) -> None:
    kubectl.create(workloads.cortex_entity(name, "payments-api", namespace=NS))
    status = {
        "conditions": [
            {"type": "Synced", "status": "False"},
            {"type": "Ready", "status": "True", "reason": "Synced"},
        ],
        "matchedWorkloads": 4,
        "eventsRecorded": 120,
        "lastEventTime": (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    kubectl.patch("CortexEntity", name, NS, {"status": status}, subresource="status")


def test_kubectl_get_cxe_gets_the_crds_printer_columns_as_a_table(
    sim: ServerThread, kubectl: Kubectl
) -> None:
    entity_with_status(kubectl, "payments")
    kubectl.create(workloads.cortex_entity("fresh", "orders", namespace=NS))

    status, table = http(sim, "GET", "/apis/cortex.io/v1alpha1/cortexentities", accept=TABLE)

    assert status == 200
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == [
        "Name", "Tag", "Ready", "Reason", "Workloads", "Events", "Last event", "Age"
    ]  # fmt: skip
    rows = {row["cells"][0]: row for row in table["rows"]}
    assert rows["payments"]["cells"][1:6] == ["payments-api", "True", "Synced", 4, 120]
    assert rows["payments"]["cells"][6] in ("5m", "5m1s", "5m2s"), "an age, as kubectl shows it"
    assert rows["payments"]["object"]["metadata"]["namespace"] == NS, "for -A"
    assert rows["fresh"]["cells"][2:7] == [None, None, None, None, None], "no status yet"
    assert rows["fresh"]["cells"][7].endswith("s")


def test_a_single_object_and_builtin_kinds_have_tables_too(
    sim: ServerThread, kubectl: Kubectl
) -> None:
    kubectl.create(workloads.cortex_entity("payments", "payments-api", namespace=NS))
    kubectl.create(workloads.pod("web-1", namespace=NS))

    _, one = http(
        sim,
        "GET",
        f"/apis/cortex.io/v1alpha1/namespaces/{NS}/cortexentities/payments",
        accept=TABLE,
    )
    _, pods = http(sim, "GET", f"/api/v1/namespaces/{NS}/pods", accept=TABLE)
    _, plain = http(sim, "GET", f"/api/v1/namespaces/{NS}/pods")

    assert [row["cells"][0] for row in one["rows"]] == ["payments"]
    assert [c["name"] for c in pods["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert pods["rows"][0]["cells"][:4] == ["web-1", "0/1", "Pending", 0]
    assert plain["kind"] == "PodList", "without the Table media type, the usual list"


def test_openapi_v3_tells_kubectl_that_fields_are_validated_by_the_server(
    sim: ServerThread,
) -> None:
    status, index = http(sim, "GET", "/openapi/v3")
    assert status == 200
    assert {"api/v1", "apis/apps/v1", "apis/cortex.io/v1alpha1"} <= set(index["paths"])

    url = index["paths"]["apis/cortex.io/v1alpha1"]["serverRelativeURL"]
    _, document = http(sim, "GET", url)
    item = document["paths"][
        "/apis/cortex.io/v1alpha1/namespaces/{namespace}/cortexentities/{name}"
    ]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "cortex.io",
        "version": "v1alpha1",
        "kind": "CortexEntity",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()
    (schema,) = document["components"]["schemas"].values()
    assert "tag" in schema["properties"]["spec"]["properties"]
    assert http(sim, "GET", "/openapi/v3/apis/nope.example/v1")[0] == 404


def test_strict_field_validation_refuses_unknown_fields_that_are_otherwise_pruned(
    sim: ServerThread,
) -> None:
    manifest = workloads.cortex_entity("payments", "payments-api", namespace=NS)
    manifest["spec"]["bogus"] = 1
    path = f"/apis/cortex.io/v1alpha1/namespaces/{NS}/cortexentities"

    status, refused = http(sim, "POST", path + "?fieldValidation=Strict", manifest)
    assert status == 400
    assert refused["message"] == (
        'CortexEntity in version "v1alpha1" cannot be handled as a CortexEntity: '
        'strict decoding error: unknown field "spec.bogus"'
    )
    status, created = http(sim, "POST", path, manifest)
    assert status == 201
    assert "bogus" not in created["spec"]
    status, _ = http(
        sim,
        "PATCH",
        path + "/payments?fieldValidation=Strict",
        {"spec": {"selector": {"matchLabels": {"app": "x"}, "typo": True}}},
        content_type="application/merge-patch+json",
    )
    assert status == 400


def test_the_tables_json_path_and_ages_follow_kubectl() -> None:
    obj = {
        "status": {
            "conditions": [{"type": "A", "status": "x"}, {"type": "Ready", "status": "True"}]
        }
    }
    assert json_path(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert json_path(obj, ".status.conditions[0].type") == ["A"]
    assert json_path(obj, ".status.missing") == []
    ages = [45, 150, 200, 11 * 60, 5 * 3600 + 600, 30 * 3600, 3 * 86400, 3 * 86400 + 7200]
    assert [human_duration(s) for s in ages] == [
        "45s",
        "2m30s",
        "3m20s",
        "11m",
        "5h10m",
        "30h",
        "3d",
        "3d2h",
    ]
    assert human_duration(800 * 86400) == "2y70d"


def find_kubectl() -> str | None:
    on_path = shutil.which("kubectl")
    if on_path:
        return on_path
    cache = Path.home() / ".cache" / "cortex-events-operator" / "k8s-assets"
    built = sorted(cache.glob("set-*/kubectl"))
    return str(built[-1]) if built else None


@pytest.fixture
def real_kubectl(sim: ServerThread, tmp_path: Path) -> tuple[str, dict[str, str]]:
    binary = find_kubectl()
    if binary is None:
        pytest.skip("no kubectl binary on PATH or in ~/.cache/cortex-events-operator/k8s-assets")
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", "kubectl-user")
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(tmp_path))
    return binary, env


def run(binary: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_real_kubectl_apply_validates_and_get_cxe_prints_the_columns(
    sim: ServerThread, kubectl: Kubectl, real_kubectl: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = real_kubectl
    manifest = tmp_path / "payments.yaml"
    manifest.write_text(
        json.dumps(workloads.cortex_entity("payments", "payments-api", namespace=NS))
    )
    bad = workloads.cortex_entity("typo", "payments-api", namespace=NS)
    bad["spec"]["tagg"] = "oops"
    (tmp_path / "typo.yaml").write_text(json.dumps(bad))

    applied = run(binary, env, "apply", "-f", str(manifest))
    again = run(binary, env, "apply", "-f", str(manifest))
    refused = run(binary, env, "apply", "-f", str(tmp_path / "typo.yaml"))
    entity_with_status(kubectl, "other")
    listed = run(binary, env, "get", "cxe", "-A")

    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "cortexentity.cortex.io/payments created"
    assert again.stdout.strip() == "cortexentity.cortex.io/payments unchanged"
    assert refused.returncode != 0
    assert 'unknown field "spec.tagg"' in refused.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == [
        "NAMESPACE",
        "NAME",
        "TAG",
        "READY",
        "REASON",
        "WORKLOADS",
        "EVENTS",
        "LAST",
        "EVENT",
        "AGE",
    ]
    other = next(row.split() for row in rows if " other " in row)
    assert other[:7] == [NS, "other", "payments-api", "True", "Synced", "4", "120"]
