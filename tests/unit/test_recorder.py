"""The recorder: watch events in, events submitted out, mapping changes applied at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.queue import Item, Outgoing
from cortex_events.domain.mapping import TagIssue
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.podsummary import Change
from cortex_events.domain.priority import Priority
from cortex_events.domain.quiet import PodEvents
from cortex_events.domain.specs import EntitySpec, SpecError
from tests.support.kinds import RecordedReplicas

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Collector:
    def __init__(self) -> None:
        self.store = EntityStore()
        self.items: list[Outgoing] = []
        self.skips: list[tuple[str, str]] = []
        self.tag_issues: list[tuple[WorkloadRef, TagIssue]] = []

    def tag_issue(self, workload: WorkloadRef, issue: TagIssue) -> None:
        self.tag_issues.append((workload, issue))

    async def submit(self, item: Item) -> None:
        assert isinstance(item, Outgoing), "no deploys are recorded here"
        self.items.append(item)

    def skipped(self, kind: str, reason: str) -> None:
        self.skips.append((kind, reason))

    def pairs(self) -> list[tuple[str, str]]:
        return [(item.tag, item.body.type) for item in self.items]


def pod(
    name: str = "web-abc",
    *,
    uid: str = "pod-1",
    namespace: str = "shop",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner_rs: str | None = None,
    phase: str = "Running",
    created: datetime = NOW,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "creationTimestamp": stamp(created),
        "labels": labels or {},
        "annotations": annotations or {},
    }
    if owner_rs:
        metadata["ownerReferences"] = [
            {"kind": "ReplicaSet", "name": owner_rs, "uid": f"{owner_rs}-uid", "controller": True}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}], "nodeName": "node-1"},
        "status": {"phase": phase},
    }


def deployment(
    name: str = "web",
    *,
    uid: str = "dep-1",
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    replicas: int = 2,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": uid,
            "generation": 1,
            "creationTimestamp": stamp(NOW),
            "labels": labels or {},
            "annotations": {"deployment.kubernetes.io/revision": "1", **(annotations or {})},
        },
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}},
        },
        "status": {"observedGeneration": 1, "replicas": replicas},
    }


def replicaset(
    name: str = "web-5d8f",
    owner: str = "web",
    *,
    revision: int = 1,
    image: str = "nginx:1.25",
    created: datetime = NOW,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"{name}-uid",
            "creationTimestamp": stamp(created),
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [
                {"kind": "Deployment", "name": owner, "uid": "dep-1", "controller": True}
            ],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
    }


def entity(name: str = "payments", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cortex.io/v1alpha1",
        "kind": "CortexEntity",
        "metadata": {"name": name, "namespace": "shop", "uid": f"{name}-uid", "generation": 1},
        "spec": spec,
    }


def make() -> tuple[Recorder, Collector]:
    collector = Collector()
    recorder = Recorder(
        collector,
        collector.store,
        cluster="test",
        skips=collector,
        tag_issues=collector,
        clock=lambda: NOW,
    )
    return recorder, collector


async def test_a_rejected_annotation_tag_is_reported_once_and_the_valid_ones_get_events() -> None:
    recorder, out = make()
    annotations = {"cortex.io/tag": "web, team/svc"}
    await recorder.changed("Pod", pod(annotations=annotations, phase="Pending"), "ADDED")
    await recorder.changed("Pod", pod(annotations=annotations, phase="Running"), "MODIFIED")
    assert out.pairs() == [("web", "POD_CREATION"), ("web", "POD_CREATION")]
    ((workload, issue),) = out.tag_issues
    assert (workload.kind, workload.name, workload.uid) == ("Pod", "web-abc", "pod-1")
    (problem,) = issue.problems
    assert problem.startswith("'team/svc' is not a Cortex tag: it contains a slash")


async def test_a_bad_tag_on_a_deployment_is_reported_on_the_deployment_not_per_pod() -> None:
    recorder, out = make()
    await recorder.changed("ReplicaSet", replicaset(), None)
    await recorder.changed("Deployment", deployment(annotations={"cortex.io/tag": "x" * 300}), None)
    for number in range(3):
        await recorder.changed(
            "Pod", pod(f"web-{number}", uid=f"pod-{number}", owner_rs="web-5d8f"), None
        )
    assert out.items == []
    ((workload, issue),) = out.tag_issues
    assert (workload.kind, workload.uid) == ("Deployment", "dep-1")
    assert "300 characters" in issue.describe()


async def test_a_deleted_deployment_with_a_bad_tag_is_not_reported_again_by_its_last_pods() -> None:
    recorder, out = make()
    bad = deployment(annotations={"cortex.io/tag": "team/svc"})
    await recorder.changed("ReplicaSet", replicaset(), None)
    await recorder.changed("Deployment", bad, None)
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), None)
    await recorder.changed("Deployment", bad, "DELETED")
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), "DELETED")
    assert [(w.kind, issue.value) for w, issue in out.tag_issues] == [("Deployment", "team/svc")]


async def test_a_fixed_annotation_is_reported_again_if_the_bad_value_comes_back() -> None:
    recorder, out = make()
    for value in ("my svc", "web", "my svc", "my svc", ""):
        await recorder.changed("Deployment", deployment(annotations={"cortex.io/tag": value}), None)
    assert [issue.value for _, issue in out.tag_issues] == ["my svc", "my svc", ""]
    assert out.tag_issues[-1][1].problems == (), "an empty value is its own kind of issue"


async def test_annotated_pod_is_recorded_on_each_of_its_tags() -> None:
    recorder, out = make()
    await recorder.changed("Pod", pod(annotations={"cortex.io/tag": "web, checkout"}), "ADDED")
    assert sorted(out.pairs()) == [("checkout", "POD_CREATION"), ("web", "POD_CREATION")]
    assert out.items[0].body.custom_data["cluster"] == "test"


async def test_unmapped_pod_records_nothing_and_says_why() -> None:
    recorder, out = make()
    await recorder.changed("Pod", pod(), "ADDED")
    assert out.items == []
    assert out.skips == [("Pod", "unmapped")]


async def test_opted_out_pod_records_nothing() -> None:
    recorder, out = make()
    annotations = {"cortex.io/tag": "web", "cortex.io/events": "disabled"}
    await recorder.changed("Pod", pod(annotations=annotations), "ADDED")
    assert out.items == []
    assert out.skips == [("Pod", "disabled")]


async def test_unchanged_pod_is_not_evaluated_again() -> None:
    recorder, out = make()
    body = pod(annotations={"cortex.io/tag": "web"})
    await recorder.changed("Pod", body, "ADDED")
    await recorder.changed("Pod", body, "MODIFIED")
    assert len(out.items) == 1


async def test_pod_seen_before_its_deployment_is_mapped_once_the_chain_is_known() -> None:
    recorder, out = make()
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), None)
    assert out.items == []
    await recorder.changed("Deployment", deployment(annotations={"cortex.io/tag": "web"}), None)
    await recorder.changed("ReplicaSet", replicaset(), None)
    assert ("web", "POD_CREATION") in out.pairs()
    assert ("web", "DEPLOYMENT_CREATION") in out.pairs()


async def test_annotation_added_to_a_deployment_maps_its_existing_pods() -> None:
    recorder, out = make()
    await recorder.changed("ReplicaSet", replicaset(), None)
    await recorder.changed("Deployment", deployment(), None)
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), None)
    assert out.items == []
    await recorder.changed(
        "Deployment", deployment(annotations={"cortex.io/tag": "web"}), "MODIFIED"
    )
    assert sorted(out.pairs()) == [("web", "DEPLOYMENT_CREATION"), ("web", "POD_CREATION")]


async def test_new_cortex_entity_applies_to_existing_workloads_without_restart() -> None:
    recorder, out = make()
    await recorder.changed("Pod", pod(labels={"app": "payments"}), None)
    assert out.items == []
    parsed = out.store.observe(
        entity(tag="payments-api", selector={"matchLabels": {"app": "payments"}})
    ).parsed
    assert isinstance(parsed, EntitySpec)
    await recorder.reevaluate_namespace("shop")
    assert out.pairs() == [("payments-api", "POD_CREATION")]
    assert out.items[0].entities == ("shop/payments",)
    assert recorder.matched_workloads() == {"shop/payments": 1}


async def test_entity_event_types_filter_what_is_recorded() -> None:
    recorder, out = make()
    out.store.observe(
        entity(
            tag="payments-api",
            workloads=[{"kind": "Pod", "name": "web-abc"}],
            eventTypes=["POD_DELETION"],
        )
    )
    await recorder.changed("Pod", pod(), "ADDED")
    assert out.items == []
    await recorder.changed("Pod", pod(), "DELETED")
    assert out.pairs() == [("payments-api", "POD_DELETION")]


async def test_invalid_entity_maps_nothing() -> None:
    recorder, out = make()
    parsed = out.store.observe(
        entity(tag="x", selector={"matchExpressions": [{"key": "app", "operator": "In"}]})
    ).parsed
    assert isinstance(parsed, SpecError)
    assert parsed.field.startswith("spec.selector.matchExpressions[0]")
    await recorder.changed("Pod", pod(labels={"app": "x"}), None)
    assert out.items == []


async def test_deleted_pod_gets_its_deletion_event_and_is_forgotten() -> None:
    recorder, out = make()
    body = pod(annotations={"cortex.io/tag": "web"})
    await recorder.changed("Pod", body, "ADDED")
    await recorder.changed("Pod", body, "DELETED")
    assert ("web", "POD_DELETION") in out.pairs()
    assert recorder.index.pods == {}


async def test_history_older_than_the_retention_is_not_recorded() -> None:
    recorder, out = make()
    out.store.observe(
        entity(tag="payments-api", workloads=[{"kind": "Pod", "name": "web-abc"}], retention="1h")
    )
    await recorder.changed("Pod", pod(created=NOW - timedelta(hours=2)), None)
    assert out.items == []
    await recorder.changed("Pod", pod(uid="pod-2", created=NOW - timedelta(minutes=5)), None)
    assert out.pairs() == [("payments-api", "POD_CREATION")]


async def test_pods_deleted_after_their_deployment_still_reach_its_entity() -> None:
    recorder, out = make()
    await recorder.changed("Deployment", deployment(annotations={"cortex.io/tag": "web"}), None)
    await recorder.changed("ReplicaSet", replicaset(), None)
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), None)
    # Garbage collection order: the Deployment, then its ReplicaSet, then the Pod.
    await recorder.changed(
        "Deployment", deployment(annotations={"cortex.io/tag": "web"}), "DELETED"
    )
    await recorder.changed("ReplicaSet", replicaset(), "DELETED")
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), "DELETED")
    assert ("web", "POD_DELETION") in out.pairs()
    assert ("web", "DEPLOYMENT_DELETION") in out.pairs()
    # Nothing is kept once the last Pod is gone.
    assert recorder.index.is_empty()


async def test_a_rollback_is_timed_from_when_it_began_not_from_the_old_replicaset() -> None:
    recorder, out = make()
    old_rs = replicaset("web-old")
    old_rs["metadata"]["creationTimestamp"] = stamp(NOW - timedelta(days=3))
    await recorder.changed("ReplicaSet", old_rs, None)
    # Rolled back: the old ReplicaSet becomes revision 3.
    old_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    await recorder.changed("ReplicaSet", old_rs, "MODIFIED")
    body = deployment(annotations={"cortex.io/tag": "web"})
    body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    body["status"]["conditions"] = [{"type": "Progressing", "reason": "ReplicaSetUpdated"}]
    await recorder.changed("Deployment", body, None)
    (rollout,) = [i for i in out.items if i.body.type == "DEPLOYMENT_ROLLOUT"]
    assert rollout.body.timestamp == NOW, "when the rollback was seen, not the ReplicaSet's birth"


class RealController:
    """Writes a Deployment's rollouts in the order the real deployment controller does."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.generation = 1
        self.revision = 1
        self.image = "nginx:1.21"
        self.progressing = ("NewReplicaSetAvailable", NOW - timedelta(hours=1))
        self.clock = NOW - timedelta(hours=1)

    def body(self, *, observed: int, updated: int = 2) -> dict[str, Any]:
        body = deployment(annotations={"cortex.io/tag": "web"})
        body["metadata"]["generation"] = self.generation
        body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(self.revision)
        body["spec"]["template"]["spec"]["containers"][0]["image"] = self.image
        reason, when = self.progressing
        body["status"] = {
            "observedGeneration": observed,
            "replicas": 2,
            "updatedReplicas": updated,
            "availableReplicas": 2,
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": reason,
                 "lastUpdateTime": stamp(when)}
            ],
        }  # fmt: skip
        return body

    async def roll_to(self, image: str, *, complete: bool = True) -> None:
        self.clock += timedelta(minutes=10)
        observed = self.generation
        # 1. The user's spec change: generation moves, the annotation still names the old one.
        self.generation += 1
        self.image = image
        await self.recorder.changed("Deployment", self.body(observed=observed), "MODIFIED")
        # 2. The new ReplicaSet, then the revision annotation on the Deployment.
        self.revision += 1
        rs = replicaset(f"web-{self.revision}", revision=self.revision, image=image,
                        created=self.clock)  # fmt: skip
        await self.recorder.changed("ReplicaSet", rs, "ADDED")
        await self.recorder.changed("Deployment", self.body(observed=observed), "MODIFIED")
        # 3. Status: progressing, then (maybe) complete.
        self.progressing = ("ReplicaSetUpdated", self.clock + timedelta(seconds=1))
        await self.recorder.changed(
            "Deployment", self.body(observed=self.generation, updated=1), "MODIFIED"
        )
        if complete:
            self.progressing = ("NewReplicaSetAvailable", self.clock + timedelta(seconds=30))
            await self.recorder.changed(
                "Deployment", self.body(observed=self.generation), "MODIFIED"
            )


