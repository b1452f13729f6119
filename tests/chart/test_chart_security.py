"""The chart's transport and network settings: http:// refused unless allowed, a CA bundle
mounted and added, extra environment, the listen address and the NetworkPolicy."""

from __future__ import annotations

from typing import Any

import helm_python
import kubernetes_validate
import pytest

from .test_chart import Objects, Render, container, env, of_kind, only, pod_spec


def test_an_http_base_url_fails_unless_allowed(render: Render) -> None:
    with pytest.raises(helm_python.HelmRenderError) as refused:
        render({"baseUrl": "http://fake-cortex.test:8081"})
    assert (
        "baseUrl http://fake-cortex.test:8081 would send the API key unencrypted: use https://, "
        "or set allowHttp=true for an emulator in a test cluster"
    ) in str(refused.value)
    allowed = render({"baseUrl": "http://fake-cortex.test:8081", "allowHttp": True})
    assert env(allowed)["CORTEX_ALLOW_HTTP"]["value"] == "true"


@pytest.mark.parametrize("source", ["configMap", "secret"])
def test_a_ca_bundle_is_mounted_from_a_configmap_or_a_secret(render: Render, source: str) -> None:
    objects = render({"caBundle": {source: "corp-ca", "key": "root.pem"}})
    assert env(objects)["CORTEX_CA_BUNDLE"]["value"] == "/etc/cortex-events/ca/root.pem"
    (mount,) = [m for m in container(objects)["volumeMounts"] if m["name"] == "ca-bundle"]
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/cortex-events/ca", True)
    (volume,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == "ca-bundle"]
    name = "secretName" if source == "secret" else "name"
    assert volume[source] == {name: "corp-ca", "items": [{"key": "root.pem", "path": "root.pem"}]}


def test_no_ca_bundle_by_default_and_never_two(render: Render) -> None:
    assert "CORTEX_CA_BUNDLE" not in env(render({}))
    with pytest.raises(
        helm_python.HelmRenderError, match=r"caBundle\.configMap or caBundle\.secret"
    ):
        render({"caBundle": {"configMap": "a", "secret": "b"}})


def test_extra_env_and_the_listen_address_reach_the_container(render: Render) -> None:
    proxy = {"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"}
    objects = render({"extraEnv": [proxy], "listenAddress": "::"})
    assert env(objects)["HTTPS_PROXY"] == proxy
    assert env(objects)["CORTEX_LISTEN_ADDRESS"]["value"] == "::"
    with pytest.raises(helm_python.HelmValuesError, match="valu"):
        render({"extraEnv": [{"name": "X", "valu": "typo"}]})


def network_policy(objects: Objects) -> dict[str, Any]:
    policy = only(objects, "NetworkPolicy")
    kubernetes_validate.validate(policy, "1.33", strict=True)
    spec: dict[str, Any] = policy["spec"]
    return spec


def test_no_network_policy_unless_enabled(render: Render) -> None:
    assert of_kind(render({}), "NetworkPolicy") == []


def test_the_network_policy_lets_in_only_the_chosen_sources_on_the_two_ports(
    render: Render,
) -> None:
    monitoring = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    objects = render({"networkPolicy": {"enabled": True, "ingressFrom": [monitoring]}})
    spec = network_policy(objects)
    deployment = only(objects, "Deployment")
    assert spec["podSelector"] == deployment["spec"]["selector"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = spec["ingress"]
    assert rule["from"] == [monitoring]
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert {(p["port"], p["protocol"]) for p in rule["ports"]} == {
        ("health", "TCP"),
        ("metrics", "TCP"),
    }
    assert set(ports) == {"health", "metrics"}, "every port the rule names is the container's"


def test_the_network_policy_lets_out_only_dns_and_the_api_ports(render: Render) -> None:
    spec = network_policy(render({"networkPolicy": {"enabled": True}}))
    assert spec["ingress"] == [], "no one but the node, unless ingressFrom says"
    dns, apis = spec["egress"]
    assert dns == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    assert apis == {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}

    api_server = {"ipBlock": {"cidr": "10.0.0.1/32"}}
    cortex = {"ipBlock": {"cidr": "203.0.113.0/24"}}
    narrowed = {"enabled": True, "egressTo": [api_server, cortex], "egressPorts": [443]}
    _, apis = network_policy(render({"networkPolicy": narrowed}))["egress"]
    assert apis == {"ports": [{"port": 443, "protocol": "TCP"}], "to": [api_server, cortex]}
