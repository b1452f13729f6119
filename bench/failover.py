"""``python -m bench.failover``: how long two replicas take to fail over, and what it costs.

On a real control plane (``testbed``) with the Helm chart installed, two operator processes run
with the chart ServiceAccount's token and leader election on one Lease. A Deployment's Pods
arrive, Cortex (the emulator) is paced by the operator's budget so that a backlog exists, and
once a third of them are recorded the leader is killed (SIGKILL). The figures per run:

* **takeover**: seconds from the kill to the first request the new leader's Cortex client sent
  (Cortex tells the replicas apart by their User-Agent), and to the Lease changing hands;
* **recorded once**: every Pod has exactly one POD_CREATION event at the end, and no eventKey
  was created (POST) twice: duplicates must be 0.

The runs repeat (``--runs``); the table shows each, and the JSON their minimum, median, maximum.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.procinfo import machine
from bench.procs import BenchError, Proc, clean_env
from cortex_events_sim.fake_cortex import FakeCortex, run_in_thread
from testbed.assets import AssetsUnavailable, locate
from testbed.controlplane import ControlPlane, wait_until

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "cortex-events-operator"
NAMESPACE = "cortex-events"
RELEASE = "cortex-events-operator"
KEY = "failover-benchmark-key"
TAG = "failover"
DEFAULT_JSON = ROOT / "bench" / "results" / "failover.json"


def _install(plane: ControlPlane, folder: Path) -> Path:
    plane.helm("install", RELEASE, str(CHART), "-n", NAMESPACE, "--create-namespace",
               "--wait", "--timeout", "180s", "--set", f"apiKey.value={KEY}")  # fmt: skip
    token = plane.token(NAMESPACE, RELEASE)
    return plane.write_token_kubeconfig(folder / "operator.kubeconfig", token)


def _holder(plane: ControlPlane, lease: str) -> str:
    found = plane.run(plane.binary("kubectl"), "get", "lease", lease, "-n", NAMESPACE,
                      "-o", "json", check=False)  # fmt: skip
    if found.returncode != 0:
        return ""
    return str(json.loads(found.stdout)["spec"].get("holderIdentity") or "")


def _deployment(namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "annotations": {"cortex.io/tag": TAG}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def _recorded(cortex: FakeCortex) -> collections.Counter[str]:
    return collections.Counter(
        str((e.custom_data or {}).get("uid"))
        for e in cortex.state.events(TAG)
        if e.type == "POD_CREATION"
    )


def one_run(
    plane: ControlPlane, kubeconfig: Path, folder: Path, index: int, pods: int, budget: int
) -> dict[str, Any]:
    # The chart's Role grants the release's own Lease only; each run starts without it.
    namespace, lease = f"failover-{index}", RELEASE
    plane.kubectl("delete", "lease", lease, "-n", NAMESPACE, "--ignore-not-found")
    plane.kubectl("create", "namespace", namespace)
    wait_until(
        lambda: plane.run(plane.binary("kubectl"), "get", "serviceaccount", "default", "-n",
                          namespace, check=False).returncode == 0,
        120, "the namespace's default ServiceAccount",
    )  # fmt: skip
    with run_in_thread(api_key=KEY) as cortex:
        replicas = {}
        for name in ("first", "second"):
            env = clean_env(
                KUBECONFIG=str(kubeconfig),
                POD_NAME=f"{name}-{index}",
                CORTEX_API_KEY=KEY,
                CORTEX_BASE_URL=cortex.base_url,
                CORTEX_ALLOW_HTTP="true",  # the emulator, on loopback
                CORTEX_CLUSTER_NAME="failover",
                CORTEX_NAMESPACES=namespace,
                CORTEX_RATE_LIMIT=str(budget),
                CORTEX_LEASE_NAMESPACE=NAMESPACE,
                CORTEX_LEASE_NAME=lease,
            )
            replicas[name] = Proc.ours(env, folder / f"{name}-{index}.log")
        first, second = replicas["first"], replicas["second"]
        first.start()
        wait_until(lambda: _holder(plane, lease).startswith("first-"), 60, "the first to lead")
        second.start()
        time.sleep(3)  # the standby lists and watches
        plane.apply(_deployment(namespace, pods))
        wait_until(lambda: sum(_recorded(cortex).values()) >= pods // 3, 300, "a third recorded")
        assert first.popen is not None
        first.popen.kill()
        killed = time.time()
        first.popen.wait(10)
        first.popen = None
        wait_until(lambda: _holder(plane, lease).startswith("second-"), 60, "the second to lead")
        lease_moved = time.time() - killed
        wait_until(lambda: len(_recorded(cortex)) == pods, 600, "every Pod recorded")
        second.stop()
        by_second = [
            r.received_at for r in cortex.state.requests
            if f"(second-{index}_" in r.agent and r.received_at > killed
        ]  # fmt: skip
        posts = collections.Counter(
            (r.body or {}).get("customData", {}).get("eventKey")
            for r in cortex.state.requests
            if r.method == "POST" and r.status == 200 and isinstance(r.body, dict)
        )
    plane.kubectl("delete", "namespace", namespace, "--wait=false")
    recorded = _recorded(cortex)
    return {
        "pods": pods,
        "takeover_seconds": round(min(by_second) - killed, 2) if by_second else None,
        "lease_moved_after_seconds": round(lease_moved, 2),
        "duplicate_events": sum(n - 1 for n in recorded.values() if n > 1),
        "duplicate_posts": sum(n - 1 for n in posts.values() if n > 1),
        "pods_recorded": len(recorded),
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="failovers to measure (default 3)")
    parser.add_argument("--pods", type=int, default=300, help="Pods per run (default 300)")
    parser.add_argument("--budget", type=int, default=600, help="requests a minute (default 600)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        assets = locate()
    except AssetsUnavailable as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="cortex-events-failover-") as scratch:
        folder = Path(scratch)
        plane = ControlPlane(assets, folder / "plane", nodes=3)
        try:
            plane.start()
            kubeconfig = _install(plane, folder)
            runs = [
                one_run(plane, kubeconfig, folder, index, args.pods, args.budget)
                for index in range(args.runs)
            ]
        except (BenchError, RuntimeError, TimeoutError) as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1
        finally:
            plane.stop()
    takeovers = [r["takeover_seconds"] for r in runs if r["takeover_seconds"] is not None]
    results = {
        "command": "python -m bench.failover " + " ".join(sys.argv[1:]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "lease": {"duration": 15, "renew_deadline": 10, "retry_period": 2},
        "runs": runs,
        "takeover_seconds": _summary(takeovers) if takeovers else None,
        "duplicates": sum(r["duplicate_events"] + r["duplicate_posts"] for r in runs),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("| run | pods | leader killed -> first request of the new leader | Lease moved | "
          "duplicates |")  # fmt: skip
    print("|---|---|---|---|---|")
    for index, run in enumerate(runs):
        duplicates = run["duplicate_events"] + run["duplicate_posts"]
        print(f"| {index + 1} | {run['pods']} | {run['takeover_seconds']} s | "
              f"{run['lease_moved_after_seconds']} s | {duplicates} |")  # fmt: skip
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
