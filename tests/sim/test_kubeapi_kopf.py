"""A real kopf operator runs against the simulated API server, end to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import kubernetes
import pytest
from kopf.testing import KopfRunner

from cortex_events_sim.kubeapi import OPERATOR_USER
from cortex_events_sim.server_thread import ServerThread, serve_in_thread

# The generated client types every field as optional and leaves its helpers untyped;
# tests drive it dynamically, as a user's script would.
_kubernetes: Any = kubernetes
client = _kubernetes.client
config = _kubernetes.config

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "cortex.io", "v1alpha1", "cortexentities"


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x"}]}}


@pytest.fixture
def sim() -> Iterator[ServerThread]:
    with serve_in_thread() as handle:
        yield handle


def build_operator(url: str) -> tuple[kopf.OperatorRegistry, set[str], list[str]]:
    registry = kopf.OperatorRegistry()
    seen_pods: set[str] = set()
    created: list[str] = []
    lock = threading.Lock()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, token=OPERATOR_USER)

    @kopf.on.event("pods", registry=registry)
    def pod_event(name: str, type: str | None, **_: Any) -> None:
        if type != "DELETED":
            with lock:
                seen_pods.add(name)

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def entity_created(name: str, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        created.append(name)
        kopf.info(body, reason="Synced", message="entity is ready")
        patch.status["matchedWorkloads"] = 0
        patch.status["conditions"] = [{"type": "Ready", "status": "True", "reason": "Synced"}]

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def entity_deleted(**_: Any) -> None:
        pass

    return registry, seen_pods, created


def test_kopf_sees_everything_and_runs_handlers_end_to_end(sim: ServerThread) -> None:
    configuration = client.Configuration()
    config.load_kube_config_from_dict(sim.kubeconfig(), client_configuration=configuration)
    api = client.ApiClient(configuration)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    early = [f"early-{index}" for index in range(5)]
    during = [f"during-{index}" for index in range(30)]
    for name in early:
        core.create_namespaced_pod("default", pod(name))
    registry, seen_pods, created = build_operator(sim.url)
    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = 5  # reconnections resume from a resourceVersion

    with KopfRunner(
        ["run", "--standalone", "--namespace", "default"],
        registry=registry,
        settings=settings,
        timeout=30,
    ) as runner:
        for name in during:  # while kopf is still starting up
            core.create_namespaced_pod("default", pod(name))
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "CortexEntity",
                "metadata": {"name": "payments"},
                "spec": {"tag": "payments-api"},
            },
        )

        def entity() -> dict[str, Any]:
            body: dict[str, Any] = custom.get_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, "payments"
            )
            return body

        assert wait_for(lambda: seen_pods >= {*early, *during}), sorted(seen_pods)
        assert wait_for(lambda: entity().get("status", {}).get("matchedWorkloads") == 0)
        finalizers = entity()["metadata"].get("finalizers")
        assert wait_for(
            lambda: any(
                e.reason == "Synced" and e.involved_object.name == "payments"
                for e in core.list_namespaced_event("default").items
            )
        )

        custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "payments")
        gone = wait_for(
            lambda: (
                not custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"]
            )
        )
    api.close()

    assert runner.exit_code == 0
    assert created == ["payments"]
    assert finalizers, "kopf should have added its finalizer"
    assert gone, "kopf should have removed its finalizer after the deletion handler"
    operator_requests = [r for r in sim.requests if r.user == OPERATOR_USER]
    assert any(r.verb == "watch" and r.resource == "pods" for r in operator_requests)
    posted_events = [r for r in operator_requests if r.verb == "create" and r.resource == "events"]
    assert {r.status for r in posted_events} == {201}
    workload_writes = [
        r
        for r in operator_requests
        if r.is_write and r.resource in ("pods", "replicasets", "deployments")
    ]
    assert workload_writes == []
