"""StatefulSet and DaemonSet rollouts recorded as Cortex deploys, as a Deployment's are: a
completed rollout is one DEPLOY (ROLLBACK or RESTART where its revision says), a partial or
superseded one none; a person's scale is a SCALE, an autoscaler's is not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cortex_events.controllers.deploy_targets import DeployRecorder
from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.queue import Item, OutgoingDeploy
from cortex_events.domain.rollout_deploys import DeployDefaults
from tests.support.kinds import CREATED, daemonset, revision, statefulset
from tests.unit.test_kinds_recorder import TAG, Clock

SHA = {"cortex.io/sha": "abc123"}


class Out:
    def __init__(self) -> None:
        self.store = EntityStore()
        self.items: list[Item] = []

    async def submit(self, item: Item) -> None:
        self.items.append(item)

    def deploys(self) -> dict[str, OutgoingDeploy]:
        return {i.key: i for i in self.items if isinstance(i, OutgoingDeploy)}


def make(**defaults: Any) -> tuple[Recorder, Out, Clock]:
    out, clock = Out(), Clock()
    deploys = DeployRecorder(
        out.store, DeployDefaults(**defaults), cluster="c", settle=0, clock=clock
    )
    recorder = Recorder(out, out.store, cluster="c", deploys=deploys, clock=clock)
    return recorder, out, clock


async def roll_statefulset(recorder: Recorder, clock: Clock, **final: Any) -> None:
    """Revision 1 to revision 2, in the order the StatefulSet controller writes them."""
    annotations = TAG | SHA
    await recorder.changed("ControllerRevision", revision("db-rev1", 1, "postgres:15"), None)
    first = statefulset(image="postgres:15", annotations=annotations)
    await recorder.changed("StatefulSet", first, None)
    started = clock.now
    steps = [
        statefulset(generation=2, observed=1, annotations=annotations),
        revision("db-rev2", 2, "postgres:16", created=started),
        statefulset(generation=2, update_revision="db-rev2", updated=0, annotations=annotations),
    ]
    for body in steps:
        kind = body["kind"]
        await recorder.changed(kind, body, "ADDED" if kind == "ControllerRevision" else "MODIFIED")
    clock.now = started + timedelta(seconds=40)
    done = statefulset(generation=2, update_revision="db-rev2", annotations=annotations,
                       status_at=clock.now, **final)  # fmt: skip
    await recorder.changed("StatefulSet", done, "MODIFIED")


async def test_a_statefulset_s_completed_rollout_is_one_deploy_with_its_sha() -> None:
    recorder, out, clock = make(enabled=True, environment="prod")
    await roll_statefulset(recorder, clock, current_revision="db-rev2")
    found = out.deploys()
    assert list(found) == ["deploy/statefulset/sts-1/revision/2"]
    deploy = found["deploy/statefulset/sts-1/revision/2"]
    assert deploy.tag == "db"
    assert deploy.body.type == "DEPLOY"
    assert deploy.body.sha == "abc123"
    assert deploy.body.environment == "prod"
    assert deploy.body.title == "Rollout of db to postgres:16 completed in 40s"
    assert deploy.body.timestamp == clock.now
    assert deploy.body.custom_data["kind"] == "StatefulSet"
    assert deploy.body.custom_data["images"] == ["postgres:16"]


async def test_a_partitioned_rollout_that_rests_partial_is_no_deploy() -> None:
    recorder, out, clock = make(enabled=True)
    # Partition 1 of 3: pods 1 and 2 run revision 2, pod 0 keeps revision 1.
    await roll_statefulset(recorder, clock, current_revision="db-rev1", partition=1, updated=2)
    assert out.deploys() == {}


async def test_no_deploy_where_deploys_are_off() -> None:
    recorder, out, clock = make(enabled=False)
    await roll_statefulset(recorder, clock, current_revision="db-rev2")
    assert out.deploys() == {}


async def test_a_person_s_scale_is_a_scale_deploy_an_autoscaler_s_is_none() -> None:
    recorder, out, _ = make(enabled=True, scales=True)
    await recorder.changed("ControllerRevision", revision("db-rev1", 1, "postgres:16"), None)
    await recorder.changed("StatefulSet", statefulset(annotations=TAG), None)
    by_hpa = statefulset(replicas=5, generation=2, annotations=TAG,
                         replicas_by=("kube-controller-manager", "scale"))  # fmt: skip
    await recorder.changed("StatefulSet", by_hpa, "MODIFIED")
    assert out.deploys() == {}
    by_person = statefulset(replicas=2, generation=3, annotations=TAG,
                            replicas_by=("kubectl", "scale"))  # fmt: skip
    await recorder.changed("StatefulSet", by_person, "MODIFIED")
    (deploy,) = out.deploys().values()
    assert deploy.key == "deploy/statefulset/sts-1/scale/3"
    assert deploy.body.type == "SCALE"
    assert (deploy.body.custom_data["fromReplicas"], deploy.body.custom_data["toReplicas"]) == (
        5,
        2,
    )


async def test_a_daemonset_s_completed_rollout_is_a_deploy_and_a_rollback_a_rollback() -> None:
    recorder, out, clock = make(enabled=True)
    owner = ("DaemonSet", "agent")
    for number, image in ((1, "a:1"), (2, "a:2")):
        raw = revision(f"agent-{number}", number, image, owner=owner, created=CREATED)
        await recorder.changed("ControllerRevision", raw, None)
    updating = daemonset(image="a:2", generation=2, updated=1, available=2, annotations=TAG)
    await recorder.changed("DaemonSet", updating, None)
    assert out.deploys() == {}
    done = daemonset(image="a:2", generation=2, annotations=TAG, status_at=clock.now)
    await recorder.changed("DaemonSet", done, "MODIFIED")
    assert [d.body.type for d in out.deploys().values()] == ["DEPLOY"]
    # kubectl rollout undo: revision 1's template comes back as revision 3.
    clock.now += timedelta(minutes=5)
    undo = revision("agent-1", 3, "a:1", owner=owner, created=CREATED)
    await recorder.changed("ControllerRevision", undo, "MODIFIED")
    back = daemonset(image="a:1", generation=3, annotations=TAG, status_at=clock.now)
    await recorder.changed("DaemonSet", back, "MODIFIED")
    found = out.deploys()
    assert found["deploy/daemonset/ds-1/revision/3"].body.type == "ROLLBACK"
    assert len(found) == 2
