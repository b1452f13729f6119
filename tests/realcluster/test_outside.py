"""Running outside the cluster as the chart's identity (``cortex-events kubeconfig``), the
Lease it leaves to the garbage collector, and what the operator says after ``helm uninstall``."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from cortex_events_sim.fake_cortex import FakeCortex
from testbed.controlplane import ControlPlane

from .conftest import Operator, deployment, events, install, make_operator, operator_env, wait_for


def lease(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    found = plane.run(plane.binary("kubectl"), "get", "lease", name, "-n", namespace, "-o",
                      "json", check=False)  # fmt: skip
    return json.loads(found.stdout) if found.returncode == 0 else None


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except urllib.error.URLError:
        return 0, ""


def running(operator: Operator) -> subprocess.Popen[bytes]:
    assert operator.process.process is not None
    return operator.process.process


def test_as_the_charts_identity_outside_the_cluster_then_helm_uninstall(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, tmp_path: Path
) -> None:
    release = install(plane, "outside", "outside")
    config = yaml.safe_load(release.kubeconfig.read_text())
    assert stat.S_IMODE(release.kubeconfig.stat().st_mode) == 0o600
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == plane.server
    assert "certificate-authority-data" in cluster["cluster"], "the CA travels with it"
    lease_name = "outside-cortex-events-operator"
    assert release.settings["CORTEX_LEASE_NAMESPACE"] == "outside"
    assert release.settings["CORTEX_LEASE_NAME"] == lease_name
    assert release.settings["CORTEX_LEADER_ELECTION"] == "true"
    assert "CORTEX_API_KEY" not in release.settings
    assert "CORTEX_API_KEY_FILE" not in release.settings, "a path inside the Pod"

    # The operator with exactly what the command exported (Cortex is the emulator here).
    # The emulator speaks plain HTTP on loopback, and the test watches its own namespace only
    # (the chart watches them all).
    emulator = {"CORTEX_BASE_URL", "CORTEX_ALLOW_HTTP", "CORTEX_NAMESPACES"}
    assert release.settings.get("CORTEX_NAMESPACES", "") == ""
    chart = {k: v for k, v in release.settings.items() if k not in emulator}
    operator = make_operator(plane, release, cortex, tmp_path / "operator.log",
                             watch=[namespace], **chart, CORTEX_WEDGED_AFTER="6")  # fmt: skip
    operator.start()
    plane.apply(deployment("web", namespace, tag="outside-web", replicas=1))
    wait_for(lambda: events(cortex, "outside-web", "DEPLOYMENT_CREATION"), 60, "an event")
    account = plane.get("serviceaccount", release.service_account, "-n", "outside")

    def held() -> dict[str, Any] | None:
        found = lease(plane, "outside", lease_name)
        return found if found and (found.get("spec") or {}).get("holderIdentity") else None

    taken = wait_for(held, 60, "the operator to hold the chart's Lease")
    assert taken["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "ServiceAccount", "name": release.service_account,
         "uid": account["metadata"]["uid"]}
    ]  # fmt: skip
    assert operator.violations() == []

    # What was recorded, from Cortex, for the entities the cluster names (as that identity).
    env = operator_env(release, cortex, **chart)
    listed = subprocess.run(
        [sys.executable, "-m", "cortex_events", "events"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[2:5] for line in listed.stdout.splitlines()[1:]]
    assert ["outside-web", "event", "DEPLOYMENT_CREATION"] in rows

    # Ctrl-C: a clean stop, and an exit status that says it was interrupted.
    interrupted = running(operator)
    interrupted.send_signal(signal.SIGINT)
    assert interrupted.wait(60) == 130
    operator.process.process = None
    operator.start()

    plane.helm("uninstall", "outside", "-n", "outside", "--wait")
    wait_for(lambda: lease(plane, "outside", lease_name) is None, 60, "the Lease to be deleted")

    process = running(operator)

    def stopped_or_failing() -> str | None:
        if process.poll() is not None:
            return "stopped"
        status, body = healthz(operator.process.health_port)
        return body if status == 500 else None

    outcome = wait_for(stopped_or_failing, 120, "the operator to stop or /healthz to fail")
    if outcome == "stopped":
        operator.process.process = None
        assert process.returncode == 1
    else:
        assert "refused the operator's requests for" in outcome
        process.kill()
        process.wait(10)
        operator.process.process = None
    log = operator.log_text()
    # Helm deletes the RBAC bindings and the ServiceAccount together; the API server refuses
    # the token (401) or, while it still authenticates it, its requests (403).
    assert re.search(r"refuses the operator's (credentials|requests) \(HTTP 40[13]", log), log
    assert "HTTP response headers" not in log
    assert "is not answering" not in log
