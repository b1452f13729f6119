"""Where the control plane's binaries are: built (or found cached) by ``scripts/k8s-assets``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "k8s-assets"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
    "rollouts-controller",
    "argo-rollouts-crds",
)


class AssetsUnavailable(Exception):
    """The binaries cannot be had here; the message says why, in one line."""


def go_missing() -> str | None:
    """Why the assets cannot be built on this machine (no Go), or None."""
    if shutil.which("go") is None:
        return "Go is not installed, so the control plane cannot be built (scripts/k8s-assets)"
    return None


def locate(*, build: bool = True, timeout: float = 3600) -> Path:
    """The folder holding every binary (and Argo Rollouts' CRDs); builds what is missing when
    ``build``."""
    reason = go_missing()
    if reason is not None:
        raise AssetsUnavailable(reason)
    command = ["bash", str(SCRIPT)] + ([] if build else ["--check"])
    result = subprocess.run(  # noqa: S603 (the project's own script)
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetsUnavailable(f"scripts/k8s-assets failed (exit {result.returncode}): {last}")
    folder = Path(result.stdout.strip().splitlines()[-1])
    missing = [name for name in BINARIES if not (folder / name).exists()]
    if missing:
        raise AssetsUnavailable(f"{folder} lacks {', '.join(missing)}")
    return folder
