"""The CortexEntity CRD as kubectl users meet it, and the emulator command."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from cortex_events.kube.crd import crd_manifest
from cortex_events_sim import workloads
from cortex_events_sim.kubectl import ApiException, Kubectl
from cortex_events_sim.ports import free_port
from tests.support.harness import wait_for

pytestmark = pytest.mark.integration

NS = "shop"


def test_kubectl_get_cxe_shows_the_first_answers() -> None:
    crd = crd_manifest()
    assert crd["spec"]["names"]["shortNames"] == ["cxe"]
    (version,) = crd["spec"]["versions"]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Tag": ".spec.tag",
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Reason": '.status.conditions[?(@.type=="Ready")].reason',
        "Workloads": ".status.matchedWorkloads",
        "Events": ".status.eventsRecorded",
        "Last event": ".status.lastEventTime",
        "Age": ".metadata.creationTimestamp",
    }
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "spec.tag"),
        ({"tag": "two words"}, "spec.tag"),
        ({"tag": "a,b"}, "spec.tag"),
        ({"tag": "web", "eventTypes": ["POD_CREATED"]}, "spec.eventTypes"),
        ({"tag": "web", "retention": "30d"}, "spec.retention"),
        ({"tag": "web", "workloads": [{"kind": "ReplicaSet", "name": "db"}]}, "spec.workloads"),
        ({"tag": "web", "cleanupOnDelete": "yes"}, "spec.cleanupOnDelete"),
        ({"tag": "web", "deploys": {"enabled": "yes"}}, "spec.deploys.enabled"),
        ({"tag": "web", "deploys": {"environment": ""}}, "spec.deploys.environment"),
    ],
)
def test_the_schema_rejects_what_a_schema_can_and_names_the_field(
    kubectl: Kubectl, spec: dict[str, object], field: str
) -> None:
    manifest = workloads.cortex_entity("bad", "placeholder", namespace=NS)
    manifest["spec"] = spec
    with pytest.raises(ApiException) as raised:
        kubectl.create(manifest)
    assert raised.value.status == 422
    assert field in json.loads(raised.value.body or "{}")["message"]


@pytest.fixture
def fake_cortex_port() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cortex_events",
            "fake-cortex",
            "--port",
            str(port),
            "--api-key",
            "k-123456",
            "--entity",
            "web",
            "--rate-limit",
            "100",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        process.terminate()
        assert process.wait(10) == 0


def _up(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _get(port: int, path: str, key: str | None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_fake_cortex_command_serves_with_its_flags(fake_cortex_port: int) -> None:
    port = fake_cortex_port
    wait_for(lambda: _up(port), timeout=15, what="the emulator to listen")
    path = "/api/v1/catalog/{}/custom-events?page=0&pageSize=250"
    assert _get(port, path.format("web"), "k-123456") == 200
    assert _get(port, path.format("web"), "wrong-key") == 401
    assert _get(port, path.format("web"), None) == 401
    assert _get(port, path.format("other"), "k-123456") == 404
