"""The Argo Rollouts controller on the test bed's control plane.

`scripts/k8s-assets` builds the controller from its Go module and extracts that module's
CustomResourceDefinitions (Rollout, AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate,
Experiment) beside it. `ArgoRollouts.install` applies them server-side (they are too large for
a client-side apply's annotation) and waits until each is established; `start` runs the
controller against the API server with a client certificate of its own
(``argo-rollouts-controller``), as one more component of the `ControlPlane`, so that its
writes can be told apart in the audit log; `stop` and `uninstall` undo both.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from testbed.controlplane import ControlPlane, free_port, wait_until

NAME = "argo-rollouts"
CRDS = "argo-rollouts-crds"
USER = "argo-rollouts-controller"


@dataclass
class ArgoRollouts:
    plane: ControlPlane

    @property
    def crds(self) -> list[Path]:
        return sorted((self.plane.assets / CRDS).glob("*-crd.yaml"))

    def crd_names(self) -> list[str]:
        return [str(yaml.safe_load(path.read_text())["metadata"]["name"]) for path in self.crds]

    def install(self, timeout: float = 60) -> None:
        for path in self.crds:
            self.plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))

        def established() -> bool:
            found = self.plane.get("crd", *self.crd_names())
            return all(
                any(c["type"] == "Established" and c["status"] == "True"
                    for c in (item.get("status") or {}).get("conditions") or [])
                for item in found["items"]
            )  # fmt: skip

        wait_until(established, timeout, "Argo Rollouts' CRDs to be established")

    def start(self, timeout: float = 90) -> None:
        """Run the controller (no leader election, healthz and metrics on free ports)."""
        self.plane.ports[NAME] = health = free_port()
        self.plane.start_component(
            NAME,
            [
                self.plane.binary("rollouts-controller"),
                f"--kubeconfig={self.plane.kubeconfig_path(NAME)}",
                "--leader-elect=false",
                f"--healthzPort={health}",
                f"--metricsPort={free_port()}",
                "--loglevel=info",
                "--rollout-resync=10",
            ],
            lambda: _answers(f"http://127.0.0.1:{health}/healthz"),
            timeout,
        )

    def stop(self) -> None:
        component = self.plane.components.pop(NAME, None)
        if component is not None:
            component.stop()

    def uninstall(self) -> None:
        self.plane.kubectl("delete", "crd", *self.crd_names(), "--wait=false")


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our own loopback)
        return int(answer.status) == 200
