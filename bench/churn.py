"""The churn part: what matters first when Pods come and go faster than the budget.

A rollout restart of ``deployments`` Deployments of ``replicas`` Pods each (2,000 owned Pods
replaced at once in the full run) and, ``during`` seconds into it, ``failures`` Pods that fail
(OOMKilled and CrashLoopBackOff, alternately) and ``rollouts`` rollout starts of other
Deployments. Three operators go through it side by side, each with a cluster (namespace) and a
Cortex of its own, at the same budget:

- ``before``: the operator as of `BASELINE_REF`, the commit before delivery classes: one queue,
  first come first served, an event per Pod. Its code is read from git (``git archive``);
- ``each``: this operator with ``CORTEX_POD_EVENTS=each``: classes and fair shares, an event
  per Pod;
- ``auto``: this operator with its defaults: classes, and Pod churn folded under pressure.

The workloads are made through the Kubernetes API and their controllers (the stand-in's
simulated ones, or the real ones with kwok); the events a previous run would have recorded for
them are put into Cortex first, so that each operator starts with nothing to catch up on.
Reported, per operator: each failure's and rollout start's latency (from when the cluster wrote
the failure, or the rollout was asked for, to Cortex accepting its event), the Cortex requests
spent from the restart until the backlog was gone per replaced Pod, that time, and whether every
Pod change is accounted for (each old Pod's deletion and each new Pod's creation recorded once,
as an event of its own or in a summary).
"""

from __future__ import annotations

import collections
import io
import logging
import subprocess
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import stand
from bench.backends import Backend, Stands
from bench.procs import BenchError, Proc
from bench.scenarios import accepted, custom_data, percentile
from cortex_events.domain.podsummary import is_summary, recorded_changes
from cortex_events_sim import workloads

logger = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REF = "0194abb"
"""The operator before delivery classes and Pod summaries: today's behaviour, measured."""
VARIANTS = ("before", "each", "auto")
FATES = ("OOMKilled", "CrashLoopBackOff")
ROLE_LABEL = "bench.cortex.io/role"


@dataclass(frozen=True)
class ChurnConfig:
    deployments: int = 20
    replicas: int = 100
    failures: int = 20
    rollouts: int = 5
    during: float = 10.0
    """Seconds after the restart began that the failures and rollout starts happen."""
    budget: int = 600
    cortex_limit: int = 1000

    def as_json(self) -> dict[str, Any]:
        return {
            "deployments": self.deployments,
            "replicas": self.replicas,
            "replaced_pods": self.replaced,
            "failures": self.failures,
            "rollouts": self.rollouts,
            "during_seconds": self.during,
            "budget_per_minute": self.budget,
            "cortex_limit_per_minute": self.cortex_limit,
        }

    @property
    def replaced(self) -> int:
        return self.deployments * self.replicas


FULL = ChurnConfig()
SMOKE = ChurnConfig(deployments=2, replicas=10, failures=2, rollouts=1, during=2.0)


def churn_name(index: int) -> str:
    return f"churn-{index:02d}"