async def test_successive_rollouts_each_keep_an_event_of_their_own() -> None:
    """Three rollouts written in the real controller's order: the second superseded before
    it completed. No revision's event is ever rewritten with another revision's facts."""
    recorder, out = make()
    controller = RealController(recorder)
    await recorder.changed(
        "ReplicaSet", replicaset("web-1", image="nginx:1.21", created=controller.clock), None
    )
    await recorder.changed("Deployment", controller.body(observed=1), None)
    await controller.roll_to("nginx:1.22")
    await controller.roll_to("nginx:1.23", complete=False)
    await controller.roll_to("nginx:1.24")
    rollouts: dict[str, list[Outgoing]] = {}
    for item in out.items:
        if item.body.type == "DEPLOYMENT_ROLLOUT":
            rollouts.setdefault(item.key, []).append(item)
    assert sorted(rollouts) == [f"deployment/dep-1/rollout/{n}" for n in (2, 3, 4)]
    for revision, image, result in ((2, "nginx:1.22", "Completed"),
                                    (3, "nginx:1.23", "Superseded"),
                                    (4, "nginx:1.24", "Completed")):  # fmt: skip
        versions = rollouts[f"deployment/dep-1/rollout/{revision}"]
        # Every version of the event, not only the last, describes its own revision.
        assert {tuple(v.body.custom_data["images"]) for v in versions} == {(image,)}
        assert {v.body.custom_data["revision"] for v in versions} == {revision}
        start = NOW - timedelta(hours=1) + timedelta(minutes=10 * (revision - 1))
        assert {v.body.timestamp for v in versions} == {start}
        assert versions[-1].body.custom_data["result"] == result
    last = rollouts["deployment/dep-1/rollout/2"][-1]
    assert last.body.title == "Rollout of web to nginx:1.22 completed in 30s"
    superseded = rollouts["deployment/dep-1/rollout/3"][-1]
    assert superseded.body.title == "Rollout of web to nginx:1.23 superseded by revision 4"


