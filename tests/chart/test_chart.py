"""The Helm chart, rendered by Helm's own template engine (helm-python-sdk); no cluster needed.

``render`` lays the given values over ``apiKey.existingSecret=cortex-events`` and renders
release ``cortex-events-operator`` into namespace ``cortex-events``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "cortex-events-operator"
NAMESPACE = "cortex-events"

Objects = list[dict[str, Any]]
Render = Callable[[dict[str, Any]], Objects]
RenderFiles = Callable[[dict[str, Any]], dict[str, str]]

NO_KEY: dict[str, Any] = {"apiKey": {"existingSecret": ""}}
WORKLOADS = {
    ("", "pods"),
    *(
        ("apps", plural)
        for plural in (
            "replicasets",
            "deployments",
            "statefulsets",
            "daemonsets",
            "controllerrevisions",
        )
    ),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("argoproj.io", "rollouts"),
}
# (apiGroup, resource, verb) for every Kubernetes API call the operator makes.
OPERATOR_CALLS = {
    *(
        (group, resource, verb)
        for group, resource in WORKLOADS
        for verb in ("get", "list", "watch")
    ),
    *(("cortex.io", "cortexentities", verb) for verb in ("get", "list", "watch", "patch")),
    *(("cortex.io", "cortexentities/status", verb) for verb in ("get", "patch", "update")),
    ("", "events", "create"),
}


def only(objects: Objects, kind: str) -> dict[str, Any]:
    matching = [obj for obj in objects if obj["kind"] == kind]
    assert len(matching) == 1, f"expected one {kind}, got {len(matching)}"
    return matching[0]


def of_kind(objects: Objects, kind: str) -> Objects:
    return [obj for obj in objects if obj["kind"] == kind]


def pod_spec(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = only(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: Objects) -> dict[str, Any]:
    (operator,) = pod_spec(objects)["containers"]
    return dict(operator)


def env(objects: Objects) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(objects)["env"]}


def granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_chart_lints_clean_in_strict_mode() -> None:
    report = helm_python.lint(
        CHART_DIR, {"apiKey": {"existingSecret": "cortex-events"}}, strict=True
    )
    warnings_or_errors = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == []
    assert warnings_or_errors == []


VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"namespaces": ["shop", "payments"]},
    "key-as-value": {"apiKey": {"existingSecret": "", "value": "k-123"}},
    "dry-run-without-key": {**NO_KEY, "dryRun": True},
    "no-metrics": {"metrics": {"enabled": False}},
    "everything-set": {
        "image": {"digest": "sha256:" + "a" * 64, "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}],
        "serviceAccount": {"annotations": {"iam.example/role": "cortex"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        },
        "podAnnotations": {"team": "platform"},
        "podLabels": {"cost-center": "42"},
        "priorityClassName": "system-cluster-critical",
        "metrics": {"service": {"annotations": {"prometheus.io/scrape": "true"}}},
    },
}


@pytest.mark.parametrize("kube_version", ["1.25", "1.33", kubernetes_validate.latest_version()])
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_valid_kubernetes(
    render: Render, values: dict[str, Any], kube_version: str
) -> None:
    objects = render(values)
    assert {"Deployment", "ServiceAccount"} <= {obj["kind"] for obj in objects}
    for obj in objects:
        # Strict: an unknown or misplaced field fails, as `kubectl apply --validate=strict` would.
        kubernetes_validate.validate(obj, kube_version, strict=True)


def test_the_chart_crd_validates_and_is_the_source_crd(chart: helm_python.Chart) -> None:
    source = ROOT / "crds" / "cortexentities.cortex.io.yaml"
    copy = CHART_DIR / "crds" / source.name
    assert copy.read_bytes() == source.read_bytes(), (
        f"helm/cortex-events-operator/crds/ drifted from crds/: copy crds/{source.name} over it"
    )
    (packaged,) = chart.crds
    crd = yaml.safe_load(packaged["data"])
    assert crd["metadata"]["name"] == "cortexentities.cortex.io"
    kubernetes_validate.validate(crd, "1.33", strict=True)


# --- values.schema.json: a typo or a wrong type fails the install -------------------------------


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"logLevl": "DEBUG"}, "logLevl"),
        ({"image": {"tagg": "1.0"}}, "tagg"),
        ({"apiKey": {"existingSecretName": "x"}}, "existingSecretName"),
        ({"metrics": {"serviceMonitor": {"enable": True}}}, "enable"),
        ({"resources": {"limits": {"memroy": "1Gi"}}}, "memroy"),
        ({"tolerations": [{"key": "a", "efect": "NoSchedule"}]}, "efect"),
    ],
)
def test_a_misspelled_value_fails_rendering(
    render: Render, values: dict[str, Any], named: str
) -> None:
    # helm-python's render enforces values.schema.json itself, as `helm install` does.
    with pytest.raises(helm_python.HelmValuesError, match=named):
        render(values)


@pytest.mark.parametrize(
    "values",
    [
        {"rateLimit": "fast"},
        {"rateLimit": 5000},
        {"rateLimit": 0},
        {"namespaces": "shop,payments"},
        {"namespaces": ["Not_A_Namespace"]},
        {"logFormat": "xml"},
        {"logLevel": "verbose"},
        {"dryRun": "yes"},
        {"baseUrl": "api.getcortexapp.com"},
        {"image": {"digest": "latest"}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"metrics": {"serviceMonitor": {"interval": "often"}}},
    ],
    ids=repr,
)
def test_a_value_of_the_wrong_type_fails_rendering(render: Render, values: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(values)


def _schema_objects(
    schema: dict[str, Any], path: str = "values"
) -> Iterator[tuple[str, dict[str, Any]]]:
    if schema.get("type") == "object" or "properties" in schema:
        yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _schema_objects(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _schema_objects(schema["items"], f"{path}[]")


# Kubernetes structures passed through as they are; the API server validates them.
PASS_THROUGH = {
    "values.global",
    "values.affinity.nodeAffinity",
    "values.affinity.podAffinity",
    "values.affinity.podAntiAffinity",
    "values.extraEnv[].valueFrom",
    "values.networkPolicy.ingressFrom[]",
    "values.networkPolicy.egressTo[]",
}


def test_schema_closes_every_object_level(chart: helm_python.Chart) -> None:
    schema = chart.schema
    assert schema is not None
    for path, node in _schema_objects(schema):
        if "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
        elif path not in PASS_THROUGH:
            # A map such as annotations: any key, but every value typed.
            assert node.get("additionalProperties", {}).get("type") == "string", path


def _leaf_paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "resources":
            paths |= _leaf_paths(value, f"{path}.")
        else:
            paths.add(path)
    return paths


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, child in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        nested = child.get("type") == "object" and "properties" in child and key != "resources"
        if key == "affinity":
            nested = False
        paths |= _schema_paths(child, f"{path}.") if nested else {path}
    return paths


def test_values_yaml_and_schema_describe_the_same_values(chart: helm_python.Chart) -> None:
    assert chart.schema is not None
    schema_paths = _schema_paths(chart.schema) - {"global"}
    assert _leaf_paths(chart.values) == schema_paths
    for path, node in _schema_objects(chart.schema):
        for name, child in node.get("properties", {}).items():
            assert child.get("description"), f"{path}.{name} has no description"


def test_every_value_in_values_yaml_is_commented() -> None:
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    key_line = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):")
    parents: list[tuple[int, str]] = []
    uncommented = []
    for number, line in enumerate(lines):
        match = key_line.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        parents = [(i, k) for i, k in parents if i < indent]
        path = [k for _, k in parents] + [match["key"]]
        parents.append((indent, match["key"]))
        if path[:2] in (["resources", "requests"], ["resources", "limits"]) and len(path) > 2:
            continue  # cpu and memory under commented requests/limits
        previous = lines[number - 1].strip() if number else ""
        if not previous.startswith("#"):
            uncommented.append(".".join(path))
    assert uncommented == []


# --- security ------------------------------------------------------------------------------------


def test_pod_is_restricted_by_default(render: Render) -> None:
    objects = render({})
    pod = pod_spec(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert isinstance(pod["securityContext"]["runAsUser"], int)
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["runAsGroup"] > 0
    assert pod["automountServiceAccountToken"] is True, "the operator needs its token for the API"
    sc = container(objects)["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in sc
    # An emptyDir scratch volume and the key's Secret: no hostPath, no host namespaces.
    kinds = {next(iter(set(volume) - {"name"})) for volume in pod["volumes"]}
    assert kinds == {"emptyDir", "secret"}
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod)


def test_container_has_requests_limits_and_a_liveness_probe(render: Render) -> None:
    operator = container(render({}))
    for bound in ("requests", "limits"):
        assert set(operator["resources"][bound]) == {"cpu", "memory"}
    probe = operator["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    ports = {port["name"]: port["containerPort"] for port in operator["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    assert ports[probe["port"]] == 8080


def test_two_replicas_with_leader_election_rolling_one_at_a_time(render: Render) -> None:
    objects = render({})
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    variables = env(objects)
    assert variables["CORTEX_LEADER_ELECTION"]["value"] == "true"
    assert variables["CORTEX_LEASE_NAME"]["value"] == deployment["metadata"]["name"]
    assert variables["POD_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert variables["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    probe = container(objects)["readinessProbe"]["httpGet"]
    assert probe["path"] == "/readyz"
    pdb = only(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    (preferred,) = pod_spec(objects)["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_leader_election_timings_reach_the_operator(render: Render) -> None:
    variables = env(
        render({"leaderElection": {"leaseDuration": 30, "renewDeadline": 20, "retryPeriod": 5}})
    )
    assert {k: variables[k]["value"] for k in ("CORTEX_LEASE_DURATION", "CORTEX_RENEW_DEADLINE",
            "CORTEX_RETRY_PERIOD")} == {"CORTEX_LEASE_DURATION": "30",
            "CORTEX_RENEW_DEADLINE": "20", "CORTEX_RETRY_PERIOD": "5"}  # fmt: skip


def test_one_replica_may_run_without_leader_election(render: Render) -> None:
    objects = render({"replicaCount": 1, "leaderElection": {"enabled": False}})
    assert only(objects, "Deployment")["spec"]["replicas"] == 1
    assert env(objects)["CORTEX_LEADER_ELECTION"]["value"] == "false"
    assert of_kind(objects, "PodDisruptionBudget") == []
    assert of_kind(objects, "Role") == []


def test_several_replicas_without_leader_election_fail_with_a_message(render: Render) -> None:
    with pytest.raises(helm_python.HelmRenderError) as failure:
        render({"leaderElection": {"enabled": False}})
    assert "replicaCount above 1 needs leaderElection.enabled" in str(failure.value)


def test_leases_are_granted_in_the_release_namespace_only(render: Render) -> None:
    for values in ({}, {"namespaces": ["shop"]}):
        objects = render(values)
        (role,) = [
            r for r in of_kind(objects, "Role") if "leader-election" in r["metadata"]["name"]
        ]
        assert role["metadata"]["namespace"] == NAMESPACE
        assert granted(role["rules"]) == {
            ("coordination.k8s.io", "leases", "get"),
            ("coordination.k8s.io", "leases", "create"),
            ("coordination.k8s.io", "leases", "update"),
            ("", "events", "create"),
        }
        # Reading and renewing: the release's own Lease only; a create names none.
        lease = env(objects)["CORTEX_LEASE_NAME"]["value"]
        for rule in role["rules"]:
            if rule["resources"] == ["leases"]:
                named = set(rule["verbs"]) != {"create"}
                assert rule.get("resourceNames") == ([lease] if named else None), rule
        (binding,) = [
            b
            for b in of_kind(objects, "RoleBinding")
            if b["roleRef"]["name"] == role["metadata"]["name"]
        ]
        assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_objects_carry_standard_labels_and_selectors_match(render: Render) -> None:
    objects = render({})
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "cortex-events-operator"
        assert labels["app.kubernetes.io/instance"] == "cortex-events-operator"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "cortex-events-operator-0.1.0"
    deployment = only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert only(objects, "Service")["spec"]["selector"].items() <= pod_labels.items()


# --- RBAC ----------------------------------------------------------------------------------------


def test_default_grants_exactly_the_operator_calls_cluster_wide(render: Render) -> None:
    objects = render({})
    # Besides the leader election Role in the release namespace (tested above), nothing.
    assert [r["metadata"]["name"] for r in of_kind(objects, "Role")] == [
        "cortex-events-operator-leader-election"
    ]
    role = only(objects, "ClusterRole")
    assert granted(role["rules"]) == OPERATOR_CALLS
    binding = only(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": pod_spec(objects)["serviceAccountName"],
            "namespace": NAMESPACE,
        }
    ]
    assert (
        only(objects, "ServiceAccount")["metadata"]["name"]
        == pod_spec(objects)["serviceAccountName"]
    )


@pytest.mark.parametrize("values", [{}, {"namespaces": ["shop"]}], ids=["cluster", "namespaced"])
def test_rbac_is_read_only_on_workloads_and_never_a_wildcard(
    render: Render, values: dict[str, Any]
) -> None:
    rules = [
        rule
        for obj in render(values)
        if obj["kind"] in ("ClusterRole", "Role")
        for rule in obj["rules"]
    ]
    assert rules
    for group, resource, verb in granted(rules):
        assert "*" not in (group, resource, verb)
        if (group, resource) in WORKLOADS:
            assert verb in {"get", "list", "watch"}, f"{verb} on {resource}"
    # The CRD itself and namespaces are never read: kopf's cluster scanning is disabled.
    assert {(g, r) for g, r, _ in granted(rules)}.isdisjoint(
        {("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces")}
    )
    assert not any("nonResourceURLs" in rule for rule in rules)
    # Names only narrow a grant: the one Lease leader election holds.
    named = [rule for rule in rules if "resourceNames" in rule]
    assert [rule["resources"] for rule in named] == [["leases"]]


def test_a_namespace_selector_reads_namespaces_cluster_wide_and_needs_the_cluster_install(
    render: Render,
) -> None:
    objects = render({"namespaceSelector": "cortex.io/record=true"})
    role = only(objects, "ClusterRole")
    assert granted(role["rules"]) == OPERATOR_CALLS | {
        ("", "namespaces", verb) for verb in ("get", "list", "watch")
    }
    assert env(objects)["CORTEX_NAMESPACE_SELECTOR"]["value"] == "cortex.io/record=true"
    with pytest.raises(helm_python.HelmRenderError, match="needs the cluster-wide install"):
        render({"namespaceSelector": "team=a", "namespaces": ["shop"]})


def test_argo_rollouts_are_read_only_when_enabled(render: Render) -> None:
    objects = render({"argoRollouts": {"enabled": False}})
    assert granted(only(objects, "ClusterRole")["rules"]) == OPERATOR_CALLS - {
        ("argoproj.io", "rollouts", verb) for verb in ("get", "list", "watch")
    }
    assert env(objects)["CORTEX_ARGO_ROLLOUTS"]["value"] == "false"
    assert env(render({}))["CORTEX_ARGO_ROLLOUTS"]["value"] == "true"


def test_namespaces_switch_to_a_role_in_each_and_nothing_cluster_wide(render: Render) -> None:
    objects = render({"namespaces": ["shop", "payments"]})
    assert of_kind(objects, "ClusterRole") == []
    assert of_kind(objects, "ClusterRoleBinding") == []
    watch_roles = [r for r in of_kind(objects, "Role") if "leader" not in r["metadata"]["name"]]
    roles = {obj["metadata"]["namespace"]: obj for obj in watch_roles}
    bindings = {
        obj["metadata"]["namespace"]: obj
        for obj in of_kind(objects, "RoleBinding")
        if "leader" not in obj["metadata"]["name"]
    }
    assert set(roles) == set(bindings) == {"shop", "payments"}
    account = pod_spec(objects)["serviceAccountName"]
    for namespace, role in roles.items():
        assert granted(role["rules"]) == OPERATOR_CALLS
        binding = bindings[namespace]
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
        ]
    assert env(objects)["CORTEX_NAMESPACES"]["value"] == "shop,payments"


def test_an_existing_service_account_is_used_and_not_created(render: Render) -> None:
    objects = render({"serviceAccount": {"create": False, "name": "ops-robot"}})
    assert of_kind(objects, "ServiceAccount") == []
    assert pod_spec(objects)["serviceAccountName"] == "ops-robot"
    assert only(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "ops-robot"


def test_no_service_account_to_use_fails_with_a_message(render: Render) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"serviceAccount\.name"):
        render({"serviceAccount": {"create": False}})


# --- the API key ---------------------------------------------------------------------------------


def key_volume(objects: Objects) -> dict[str, Any]:
    """The Secret volume the key's file comes from, checked to be mounted where the operator
    reads it."""
    (mount,) = [m for m in container(objects)["volumeMounts"] if m["name"] == "api-key"]
    assert env(objects)["CORTEX_API_KEY_FILE"]["value"] == f"{mount['mountPath']}/api-key"
    assert mount["readOnly"] is True
    assert "subPath" not in mount, "a subPath mount is never updated when the Secret changes"
    (volume,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == "api-key"]
    secret: dict[str, Any] = volume["secret"]
    return secret


def test_key_from_an_existing_secret(render: Render) -> None:
    objects = render({"apiKey": {"existingSecret": "my-cortex", "secretKey": "token"}})
    assert of_kind(objects, "Secret") == []
    assert key_volume(objects) == {
        "secretName": "my-cortex",
        "defaultMode": 0o440,
        "items": [{"key": "token", "path": "api-key"}],
    }
    assert "CORTEX_API_KEY" not in env(objects), "the key is a file, in no environment"
    assert env(objects)["CORTEX_DRY_RUN"]["value"] == "false"


def test_key_as_a_value_goes_into_a_chart_secret(render: Render) -> None:
    objects = render({"apiKey": {"existingSecret": "", "value": "k-123"}})
    secret = only(objects, "Secret")
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert base64.b64decode(secret["data"]["api-key"]).decode() == "k-123"
    volume = key_volume(objects)
    assert volume["secretName"] == secret["metadata"]["name"]
    assert volume["items"] == [{"key": "api-key", "path": "api-key"}]
    # The key never appears in the Deployment itself.
    assert "k-123" not in json.dumps(only(objects, "Deployment"))


def test_the_pod_shows_no_hash_of_the_key_and_a_new_key_needs_no_new_pod(render: Render) -> None:
    # The operator reads its key file again when the kubelet updates it.
    def template(key: str) -> str:
        deployment = only(render({"apiKey": {"existingSecret": "", "value": key}}), "Deployment")
        return json.dumps(deployment["spec"]["template"])

    key = "k-0123456789abcdef"
    text = template(key)
    for digest in ("md5", "sha1", "sha256", "sha512"):
        assert hashlib.new(digest, key.encode()).hexdigest() not in text, digest
    assert "checksum" not in text
    assert text == template("another-key-0123456789")


def test_no_key_source_fails_with_a_message_that_says_what_to_set(render: Render) -> None:
    with pytest.raises(helm_python.HelmRenderError) as failure:
        render(NO_KEY)
    message = str(failure.value)
    assert "no Cortex API key configured" in message
    for value in ("apiKey.existingSecret", "apiKey.value", "dryRun=true"):
        assert value in message


def test_two_key_sources_fail(render: Render) -> None:
    with pytest.raises(helm_python.HelmRenderError, match="only one of"):
        render({"apiKey": {"existingSecret": "a", "value": "b"}})


def test_dry_run_needs_no_key(render: Render) -> None:
    objects = render({**NO_KEY, "dryRun": True})
    assert "CORTEX_API_KEY_FILE" not in env(objects)
    assert env(objects)["CORTEX_DRY_RUN"]["value"] == "true"
    assert of_kind(objects, "Secret") == []


# --- configuration -------------------------------------------------------------------------------


def test_defaults_reach_the_operator_environment(render: Render) -> None:
    values = {
        name: entry.get("value")
        for name, entry in env(render({})).items()
        if name not in {"POD_NAME", "POD_NAMESPACE"} and "LEASE" not in name
        and name not in {"CORTEX_LEADER_ELECTION", "CORTEX_RENEW_DEADLINE", "CORTEX_RETRY_PERIOD"}
    }  # fmt: skip
    assert values == {
        "CORTEX_BASE_URL": "https://api.getcortexapp.com",
        "CORTEX_ALLOW_HTTP": "false",
        "CORTEX_LISTEN_ADDRESS": "0.0.0.0",
        "CORTEX_CLUSTER_NAME": "default",
        "CORTEX_NAMESPACES": "",
        "CORTEX_NAMESPACE_SELECTOR": "",
        "CORTEX_SCALE_EVENTS": "summary",
        "CORTEX_JOB_POD_EVENTS": "false",
        "CORTEX_UNSCHEDULABLE_AFTER": "300",
        "CORTEX_CONTAINER_ERROR_AFTER": "60",
        "CORTEX_NOT_READY_AFTER": "600",
        "CORTEX_RESTART_THRESHOLD": "3",
        "CORTEX_POD_EVENTS": "auto",
        "CORTEX_ARGO_ROLLOUTS": "true",
        "CORTEX_RATE_LIMIT": "600",
        "CORTEX_DRY_RUN": "false",
        "CORTEX_LOG_LEVEL": "INFO",
        "CORTEX_LOG_FORMAT": "json",
        "CORTEX_DEPLOYS": "false",
        "CORTEX_DEPLOY_ENVIRONMENT": "",
        "CORTEX_DEPLOY_SCALES": "false",
        "CORTEX_DEPLOY_SHA_ANNOTATION": "cortex.io/sha",
        "CORTEX_API_KEY_FILE": "/var/run/secrets/cortex-events/api-key",  # the Secret's
    }
    assert container(render({}))["args"] == ["run"]


def test_deploy_values_reach_the_operator_environment(render: Render) -> None:
    deploys = {"enabled": True, "environment": "production", "scales": True,
               "shaAnnotation": "ci.example.com/commit"}  # fmt: skip
    values = {name: entry.get("value") for name, entry in env(render({"deploys": deploys})).items()}
    assert values["CORTEX_DEPLOYS"] == "true"
    assert values["CORTEX_DEPLOY_ENVIRONMENT"] == "production"
    assert values["CORTEX_DEPLOY_SCALES"] == "true"
    assert values["CORTEX_DEPLOY_SHA_ANNOTATION"] == "ci.example.com/commit"
    with pytest.raises(helm_python.HelmValuesError, match="enable"):
        render({"deploys": {"enable": True}})  # a typo fails the install


def test_values_reach_the_operator_environment(render: Render) -> None:
    objects = render(
        {
            "baseUrl": "http://fake-cortex.test:8081",
            "allowHttp": True,
            "clusterName": "prod-eu",
            "rateLimit": 120.5,
            "logLevel": "debug",
            "logFormat": "text",
        }
    )
    values = {name: entry.get("value") for name, entry in env(objects).items()}
    assert values["CORTEX_BASE_URL"] == "http://fake-cortex.test:8081"
    assert values["CORTEX_CLUSTER_NAME"] == "prod-eu"
    assert values["CORTEX_RATE_LIMIT"] == "120.5"
    assert values["CORTEX_LOG_LEVEL"] == "DEBUG"
    assert values["CORTEX_LOG_FORMAT"] == "text"


@pytest.mark.parametrize(
    ("values", "per_minute"),
    [({"keySharedBy": 3}, "200"), ({"rateLimit": 900, "keySharedBy": 4}, "225")],
)
def test_a_key_shared_by_several_clusters_divides_the_budget(
    render: Render, values: dict[str, Any], per_minute: str
) -> None:
    assert env(render(values))["CORTEX_RATE_LIMIT"]["value"] == per_minute


def test_pod_events_reach_the_operator_and_a_wrong_one_fails_the_install(render: Render) -> None:
    assert env(render({"podEvents": "summary"}))["CORTEX_POD_EVENTS"]["value"] == "summary"
    with pytest.raises(helm_python.HelmValuesError, match="podEvents"):
        render({"podEvents": "sometimes"})
    with pytest.raises(helm_python.HelmValuesError, match="keySharedBy"):
        render({"keySharedBy": 0})


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ({}, "cortex-events-operator:0.1.0"),
        (
            {"repository": "registry.example/cortex/operator", "tag": "0.2.0"},
            "registry.example/cortex/operator:0.2.0",
        ),
        (
            {"tag": "0.2.0", "digest": "sha256:" + "b" * 64},
            "cortex-events-operator@sha256:" + "b" * 64,
        ),
    ],
)
def test_image_reference(render: Render, image: dict[str, str], expected: str) -> None:
    assert container(render({"image": image}))["image"] == expected


def test_pod_placement_and_metadata_values_reach_the_pod(render: Render) -> None:
    values = VALUE_SETS["everything-set"]
    objects = render(values)
    pod = pod_spec(objects)
    template = only(objects, "Deployment")["spec"]["template"]["metadata"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert template["annotations"]["team"] == "platform"
    assert template["labels"]["cost-center"] == "42"
    assert container(objects)["imagePullPolicy"] == "Always"
    assert only(objects, "ServiceAccount")["metadata"]["annotations"] == {
        "iam.example/role": "cortex"
    }


# --- metrics -------------------------------------------------------------------------------------


def test_metrics_service_by_default_and_no_service_monitor(render: Render) -> None:
    objects = render({})
    assert of_kind(objects, "ServiceMonitor") == []
    (port,) = only(objects, "Service")["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (9090, "metrics")
    assert of_kind(render({"metrics": {"enabled": False}}), "Service") == []


def test_service_monitor_only_when_enabled_and_it_scrapes_the_metrics_service(
    render: Render,
) -> None:
    objects = render(
        {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}
    )
    monitor = only(objects, "ServiceMonitor")
    service = only(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "10s")


def test_service_monitor_without_the_service_fails(render: Render) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"metrics\.enabled"):
        render({"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})


# --- NOTES ---------------------------------------------------------------------------------------


def test_notes_tell_the_next_step(render_files: RenderFiles) -> None:
    notes = render_files({})["cortex-events-operator/templates/NOTES.txt"]
    assert "cortex.io/tag=" in notes
    assert "kubectl get cxe -A" in notes
    assert "every namespace" in notes
    namespaced = render_files({"namespaces": ["shop"]})[
        "cortex-events-operator/templates/NOTES.txt"
    ]
    assert "the namespaces shop" in namespaced
    dry = render_files({**NO_KEY, "dryRun": True})["cortex-events-operator/templates/NOTES.txt"]
    assert "DRY RUN" in dry