def rollout_name(index: int) -> str:
    return f"release-{index:02d}"


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _failed(pod: dict[str, Any]) -> bool:
    """The Pod shows its failure: a container OOMKilled (now or before its restart) or
    waiting in CrashLoopBackOff."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        states = (status.get("state") or {}, status.get("lastState") or {})
        if any((s.get("terminated") or {}).get("reason") == "OOMKilled" for s in states):
            return True
        if (states[0].get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            return True
    return False


class Run:
    """One operator through the churn, on stands of its own."""

    def __init__(self, config: ChurnConfig, st: Stands, variant: str, workdir: Path) -> None:
        self.config, self.st, self.variant, self.workdir = config, st, variant, workdir

    # -- the cluster -------------------------------------------------------------------------

    def _pods(self, selector: str | None = None) -> list[dict[str, Any]]:
        return self.st.list_objects("Pod", label_selector=selector)

    def _wait(
        self, probe: Callable[[], bool], timeout: float, what: str, proc: Proc | None
    ) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            if proc is not None:
                proc.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{self.variant}: timed out after {timeout:.0f}s waiting for {what}"
                )
            time.sleep(0.2)

    def setup(self) -> None:
        config, st = self.config, self.st
        made = [
            workloads.deployment(
                churn_name(i),
                namespace=st.namespace,
                image=stand.IMAGE,
                replicas=config.replicas,
                tag=stand.entity_tag(i),
                labels={ROLE_LABEL: "churn"},
            )
            for i in range(config.deployments)
        ]
        made += [
            workloads.deployment(
                rollout_name(i),
                namespace=st.namespace,
                image=stand.IMAGE,
                replicas=2,
                tag=f"bench-release-{i:02d}",
                labels={ROLE_LABEL: "rollout"},
            )
            for i in range(config.rollouts)
        ]
        st.create_objects(made)
        total = config.replaced + 2 * config.rollouts
        timeout = 300 + total / 10
        self._wait(
            lambda: sum(1 for p in self._pods() if _ready(p)) == total and st.pods_running(),
            timeout,
            f"{total} ready Pods",
            None,
        )
        objects: stand.Objects = [
            *(("Deployment", d) for d in st.list_objects("Deployment")),
            *(("ReplicaSet", r) for r in st.list_objects("ReplicaSet")),
            *(("Pod", p) for p in self._pods()),
        ]
        self.seeded = sum(stand.seed_recorded(st.cortex, objects).values())

    def start_operator(self) -> Proc:
        env = self.st.env("operator", CORTEX_RATE_LIMIT=str(self.config.budget))
        if self.variant == "each":
            env["CORTEX_POD_EVENTS"] = "each"
        if self.variant == "before":
            env["PYTHONPATH"] = str(baseline_tree(self.workdir) / "operator")
        proc = Proc.ours(env, self.workdir / f"operator-churn-{self.variant}.log")
        proc.start()

        def ready() -> bool:
            metrics = proc.metrics() if _serving(proc) else {}
            handled = metrics.get("cortex_events_deduplicated_total", 0.0) + metrics.get(
                "cortex_events_sent_total", 0.0
            )
            return metrics.get("cortex_events_queue_depth", 1.0) == 0 and handled >= self.seeded

        self._wait(ready, 300, "the operator to find every event recorded", proc)
        return proc

    # -- the churn ---------------------------------------------------------------------------

    def churn(self, proc: Proc) -> dict[str, Any]:
        config, st = self.config, self.st
        old = {p["metadata"]["uid"] for p in self._pods(f"{ROLE_LABEL}=churn")}
        mark = st.request_count()
        started = time.time()
        restarted_at = datetime.now(UTC).isoformat(timespec="seconds")
        for i in range(config.deployments):
            st.patch_object(
                "Deployment",
                churn_name(i),
                {"spec": {"template": {"metadata": {"annotations": {
                    "kubectl.kubernetes.io/restartedAt": restarted_at}}}}},
            )  # fmt: skip
        time.sleep(config.during)
        asked: dict[str, float] = {}
        failing = [f"failing-{n:02d}" for n in range(config.failures)]
        st.create_objects(
            [
                _failing_pod(name, st.namespace, FATES[n % len(FATES)], f"bench-payments-{n % 5}")
                for n, name in enumerate(failing)
            ]
        )
        for i in range(config.rollouts):
            asked[rollout_name(i)] = time.time()
            st.patch_object(
                "Deployment",
                rollout_name(i),
                {"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "image": "nginx:1.26"}]}}}},
            )  # fmt: skip
        failed_at: dict[str, float] = {}

        def all_failed() -> bool:
            now = time.time()
            for pod in self._pods(f"{ROLE_LABEL}=failing"):
                if _failed(pod):
                    failed_at.setdefault(pod["metadata"]["name"], now)
            return len(failed_at) == len(failing)

        self._wait(all_failed, 120, "every failing Pod to fail", proc)
        latencies = self._latencies(mark, failed_at, asked, proc)
        self._wait(lambda: self._settled(old, proc), 3600, "the backlog to be gone", proc)
        requests = st.requests(mark)
        last = max((r.at for r in requests), default=started)
        return {
            **latencies,
            "cortex_requests": len(requests),
            "requests_by_method": dict(collections.Counter(r.method for r in requests)),
            "requests_per_replaced_pod": round(len(requests) / config.replaced, 3),
            "backlog_gone_seconds": round(last - started, 1),
            "cortex_429": sum(1 for r in requests if r.status == 429),
            "accounted": self._accounted(old),
        }

    def _latencies(
        self, mark: int, failed_at: dict[str, float], asked: dict[str, float], proc: Proc
    ) -> dict[str, Any]:
        found: dict[tuple[str, str], float] = {}

        def seen() -> bool:
            for request in accepted(self.st.requests(mark), "POST"):
                body = request.body if isinstance(request.body, dict) else {}
                data = custom_data(request)
                if body.get("type") == "POD_FAILURE" and data.get("name") in failed_at:
                    found.setdefault(("failure", str(data["name"])), request.at)
                if body.get("type") == "DEPLOYMENT_ROLLOUT" and data.get("name") in asked:
                    found.setdefault(("rollout", str(data["name"])), request.at)
            return len(found) == len(failed_at) + len(asked)

        self._wait(seen, 3600, "every failure and rollout start to reach Cortex", proc)
        failures = [found[("failure", n)] - at for n, at in failed_at.items()]
        rollouts = [found[("rollout", n)] - at for n, at in asked.items()]
        return {"failure_latency": _spread(failures), "rollout_latency": _spread(rollouts)}

    def _settled(self, old: set[str], proc: Proc) -> bool:
        pods = self._pods(f"{ROLE_LABEL}=churn")
        if len(pods) != self.config.replaced or any(p["metadata"]["uid"] in old for p in pods):
            return False
        if not all(_ready(p) for p in pods):
            return False
        quiet = time.time() - max((r.at for r in self.st.requests()), default=0.0) >= 2.0
        metrics = proc.metrics()
        # Summaries that changed lately wait for their refresh (the operator before them has
        # no such metric: nothing of it waits outside its queue).
        waiting = metrics.get("cortex_events_queue_depth", 1.0)
        waiting += metrics.get("cortex_events_pod_summaries_waiting", 0.0)
        return quiet and waiting == 0

    def _accounted(self, old: set[str]) -> dict[str, int]:
        """Each replaced Pod's deletion and each new Pod's creation, where Cortex holds it."""
        new = {p["metadata"]["uid"] for p in self._pods(f"{ROLE_LABEL}=churn")}
        changes: collections.Counter[tuple[str, str]] = collections.Counter()
        summaries = 0
        for event in self.st.cortex.state.events():
            data = event.custom_data or {}
            summaries += is_summary(data)
            changes.update(recorded_changes(event.type, data))
        wanted = {("deleted", uid) for uid in old} | {("created", uid) for uid in new}
        return {
            "changes": len(wanted),
            "recorded_once": sum(1 for c in wanted if changes[c] == 1),
            "missing": sum(1 for c in wanted if changes[c] == 0),
            "recorded_twice": sum(1 for c in wanted if changes[c] > 1),
            "summaries": summaries,
        }


def _failing_pod(name: str, namespace: str, fate: str, tag: str) -> dict[str, Any]:
    """A bare Pod that fails as ``fate`` says: through the stand-in kubelet's behaviour
    annotation, or kwok's Stages (their ``testbed.cortex.io/fate`` label)."""
    pod = workloads.pod(name, namespace=namespace, image="busybox:1.36", tag=tag, behavior=fate)
    kwok_fate = {"OOMKilled": "oomkilled", "CrashLoopBackOff": "crashloop"}[fate]
    pod["metadata"]["labels"] = {ROLE_LABEL: "failing", "testbed.cortex.io/fate": kwok_fate}
    pod["spec"]["terminationGracePeriodSeconds"] = 0
    return pod


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_seconds": round(percentile(values, 0.5), 2),
        "p99_seconds": round(percentile(values, 0.99), 2),
        "max_seconds": round(max(values), 2),
    }


