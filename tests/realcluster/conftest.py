"""Fixtures of the real-cluster suite: a control plane, the chart installed by Helm, the operator.

One control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) serves
the whole session; `scripts/k8s-assets` builds its binaries once and caches them. The chart is
installed with real Helm, and the operator (``cortex-events run``, a subprocess) runs outside the
cluster with a real token of the chart's ServiceAccount, from ``cortex-events kubeconfig`` as
users run it, so the chart's RBAC and nothing else grants it access. Every test that runs the
operator ends by reading the API server's audit log: any write the operator's identity made to
a workload, or any 403 it got, fails the test.
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, StoredEvent, run_in_thread
from cortex_events_sim.ports import free_port
from testbed.assets import AssetsUnavailable, go_missing, locate
from testbed.controlplane import ControlPlane
from tests.support import harness
from tests.support.harness import OperatorProcess

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "cortex-events-operator"
API_KEY = "realcluster-key-0123456789"
CLUSTER = "realcluster"
OPERATOR_NAMESPACE = "cortex-events"
RELEASE = "cortex-events-operator"
WORKLOADS = frozenset(
    {
        "pods",
        "replicasets",
        "deployments",
        "statefulsets",
        "daemonsets",
        "controllerrevisions",
        "jobs",
        "cronjobs",
        "rollouts",
        "namespaces",
    }
)
WATCHED = frozenset(WORKLOADS - {"rollouts", "namespaces"} | {"cortexentities"})
"""What every operator watches (Argo Rollouts where installed, Namespaces with a selector)."""
FATE_LABEL = "testbed.cortex.io/fate"
TERMINATING = "because it is being terminated"
"""What namespace lifecycle admission says when it refuses a write."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # With pytest-xdist (scripts/test runs `-n 2`), the tests on a real control plane run on
    # one worker, one after another, sharing its control plane, while the other tests run
    # beside them on the other worker: tests/conftest.py's `work_unit`.
    for item in items:
        if "realcluster" in str(item.path):
            item.add_marker(pytest.mark.realcluster)


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, what: str = "condition") -> T:
    """`tests.support.harness.wait_for`, with the longer default a real cluster needs."""
    return harness.wait_for(probe, timeout, what)


# -- the cluster ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def assets() -> Path:
    # The one reason to skip: no Go to build the control plane with.
    reason = go_missing()
    if reason is not None:
        pytest.skip(reason)
    try:
        return locate()
    except AssetsUnavailable as error:
        # Go is here, so the suite must run: a failed build is a failure, not a skip.
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def plane(assets: Path) -> Iterator[ControlPlane]:
    folder = Path(tempfile.mkdtemp(prefix="cortex-events-realcluster-"))
    control_plane = ControlPlane(assets, folder, nodes=3)
    try:
        control_plane.start()
    except RuntimeError as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"the control plane did not start: {error}")
    yield control_plane
    control_plane.stop()


@dataclass(frozen=True)
class Release:
    """A Helm release of the chart and a kubeconfig with its ServiceAccount's real token;
    ``settings``: the chart's, as `cortex-events kubeconfig` exports them."""

    name: str
    namespace: str
    service_account: str
    kubeconfig: Path
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return service_account_user(self.namespace, self.service_account)


def install(plane: ControlPlane, name: str, namespace: str, *values: str) -> Release:
    """``helm install`` the chart, then ``cortex-events kubeconfig`` for its ServiceAccount
    (TokenRequest, as the admin)."""
    plane.helm(
        "install", name, str(CHART), "-n", namespace, "--create-namespace", "--wait",
        "--timeout", "120s", "--set", f"apiKey.value={API_KEY}",
        "--set", f"clusterName={CLUSTER}", *values,
    )  # fmt: skip
    service_account = plane.get("serviceaccounts", "-n", namespace, "-l",
                                f"app.kubernetes.io/instance={name}")["items"][0]  # fmt: skip
    account = service_account["metadata"]["name"]
    path = plane.folder / f"{name}.token.kubeconfig"
    settings = service_account_kubeconfig(plane, namespace, path, "--serviceaccount", account)
    return Release(name, namespace, account, path, settings)


def service_account_kubeconfig(
    plane: ControlPlane, namespace: str, path: Path, *args: str
) -> dict[str, str]:
    """``cortex-events kubeconfig`` run by the admin; the variables it exports."""
    result = plane.run(
        sys.executable, "-m", "cortex_events", "kubeconfig", "-n", namespace, "-o", str(path),
        "--duration", "4h", *args,
    )  # fmt: skip
    exported = dict(
        line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines()
    )
    values = {name: (shlex.split(value) or [""])[0] for name, value in exported.items()}
    assert values.pop("KUBECONFIG") == str(path)
    return values


@pytest.fixture(scope="session")
def release(plane: ControlPlane) -> Release:
    """The chart as a user installs it: cluster-wide, with the default values."""
    return install(plane, RELEASE, OPERATOR_NAMESPACE)


