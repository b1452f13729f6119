"""The plain install in ``manifests/``: generated from the chart, valid, and applyable two ways."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
GENERATOR = ROOT / "scripts" / "generate_manifests.py"
NAMESPACE = "cortex-events"


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def manifest_files() -> list[Path]:
    return sorted(path for path in MANIFESTS.iterdir() if path.suffix in (".yaml", ".yml"))


def manifest_objects() -> list[dict[str, Any]]:
    return [doc for path in manifest_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_manifests_are_what_the_chart_renders(tmp_path: Path) -> None:
    result = run_generator("--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    generated = {path.name: path.read_text() for path in tmp_path.iterdir()}
    committed = {path.name: path.read_text() for path in MANIFESTS.iterdir()}
    assert sorted(committed) == sorted(generated)
    drifted = [name for name in generated if committed[name] != generated[name]]
    assert drifted == [], "manifests/ is stale: run python scripts/generate_manifests.py"


def test_check_mode_names_drifted_and_stray_files(tmp_path: Path) -> None:
    copy = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copy)
    assert run_generator("--check", "--output", str(copy)).returncode == 0

    deployment = copy / "40-deployment.yaml"
    deployment.write_text(deployment.read_text().replace("replicas: 2", "replicas: 3"))
    (copy / "99-extra.yaml").write_text("kind: ConfigMap\n")
    result = run_generator("--check", "--output", str(copy))
    assert result.returncode == 1
    assert "40-deployment.yaml" in result.stderr
    assert "99-extra.yaml" in result.stderr

    assert run_generator("--output", str(copy)).returncode == 0
    assert run_generator("--check", "--output", str(copy)).returncode == 0
    assert not (copy / "99-extra.yaml").exists()


@pytest.mark.parametrize("kube_version", ["1.25", "1.33", kubernetes_validate.latest_version()])
def test_every_manifest_is_valid_kubernetes(kube_version: str) -> None:
    objects = manifest_objects()
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, kube_version, strict=True)


def test_manifests_install_into_cortex_events_with_the_users_secret() -> None:
    objects = manifest_objects()
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == sorted(
        [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
        ]
    )
    # The namespace comes first and enforces the restricted Pod Security Standard.
    first = yaml.safe_load(manifest_files()[0].read_text())
    assert first["kind"] == "Namespace"
    assert first["metadata"]["name"] == NAMESPACE
    assert first["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objects:
        if obj["kind"] in ("ServiceAccount", "Deployment", "Service"):
            assert obj["metadata"]["namespace"] == NAMESPACE
        assert "helm.sh/chart" not in obj["metadata"].get("labels", {})
    (deployment,) = (obj for obj in objects if obj["kind"] == "Deployment")
    (operator,) = deployment["spec"]["template"]["spec"]["containers"]
    key = next(entry for entry in operator["env"] if entry["name"] == "CORTEX_API_KEY_FILE")
    assert key["value"] == "/var/run/secrets/cortex-events/api-key"
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    (secret,) = [volume["secret"] for volume in volumes if "secret" in volume]
    assert (secret["secretName"], secret["items"]) == (
        "cortex-events",
        [{"key": "api-key", "path": "api-key"}],
    )


def test_manifest_crd_is_the_source_crd() -> None:
    source = ROOT / "crds" / "cortexentities.cortex.io.yaml"
    crds = [path for path in manifest_files() if "CustomResourceDefinition" in path.read_text()]
    assert [path.read_bytes() for path in crds] == [source.read_bytes()]


def test_kustomization_lists_every_manifest_and_is_invisible_to_apply_f() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "Kustomization").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == [path.name for path in manifest_files()]
    # `kubectl apply -f manifests/` reads only .yaml/.yml/.json files, none of which is the
    # Kustomization, which kubectl could not apply as an object.
    assert all(obj["kind"] != "Kustomization" for obj in manifest_objects())
    assert not list(MANIFESTS.glob("*.json"))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_the_same_objects() -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    result = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def key(obj: dict[str, Any]) -> tuple[str, str]:
        return (obj["kind"], obj["metadata"]["name"])

    assert sorted(map(key, built)) == sorted(map(key, manifest_objects()))
