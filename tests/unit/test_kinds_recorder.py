"""The recorder with StatefulSets, DaemonSets, Jobs and CronJobs, quiet autoscaling and the
namespace selector: watch events in, in the order the real controllers write them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from cortex_events.controllers.entities import EntityStore
from cortex_events.controllers.namespaces import NamespaceGate
from cortex_events.controllers.recorder import Recorder
from cortex_events.delivery.queue import Item, Outgoing
from cortex_events.domain.quiet import QuietDefaults, ScaleEvents
from cortex_events.domain.selectors import parse_selector
from tests.support.kinds import (
    CREATED,
    RecordedReplicas,
    cronjob,
    daemonset,
    job,
    job_pod,
    managed,
    revision,
    stamp,
    statefulset,
)

TAG = {"cortex.io/tag": "db"}


class Clock:
    def __init__(self) -> None:
        self.now = CREATED + timedelta(hours=2)

    def __call__(self) -> datetime:
        return self.now


class Out:
    def __init__(self) -> None:
        self.store = EntityStore()
        self.items: list[Outgoing] = []
        self.skips: list[tuple[str, str]] = []

    async def submit(self, item: Item) -> None:
        assert isinstance(item, Outgoing), "no deploys are recorded here"
        self.items.append(item)

    def skipped(self, kind: str, reason: str) -> None:
        self.skips.append((kind, reason))

    def of(self, event_type: str) -> list[Outgoing]:
        return [item for item in self.items if item.body.type == event_type]

    def last(self, key: str) -> Outgoing:
        return [item for item in self.items if item.key == key][-1]


def make(**options: Any) -> tuple[Recorder, Out, Clock]:
    out, clock = Out(), Clock()
    recorder = Recorder(out, out.store, cluster="c", skips=out, clock=clock, **options)
    return recorder, out, clock


def entity(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cortex.io/v1alpha1",
        "kind": "CortexEntity",
        "metadata": {"name": name, "namespace": "shop", "uid": f"{name}-uid", "generation": 1},
        "spec": spec,
    }


async def test_a_statefulset_rollout_is_one_event_from_its_start_to_its_end() -> None:
    recorder, out, clock = make()
    await recorder.changed("ControllerRevision", revision("db-rev1", 1, "postgres:15"), None)
    await recorder.changed("StatefulSet", statefulset(image="postgres:15", annotations=TAG), None)
    started = clock.now
    # The controller's order: spec, the new revision, status naming it, pods, completion.
    steps = [
        statefulset(generation=2, observed=1, annotations=TAG),
        revision("db-rev2", 2, "postgres:16", created=started),
        statefulset(generation=2, update_revision="db-rev2", updated=0, annotations=TAG),
        statefulset(generation=2, update_revision="db-rev2", updated=2, ready=2, annotations=TAG),
    ]
    for body in steps:
        kind = body["kind"]
        await recorder.changed(kind, body, "ADDED" if kind == "ControllerRevision" else "MODIFIED")
    clock.now = started + timedelta(seconds=40)
    done = statefulset(
        generation=2,
        current_revision="db-rev2",
        update_revision="db-rev2",
        annotations=TAG,
        status_at=clock.now,
    )
    await recorder.changed("StatefulSet", done, "MODIFIED")
    rollouts = out.of("STATEFULSET_ROLLOUT")
    assert {item.key for item in rollouts} == {"statefulset/sts-1/rollout/2"}
    assert [item.body.custom_data["result"] for item in rollouts] == [
        "InProgress",
        "InProgress",
        "Completed",
    ]
    assert {tuple(item.body.custom_data["images"]) for item in rollouts} == {("postgres:16",)}
    assert rollouts[-1].body.title == "Rollout of db to postgres:16 completed in 40s"
    assert next(item.body.type for item in out.items) == "STATEFULSET_CREATION"


async def test_a_completed_rollout_is_not_reopened_by_a_pod_restart_later() -> None:
    recorder, out, _ = make()
    for number, image in ((1, "a:1"), (2, "a:2")):
        raw = revision(f"agent-{number}", number, image, owner=("DaemonSet", "agent"))
        await recorder.changed("ControllerRevision", raw, None)
    await recorder.changed("DaemonSet", daemonset(image="a:2", generation=2, annotations=TAG), None)
    # A pod restarts: one node without an available pod for a moment.
    restarting = daemonset(image="a:2", generation=2, available=2, annotations=TAG)
    await recorder.changed("DaemonSet", restarting, "MODIFIED")
    assert {i.body.custom_data["result"] for i in out.of("DAEMONSET_ROLLOUT")} == {"Completed"}


async def test_the_pods_of_a_statefulset_map_through_it() -> None:
    recorder, out, _ = make()
    await recorder.changed("StatefulSet", statefulset(annotations=TAG), None)
    pod = job_pod("db-0", "x", uid="pod-db-0")
    pod["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": "db", "controller": True}]
    await recorder.changed("Pod", pod, None)
    assert [(i.tag, i.body.type) for i in out.of("POD_CREATION")] == [("db", "POD_CREATION")]


async def test_a_cronjob_s_jobs_go_to_its_tag_and_their_pods_are_quiet_unless_failed() -> None:
    recorder, out, _clock = make()
    await recorder.changed("CronJob", cronjob(annotations={"cortex.io/tag": "reports"}), None)
    await recorder.changed("Job", job(), None)
    await recorder.changed("Pod", job_pod("run-1", "nightly-29000000", uid="p1"), None)
    assert [(i.tag, i.body.type) for i in out.items] == [("reports", "JOB_RUN")]
    failed = job_pod("run-1", "nightly-29000000", uid="p1", phase="Failed", exit_code=2)
    await recorder.changed("Pod", failed, "MODIFIED")
    assert [i.body.type for i in out.of("POD_FAILURE")] == ["POD_FAILURE"]
    ended = ("Failed", CREATED + timedelta(seconds=9), "BackoffLimitExceeded")
    await recorder.changed("Job", job(ended=ended), "MODIFIED")
    run = out.last("job/job-1/run")
    assert run.body.custom_data["result"] == "Failed"
    assert run.body.custom_data["podFailure"] == "container app exited with code 2 (Error)"
    assert run.body.title == "Job nightly-29000000 failed after 9s: BackoffLimitExceeded"


async def test_a_job_s_failure_learns_why_its_pod_failed_when_the_pod_comes_later() -> None:
    recorder, out, _ = make()
    await recorder.changed("CronJob", cronjob(annotations={"cortex.io/tag": "reports"}), None)
    await recorder.changed("Pod", job_pod("run-1", "nightly-29000000", uid="p1"), None)
    ended = ("Failed", CREATED + timedelta(seconds=9), "BackoffLimitExceeded")
    await recorder.changed("Job", job(ended=ended), None)
    assert "podFailure" not in out.last("job/job-1/run").body.custom_data
    failed = job_pod("run-1", "nightly-29000000", uid="p1", phase="Failed", exit_code=2)
    await recorder.changed("Pod", failed, "MODIFIED")
    assert out.last("job/job-1/run").body.custom_data["failedPod"] == "run-1"


async def test_job_pod_events_are_chosen_per_cortexentity_and_by_default() -> None:
    recorder, out, _ = make(quiet=QuietDefaults(job_pod_events=True))
    await recorder.changed("Job", job(cronjob=None, annotations={"cortex.io/tag": "batch"}), None)
    pod = job_pod("run-1", "nightly-29000000", uid="p1")
    pod["metadata"]["annotations"] = {}
    await recorder.changed("Pod", pod, None)
    assert ("batch", "POD_CREATION") in [(i.tag, i.body.type) for i in out.items]
    recorder, out, _ = make()
    out.store.observe(entity("runs", tag="runs", selector={}, jobPodEvents=True))
    await recorder.changed("Job", job(cronjob=None), None)
    await recorder.changed("Pod", pod, None)
    assert [(i.tag, i.body.type) for i in out.items] == [
        ("runs", "JOB_RUN"),
        ("runs", "POD_CREATION"),
    ]


def scaled(replicas: int, generation: int, by: str = "kube-controller-manager") -> dict[str, Any]:
    body = statefulset(annotations=TAG, replicas=replicas, generation=generation)
    subresource = "scale"
    body["metadata"]["managedFields"][0] = managed(by, subresource, "replicas")
    return body


async def scale_five_times(recorder: Recorder, clock: Clock) -> None:
    await recorder.changed("StatefulSet", scaled(2, 1), None)
    for generation, replicas in enumerate((4, 6, 3, 5, 2), 2):
        clock.now += timedelta(seconds=30)
        await recorder.changed("StatefulSet", scaled(replicas, generation), "MODIFIED")


async def test_an_autoscaler_s_scales_are_one_summary_per_window_by_default() -> None:
    recorder, out, clock = make()
    clock.now = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    await scale_five_times(recorder, clock)
    summaries = out.of("STATEFULSET_SCALE")
    assert {item.key for item in summaries} == {
        f"statefulset/sts-1/autoscale/{int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp())}"
    }
    last = summaries[-1].body.custom_data
    assert (last["minReplicas"], last["maxReplicas"], last["toReplicas"], last["scales"]) == (
        2,
        6,
        2,
        5,
    )
    # A person's scale is its own event, whatever the setting.
    clock.now += timedelta(seconds=30)
    await recorder.changed("StatefulSet", scaled(7, 7, by="kubectl"), "MODIFIED")
    assert out.last("statefulset/sts-1/scale/7").body.title == "Scaled db from 2 to 7 replicas"


async def test_scale_events_all_and_manual() -> None:
    recorder, out, clock = make(quiet=QuietDefaults(scale_events=ScaleEvents.ALL))
    await scale_five_times(recorder, clock)
    assert len(out.of("STATEFULSET_SCALE")) == 5
    assert all(i.body.custom_data["autoscaler"] for i in out.of("STATEFULSET_SCALE"))
    recorder, out, clock = make()
    out.store.observe(entity("db", tag="db", selector={}, scaleEvents="manual"))
    await scale_five_times(recorder, clock)
    assert out.of("STATEFULSET_SCALE") == []


async def test_a_summary_goes_on_from_what_cortex_holds_after_a_restart() -> None:
    class History:
        def recorded_replicas(self, uid: str) -> int | None:
            return 4

        def recorded_time(self, key: str) -> datetime | None:
            return None

        def recorded_summary(self, uid: str) -> tuple[datetime, dict[str, Any]]:
            return start, {
                "autoscaleSummary": True,
                "windowStart": stamp(start),
                "windowSeconds": 600,
                "fromReplicas": 2,
                "toReplicas": 4,
                "minReplicas": 2,
                "maxReplicas": 8,
                "scales": 3,
                "lastScaleAt": stamp(start + timedelta(minutes=1)),
            }

    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    recorder, out, clock = make(history=History())
    clock.now = start + timedelta(minutes=3)
    await recorder.changed("StatefulSet", scaled(3, 9), None)
    (summary,) = out.of("STATEFULSET_SCALE")
    data = summary.body.custom_data
    assert (data["fromReplicas"], data["minReplicas"], data["maxReplicas"]) == (2, 2, 8)
    assert (data["toReplicas"], data["scales"]) == (3, 4)


async def test_a_cronjob_that_missed_runs_is_told_by_the_schedule_check() -> None:
    recorder, out, clock = make()
    hourly = cronjob(schedule="0 * * * *", last=datetime(2026, 3, 1, 11, tzinfo=UTC),
                     annotations={"cortex.io/tag": "reports"})  # fmt: skip
    clock.now = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
    await recorder.changed("CronJob", hourly, None)
    assert out.items == []
    clock.now = datetime(2026, 3, 1, 13, 5, tzinfo=UTC)
    await recorder.check_schedules()
    (missed,) = out.of("CRONJOB_SCHEDULE")
    assert missed.body.title == "CronJob nightly missed 2 scheduled runs"


async def test_only_the_namespaces_the_selector_matches_are_recorded_as_their_labels_change() -> (
    None
):
    gate = NamespaceGate(parse_selector("cortex.io/record=true"))
    recorder, out, _ = make(namespaces=gate)
    namespace: dict[str, Any] = {"metadata": {"name": "shop", "labels": {}}}
    await recorder.changed("Namespace", namespace, None)
    await recorder.changed("StatefulSet", statefulset(annotations=TAG), None)
    assert out.items == []
    assert out.skips == [("StatefulSet", "namespace")]
    namespace["metadata"]["labels"] = {"cortex.io/record": "true"}
    await recorder.changed("Namespace", namespace, "MODIFIED")
    await recorder.reevaluate_namespace("shop")  # what the requested re-evaluation does
    assert [i.body.type for i in out.items] == ["STATEFULSET_CREATION"]
    namespace["metadata"]["labels"] = {}
    await recorder.changed("Namespace", namespace, "MODIFIED")
    await recorder.changed("StatefulSet", statefulset(annotations=TAG, replicas=5), "MODIFIED")
    assert [i.body.type for i in out.items] == ["STATEFULSET_CREATION"]


async def test_kinds_vanished_while_no_watch_ran_get_their_deletions() -> None:
    recorder, out, _ = make()
    await recorder.changed("StatefulSet", statefulset(annotations=TAG), None)
    await recorder.changed("ControllerRevision", revision("db-rev1", 1, "postgres:15"), None)
    assert recorder.known("StatefulSet", "shop") == {"sts-1": ("shop", "db")}
    assert recorder.known("ControllerRevision", None) == {"db-rev1-uid": ("shop", "db-rev1")}
    await recorder.vanished("StatefulSet", "sts-1")
    await recorder.vanished("ControllerRevision", "db-rev1-uid")
    assert [i.body.type for i in out.items][-1] == "STATEFULSET_DELETION"
    assert recorder.index.is_empty()


async def test_a_loaded_ledger_reviews_only_the_statefulsets_of_its_own_entity() -> None:
    ledgers = RecordedReplicas()
    recorder, out, _ = make(history=ledgers)
    for name, uid in (("db", "sts-1"), ("cache", "sts-2")):
        body = statefulset(name, uid=uid, replicas=3, annotations={"cortex.io/tag": name})
        await recorder.changed("StatefulSet", body, None)
    assert out.of("STATEFULSET_SCALE") == []
    # Both were scaled (from 2) while the operator was down; only db's ledger has loaded.
    ledgers.replicas = {"sts-1": 2, "sts-2": 2}
    recorder.request_deployment_review("db", delay=0.01)
    await asyncio.sleep(0.1)
    assert [item.tag for item in out.of("STATEFULSET_SCALE")] == ["db"]
    recorder.request_deployment_review("cache", delay=0.01)
    await asyncio.sleep(0.1)
    assert [item.tag for item in out.of("STATEFULSET_SCALE")] == ["db", "cache"]
