"""The chart's extras: the `helm test` check, the alerts and the Grafana dashboard."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from cortex_events.ops.observability import Metrics

from .conftest import NAMESPACE, ROOT, Objects

Render = Callable[[dict[str, Any]], Objects]
METRIC = re.compile(r"\bcortex_[a-z_]+\b")


def of_kind(objects: Objects, kind: str) -> Objects:
    return [o for o in objects if o["kind"] == kind]


def exported_names() -> set[str]:
    """Every series name the operator's /metrics carries, each labelled metric with a sample."""
    metrics = Metrics()
    for counter in (metrics.sent, metrics.dropped, metrics.deploys_sent, metrics.retries):
        counter.labels(*["x"] * len(counter._labelnames)).inc()
    for other in (metrics.deploys_not_sent, metrics.skipped, metrics.requests, metrics.folded):
        other.labels(*["x"] * len(other._labelnames)).inc()
    for gauge in (metrics.class_depth, metrics.oldest):
        gauge.labels("failure").set(1)
    metrics.request_duration.labels("GET").observe(0.1)
    text = generate_latest(metrics.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def test_helm_test_runs_check_as_the_operators_service_account(render: Render) -> None:
    objects = render({
        "tests": {"podLabels": {"sidecar.istio.io/inject": "false"}},
        "caBundle": {"configMap": "corporate-ca"},
        "mapping": {"tagAnnotation": "example.com/entity"},
    })  # fmt: skip
    (deployment,) = of_kind(objects, "Deployment")
    (pod,) = of_kind(objects, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert pod["spec"]["restartPolicy"] == "Never"
    operator = deployment["spec"]["template"]["spec"]
    assert pod["spec"]["serviceAccountName"] == operator["serviceAccountName"]
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["check"]
    assert container["image"] == operator["containers"][0]["image"]
    env = {e["name"]: e for e in container["env"]}
    operator_env = {e["name"]: e for e in operator["containers"][0]["env"]}
    shared = ("CORTEX_API_KEY_FILE", "CORTEX_BASE_URL", "CORTEX_ALLOW_HTTP", "CORTEX_CA_BUNDLE",
              "CORTEX_NAMESPACES", "CORTEX_LEASE_NAME", "CORTEX_LEADER_ELECTION", "POD_NAMESPACE",
              "CORTEX_NAMESPACE_SELECTOR", "CORTEX_TAG_ANNOTATION")  # fmt: skip
    for name in shared:
        assert env[name] == operator_env[name], name
    # The key as the operator reads it: the same Secret's file, in no environment variable.
    assert "CORTEX_API_KEY" not in env
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    operator_volumes = {v["name"]: v for v in operator["volumes"]}
    for name in ("api-key", "ca-bundle"):
        assert volumes[name] == operator_volumes[name], name
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    operator_mounts = {m["name"]: m["mountPath"] for m in operator["containers"][0]["volumeMounts"]}
    assert mounts == operator_mounts
    assert pod["spec"]["securityContext"]["fsGroup"] == operator["securityContext"]["fsGroup"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_alerts_and_dashboard_only_when_asked(render: Render) -> None:
    assert of_kind(render({}), "PrometheusRule") == []
    assert of_kind(render({}), "ConfigMap") == []
    objects = render({"metrics": {
        "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
        "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Platform"}},
    }})  # fmt: skip
    (rule,) = of_kind(objects, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert rule["metadata"]["namespace"] == NAMESPACE
    (config_map,) = of_kind(objects, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Platform"}
    dashboard = json.loads(config_map["data"]["cortex-events-operator.json"])
    assert dashboard["uid"] == "cortex-events-operator"
    assert len(dashboard["panels"]) >= 10


def test_every_metric_the_alerts_and_the_dashboard_name_is_one_the_operator_exports(
    render: Render,
) -> None:
    objects = render({"metrics": {"prometheusRule": {"enabled": True},
                                  "grafanaDashboard": {"enabled": True}}})  # fmt: skip
    (rule,) = of_kind(objects, "PrometheusRule")
    (config_map,) = of_kind(objects, "ConfigMap")
    exprs = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    panels = json.loads(config_map["data"]["cortex-events-operator.json"])["panels"]
    exprs += [target["expr"] for panel in panels for target in panel["targets"]]
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    exported = exported_names()
    assert named, "the alerts name metrics"
    assert named <= exported, f"not exported: {sorted(named - exported)}"

    def family(name: str) -> str:
        return re.sub(r"_(total|bucket|sum|count)$", "", name)

    shown = {family(name) for name in named}
    assert {family(name) for name in exported} <= shown, "the dashboard shows every metric"


def test_the_readme_lists_the_alerts_of_the_prometheus_rule(render: Render) -> None:
    objects = render({"metrics": {"prometheusRule": {"enabled": True}}})
    (rule,) = of_kind(objects, "PrometheusRule")
    readme = Path(ROOT / "README.md").read_text()
    block = readme.split("```promql\n", 1)[1].split("```", 1)[0]
    listed = [line.split("#")[0].strip() for line in block.splitlines()]
    listed = [expr for expr in listed if expr]
    alerts = rule["spec"]["groups"][0]["rules"]
    assert listed == [alert["expr"] for alert in alerts]
    durations = {a["expr"]: a.get("for") for a in alerts}
    for line in block.splitlines():
        expr, _, comment = line.partition("#")
        if expr.strip() and "for:" in comment:
            assert durations[expr.strip()] == comment.split("for:")[1].strip()
