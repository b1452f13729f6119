"""The chart's security settings installed by real Helm and judged by the real API server: the
key as a file with no hash of it on the Pod, the Lease granted by name only, a NetworkPolicy, a
CA bundle, and an http:// base URL refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from testbed.controlplane import ControlPlane

from .conftest import API_KEY, CHART, Release, install, module_namespace, service_account_user


def can(plane: ControlPlane, release: Release, verb: str, what: str) -> bool:
    result = plane.run(plane.binary("kubectl"), "auth", "can-i", verb, what,
                       "-n", release.namespace, "--as", release.user, check=False)  # fmt: skip
    return result.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def hardened(plane: ControlPlane) -> Iterator[Release]:
    namespace = "chart-security"
    with module_namespace(plane, namespace):
        plane.kubectl("create", "configmap", "corp-ca", "-n", namespace,
                      "--from-literal=ca.crt=-----BEGIN CERTIFICATE-----")  # fmt: skip
        yield install(
            plane, "hardened", namespace,
            "--set", "networkPolicy.enabled=true",
            "--set", "networkPolicy.ingressFrom[0].namespaceSelector.matchLabels.team=monitoring",
            "--set", "networkPolicy.egressTo[0].ipBlock.cidr=10.0.0.0/8",
            "--set", "caBundle.configMap=corp-ca",
            "--set", "extraEnv[0].name=HTTPS_PROXY", "--set", "extraEnv[0].value=http://proxy:3128",
        )  # fmt: skip
        plane.helm("uninstall", "hardened", "-n", namespace, "--wait")


def deployment_of(plane: ControlPlane, release: Release) -> dict[str, object]:
    found = plane.get("deployment", "-n", release.namespace, "-l",
                      f"app.kubernetes.io/instance={release.name}")["items"]  # fmt: skip
    (deployment,) = found
    return dict(deployment)


def test_the_key_is_a_file_in_no_environment_and_no_hash_of_it_is_on_the_pod(
    plane: ControlPlane, hardened: Release
) -> None:
    text = json.dumps(deployment_of(plane, hardened))
    template = json.loads(text)["spec"]["template"]
    (container,) = template["spec"]["containers"]
    names = {entry["name"] for entry in container["env"]}
    assert "CORTEX_API_KEY" not in names
    assert "CORTEX_API_KEY_FILE" in names
    assert {"HTTPS_PROXY", "CORTEX_CA_BUNDLE"} <= names
    assert API_KEY not in text
    for digest in ("md5", "sha1", "sha256", "sha512"):
        assert hashlib.new(digest, API_KEY.encode()).hexdigest() not in text, digest
    # --wait saw the Pods Ready: the API server admitted the Secret and ConfigMap volumes.
    assert json.loads(text)["status"].get("readyReplicas") == 2


def test_the_lease_is_granted_by_name_only(plane: ControlPlane, hardened: Release) -> None:
    lease = "hardened-cortex-events-operator"
    assert can(plane, hardened, "get", f"leases/{lease}")
    assert can(plane, hardened, "update", f"leases/{lease}")
    assert can(plane, hardened, "create", "leases")
    assert not can(plane, hardened, "get", "leases/someone-elses-lease")
    assert not can(plane, hardened, "update", "leases/someone-elses-lease")
    assert not can(plane, hardened, "delete", f"leases/{lease}")
    assert hardened.user == service_account_user(hardened.namespace, hardened.service_account)


def test_the_network_policy_is_accepted_as_rendered(plane: ControlPlane, hardened: Release) -> None:
    policy = plane.get("networkpolicy", "hardened-cortex-events-operator", "-n", hardened.namespace)
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = spec["ingress"]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}]
    assert {port["port"] for port in ingress["ports"]} == {"health", "metrics"}
    dns, apis = spec["egress"]
    assert {port["port"] for port in dns["ports"]} == {53}
    assert {port["port"] for port in apis["ports"]} == {443, 6443}
    assert apis["to"] == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]


def test_an_http_base_url_is_refused_at_install(plane: ControlPlane) -> None:
    result = plane.run(plane.binary("helm"), "install", "plain", str(CHART), "-n", "default",
                       "--set", "apiKey.value=k", "--set", "baseUrl=http://cortex.test",
                       check=False)  # fmt: skip
    assert result.returncode != 0
    assert "baseUrl http://cortex.test would send the API key unencrypted" in result.stderr
