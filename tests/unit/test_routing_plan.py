"""Routing returns a plan, which the tracker submits; a Pod's state is held, and forgotten, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.catalog import MappingOptions
from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.controllers.routing import Plan, Router
from cortex_events.controllers.workloads import WorkloadIndex
from cortex_events.delivery.queue import Item, Outgoing
from cortex_events.domain.failure_model import FailurePolicy
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.model import WorkloadRef
from cortex_events.domain.pods import pod_events
from cortex_events.domain.snapshots import pod_snapshot
from tests.unit.test_kinds_recorder import entity

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POD = WorkloadRef("Pod", "shop", "web-abc", "pod-1")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(*, annotations: dict[str, str] | None = None, phase: str = "Running") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": POD.name,
            "namespace": POD.namespace,
            "uid": POD.uid,
            "creationTimestamp": stamp(NOW),
            "labels": {"app": "web"},
            "annotations": annotations or {},
        },
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}], "nodeName": "node-1"},
        "status": {"phase": phase},
    }


def two_entities() -> EntityStore:
    """``payments`` takes every event of the Pod; ``audit`` maps it too but opted out of all
    types but its deletion."""
    store = EntityStore()
    store.observe(
        entity("payments", tag="payments-api", workloads=[{"kind": "Pod", "name": "web-abc"}])
    )
    store.observe(
        entity(
            "audit",
            tag="audit-log",
            workloads=[{"kind": "Pod", "name": "web-abc"}],
            eventTypes=["POD_DELETION"],
        )
    )
    return store


class Skips:
    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    def skipped(self, kind: str, reason: str) -> None:
        self.told.append((kind, reason))


def creation() -> list[EventIntent]:
    return pod_events(None, pod_snapshot(pod()), now=NOW)


def test_a_pod_mapped_to_two_entities_plans_its_creation_only_for_the_one_that_takes_it() -> None:
    index = WorkloadIndex()
    router = Router(two_entities(), index, MappingOptions(), cluster="test")
    resolution = router.resolve(POD, {"app": "web"}, {}, None, first=True)
    assert resolution is not None
    assert sorted(t.tag for t in resolution.targets) == ["audit-log", "payments-api"]
    items = router.items(resolution, creation(), POD, None, now=NOW)
    assert [(i.tag, i.body.type) for i in items] == [("payments-api", "POD_CREATION")]
    assert items[0].source == ("shop", "pod-1")
    # Both map the Pod, for their status, whatever they take.
    assert router.matched_workloads() == {"shop/audit": 1, "shop/payments": 1}
    assert index.marks.mapped == {"pod-1": ("shop/audit", "shop/payments")}


def test_an_opted_out_pod_gets_no_resolution_and_its_skip_is_told_once() -> None:
    skips = Skips()
    router = Router(two_entities(), WorkloadIndex(), MappingOptions(), cluster="test", skips=skips)
    disabled = {"cortex.io/events": "disabled"}
    assert router.resolve(POD, {}, disabled, None, first=True) is None
    assert router.resolve(POD, {}, disabled, None, first=False) is None
    assert skips.told == [("Pod", "disabled")]
    assert router.matched_workloads() == {}


def test_a_review_for_other_entities_resolves_nothing() -> None:
    router = Router(two_entities(), WorkloadIndex(), MappingOptions(), cluster="test")
    found = router.resolve(POD, {}, {}, None, first=False, tags=frozenset({"payments-api"}))
    assert found is not None
    assert router.resolve(POD, {}, {}, None, first=False, tags=frozenset({"other"})) is None


class Collector:
    def __init__(self) -> None:
        self.items: list[Outgoing] = []

    async def submit(self, item: Item) -> None:
        assert isinstance(item, Outgoing), "no deploys are recorded here"
        self.items.append(item)


def test_a_trackers_plan_is_returned_and_nothing_is_submitted_until_it_is() -> None:
    out = Collector()
    recorder = Recorder(out, two_entities(), cluster="test", clock=lambda: NOW)
    snapshot = pod_snapshot(pod())
    plan = recorder.pods.plan(None, snapshot)
    assert [(i.tag, i.body.type) for i in plan.events] == [("payments-api", "POD_CREATION")]
    assert plan.deploys == ()
    assert out.items == []
    assert (plan + Plan()).items() == plan.events


async def test_the_plan_of_a_pod_is_what_its_watch_event_submits() -> None:
    out = Collector()
    recorder = Recorder(out, two_entities(), cluster="test", clock=lambda: NOW)
    await recorder.changed("Pod", pod(), "ADDED")
    await recorder.changed("Pod", pod(), "DELETED")
    # A Pod's events are level-based: its deletion's plan holds its creation again (the
    # ledger skips it), and only its deletion goes to the entity that takes nothing else.
    assert [(i.tag, i.body.type) for i in out.items] == [
        ("payments-api", "POD_CREATION"),
        ("payments-api", "POD_CREATION"),
        ("audit-log", "POD_DELETION"),
        ("payments-api", "POD_DELETION"),
    ]


def unschedulable() -> dict[str, Any]:
    raw = pod(phase="Pending", annotations={"cortex.io/tag": "web, bad tag!"})
    del raw["spec"]["nodeName"]
    raw["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "lastTransitionTime": stamp(NOW)}
    ]  # fmt: skip
    return raw


async def test_a_pod_forgotten_once_frees_all_it_was_held_with() -> None:
    out = Collector()
    policy = FailurePolicy(unschedulable_after=timedelta(minutes=5))
    recorder = Recorder(out, two_entities(), cluster="test", clock=lambda: NOW, failures=policy)
    await recorder.changed("Pod", unschedulable(), "ADDED")
    index = recorder.index
    assert "pod-1" in index.pods
    assert "pod-1" in index.marks.mapped
    assert "pod-1" in index.marks.tag_told  # its unusable tag, told once
    assert recorder.pods.failures.waiting() == 1
    await recorder.changed("Pod", unschedulable(), "DELETED")
    assert ("web", "POD_DELETION") in [(i.tag, i.body.type) for i in out.items]
    assert index.is_empty()
    assert recorder.pods.failures.waiting() == 0
    assert recorder.matched_workloads() == {}
