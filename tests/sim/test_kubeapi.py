"""The simulated Kubernetes API server, driven with the official ``kubernetes`` client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from cortex_events_sim.server_thread import ServerThread, serve_in_thread

# The generated client types every field as optional and leaves its helpers untyped;
# tests drive it dynamically, as a user's script would.
_kubernetes: Any = kubernetes
client = _kubernetes.client
config = _kubernetes.config
watch = _kubernetes.watch

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[ServerThread]:
    with serve_in_thread(namespaces=("default", "shop"), bookmark_interval=0.2) as handle:
        yield handle


def pod(name: str = "", labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": labels or {}, **meta}
    if name:
        metadata["name"] = name
    return {"metadata": metadata, "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}


def deployment(name: str, image: str = "nginx:1") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def entity(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cortex.io/v1alpha1",
        "kind": "CortexEntity",
        "metadata": {"name": name},
        "spec": spec,
    }


def error_of(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    return body


def test_create_sets_server_metadata(core: Any) -> None:
    first = core.create_namespaced_pod("shop", pod("a"))
    second = core.create_namespaced_pod("shop", pod(generate_name="worker-"))

    assert first.metadata.namespace == "shop"
    assert first.metadata.uid
    assert first.metadata.uid != second.metadata.uid
    assert first.metadata.creation_timestamp is not None
    assert first.metadata.generation == 1
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert second.metadata.name.startswith("worker-")
    assert len(second.metadata.name) == len("worker-") + 5
    assert first.status.phase == "Pending"


def test_errors_are_kubernetes_statuses(core: Any) -> None:
    core.create_namespaced_pod("default", pod("dup"))
    with pytest.raises(client.ApiException) as exists:
        core.create_namespaced_pod("default", pod("dup"))
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_pod("nope", "default")
    with pytest.raises(client.ApiException) as bad_name:
        core.create_namespaced_pod("default", pod("Not_A_Name"))
    with pytest.raises(client.ApiException) as no_namespace:
        core.create_namespaced_pod("absent", pod("x"))

    assert (exists.value.status, error_of(exists)["reason"]) == (409, "AlreadyExists")
    assert (missing.value.status, error_of(missing)["reason"]) == (404, "NotFound")
    assert bad_name.value.status == 422
    assert error_of(bad_name)["details"]["causes"][0]["field"] == "metadata.name"
    assert no_namespace.value.status == 404
    assert error_of(missing)["kind"] == "Status"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", {"web-1", "web-2"}),
        ("app==web,tier=front", {"web-1"}),
        ("app!=web", {"db", "bare"}),
        ("app in (web,db)", {"web-1", "web-2", "db"}),
        ("app notin (web)", {"db", "bare"}),
        ("tier", {"web-1"}),
        ("!app", {"bare"}),
    ],
)
def test_list_by_label_selector(core: Any, selector: str, expected: set[str]) -> None:
    core.create_namespaced_pod("default", pod("web-1", {"app": "web", "tier": "front"}))
    core.create_namespaced_pod("default", pod("web-2", {"app": "web"}))
    core.create_namespaced_pod("shop", pod("db", {"app": "db"}))
    core.create_namespaced_pod("shop", pod("bare"))

    listed = core.list_pod_for_all_namespaces(label_selector=selector)

    assert {p.metadata.name for p in listed.items} == expected


def test_list_by_field_selector_and_scope(core: Any) -> None:
    core.create_namespaced_pod("default", pod("one"))
    core.create_namespaced_pod("shop", pod("one"))
    last = core.create_namespaced_pod("shop", pod("two"))

    by_name = core.list_pod_for_all_namespaces(field_selector="metadata.name=one")
    by_namespace = core.list_pod_for_all_namespaces(field_selector="metadata.namespace!=shop")
    in_shop = core.list_namespaced_pod("shop")

    assert sorted(p.metadata.namespace for p in by_name.items) == ["default", "shop"]
    assert [p.metadata.name for p in by_namespace.items] == ["one"]
    assert [p.metadata.name for p in in_shop.items] == ["one", "two"]
    assert in_shop.metadata.resource_version == last.metadata.resource_version


def test_list_pages_with_limit_and_continue(core: Any) -> None:
    for index in range(5):
        core.create_namespaced_pod("default", pod(f"p{index}"))

    first = core.list_namespaced_pod("default", limit=2)
    rest = core.list_namespaced_pod("default", limit=10, _continue=first.metadata._continue)

    assert [p.metadata.name for p in first.items] == ["p0", "p1"]
    assert [p.metadata.name for p in rest.items] == ["p2", "p3", "p4"]


def test_generation_counts_spec_changes_only(api: Any) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment("default", deployment("web"))

    relabelled = apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"labels": {"team": "a"}}}
    )
    rescaled = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})

    assert created.metadata.generation == 1
    assert relabelled.metadata.generation == 1
    assert rescaled.metadata.generation == 2
    assert created.spec.strategy.type == "RollingUpdate"


def test_replace_with_a_stale_resource_version_conflicts(core: Any) -> None:
    original = core.create_namespaced_pod("default", pod("p"))
    core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"x": "1"}}})

    original.metadata.labels = {"x": "2"}
    with pytest.raises(client.ApiException) as stale:
        core.replace_namespaced_pod("p", "default", original)

    fresh = core.read_namespaced_pod("p", "default")
    fresh.metadata.labels = {"x": "3"}
    replaced = core.replace_namespaced_pod("p", "default", fresh)

    assert stale.value.status == 409
    assert replaced.metadata.labels == {"x": "3"}


def test_patch_formats(api: Any, core: Any) -> None:
    core.create_namespaced_pod("default", pod("p", {"a": "1", "b": "2"}))
    apps = client.AppsV1Api(api)
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    apps.create_namespaced_deployment("default", body)

    merged = core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"a": None}}})
    strategic = apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}},
    )
    rv = merged.metadata.resource_version
    tested = core.patch_namespaced_pod(
        "p",
        "default",
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/keep"]},
        ],
    )
    with pytest.raises(client.ApiException) as failed_test:
        core.patch_namespaced_pod(
            "p", "default", [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}]
        )
    with pytest.raises(client.ApiException) as apply:
        core.patch_namespaced_pod(
            "p", "default", {"metadata": {}}, _content_type="application/apply-patch+yaml"
        )

    assert merged.metadata.labels == {"b": "2"}
    images = {c.name: c.image for c in strategic.spec.template.spec.containers}
    assert images == {"app": "nginx:2", "sidecar": "envoy"}
    assert tested.metadata.finalizers == ["example.com/keep"]
    assert failed_test.value.status == 422
    assert apply.value.status == 415


def test_status_subresource_isolates_status(api: Any) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web"))

    main = apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"replicas": 2}, "status": {"replicas": 9}}
    )
    through_status = apps.patch_namespaced_deployment_status(
        "web", "default", {"spec": {"replicas": 5}, "status": {"replicas": 7}}
    )

    assert main.spec.replicas == 2
    assert main.status.replicas is None
    assert through_status.spec.replicas == 2
    assert through_status.status.replicas == 7
    assert through_status.metadata.generation == 2


def test_finalizers_hold_deletion_until_removed(core: Any) -> None:
    core.create_namespaced_pod("default", pod("held", finalizers=["example.com/hold"]))
    core.create_namespaced_pod("default", pod("free"))

    core.delete_namespaced_pod("held", "default")
    core.delete_namespaced_pod("free", "default")
    held = core.read_namespaced_pod("held", "default")
    with pytest.raises(client.ApiException) as new_finalizer:
        core.patch_namespaced_pod(
            "held", "default", {"metadata": {"finalizers": ["example.com/hold", "x.io/more"]}}
        )
    core.patch_namespaced_pod("held", "default", [{"op": "remove", "path": "/metadata/finalizers"}])

    assert held.metadata.deletion_timestamp is not None
    assert new_finalizer.value.status == 422
    remaining = {p.metadata.name for p in core.list_namespaced_pod("default").items}
    assert remaining == set()


def test_delete_collection_by_label(core: Any) -> None:
    core.create_namespaced_pod("default", pod("a", {"batch": "1"}))
    core.create_namespaced_pod("default", pod("b", {"batch": "1"}))
    core.create_namespaced_pod("default", pod("c"))

    core.delete_collection_namespaced_pod("default", label_selector="batch=1")

    assert [p.metadata.name for p in core.list_namespaced_pod("default").items] == ["c"]


def test_deleting_a_namespace_removes_its_objects(core: Any) -> None:
    core.create_namespaced_pod("shop", pod("a"))

    core.delete_namespace("shop")

    assert core.list_pod_for_all_namespaces().items == []
    assert [n.metadata.name for n in core.list_namespace().items] == ["default"]


def test_custom_resources_follow_the_crd_schema(api: Any) -> None:
    custom = client.CustomObjectsApi(api)
    group, version, plural = "cortex.io", "v1alpha1", "cortexentities"

    created = custom.create_namespaced_custom_object(
        group, version, "default", plural, entity("pay", tag="payments", typo=True)
    )
    with pytest.raises(client.ApiException) as missing_tag:
        custom.create_namespaced_custom_object(group, version, "default", plural, entity("a"))
    with pytest.raises(client.ApiException) as bad_type:
        custom.create_namespaced_custom_object(
            group, version, "default", plural, entity("b", tag="t", eventTypes=["NOPE"])
        )
    status = custom.patch_namespaced_custom_object_status(
        group, version, "default", plural, "pay", {"status": {"eventsRecorded": 3}}
    )

    assert created["spec"] == {"tag": "payments", "cleanupOnDelete": False}
    assert missing_tag.value.status == 422
    assert error_of(missing_tag)["details"]["causes"][0]["field"] == "spec.tag"
    assert "spec.tag" in error_of(missing_tag)["message"]
    assert error_of(bad_type)["details"]["causes"][0]["field"] == "spec.eventTypes[0]"
    assert status["status"] == {"eventsRecorded": 3}
    assert status["metadata"]["generation"] == 1


def test_crds_created_at_run_time_are_served(api: Any) -> None:
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)

    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    custom = client.CustomObjectsApi(api)
    custom.create_cluster_custom_object(
        "example.com", "v1", "widgets", {"kind": "Widget", "metadata": {"name": "w"}}
    )
    listed = custom.list_cluster_custom_object("example.com", "v1", "widgets")

    assert "example.com" in groups
    assert [item["metadata"]["name"] for item in listed["items"]] == ["w"]


def test_discovery_answers_what_clients_ask(api: Any) -> None:
    core_versions = client.CoreApi(api).get_api_versions()
    groups = {
        g.name: g.preferred_version.version for g in client.ApisApi(api).get_api_versions().groups
    }
    app_resources = {r.name for r in client.AppsV1Api(api).get_api_resources().resources}
    core_resources = {r.name: r.verbs for r in client.CoreV1Api(api).get_api_resources().resources}
    version = client.VersionApi(api).get_code()

    assert core_versions.versions == ["v1"]
    assert groups == {
        "apps": "v1",
        "batch": "v1",
        "events.k8s.io": "v1",
        "coordination.k8s.io": "v1",
        "apiextensions.k8s.io": "v1",
        "cortex.io": "v1alpha1",
    }
    assert {
        "deployments",
        "deployments/status",
        "replicasets",
        "statefulsets",
        "statefulsets/scale",
        "daemonsets",
        "controllerrevisions",
    } <= app_resources
    assert {"list", "watch", "patch"} <= set(core_resources["pods"])
    assert "namespaces" in core_resources
    assert version.major == "1"


def test_watch_resumes_from_a_resource_version(core: Any) -> None:
    core.create_namespaced_pod("default", pod("before"))
    mark = core.list_namespaced_pod("default").metadata.resource_version
    core.create_namespaced_pod("default", pod("after"))
    core.delete_namespaced_pod("before", "default")

    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_pod, "default", resource_version=mark, timeout_seconds=1
        )
    ]

    assert events == [("ADDED", "after"), ("DELETED", "before")]


def test_watch_without_version_starts_with_the_current_state(core: Any) -> None:
    core.create_namespaced_pod("default", pod("a", {"app": "web"}))
    core.create_namespaced_pod("default", pod("b"))

    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_pod, "default", label_selector="app=web", timeout_seconds=1
        )
    ]

    assert events == [("ADDED", "a")]


def test_watch_from_an_expired_version_answers_410() -> None:
    with serve_in_thread(watch_history=3) as small:
        configuration = client.Configuration()
        config.load_kube_config_from_dict(small.kubeconfig(), client_configuration=configuration)
        with client.ApiClient(configuration) as api_client:
            core = client.CoreV1Api(api_client)
            first = core.create_namespaced_pod("default", pod("p0"))
            for index in range(1, 6):
                core.create_namespaced_pod("default", pod(f"p{index}"))

            with pytest.raises(client.ApiException) as gone:
                list(
                    watch.Watch().stream(
                        core.list_namespaced_pod,
                        "default",
                        resource_version=first.metadata.resource_version,
                        timeout_seconds=1,
                    )
                )

    assert gone.value.status == 410


def test_watch_streams_live_changes_and_selector_transitions(sim: ServerThread, core: Any) -> None:
    core.create_namespaced_pod("default", pod("p", {"app": "web"}))
    mark = core.list_namespaced_pod("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    stream = watch.Watch().stream(
        core.list_namespaced_pod,
        "default",
        label_selector="app=web",
        resource_version=mark,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    )

    def change() -> None:
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": "db"}}})
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": "web"}}})
        core.delete_namespaced_pod("p", "default")

    writer = threading.Timer(0.3, change)
    writer.start()
    for event in stream:
        seen.append(
            (event["type"], event["object"].metadata.name if event["type"] != "BOOKMARK" else "")
        )
    writer.join(5)

    changes = [item for item in seen if item[0] != "BOOKMARK"]
    assert changes == [("DELETED", "p"), ("ADDED", "p"), ("DELETED", "p")]
    assert ("BOOKMARK", "") in seen


def test_nothing_is_lost_between_list_and_watch(core: Any) -> None:
    listed = core.list_namespaced_pod("default")
    names = [f"burst-{index}" for index in range(40)]
    writer = threading.Thread(
        target=lambda: [core.create_namespaced_pod("default", pod(name)) for name in names]
    )
    writer.start()
    seen: list[str] = []
    for event in watch.Watch().stream(
        core.list_namespaced_pod,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=3,
    ):
        seen.append(event["object"].metadata.name)
        if len(seen) == len(names):
            break
    writer.join(10)

    assert seen == names


def test_requests_are_recorded_with_user_and_verb(sim: ServerThread, api: Any) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", pod("p"))
    core.read_namespaced_pod("p", "default")
    core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running"}})

    recorded = [r for r in sim.requests if r.resource == "pods"]

    assert [(r.verb, r.subresource, r.name, r.status) for r in recorded] == [
        ("create", None, None, 201),
        ("get", None, "p", 200),
        ("patch", "status", "p", 200),
    ]
    assert {r.user for r in recorded} == {"driver"}
    assert [r.is_write for r in recorded] == [True, False, True]


def test_in_loop_api_matches_the_http_verbs(sim: ServerThread) -> None:
    server = sim.server
    created = sim.call(server.create, "pods", pod("p", {"app": "web"}), "shop")
    sim.call(server.patch_merge, "pods", "p", {"metadata": {"labels": {"tier": "x"}}}, "shop")
    sim.call(server.patch_status, "pods", "p", {"phase": "Running"}, "shop")
    got = sim.call(server.get, "pods", "p", "shop")
    listed = sim.call(server.list, "pods", label_selector="tier=x")
    sim.call(server.delete, "pods", "p", "shop")

    assert created["metadata"]["namespace"] == "shop"
    assert got["status"]["phase"] == "Running"
    assert got["metadata"]["labels"] == {"app": "web", "tier": "x"}
    assert [p["metadata"]["name"] for p in listed] == ["p"]
    assert sim.call(server.list, "pods") == []
    assert sim.requests == []