async def test_many_mapping_changes_at_once_make_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder, out = make()
    await recorder.changed("Pod", pod(labels={"app": "payments"}), None)
    passes: list[str] = []
    original = recorder.reevaluate_namespace

    async def counting(namespace: str) -> None:
        passes.append(namespace)
        await original(namespace)

    monkeypatch.setattr(recorder, "reevaluate_namespace", counting)
    for index in range(20):
        out.store.observe(
            entity(f"e{index}", tag=f"tag-{index}", selector={"matchLabels": {"app": "payments"}})
        )
        recorder.request_reevaluation("shop", delay=0.01)
    await asyncio.sleep(0.1)
    assert passes == ["shop"]
    assert len(out.items) == 20, "the one pass applied all twenty entities"


async def test_a_pod_that_vanished_while_no_watch_ran_gets_its_deletion() -> None:
    recorder, out = make()
    await recorder.changed("Pod", pod(annotations={"cortex.io/tag": "web"}), None)
    assert recorder.known("Pod", None) == {"pod-1": ("shop", "web-abc")}
    assert recorder.known("Pod", "elsewhere") == {}
    await recorder.vanished("Pod", "pod-1")
    assert ("web", "POD_DELETION") in out.pairs()
    assert recorder.index.pods == {}
    assert recorder.known("Pod", None) == {}


