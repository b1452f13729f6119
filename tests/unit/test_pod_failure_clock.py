"""The recorder's clock for waiting states, and what it keeps of runs of restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.recorder import Recorder
from cortex_events.domain.failure_model import FailurePolicy
from tests.unit.test_recorder import Collector, deployment, pod, replicaset, stamp

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TAG = {"cortex.io/tag": "web"}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = START + timedelta(seconds=seconds)


def make(policy: FailurePolicy | None = None) -> tuple[Recorder, Collector, Clock]:
    collector, clock = Collector(), Clock()
    recorder = Recorder(
        collector, collector.store, cluster="test", skips=collector, clock=clock, failures=policy
    )
    return recorder, collector, clock


def failures(collector: Collector) -> list[tuple[str, str, datetime]]:
    return [
        (item.key.split("/", 2)[2], item.body.type, item.body.timestamp)
        for item in collector.items
        if item.body.type in ("POD_FAILURE", "POD_DISRUPTION")
    ]


def unschedulable(**extra: Any) -> dict[str, Any]:
    raw = pod(phase="Pending", annotations=TAG, **extra)
    del raw["spec"]["nodeName"]
    raw["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient cpu.",
         "lastTransitionTime": stamp(START)}
    ]  # fmt: skip
    return raw


async def test_a_waiting_state_is_looked_at_again_when_its_threshold_passes() -> None:
    recorder, collector, clock = make()
    await recorder.changed("Pod", unschedulable(), None)
    assert failures(collector) == []
    assert recorder.pods.failures.waiting() == 1
    clock.at(299)
    await recorder.check_deadlines()
    assert failures(collector) == []
    clock.at(301)
    await recorder.check_deadlines()  # no watch event came: the clock alone
    assert failures(collector) == [("unschedulable", "POD_FAILURE", START)]
    assert recorder.pods.failures.waiting() == 0
    clock.at(900)
    await recorder.check_deadlines()
    assert len(failures(collector)) == 1


async def test_a_pod_scheduled_in_time_leaves_nothing_to_look_at() -> None:
    recorder, collector, clock = make()
    await recorder.changed("Pod", unschedulable(), None)
    clock.at(3)
    scheduled = pod(phase="Running", annotations=TAG)
    await recorder.changed("Pod", scheduled, "MODIFIED")
    assert recorder.pods.failures.waiting() == 0
    clock.at(3600)
    await recorder.check_deadlines()
    assert failures(collector) == []


async def test_a_deleted_or_unmapped_pod_is_not_kept_waiting() -> None:
    recorder, collector, clock = make()
    await recorder.changed("Pod", unschedulable(), None)
    await recorder.changed("Pod", unschedulable(), "DELETED")
    raw = unschedulable(uid="pod-2", name="other")
    raw["metadata"]["annotations"] = {}
    await recorder.changed("Pod", raw, None)
    assert recorder.pods.failures.waiting() == 0
    clock.at(3600)
    await recorder.check_deadlines()
    assert failures(collector) == []


async def test_a_deployments_progress_deadline_is_how_long_its_pods_may_stay_not_ready() -> None:
    recorder, collector, clock = make()
    owner = deployment(annotations=TAG)
    owner["spec"]["progressDeadlineSeconds"] = 120
    await recorder.changed("Deployment", owner, None)
    await recorder.changed("ReplicaSet", replicaset(), None)
    raw = pod(owner_rs="web-5d8f")
    raw["status"]["conditions"] = [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
         "lastTransitionTime": stamp(START)}
    ]  # fmt: skip
    await recorder.changed("Pod", raw, None)
    clock.at(121)
    await recorder.check_deadlines()
    key = f"notready/{int(START.timestamp())}"
    assert failures(collector) == [(key, "POD_FAILURE", START)]


def looping(restarts: int, last: tuple[float, float], state: dict[str, Any]) -> dict[str, Any]:
    raw = pod(annotations=TAG)
    started, finished = (START + timedelta(minutes=m) for m in last)
    raw["status"]["containerStatuses"] = [
        {"name": "app", "image": "nginx:1.25", "ready": False, "restartCount": restarts,
         "state": state,
         "lastState": {"terminated": {"reason": "Error", "exitCode": 1,
                                      "startedAt": stamp(started), "finishedAt": stamp(finished)}}}
    ]  # fmt: skip
    return raw


async def test_a_run_of_restarts_after_a_recovery_keeps_a_key_of_its_own() -> None:
    recorder, collector, clock = make()
    clock.at(3 * 3600)
    # Up for two hours after five restarts, then it crashed: running again, restart six.
    running = {"running": {"startedAt": stamp(clock.now)}}
    await recorder.changed("Pod", looping(6, (60, 180), running), None)
    assert failures(collector) == []
    # Then in back-off: the beginning of this run of restarts is no longer in the state.
    clock.at(3 * 3600 + 60)
    backing_off = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    await recorder.changed("Pod", looping(7, (180, 181), backing_off), "MODIFIED")
    assert [f[0] for f in failures(collector)] == ["crashloop/app/5"]


def stopped(moment: datetime, *, grace: int, phase: str, deletion: datetime) -> dict[str, Any]:
    raw = pod(phase=phase, annotations=TAG)
    raw["metadata"]["deletionTimestamp"] = stamp(deletion)
    raw["metadata"]["deletionGracePeriodSeconds"] = grace
    state = (
        {"terminated": {"reason": "Error", "exitCode": 143, "finishedAt": stamp(moment)}}
        if phase == "Failed"
        else {"running": {"startedAt": stamp(START)}}
    )
    raw["status"]["containerStatuses"] = [
        {"name": "app", "image": "nginx:1.25", "ready": False, "restartCount": 0, "state": state}
    ]
    return raw


async def test_a_pod_stopped_by_its_deletion_did_not_fail_though_a_forced_delete_ends_it() -> None:
    recorder, collector, clock = make()
    asked = START + timedelta(seconds=10)
    clock.at(10)
    # Deleted gracefully (30 s), stopped 2 s later (exit 143, Failed, as a real kubelet reports
    # it), then removed by a forced delete, which moves deletionTimestamp to its own time.
    graceful = asked + timedelta(seconds=30)
    await recorder.changed(
        "Pod", stopped(START, grace=30, phase="Running", deletion=graceful), None
    )
    stop = asked + timedelta(seconds=2)
    await recorder.changed(
        "Pod", stopped(stop, grace=30, phase="Failed", deletion=graceful), "MODIFIED"
    )
    forced = stop + timedelta(seconds=1)
    await recorder.changed(
        "Pod", stopped(stop, grace=0, phase="Failed", deletion=forced), "DELETED"
    )
    assert failures(collector) == []
    deletions = [i.body.timestamp for i in collector.items if i.body.type == "POD_DELETION"]
    assert set(deletions) == {asked}  # the same event each time, from when it was asked for
