"""The benchmark's churn part in its small configuration, end to end, as documented:
``python -m bench --smoke --parts churn``.

Three operators (the commit before delivery classes, then this one with ``podEvents`` ``each``
and ``auto``) go through a rollout restart with failures and a rollout start during it, each
against a stand-in with simulated controllers. The facts checked are those a reader of the
figures relies on: every failure and rollout start measured, every Pod change recorded exactly
once, nothing about how fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-churn") / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--parts", "churn", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"the benchmark failed:\n{done.stdout}\n{done.stderr}"
    assert "6. Churn" in done.stdout, "the table is printed"
    loaded: dict[str, Any] = json.loads(out.read_text())
    found: dict[str, Any] = loaded["churn"]
    return found


def test_each_operator_is_measured_on_every_failure_and_rollout_start(
    churn: dict[str, Any],
) -> None:
    config = churn["config"]
    for variant in ("before", "each", "auto"):
        run = churn[variant]
        assert run["failure_latency"]["count"] == config["failures"]
        assert run["rollout_latency"]["count"] == config["rollouts"]
        assert run["cortex_requests"] > 0
        assert run["cortex_429"] == 0


def test_every_pod_change_is_recorded_exactly_once_by_each_operator(
    churn: dict[str, Any],
) -> None:
    for variant in ("before", "each", "auto"):
        accounted = churn[variant]["accounted"]
        assert accounted["changes"] == 2 * churn["config"]["replaced_pods"]
        assert accounted["recorded_once"] == accounted["changes"], variant
