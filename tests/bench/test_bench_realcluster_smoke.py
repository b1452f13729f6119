"""The benchmark's real-cluster mode, small: ``python -m bench --smoke --cluster real``, scale only.

A real control plane with kwok nodes; the operator (with the chart's ServiceAccount token) and
both kopf baselines at one small scale, then their restarts. It checks facts the real-cluster
figures rest on (the Pods ran on kwok nodes, some of them made by the deployment, StatefulSet and
Job controllers, the events seeded for them are the ones the operator would send, writes are read
from the audit log), never how fast anything was. The
delivery and latency part (``--parts scale`` leaves it out) is not run, to keep this test short;
``python -m bench --smoke --cluster real`` runs it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed.assets import go_missing

pytestmark = [pytest.mark.integration, pytest.mark.realcluster]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = go_missing()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("bench-real") / "results.json"
    command = ["--smoke", "--cluster", "real", "--parts", "scale", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the benchmark failed:\n{done.stdout}\n{done.stderr}"
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_the_pods_ran_on_a_real_control_plane(results: dict[str, Any]) -> None:
    cluster = results["cluster"]
    assert cluster["kind"] == "real"
    assert cluster["versions"]["kubernetes"].startswith("v1.")
    (size,) = results["config"]["scales"]
    grown = {row["namespace"]: row["pods_created"] for row in cluster["setup"]["pods"]}
    assert grown == {"bench": size, "bench-naive": size}
    kinds = ("deployments", "statefulsets", "jobs")
    owners = {row["namespace"]: tuple(row[k] for k in kinds) for row in cluster["setup"]["pods"]}
    (made,) = (row["workloads"] for row in results["scale"])
    assert owners == {"bench": tuple(made[k] for k in kinds), "bench-naive": (0, 0, 0)}
    assert min(made[k] for k in kinds) >= 1
    assert set(cluster["control_plane_at_end"]) >= {"kube-apiserver", "etcd", "kwok"}


def test_every_process_is_measured(results: dict[str, Any]) -> None:
    (row,) = results["scale"]
    for name in ("operator", "noop", "naive"):
        assert row[name]["rss_mib"] > 0
        assert row[name]["cpu_seconds"] > 0
    assert {"operator", "naive"} <= results["restart"].keys()


def test_the_seeded_events_are_what_the_operator_would_send(results: dict[str, Any]) -> None:
    # Cortex already holds the events of the real workloads, derived from the objects the API
    # returned (a Deployment's ReplicaSet and a StatefulSet's Pods made by their controllers, a
    # Job completed): the operator only loads them (one GET per entity) and sends nothing, at
    # start and restart.
    (row,) = results["scale"]
    made = row["workloads"]
    owned = made["statefulsets"] * made["pods_per_owner"]
    assert row["events_recorded"] == {
        "DEPLOYMENT_CREATION": made["deployments"],
        "JOB_RUN": made["jobs"],
        "POD_CREATION": made["bare_pods"] + 2 * owned,
        "STATEFULSET_CREATION": made["statefulsets"],
    }
    for run in (row["operator"], results["restart"]["operator"]):
        assert run["by_method"] == {"GET": results["config"]["entities"]}
        assert run["duplicate_posts"] == 0
    assert results["duplicate_events"] == {"operator": 0, "naive": 0}


def test_writes_to_workloads_come_from_the_audit_log(results: dict[str, Any]) -> None:
    per_pod = results["workload_writes_per_pod"]
    assert per_pod["operator"] == 0
    assert per_pod["noop"] == 0
    assert per_pod["naive"] >= 1, "kopf's default state storage annotates every handled Pod"