def _serving(proc: Proc) -> bool:
    try:
        proc.metrics()
    except Exception:
        return False
    return True


_TREES: dict[Path, Path] = {}


def baseline_tree(workdir: Path) -> Path:
    """The operator's source at `BASELINE_REF`, extracted once into ``workdir``."""
    if workdir in _TREES:
        return _TREES[workdir]
    tree = workdir / f"operator-{BASELINE_REF}"
    tree.mkdir(parents=True, exist_ok=True)
    try:
        archive = subprocess.run(  # noqa: S603 (git, fixed arguments)
            ["git", "-C", str(ROOT), "archive", BASELINE_REF, "operator"],  # noqa: S607
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise BenchError(f"cannot read the operator at {BASELINE_REF} from git: {error}") from None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as files:
        files.extractall(tree, filter="data")
    _TREES[workdir] = tree
    return tree


def churn(
    config: ChurnConfig, workdir: Path, backend: Backend, variants: Sequence[str] = VARIANTS
) -> dict[str, Any]:
    results: dict[str, Any] = {"config": config.as_json(), "baseline_ref": BASELINE_REF}
    for variant in variants:
        logger.info("churn: %s, %d Pods replaced", variant, config.replaced)
        with backend.stands(workdir, rate_limit=config.cortex_limit, role="churn") as st:
            run = Run(config, st, variant, workdir)
            began = time.monotonic()
            run.setup()
            proc = run.start_operator()
            try:
                measured = run.churn(proc)
            finally:
                proc.stop()
                st.clear()
            measured["setup_seconds"] = round(time.monotonic() - began, 1)
            results[variant] = measured
    return results
