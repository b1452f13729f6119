"""The benchmark's small configuration, end to end, as documented: ``python -m bench --smoke``.

It runs the real operator and both kopf baselines against the stand-ins and checks facts a user
of the results relies on (every event arrived, none twice, no writes to workloads, every
section present), never how fast anything was.
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
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"the benchmark failed:\n{done.stdout}\n{done.stderr}"
    assert "Targets" in done.stdout, "the table is printed"
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_every_section_is_reported(results: dict[str, Any]) -> None:
    for section in ("machine", "config", "delivery", "latency", "scale", "restart", "targets"):
        assert results.get(section), f"{section} is missing from the JSON"
    (row,) = results["scale"]
    assert {"operator", "noop", "naive"} <= row.keys()
    for name in ("operator", "noop", "naive"):
        assert row[name]["rss_mib"] > 0
        assert row[name]["cpu_seconds"] > 0
    assert {"operator", "naive"} <= results["restart"].keys()
    assert results["ratios"]["scale"][0]["rss_vs_noop"] is not None


def test_backlog_and_steady_changes_all_reach_cortex_once(results: dict[str, Any]) -> None:
    delivery = results["delivery"]
    assert delivery["events_accepted"] == results["config"]["backlog"]
    assert delivery["self_caused_429"] == 0
    assert results["latency"]["changes"] == results["config"]["latency_changes"]
    assert results["delivery_duplicate_events"] == 0


def test_restart_posts_nothing_twice_and_reads_each_entity_once(results: dict[str, Any]) -> None:
    restart = results["restart"]["operator"]
    assert restart["duplicate_posts"] == 0
    assert restart["by_method"].get("POST", 0) == 0
    assert restart["max_calls_one_entity"] == 1
    assert results["duplicate_events"]["operator"] == 0


def test_the_operator_never_writes_to_workloads_and_the_naive_baseline_does(
    results: dict[str, Any],
) -> None:
    assert results["workload_writes_total"] == 0
    per_pod = results["workload_writes_per_pod"]
    assert per_pod["operator"] == 0
    assert per_pod["noop"] == 0
    assert per_pod["naive"] >= 1, "kopf's default state storage annotates every handled Pod"


def test_the_scale_run_covers_each_owner_kind_recorded_as_the_operator_records_them(
    results: dict[str, Any],
) -> None:
    (row,) = results["scale"]
    made = row["workloads"]
    assert made["deployments"] == made["statefulsets"] == made["jobs"] >= 1
    owned = made["statefulsets"] * made["pods_per_owner"]
    assert made["bare_pods"] + 3 * owned == row["pods"]
    # A Job's Pods get no POD_CREATION by default; its run, and each Deployment and
    # StatefulSet, one event. A Deployment's Pods map through its ReplicaSet to its tag.
    assert row["events_recorded"] == {
        "DEPLOYMENT_CREATION": made["deployments"],
        "JOB_RUN": made["jobs"],
        "POD_CREATION": made["bare_pods"] + 2 * owned,
        "STATEFULSET_CREATION": made["statefulsets"],
    }
    # The operator found each of them already in Cortex: it only read each entity.
    assert row["operator"]["by_method"] == {"GET": results["config"]["entities"]}
