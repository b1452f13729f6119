"""The recorder with deploys on: which deploys a Deployment's rollouts and scales submit, to
which entities, and with what settle time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cortex_events.controllers.argo_kinds import ArgoRolloutTracker
from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.queue import Item, OutgoingDeploy
from cortex_events.domain.rollout_deploys import DeployDefaults
from tests.unit.test_recorder import NOW, RealController, entity, replicaset

SETTLE = 30.0


class Deploys:
    def __init__(self) -> None:
        self.store = EntityStore()
        self.items: list[Item] = []

    async def submit(self, item: Item) -> None:
        self.items.append(item)

    def deploys(self) -> list[OutgoingDeploy]:
        return [i for i in self.items if isinstance(i, OutgoingDeploy)]

    def by_key(self) -> dict[str, OutgoingDeploy]:
        return {d.key: d for d in self.deploys()}


def make(**defaults: Any) -> tuple[Recorder, Deploys]:
    out = Deploys()
    deploys = DeployRecorder(
        out.store, DeployDefaults(**defaults), cluster="test", settle=SETTLE, clock=lambda: NOW
    )
    recorder = Recorder(out, out.store, cluster="test", deploys=deploys, clock=lambda: NOW)
    return recorder, out


async def roll(recorder: Recorder, *images: str) -> RealController:
    controller = RealController(recorder)
    await recorder.changed(
        "ReplicaSet", replicaset("web-1", image="nginx:1.21", created=controller.clock), None
    )
    for image in images:
        await controller.roll_to(image)
    return controller


async def test_each_completed_rollout_is_one_deploy_sent_after_the_settle_time() -> None:
    recorder, out = make(enabled=True, environment="production")
    controller = await roll(recorder, "nginx:1.22", "nginx:1.23")

    found = out.by_key()
    assert sorted(found) == [f"deploy/deployment/dep-1/revision/{n}" for n in (2, 3)]
    third = found["deploy/deployment/dep-1/revision/3"]
    assert third.tag == "web"
    assert (third.body.type, third.body.sha, third.body.environment) == (
        "DEPLOY", "1.23", "production"
    )  # fmt: skip
    went_live = controller.clock + timedelta(seconds=30)
    assert third.body.timestamp == went_live
    assert third.started == controller.clock
    assert third.not_before == went_live + timedelta(seconds=SETTLE)
    assert third.body.custom_data["durationSeconds"] == 30
    # The events are what they are without deploys.
    rollouts = {i.key for i in out.items if not isinstance(i, OutgoingDeploy)}
    assert "deployment/dep-1/rollout/3" in rollouts


async def test_a_deployment_that_templates_an_argo_rollout_is_no_deploy_of_its_own() -> None:
    # Its rollout is the Rollout's to make (recorded as the Rollout's deploy once stable); the
    # Deployment, kept at 0 replicas, would count the same change twice.
    recorder, out = make(enabled=True)
    recorder.add_tracker(ArgoRolloutTracker(recorder.context))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    by_ref = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
              "metadata": {"name": "by-ref", "namespace": "shop", "uid": "ro-1", "generation": 1},
              "spec": {"replicas": 2, "workloadRef": ref}}  # fmt: skip
    await recorder.changed("Rollout", by_ref, None)
    await roll(recorder, "nginx:1.22")

    assert out.deploys() == []
    rollouts = {i.key for i in out.items if not isinstance(i, OutgoingDeploy)}
    assert "deployment/dep-1/rollout/2" in rollouts  # its events are what they are


async def test_no_deploys_unless_asked_and_an_entity_decides_for_itself() -> None:
    recorder, out = make()
    await roll(recorder, "nginx:1.22")
    assert out.deploys() == []

    recorder, out = make()  # off by default; one CortexEntity asks, and names its environment
    wanted = {"enabled": True, "environment": "staging"}
    out.store.observe(entity("payments", tag="payments", deploys=wanted,
                             workloads=[{"kind": "Deployment", "name": "web"}]))  # fmt: skip
    await roll(recorder, "nginx:1.22")
    assert [(d.tag, d.body.environment) for d in out.deploys()] == [("payments", "staging")]

    recorder, out = make(enabled=True)  # on for all; one CortexEntity opts out
    out.store.observe(entity("quiet", tag="quiet", deploys={"enabled": False},
                             workloads=[{"kind": "Deployment", "name": "web"}]))  # fmt: skip
    await roll(recorder, "nginx:1.22")
    assert {d.tag for d in out.deploys()} == {"web"}
    assert {d.body.environment for d in out.deploys()} == {"test"}, "the cluster's name"


async def test_a_scale_is_a_deploy_only_where_scales_are_asked_for() -> None:
    for scales, expected in ((False, set()), (True, {"SCALE"})):
        recorder, out = make(enabled=True, scales=scales)
        controller = await roll(recorder)
        scaled = controller.body(observed=2)
        scaled["metadata"]["generation"] = 2
        scaled["spec"]["replicas"] = 5
        await recorder.changed("Deployment", controller.body(observed=1), "ADDED")
        await recorder.changed("Deployment", scaled, "MODIFIED")
        found = {d.body.type for d in out.deploys()}
        assert found == expected, scales
        if scales:
            (scale,) = out.deploys()
            assert scale.not_before == scale.body.timestamp, "no other tool posts scales"
            assert scale.body.title == "Scaled web from 2 to 5 replicas"


async def test_a_deployment_s_revisions_are_read_from_the_index_once_a_change() -> None:
    """Its events and its deploys take the same revisions: one pass over its ReplicaSets for
    each change evaluated, not one for the events and another for the deploys."""
    recorder, out = make(enabled=True)
    tracker = recorder.trackers["Deployment"]
    index = tracker.context.index
    counts = {"reads": 0, "evaluated": 0}
    read, events = index.revisions_of, tracker.events

    def counting_read(deployment: Any, **options: Any) -> Any:
        counts["reads"] += 1
        return read(deployment, **options)

    def counting_events(previous: Any, snapshot: Any) -> Any:
        counts["evaluated"] += 1
        return events(previous, snapshot)

    index.revisions_of = counting_read  # type: ignore[method-assign]
    tracker.events = counting_events  # type: ignore[method-assign]
    await roll(recorder, "nginx:1.22", "nginx:1.23")
    assert len(out.deploys()) == 2, "both rollouts made a deploy"
    assert counts["evaluated"] > 0
    assert counts["reads"] == counts["evaluated"]
