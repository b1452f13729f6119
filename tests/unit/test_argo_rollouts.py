"""Argo Rollouts through the recorder: a revision's steps, pause, promotion, abort and end as one
event updated in place; a workloadRef Rollout mapped through its Deployment's annotation; a
stable revision as a Cortex deploy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cortex_events.controllers.argo_kinds import ArgoRolloutTracker
from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.queue import Item, Outgoing, OutgoingDeploy
from cortex_events.domain.rollout_deploys import DeployDefaults
from tests.support.kinds import managed, stamp
from tests.unit.test_kinds_recorder import Clock, Out

STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {"duration": "1m"}},
]


def rollout(
    *,
    revision: int = 1,
    image: str = "web:1",
    generation: int = 1,
    status: dict[str, Any] | None = None,
    tag: str | None = "web",
    workload_ref: str | None = None,
    status_at: Any = None,
    steps: list[dict[str, Any]] = STEPS,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": 4, "strategy": {"canary": {"steps": steps}}}
    if workload_ref:
        spec["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload_ref}
    else:
        spec["template"] = {"spec": {"containers": [{"name": "app", "image": image}]}}
    annotations = {"rollout.argoproj.io/revision": str(revision)}
    if tag:
        annotations["cortex.io/tag"] = tag
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "ro-1",
            "generation": generation,
            "creationTimestamp": "2026-11-26T07:00:00Z",
            "annotations": annotations,
            "managedFields": [managed("argo-rollouts", "status", at=status_at)],
        },
        "spec": spec,
        "status": {"observedGeneration": str(generation), "currentPodHash": f"h{revision}",
                   "stableRS": "h1", **(status or {})},
    }  # fmt: skip


class Both:
    """Takes events and deploys alike."""

    def __init__(self) -> None:
        self.store = EntityStore()
        self.items: list[Item] = []

    async def submit(self, item: Item) -> None:
        self.items.append(item)


def make(out: Any, clock: Clock, **options: Any) -> Recorder:
    recorder = Recorder(out, out.store, cluster="c", clock=clock, **options)
    recorder.add_tracker(ArgoRolloutTracker(recorder.context))
    return recorder


def revision_events(out: Out) -> list[Outgoing]:
    return out.of("ARGO_ROLLOUT_REVISION")


async def test_a_canary_revision_is_one_event_through_its_steps_pause_promotion_and_end() -> None:
    out, clock = Out(), Clock()
    recorder = make(out, clock)
    await recorder.changed("Rollout", rollout(status={"stableRS": "h1"}), None)
    started = clock.now
    steps: list[dict[str, Any]] = [
        {"currentStepIndex": 0},
        {"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]},
        {"currentStepIndex": 2},  # promoted: the pause is gone
        {"currentStepIndex": 4, "stableRS": "h2", "phase": "Healthy"},
    ]
    for status in steps:
        clock.now += timedelta(seconds=30)
        body = rollout(revision=2, image="web:2", generation=2, status=status, status_at=clock.now)
        await recorder.changed("Rollout", body, "MODIFIED")
    found = revision_events(out)
    assert {item.key for item in found} == {"argo-rollout/ro-1/revision/2"}
    titles = [item.body.title for item in found]
    assert titles == [
        "Rollout of web to web:2: step 1 of 4",
        "Rollout of web to web:2 paused at step 2 of 4",
        "Rollout of web to web:2 promoted to step 3 of 4",
        "Rollout of web to web:2 completed in 1m30s",
    ]
    last = found[-1].body
    assert last.timestamp == started + timedelta(seconds=30)  # first seen (no ReplicaSet here)
    assert last.custom_data["promotions"] == 1
    assert last.custom_data["result"] == "Completed"
    assert out.of("ARGO_ROLLOUT_CREATION")[0].body.title == "Rollout web created"


async def test_an_aborted_revision_says_where_and_why() -> None:
    out, clock = Out(), Clock()
    recorder = make(out, clock)
    await recorder.changed("Rollout", rollout(), None)
    paused = {"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}],
              "phase": "Paused"}  # fmt: skip
    # Set by a person, the abort is there before the controller acted on it: the pause's
    # message is no reason. The controller resets currentStepIndex to 0 as it aborts: the
    # step is the one before.
    asked = {**paused, "abort": True, "message": "CanaryPauseStep"}
    aborted = {"currentStepIndex": 0, "abort": True, "phase": "Degraded",
               "message": "RolloutAborted: metric failed"}  # fmt: skip
    for status in (paused, asked, aborted):
        await recorder.changed("Rollout", rollout(revision=2, image="web:2", generation=2,
                                                  status=status), "MODIFIED")  # fmt: skip
    before = revision_events(out)[-2].body
    assert before.description == "Revision 2 of shop/web was aborted at step 2 of 4"
    event = revision_events(out)[-1]
    assert event.body.title == "Rollout of web to web:2 aborted at step 2 of 4"
    assert event.body.description is not None
    assert event.body.description.endswith("RolloutAborted: metric failed")
    assert event.body.custom_data["aborted"] is True
    assert event.body.custom_data["step"] == 2


async def test_a_revision_first_seen_aborted_names_no_step() -> None:
    out, clock = Out(), Clock()
    recorder = make(out, clock)
    await recorder.changed("Rollout", rollout(), None)
    aborted = {"currentStepIndex": 0, "abort": True, "phase": "Degraded"}
    await recorder.changed("Rollout", rollout(revision=2, image="web:2", generation=2,
                                              status=aborted), "MODIFIED")  # fmt: skip
    (event,) = revision_events(out)
    assert event.body.title == "Rollout of web to web:2 aborted"


async def test_a_promotion_from_one_pause_straight_to_the_next_counts() -> None:
    # Promoted at step 2, the controller passes step 3 within one reconciliation and rests at
    # the next pause: no status in between says the first pause was left.
    untimed: list[dict[str, Any]] = [
        {"setWeight": 20},
        {"pause": {}},
        {"setWeight": 60},
        {"pause": {}},
    ]
    out, clock = Out(), Clock()
    recorder = make(out, clock)
    await recorder.changed("Rollout", rollout(steps=untimed), None)
    pause = [{"reason": "CanaryPauseStep"}]
    for status in (
        {"currentStepIndex": 1, "pauseConditions": pause, "phase": "Paused"},
        {"currentStepIndex": 3, "pauseConditions": pause, "phase": "Paused"},
        {"currentStepIndex": 4, "stableRS": "h2", "phase": "Healthy"},
    ):
        body = rollout(revision=2, image="web:2", generation=2, status=status, steps=untimed)
        await recorder.changed("Rollout", body, "MODIFIED")
    titles = [item.body.title for item in revision_events(out)]
    assert titles[:2] == [
        "Rollout of web to web:2 paused at step 2 of 4",
        "Rollout of web to web:2 paused at step 4 of 4",
    ]
    assert revision_events(out)[-1].body.custom_data["promotions"] == 2


async def test_a_timed_pause_that_ends_by_itself_is_no_promotion() -> None:
    out, clock = Out(), Clock()
    recorder = make(out, clock)
    await recorder.changed("Rollout", rollout(), None)
    for status in (
        {"currentStepIndex": 3, "pauseConditions": [{"reason": "CanaryPauseStep"}]},
        {"currentStepIndex": 4, "stableRS": "h2", "phase": "Healthy"},
    ):
        await recorder.changed("Rollout", rollout(revision=2, image="web:2", generation=2,
                                                  status=status), "MODIFIED")  # fmt: skip
    last = revision_events(out)[-1].body
    assert (last.custom_data["result"], last.custom_data["promotions"]) == ("Completed", 0)


async def test_a_workload_ref_rollout_maps_through_its_deployment_s_annotation() -> None:
    out, clock = Out(), Clock()
    recorder = make(out, clock)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web-template", "namespace": "shop", "uid": "dep-1",
                     "generation": 1, "annotations": {"cortex.io/tag": "from-deployment"}},
        "spec": {"replicas": 0, "template": {"spec": {"containers": [
            {"name": "app", "image": "web:7"}]}}},
    }  # fmt: skip
    await recorder.changed("Deployment", deployment, None)
    body = rollout(tag=None, workload_ref="web-template")
    await recorder.changed("Rollout", body, None)
    (created,) = out.of("ARGO_ROLLOUT_CREATION")
    assert created.tag == "from-deployment"
    assert created.body.custom_data["images"] == ["web:7"]


async def test_without_a_tag_anywhere_nothing_is_recorded() -> None:
    out, clock = Out(), Clock()
    recorder = make(out, clock)
    await recorder.changed("Rollout", rollout(tag=None, workload_ref="missing"), None)
    assert out.items == []


async def test_a_revision_that_became_stable_is_a_deploy() -> None:
    out, clock = Both(), Clock()
    deploys = DeployRecorder(out.store, DeployDefaults(enabled=True), cluster="c",
                             clock=clock)  # fmt: skip
    recorder = make(out, clock, deploys=deploys)
    await recorder.changed("Rollout", rollout(), None)
    paused = {"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}]}
    await recorder.changed("Rollout", rollout(revision=2, image="web:2", generation=2,
                                              status=paused), "MODIFIED")  # fmt: skip
    assert [i for i in out.items if isinstance(i, OutgoingDeploy)] == []
    clock.now += timedelta(minutes=1)
    stable = {"currentStepIndex": 4, "stableRS": "h2", "phase": "Healthy"}
    await recorder.changed("Rollout", rollout(revision=2, image="web:2", generation=2,
                                              status=stable, status_at=clock.now),
                           "MODIFIED")  # fmt: skip
    (deploy,) = [i for i in out.items if isinstance(i, OutgoingDeploy)]
    assert deploy.key == "deploy/rollout/ro-1/revision/2"
    assert deploy.body.type == "DEPLOY"
    assert deploy.body.sha == "2"  # the image's tag
    assert stamp(deploy.body.timestamp) == stamp(clock.now)