@contextmanager
def module_namespace(plane: ControlPlane, name: str) -> Iterator[str]:
    """A namespace for one module's tests, deleted before the next module starts (waiting,
    unlike `namespace`): an operator of the next module watching the whole cluster would
    otherwise post Kubernetes Events into a namespace still terminating, which is refused."""
    plane.kubectl("create", "namespace", name)
    yield name
    plane.kubectl("delete", "namespace", name, "--timeout=120s")


def await_default_service_account(plane: ControlPlane, name: str) -> None:
    """Wait until namespace ``name`` has its default ServiceAccount (Pods need it)."""
    wait_for(
        lambda: plane.run(plane.binary("kubectl"), "get", "serviceaccount", "default",
                          "-n", name, check=False).returncode == 0,
        120,
        "the namespace's default ServiceAccount",
    )  # fmt: skip


@pytest.fixture
def namespace(plane: ControlPlane) -> Iterator[str]:
    """A namespace of the test's own, deleted after it (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", name)
    await_default_service_account(plane, name)
    yield name
    plane.kubectl("delete", "namespace", name, "--wait=false")


CRON_NAMESPACE = "rc-cron"
"""Where the CronJobs of `test_kinds.py` run from the start of the real-cluster tests."""


def cronjob(name: str, schedule: str, fate: str | None = None) -> dict[str, Any]:
    """A CronJob in `CRON_NAMESPACE` whose runs end as ``fate`` says (by default they succeed)."""
    labels = {"app": name, **({FATE_LABEL: fate} if fate else {})}
    template = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}],
                 "terminationGracePeriodSeconds": 0, "restartPolicy": "Never"},
    }  # fmt: skip
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": CRON_NAMESPACE},
        "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid",
                 "jobTemplate": {"spec": {"backoffLimit": 0, "template": template}}},
    }  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def cron_namespace(plane: ControlPlane) -> Iterator[str]:
    """Two CronJobs made as soon as the real-cluster tests start: ``nightly``, whose runs fail,
    and ``late``, which may start 10 seconds late at most. A CronJob runs on the clock's
    minutes, and those minutes pass while the modules before `test_kinds.py` run, instead of
    in it. They carry no tag: no operator records them until that module's tags them."""
    plane.kubectl("create", "namespace", CRON_NAMESPACE)
    await_default_service_account(plane, CRON_NAMESPACE)
    plane.apply(cronjob("nightly", "* * * * *", fate="failed"))
    late = cronjob("late", "* * * * *")
    late["spec"]["startingDeadlineSeconds"] = 10
    plane.apply(late)
    yield CRON_NAMESPACE
    plane.kubectl("delete", "namespace", CRON_NAMESPACE, "--wait=false")


# -- Cortex and the operator ----------------------------------------------------------------


@pytest.fixture
def cortex() -> Iterator[FakeCortex]:
    with run_in_thread(api_key=API_KEY) as fake:
        yield fake


@dataclass
class Operator:
    """The operator process with the identity of a release; `start()` waits for its watches."""

    process: OperatorProcess
    plane: ControlPlane
    release: Release
    audit_from: int

    def start(self, *args: str, timeout: float = 60, also: frozenset[str] = frozenset()) -> None:
        mark = self.plane.audit_mark()
        self.process.start(*args)
        wanted = WATCHED | also

        def watching() -> bool:
            if self.process.process is not None and self.process.process.poll() is not None:
                raise AssertionError(f"the operator exited:\n{self.process.log_text()[-3000:]}")
            seen = {
                r.resource
                for r in self.plane.audit(self.release.user, since=mark)
                if r.verb == "watch"
            }
            return wanted <= seen

        wait_for(watching, timeout, "the operator to watch what it records")

    def stop(self) -> int:
        return self.process.stop()

    def kill(self) -> None:
        assert self.process.process is not None
        self.process.process.kill()
        self.process.process.wait(10)
        self.process.process = None

    def log_text(self) -> str:
        return self.process.log_text()

    def violations(self) -> list[str]:
        """Writes to workloads (and Namespaces) and refusals (403) the operator's identity met,
        from the audit; refusals by an API server still starting up (its RBAC cache not yet
        filled) aside."""
        found = []
        for r in self.plane.audit(self.release.user, since=self.audit_from):
            refused = r.code == 403 and not (r.at and self.plane.starting_at(r.at))
            # An Event about an object in a namespace an earlier test deleted: refused by
            # namespace lifecycle admission, not by RBAC.
            refused = refused and TERMINATING not in (r.message or "")
            if (r.resource in WORKLOADS and r.is_write) or refused:
                found.append(f"{r.verb} {r.uri} -> {r.code} {r.message}".rstrip())
        return found


