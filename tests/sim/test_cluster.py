"""The simulated controllers and kubelet, driven with the official ``kubernetes`` client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import kubernetes
import pytest

from cortex_events_sim.cluster import BEHAVIOR_ANNOTATION
from cortex_events_sim.server_thread import ServerThread, serve_in_thread

# The generated client types every field as optional and leaves its helpers untyped;
# tests drive it dynamically, as a user's script would.
_kubernetes: Any = kubernetes
client = _kubernetes.client
config = _kubernetes.config
watch = _kubernetes.watch

pytestmark = pytest.mark.integration

T = TypeVar("T")


def eventually(fetch: Callable[[], T], check: Callable[[T], bool], timeout: float = 10.0) -> T:
    """Poll ``fetch`` until ``check`` holds; fail with the last value after ``timeout``."""

    def holds(value: T) -> bool:
        try:
            return check(value)
        except (AttributeError, IndexError, KeyError, TypeError):  # fields not there yet
            return False

    deadline = time.monotonic() + timeout
    value = fetch()
    while not holds(value):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout}s; last value: {value!r}")
        time.sleep(0.05)
        value = fetch()
    return value


@pytest.fixture
def sim() -> Iterator[ServerThread]:
    with serve_in_thread(cluster=True) as handle:
        yield handle


def deployment(name: str, replicas: int = 2, image: str = "nginx:1") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def bare_pod(name: str, behavior: str | None = None) -> dict[str, Any]:
    annotations = {BEHAVIOR_ANNOTATION: behavior} if behavior else {}
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "busybox:1"}]},
    }


def conditions(dep: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in (dep.status.conditions or [])}


def rolled_out(dep: Any) -> bool:
    return (
        conditions(dep).get("Progressing") == ("True", "NewReplicaSetAvailable")
        and dep.status.observed_generation == dep.metadata.generation
    )


def ready_pods(core: Any, app: str) -> list[Any]:
    pods = core.list_namespaced_pod("default", label_selector=f"app={app}").items
    return [
        p
        for p in pods
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def test_deployment_yields_replicaset_and_ready_pods(core: Any, apps: Any) -> None:
    apps.create_namespaced_deployment("default", deployment("web", replicas=2))

    dep = eventually(lambda: apps.read_namespaced_deployment("web", "default"), rolled_out)
    (rs,) = apps.list_namespaced_replica_set("default").items
    pods = ready_pods(core, "web")

    assert dep.status.ready_replicas == dep.status.available_replicas == 2
    assert dep.status.updated_replicas == 2
    assert conditions(dep)["Available"] == ("True", "MinimumReplicasAvailable")
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs.metadata.owner_references[0].kind == "Deployment"
    assert rs.metadata.owner_references[0].uid == dep.metadata.uid
    template_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{template_hash}"
    assert len(pods) == 2
    for pod in pods:
        assert pod.metadata.name.startswith(f"{rs.metadata.name}-")
        assert len(pod.metadata.name) == len(rs.metadata.name) + 6
        assert pod.metadata.owner_references[0].uid == rs.metadata.uid
        assert pod.metadata.labels["pod-template-hash"] == template_hash
        assert pod.spec.node_name == "sim-node-1"
        assert pod.status.phase == "Running"
        (status,) = pod.status.container_statuses
        assert (status.image, status.ready, status.restart_count) == ("nginx:1", True, 0)
        assert status.state.running is not None


def test_template_change_rolls_out_a_new_replicaset(core: Any, apps: Any) -> None:
    apps.create_namespaced_deployment("default", deployment("web", replicas=2))
    eventually(lambda: apps.read_namespaced_deployment("web", "default"), rolled_out)
    stream = watch.Watch().stream(
        apps.list_namespaced_deployment,
        "default",
        resource_version=apps.list_namespaced_deployment("default").metadata.resource_version,
        timeout_seconds=5,
    )

    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}},
    )
    reasons: list[str] = []
    for event in stream:
        progressing = conditions(event["object"]).get("Progressing", ("", ""))[1]
        if not reasons or reasons[-1] != progressing:
            reasons.append(progressing)
        if rolled_out(event["object"]):
            break
    dep = apps.read_namespaced_deployment("web", "default")
    sets = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
        for rs in apps.list_namespaced_replica_set("default").items
    }
    images = eventually(
        lambda: {p.spec.containers[0].image for p in core.list_namespaced_pod("default").items},
        lambda found: found == {"nginx:2"},
    )

    assert reasons[-1] == "NewReplicaSetAvailable"
    assert "NewReplicaSetCreated" in reasons
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert sets["1"].spec.replicas == 0
    assert sets["2"].spec.replicas == 2
    assert sets["2"].metadata.name in next(
        c.message for c in dep.status.conditions if c.type == "Progressing"
    )
    assert images == {"nginx:2"}


def test_unready_rollout_exceeds_its_progress_deadline(core: Any, apps: Any) -> None:
    body = deployment("web", replicas=2)
    body["spec"]["progressDeadlineSeconds"] = 1
    apps.create_namespaced_deployment("default", body)
    eventually(lambda: apps.read_namespaced_deployment("web", "default"), rolled_out)

    apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {"metadata": {"annotations": {BEHAVIOR_ANNOTATION: "ImagePullBackOff"}}}
            }
        },
    )
    dep = eventually(
        lambda: apps.read_namespaced_deployment("web", "default"),
        lambda d: conditions(d).get("Progressing") == ("False", "ProgressDeadlineExceeded"),
    )
    stuck = [
        p
        for p in core.list_namespaced_pod("default").items
        if p.metadata.annotations.get(BEHAVIOR_ANNOTATION) == "ImagePullBackOff"
    ]

    assert conditions(dep)["Available"] == ("True", "MinimumReplicasAvailable")
    assert len(ready_pods(core, "web")) == 2  # the old pods keep serving
    assert stuck
    assert stuck[0].status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"


def test_scale_up_down_and_delete(core: Any, apps: Any) -> None:
    apps.create_namespaced_deployment("default", deployment("web", replicas=1))
    eventually(lambda: apps.read_namespaced_deployment("web", "default"), rolled_out)

    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    eventually(lambda: ready_pods(core, "web"), lambda pods: len(pods) == 3)
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    eventually(lambda: core.list_namespaced_pod("default").items, lambda pods: len(pods) == 1)
    dep = eventually(
        lambda: apps.read_namespaced_deployment("web", "default"),
        lambda d: d.status.replicas == 1 and d.status.available_replicas == 1,
    )
    apps.delete_namespaced_deployment("web", "default")
    eventually(
        lambda: (
            core.list_namespaced_pod("default").items,
            apps.list_namespaced_replica_set("default").items,
        ),
        lambda found: found == ([], []),
    )

    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "1"


@pytest.mark.parametrize(
    ("behavior", "check"),
    [
        (
            None,
            lambda p: p.status.phase == "Running" and p.status.container_statuses[0].ready,
        ),
        (
            "OOMKilled",
            lambda p: (
                p.status.container_statuses[0].restart_count == 1
                and p.status.container_statuses[0].last_state.terminated.reason == "OOMKilled"
                and p.status.container_statuses[0].state.running is not None
            ),
        ),
        (
            "CrashLoopBackOff",
            lambda p: (
                p.status.container_statuses[0].restart_count == 1
                and p.status.container_statuses[0].state.waiting is not None
                and p.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"
            ),
        ),
        (
            "ImagePullBackOff",
            lambda p: (
                p.status.phase == "Pending"
                and p.status.container_statuses[0].state.waiting is not None
                and p.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
            ),
        ),
        (
            "Failed",
            lambda p: (
                p.status.phase == "Failed"
                and p.status.container_statuses[0].state.terminated is not None
                and p.status.container_statuses[0].state.terminated.reason == "Error"
                and p.status.container_statuses[0].state.terminated.exit_code == 1
            ),
        ),
        ("Evicted", lambda p: p.status.phase == "Failed" and p.status.reason == "Evicted"),
    ],
)
def test_pod_fates(core: Any, behavior: str | None, check: Callable[[Any], bool]) -> None:
    core.create_namespaced_pod("default", bare_pod("p", behavior))

    pod = eventually(lambda: core.read_namespaced_pod("p", "default"), check)

    assert pod.spec.node_name == "sim-node-1"


def test_image_pull_backoff_never_becomes_ready(core: Any) -> None:
    core.create_namespaced_pod("default", bare_pod("p", "ImagePullBackOff"))
    pod = eventually(
        lambda: core.read_namespaced_pod("p", "default"),
        lambda p: (
            bool(p.status.container_statuses)
            and p.status.container_statuses[0].state.waiting is not None
            and p.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
        ),
    )

    ready = {c.type: c.status for c in pod.status.conditions}["Ready"]

    assert ready == "False"
    assert pod.status.container_statuses[0].ready is False


def test_pod_deletion_is_graceful_and_visible_to_watchers(core: Any) -> None:
    core.create_namespaced_pod("default", bare_pod("p"))
    eventually(
        lambda: core.read_namespaced_pod("p", "default"), lambda p: p.status.phase == "Running"
    )
    mark = core.list_namespaced_pod("default").metadata.resource_version

    core.delete_namespaced_pod("p", "default")
    events = []
    for event in watch.Watch().stream(
        core.list_namespaced_pod, "default", resource_version=mark, timeout_seconds=5
    ):
        events.append((event["type"], event["object"].metadata.deletion_timestamp is not None))
        if event["type"] == "DELETED":
            break

    assert events == [("MODIFIED", True), ("DELETED", True)]


def test_many_pods_all_start(sim: ServerThread, core: Any) -> None:
    names = [f"bulk-{index}" for index in range(400)]

    def create_all() -> None:
        for name in names:
            sim.server.create("pods", bare_pod(name))

    sim.call(create_all)
    running = eventually(
        lambda: core.list_namespaced_pod("default", field_selector="status.phase=Running").items,
        lambda pods: len(pods) == len(names),
        timeout=30,
    )

    assert {p.metadata.name for p in running} == set(names)
