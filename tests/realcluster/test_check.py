"""``cortex-events check`` against the real API server: its access reviews tell the chart's
ServiceAccount from one without the chart's RBAC."""

from __future__ import annotations

import subprocess
import sys

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import Release, operator_env


def check(
    release: Release, cortex: FakeCortex, **settings: str
) -> subprocess.CompletedProcess[str]:
    # As in the cluster, where the Lease's namespace is the operator's own.
    settings.setdefault("CORTEX_LEASE_NAMESPACE", release.namespace)
    return subprocess.run(
        [sys.executable, "-m", "cortex_events", "check"],
        env=operator_env(release, cortex, **settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_passes_with_the_charts_service_account(
    plane: ControlPlane, release: Release, cortex: FakeCortex
) -> None:
    result = check(release, cortex)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {
        line.split()[0] + " " + line.split()[1]: line for line in result.stdout.splitlines()[1:]
    }
    rbac = [line for key, line in rows.items() if key.startswith("RBAC ")]
    assert len(rbac) >= 5
    assert all("  ok  " in line for line in rbac), result.stdout
    lease = f"(Lease {release.namespace}/cortex-events-operator)"
    assert any(line.startswith(f"RBAC leases {lease}") for line in rbac), result.stdout


def test_check_names_what_a_service_account_without_the_role_misses(
    plane: ControlPlane, release: Release, cortex: FakeCortex, namespace: str
) -> None:
    plane.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = plane.token(namespace, "nobody")
    path = plane.folder / f"{namespace}-nobody.kubeconfig"
    nobody = Release("none", namespace, "nobody", plane.write_token_kubeconfig(path, token))
    result = check(nobody, cortex)
    assert result.returncode == 1
    assert "RBAC pods" in result.stdout
    pods = next(line for line in result.stdout.splitlines() if line.startswith("RBAC pods"))
    assert "FAIL" in pods
    assert "missing: get, list, watch" in pods
    leases = next(line for line in result.stdout.splitlines() if line.startswith("RBAC leases"))
    assert f"missing: get in {namespace}, create in {namespace}, update in {namespace}" in leases


def test_check_names_the_namespace_access_a_selector_needs_and_the_chart_did_not_grant(
    plane: ControlPlane, release: Release, cortex: FakeCortex
) -> None:
    """The release was installed without ``namespaceSelector``: its ClusterRole does not let
    the operator watch Namespaces, which a selector set by hand needs."""
    result = check(release, cortex, CORTEX_NAMESPACE_SELECTOR="team=shop")
    assert result.returncode == 1, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("RBAC namespaces"))
    assert "(namespace selector)" in row
    assert "FAIL" in row
    assert "list" in row.split("missing:")[1], row
