"""The chart's extras with real Helm on a real API server: `helm test`, and a missing
apiKey.existingSecret refused at install time (and not under `helm template`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import API_KEY, CHART, FATE_LABEL, install

ESCAPED_FATE = FATE_LABEL.replace(".", "\\.")  # dots in a --set key are escaped


def helm_refused(plane: ControlPlane, *args: str) -> str:
    result = plane.run(plane.binary("helm"), *args, check=False)
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_a_missing_existing_secret_fails_the_install_and_not_helm_template(
    plane: ControlPlane, namespace: str
) -> None:
    values = ("--set", "apiKey.existingSecret=cortex-events")
    error = helm_refused(plane, "install", "nokey", str(CHART), "-n", namespace, *values)
    assert (
        f"apiKey.existingSecret: there is no Secret cortex-events in namespace {namespace}. "
        f"Create it first: kubectl -n {namespace} create secret generic cortex-events "
        "--from-literal=api-key=<your Cortex API key>"
    ) in error
    rendered = plane.helm("template", "nokey", str(CHART), "-n", namespace, "--kube-version",
                          "1.36.0", *values)  # fmt: skip
    assert "kind: Deployment" in rendered, "no cluster to ask: nothing checked"

    plane.kubectl("create", "secret", "generic", "cortex-events", "-n", namespace,
                  "--from-literal=key=x")  # fmt: skip
    error = helm_refused(plane, "install", "nokey", str(CHART), "-n", namespace, *values)
    assert "Secret cortex-events in namespace" in error
    assert "has no key api-key (its keys: key); set apiKey.secretKey" in error
    plane.helm("install", "nokey", str(CHART), "-n", namespace, *values,
               "--set", "apiKey.secretKey=key")  # fmt: skip
    plane.helm("uninstall", "nokey", "-n", namespace, "--wait")


def test_helm_test_runs_check_and_that_check_passes_as_the_chart_grants(
    plane: ControlPlane, cortex: FakeCortex, tmp_path: Path
) -> None:
    release = install(
        plane, "hooks", "hooks",
        "--set", f"baseUrl={cortex.base_url}", "--set", "allowHttp=true",
        # kwok plays the kubelet: this label has it end the test Pod Succeeded.
        "--set", f"tests.podLabels.{ESCAPED_FATE}=complete",
    )  # fmt: skip
    try:
        plane.helm("test", "hooks", "-n", "hooks", "--timeout", "120s")
        # What the Pod runs, run here with the same identity and settings against the same
        # API server: the chart's RBAC must let `check` pass every row.
        (pod,) = [
            doc for doc in yaml.safe_load_all(plane.helm("get", "hooks", "hooks", "-n", "hooks"))
            if doc and doc["kind"] == "Pod"
        ]  # fmt: skip
        (container,) = pod["spec"]["containers"]
        assert container["args"] == ["check"]
        assert pod["spec"]["serviceAccountName"] == release.service_account
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CORTEX_", "KUBE"))}
        for variable in container["env"]:
            if "value" in variable:
                env[variable["name"]] = variable["value"]
        # The key as the Pod reads it, from the file its Secret's volume holds.
        key_file = tmp_path / "api-key"
        key_file.write_text(API_KEY)
        assert env["CORTEX_API_KEY_FILE"] == "/var/run/secrets/cortex-events/api-key"
        env.update(KUBECONFIG=str(release.kubeconfig), POD_NAMESPACE="hooks",
                   CORTEX_API_KEY_FILE=str(key_file))  # fmt: skip
        check = subprocess.run(
            [sys.executable, "-m", "cortex_events", *container["args"]],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stderr == ""
        rows = check.stdout.splitlines()[1:]
        assert any(r.startswith("Leader election") and "Lease hooks/hooks-" in r for r in rows)
        assert not [r for r in rows if " FAIL " in r or " unknown " in r], check.stdout
    finally:
        plane.helm("uninstall", "hooks", "-n", "hooks", "--wait")