def operator_env(release: Release, cortex: FakeCortex, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORTEX_", "KUBE"))}
    env.update(
        KUBECONFIG=str(release.kubeconfig),
        CORTEX_API_KEY=API_KEY,
        CORTEX_BASE_URL=cortex.base_url,
        CORTEX_ALLOW_HTTP="true",  # the emulator, on loopback
        CORTEX_CLUSTER_NAME=CLUSTER,
        CORTEX_RATE_LIMIT="1000",
        CORTEX_STATUS_INTERVAL="1",
        CORTEX_SWEEP_DELAY="1",
        CORTEX_DRAIN_TIMEOUT="10",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)  # what a test sets wins over the suite's defaults
    return env


def make_operator(
    plane: ControlPlane,
    release: Release,
    cortex: FakeCortex,
    log: Path,
    *,
    watch: Sequence[str] | None,
    **extra: str,
) -> Operator:
    """The operator as a process, watching the namespaces ``watch`` (its
    ``CORTEX_NAMESPACES``): a test's operator watches only what the test owns, so that the
    workloads of earlier tests, in namespaces still being deleted, cannot slow it. ``None``
    (the whole cluster) is for a test that needs it, and waits for those namespaces to go."""
    if watch is None:
        wait_for_deleted_namespaces(plane)
    else:
        extra = {"CORTEX_NAMESPACES": ",".join(watch), **extra}
    env = operator_env(release, cortex, **extra)
    health, metrics = free_port(), free_port()
    env.update(CORTEX_HEALTH_PORT=str(health), CORTEX_METRICS_PORT=str(metrics))
    process = OperatorProcess(env, log, health, metrics)
    return Operator(process, plane, release, plane.audit_mark())


def wait_for_deleted_namespaces(plane: ControlPlane, timeout: float = 180) -> None:
    """Wait until no namespace is being deleted: the objects of earlier tests are gone."""

    def quiet() -> bool:
        items = plane.get("namespaces")["items"]
        return not any((n.get("status") or {}).get("phase") == "Terminating" for n in items)

    wait_for(quiet, timeout, "the namespaces of earlier tests to be deleted")


@pytest.fixture
def operator(
    plane: ControlPlane, release: Release, cortex: FakeCortex, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    running = make_operator(plane, release, cortex, tmp_path / "operator.log", watch=[namespace])
    yield running
    if running.process.process is not None:
        running.stop()
    assert running.violations() == [], "the operator wrote to workloads or was refused"


# -- workloads and what Cortex received -----------------------------------------------------


def deployment(
    name: str,
    namespace: str,
    *,
    image: str = "nginx:1.21",
    replicas: int = 2,
    tag: str | None = None,
    labels: dict[str, str] | None = None,
    fate: str | None = None,
    min_ready_seconds: int = 0,
) -> dict[str, Any]:
    pod_labels = {"app": name, **(labels or {})}
    if fate:
        pod_labels[FATE_LABEL] = fate
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name, **(labels or {})},
            "annotations": {"cortex.io/tag": tag} if tag else {},
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready_seconds,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [{"name": "app", "image": image}],
                    "terminationGracePeriodSeconds": 0,
                },
            },
        },
    }


def pod(name: str, namespace: str, *, tag: str, fate: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {FATE_LABEL: fate} if fate else {},
            "annotations": {"cortex.io/tag": tag},
        },
        "spec": {
            "containers": [{"name": "app", "image": "busybox:1.36"}],
            "terminationGracePeriodSeconds": 0,
            "restartPolicy": "Always",
        },
    }


def events(cortex: FakeCortex, tag: str, kind: str | None = None) -> list[StoredEvent]:
    return [e for e in cortex.state.events(tag) if kind is None or e.type == kind]


def data(event: StoredEvent) -> dict[str, Any]:
    return event.custom_data or {}


def event_writes(cortex: FakeCortex, tag: str, key: str) -> list[tuple[str, dict[str, Any]]]:
    """(method, body) of every accepted request that created or replaced one event, in order
    (its POST, then each PUT)."""
    return [
        (r.method, r.body)
        for r in cortex.state.requests
        if r.tag == tag
        and r.status == 200
        and r.method in {"POST", "PUT"}
        and isinstance(r.body, dict)
        and r.body.get("customData", {}).get("eventKey") == key
    ]


def assert_once_per_key(cortex: FakeCortex) -> None:
    """Never two events for one (entity, eventKey), and never two POSTs for one either."""
    stored = collections.Counter((e.tag, data(e).get("eventKey")) for e in cortex.state.events())
    assert not {k: n for k, n in stored.items() if n > 1}, "events stored twice"
    posts = collections.Counter(
        (r.tag, (r.body or {}).get("customData", {}).get("eventKey"))
        for r in cortex.state.requests
        if r.method == "POST" and r.status == 200 and isinstance(r.body, dict)
    )
    assert not {k: n for k, n in posts.items() if n > 1}, "events created twice"


def ready_pods(plane: ControlPlane, namespace: str, prefix: str = "") -> int:
    pods = plane.get("pods", "-n", namespace)["items"]
    return sum(
        1
        for item in pods
        if item["metadata"]["name"].startswith(prefix)
        and not item["metadata"].get("deletionTimestamp")
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (item.get("status") or {}).get("conditions") or []
        )
    )


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