async def test_a_loaded_ledger_reviews_only_the_workloads_of_its_own_entity() -> None:
    ledgers = RecordedReplicas()
    out = Collector()
    recorder = Recorder(out, out.store, cluster="test", history=ledgers, clock=lambda: NOW)
    for name, uid, replicas in (("web", "dep-1", 3), ("api", "dep-2", 5)):
        body = deployment(name, uid=uid, replicas=replicas,
                          annotations={"cortex.io/tag": name})  # fmt: skip
        await recorder.changed("Deployment", body, None)
    seen = len(out.items)
    # Both were scaled while the operator was down; only web's ledger has loaded so far. (A
    # review submits what it derives again, creations too: the queue and the ledger drop
    # what Cortex holds already.)
    ledgers.replicas = {"dep-1": 2, "dep-2": 4}
    recorder.request_deployment_review("web", delay=0.01)
    await asyncio.sleep(0.1)
    assert {tag for tag, _ in out.pairs()[seen:]} == {"web"}
    assert ("web", "DEPLOYMENT_SCALE") in out.pairs()
    recorder.request_deployment_review("api", delay=0.01)
    await asyncio.sleep(0.1)
    assert ("api", "DEPLOYMENT_SCALE") in out.pairs()


async def test_each_event_goes_out_with_its_class_its_workload_and_what_folding_needs() -> None:
    recorder, out = make()
    await recorder.changed("Deployment", deployment(annotations={"cortex.io/tag": "web"}), None)
    await recorder.changed("ReplicaSet", replicaset(), None)
    await recorder.changed("Pod", pod(owner_rs="web-5d8f", phase="Failed"), None)
    await recorder.changed(
        "Pod", pod("bare", uid="pod-2", annotations={"cortex.io/tag": "web"}), None
    )
    by_key = {item.key: item for item in out.items}

    creation = by_key["deployment/dep-1/created"]
    assert (creation.priority, creation.source, creation.fold) == (
        Priority.WORKLOAD,
        ("shop", "dep-1"),
        None,
    )
    pod_created = by_key["pod/pod-1/created"]
    assert pod_created.priority is Priority.CHURN
    assert pod_created.source == ("shop", "dep-1"), "a Pod takes turns as its workload"
    assert pod_created.fold is not None
    change = pod_created.fold.change
    assert (change.owner, change.change, change.failed) == (
        WorkloadRef("Deployment", "shop", "web", "dep-1"),
        Change.CREATED,
        True,
    )
    assert pod_created.fold.target.tag == "web"
    failure = by_key["pod/pod-1/failed"]
    assert failure.priority is Priority.FAILURE
    assert failure.fold is not None, "not folded, but counted in its Pod's summary"
    assert failure.fold.change.change is Change.FAILED
    bare = by_key["pod/pod-2/created"]
    assert (bare.source, bare.fold) == (("shop", "pod-2"), None)


async def test_an_entitys_pod_events_setting_goes_with_its_pods_changes() -> None:
    recorder, out = make()
    out.store.observe(
        entity(tag="web", selector={"matchLabels": {"app": "web"}}, podEvents="summary")
    )
    await recorder.changed("Deployment", deployment(labels={"app": "web"}), None)
    await recorder.changed("ReplicaSet", replicaset(), None)
    await recorder.changed("Pod", pod(owner_rs="web-5d8f"), None)
    (item,) = [i for i in out.items if i.key == "pod/pod-1/created"]
    assert item.fold is not None
    assert item.fold.mode is PodEvents.SUMMARY
