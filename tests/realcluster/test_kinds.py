"""StatefulSets, DaemonSets, an autoscaler, Jobs and CronJobs, driven by the real controllers.

One operator serves the module, watching its own namespace and the CronJobs' (conftest's
`cron_namespace`, made when the real-cluster tests start, so that the minutes the CronJob
controller waits for have passed by the time this module runs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cortex_events_sim.fake_cortex import FakeCortex, StoredEvent, run_in_thread
from testbed.controlplane import ControlPlane

from .conftest import (
    API_KEY,
    CRON_NAMESPACE,
    FATE_LABEL,
    Operator,
    Release,
    assert_once_per_key,
    data,
    deployment,
    event_writes,
    events,
    make_operator,
    module_namespace,
    ready_pods,
    wait_for,
)

CRON_TAG = "rc-cron"


def pod_template(app: str, image: str, fate: str | None = None) -> dict[str, Any]:
    labels = {"app": app, **({FATE_LABEL: fate} if fate else {})}
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "app", "image": image}],
                 "terminationGracePeriodSeconds": 0},
    }  # fmt: skip


def workload(kind: str, name: str, namespace: str, tag: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": {"cortex.io/tag": tag}},
        "spec": spec,
    }


def patch(plane: ControlPlane, what: str, namespace: str, body: Any, kind: str = "merge") -> None:
    plane.kubectl("patch", what, "-n", namespace, f"--type={kind}", "-p", json.dumps(body))


def sent(cortex: FakeCortex, tag: str, key: str) -> list[dict[str, Any]]:
    """Every body the operator sent for one event, in order (POST, then each PUT)."""
    return [body for _, body in event_writes(cortex, tag, key)]


def deploys(cortex: FakeCortex, tag: str) -> list[tuple[str, str]]:
    """(type, key) of each deploy Cortex holds for ``tag``."""
    return sorted(
        (d.type, str((d.custom_data or {}).get("eventKey"))) for d in cortex.state.deploys(tag)
    )


def one(cortex: FakeCortex, tag: str, key: str) -> StoredEvent:
    (event,) = [e for e in events(cortex, tag) if data(e).get("eventKey") == key]
    return event


@pytest.fixture(scope="module")
def cortex() -> Iterator[FakeCortex]:
    with run_in_thread(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def namespace(plane: ControlPlane) -> Iterator[str]:
    with module_namespace(plane, "rc-kinds") as name:
        yield name


@pytest.fixture(scope="module")
def operator(
    plane: ControlPlane,
    release: Release,
    cortex: FakeCortex,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    log = Path(tmp_path_factory.mktemp("kinds")) / "operator.log"
    # The CronJobs' runs (those made before this module included) go to CRON_TAG from now on.
    for name in ("nightly", "late"):
        plane.kubectl("annotate", f"cronjob/{name}", "-n", CRON_NAMESPACE,
                      f"cortex.io/tag={CRON_TAG}")  # fmt: skip
    # Deploys on (scales too, settled at once): rollouts of every kind become Cortex deploys.
    running = make_operator(plane, release, cortex, log, watch=[namespace, CRON_NAMESPACE],
                            CORTEX_DEPLOYS="true", CORTEX_DEPLOY_SCALES="true",
                            CORTEX_DEPLOY_SETTLE="0")  # fmt: skip
    running.start()
    yield running
    for name in ("nightly", "late"):
        plane.kubectl("delete", f"cronjob/{name}", "-n", CRON_NAMESPACE, "--ignore-not-found")
    running.stop()
    assert running.violations() == [], "the operator wrote to workloads or was refused"
    assert_once_per_key(cortex)


def test_a_statefulset_s_rollout_partitioned_rollout_scale_and_deletion(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    tag, kubectl = "rc-sts", ("-n", namespace)
    manifest = workload("StatefulSet", "db", namespace, tag, replicas=2, serviceName="db",
                        selector={"matchLabels": {"app": "db"}},
                        template=pod_template("db", "postgres:15"))  # fmt: skip
    plane.apply(manifest)
    wait_for(lambda: ready_pods(plane, namespace, "db-") == 2, what="2 ready pods of db")
    plane.kubectl("set", "image", "statefulset/db", "app=postgres:16", *kubectl)
    plane.rollout_status("statefulset/db", namespace)
    done = wait_for(
        lambda: [e for e in events(cortex, tag, "STATEFULSET_ROLLOUT")
                 if data(e)["result"] == "Completed"],
        what="revision 2 completed",
    )  # fmt: skip
    assert done[0].title.startswith("Rollout of db to postgres:16 completed")
    assert data(done[0])["revision"] == 2
    # A partition holds pod db-0 on revision 2: revision 3 rests as partial.
    patch(plane, "statefulset/db", namespace, {"spec": {
        "updateStrategy": {"rollingUpdate": {"partition": 1}},
        "template": {"spec": {"containers": [{"name": "app", "image": "postgres:17"}]}},
    }})  # fmt: skip

    def partial(count: str) -> StoredEvent | None:
        for event in events(cortex, tag, "STATEFULSET_ROLLOUT"):
            if (data(event)["revision"], data(event)["result"]) == (3, "Partial") and (
                f"{count} pods" in (event.title or "")
            ):
                return event
        return None

    rest = wait_for(lambda: partial("1 of 2"), 90, "revision 3 partial")
    assert "partition 1" in (rest.description or "")
    plane.kubectl("scale", "statefulset/db", "--replicas=3", *kubectl)
    (scale,) = wait_for(lambda: events(cortex, tag, "STATEFULSET_SCALE"), what="the scale")
    assert scale.title == "Scaled db from 2 to 3 replicas"
    assert data(scale)["autoscaler"] is False
    wait_for(lambda: partial("2 of 3"), 90, "revision 3 partial on the new pod too")
    # Each revision's event was created once and then replaced in place.
    for revision in (2, 3):
        bodies = sent(cortex, tag, f"statefulset/{data(scale)['uid']}/rollout/{revision}")
        assert [b["customData"]["revision"] for b in bodies] == [revision] * len(bodies)
        assert {tuple(b["customData"]["images"]) for b in bodies} == {
            (f"postgres:{14 + revision}",)
        }
    pods = {p["metadata"]["uid"] for p in plane.get("pods", *kubectl)["items"]
            if p["metadata"]["name"].startswith("db-")}  # fmt: skip
    assert pods <= {data(e)["uid"] for e in events(cortex, tag, "POD_CREATION")}
    # Revision 2's completed rollout is a deploy, as is the scale; partial revision 3 is not.
    uid = data(scale)["uid"]
    expected = sorted([
        ("DEPLOY", f"deploy/statefulset/{uid}/revision/2"),
        ("SCALE", f"deploy/statefulset/{uid}/scale/{data(scale)['generation']}"),
    ])  # fmt: skip
    wait_for(lambda: deploys(cortex, tag) == expected or None, what="the deploy and the scale")
    assert deploys(cortex, tag) == expected
    plane.kubectl("delete", "statefulset/db", *kubectl)
    wait_for(lambda: events(cortex, tag, "STATEFULSET_DELETION"), what="the deletion")


def test_a_daemonset_s_rollout(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    tag, kubectl = "rc-ds", ("-n", namespace)
    nodes = len(plane.node_names())
    manifest = workload("DaemonSet", "agent", namespace, tag,
                        selector={"matchLabels": {"app": "agent"}},
                        template=pod_template("agent", "agent:1"))  # fmt: skip
    plane.apply(manifest)
    plane.rollout_status("daemonset/agent", namespace)
    (created,) = wait_for(lambda: events(cortex, tag, "DAEMONSET_CREATION"), what="creation")
    assert created.description == "agent:1"
    plane.kubectl("set", "image", "daemonset/agent", "app=agent:2", *kubectl)
    plane.rollout_status("daemonset/agent", namespace)
    (rollout,) = wait_for(
        lambda: [e for e in events(cortex, tag, "DAEMONSET_ROLLOUT")
                 if data(e)["result"] == "Completed"],
        what="the rollout completed",
    )  # fmt: skip
    assert rollout.title.startswith("Rollout of agent to agent:2 completed")
    assert data(rollout)["updatedReplicas"] == nodes
    bodies = sent(cortex, tag, data(rollout)["eventKey"])
    assert {tuple(b["customData"]["images"]) for b in bodies} == {("agent:2",)}
    assert [b["customData"]["result"] for b in bodies][-1] == "Completed"
    expected = [("DEPLOY", f"deploy/daemonset/{data(rollout)['uid']}/revision/2")]
    assert wait_for(lambda: deploys(cortex, tag) or None, what="the deploy") == expected


def entity(name: str, namespace: str, scale_events: str) -> dict[str, Any]:
    return {
        "apiVersion": "cortex.io/v1alpha1",
        "kind": "CortexEntity",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "tag": name,
            "selector": {"matchLabels": {"app": "web"}},
            "eventTypes": ["DEPLOYMENT_SCALE"],
            "scaleEvents": scale_events,
        },
    }


def test_an_autoscaler_scaling_up_and_down_five_times_is_recorded_per_scale_events(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    """The HorizontalPodAutoscaler controller scales its target into its bounds without any
    metric: raising and lowering minReplicas and maxReplicas makes it write the scale
    subresource, as it does for a metric, under its own field manager."""
    modes = {"rc-hpa-all": "all", "rc-hpa-manual": "manual", "rc-hpa-summary": "summary"}
    plane.apply(*(entity(name, namespace, mode) for name, mode in modes.items()))
    plane.apply(deployment("web", namespace, replicas=1))
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 1,
        },
    }
    plane.apply(hpa)

    def replicas() -> int:
        return int(plane.get("deployment/web", "-n", namespace)["spec"]["replicas"])

    for _ in range(5):
        for bound in (3, 1):
            patch(plane, "hpa/web", namespace, {"spec": {"minReplicas": bound,
                                                         "maxReplicas": bound}})  # fmt: skip

            def scaled(bound: int = bound) -> bool:
                return replicas() == bound

            wait_for(scaled, 60, f"the HPA to scale to {bound}")

    def ten() -> list[StoredEvent] | None:
        found = events(cortex, "rc-hpa-all", "DEPLOYMENT_SCALE")
        return found if len(found) == 10 else None

    every = wait_for(ten, what="ten scale events for scaleEvents: all")
    assert all(data(e)["autoscaler"] for e in every)
    assert [(data(e)["fromReplicas"], data(e)["toReplicas"]) for e in every] == [(1, 3), (3, 1)] * 5

    def summarized() -> list[StoredEvent] | None:
        found = events(cortex, "rc-hpa-summary", "DEPLOYMENT_SCALE")
        return found if sum(data(e)["scales"] for e in found) == 10 else None

    summaries = wait_for(summarized, what="the summary to count ten scales")
    assert 1 <= len(summaries) <= 2, "one per window (a window may end during the test)"
    assert {(data(e)["minReplicas"], data(e)["maxReplicas"]) for e in summaries} == {(1, 3)}
    assert data(max(summaries, key=lambda e: e.timestamp))["toReplicas"] == 1
    for summary in summaries:
        methods = [m for m, _ in event_writes(cortex, "rc-hpa-summary", data(summary)["eventKey"])]
        assert methods.count("POST") == 1, "created once, then updated in place"
    assert "PUT" in {m for s in summaries for m, _ in event_writes(cortex, "rc-hpa-summary",
                                                                data(s)["eventKey"])}  # fmt: skip
    assert events(cortex, "rc-hpa-manual") == []
    # A person's scale, once the autoscaler is gone, goes to all three.
    plane.kubectl("delete", "hpa/web", "-n", namespace)
    plane.kubectl("scale", "deployment/web", "--replicas=2", "-n", namespace)
    for tag in modes:

        def manual(tag: str = tag) -> list[StoredEvent]:
            return [e for e in events(cortex, tag, "DEPLOYMENT_SCALE")
                    if data(e).get("autoscaler") is False]  # fmt: skip

        wait_for(manual, what=f"the manual scale on {tag}")
    # Only the person's scale is a deploy: the autoscaler's ten are not.
    for tag in modes:

        def scale_deploys(tag: str = tag) -> list[str] | None:
            return [kind for kind, _ in deploys(cortex, tag)] or None

        assert wait_for(scale_deploys, what=f"the SCALE deploy on {tag}") == ["SCALE"]


def test_a_cronjob_fires_a_job_that_fails_then_one_that_succeeds(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    def runs(result: str) -> list[StoredEvent]:
        return [e for e in events(cortex, CRON_TAG, "JOB_RUN")
                if data(e)["result"] == result and data(e).get("cronJob") == "nightly"]  # fmt: skip

    (failed,) = wait_for(lambda: runs("Failed"), 150, "a failed run of nightly")[:1]
    # The next runs succeed: their Pods no longer fail.
    patch(plane, "cronjob/nightly", CRON_NAMESPACE,
          [{"op": "remove", "path": f"/spec/jobTemplate/spec/template/metadata/labels/"
                                    f"{FATE_LABEL.replace('/', '~1')}"}], "json")  # fmt: skip
    (succeeded,) = wait_for(lambda: runs("Succeeded"), 150, "a successful run of nightly")[:1]
    assert failed.title.startswith(f"Job {data(failed)['name']} failed after")
    assert "BackoffLimitExceeded" in failed.title
    assert "exited with code 1" in data(failed)["podFailure"]
    assert succeeded.title.startswith(f"Job {data(succeeded)['name']} completed in")
    for run in (failed, succeeded):
        found = event_writes(cortex, CRON_TAG, data(run)["eventKey"])
        assert [m for m, _ in found].count("POST") == 1
        assert found[-1][1]["customData"]["result"] == data(run)["result"]
        assert {b["customData"]["result"] for _, b in found} <= {"InProgress", data(run)["result"]}
    # Its Pods' failures are recorded, their creations are not (jobPodEvents defaults off).
    assert [data(e)["name"] for e in events(cortex, CRON_TAG, "POD_FAILURE")]
    assert events(cortex, CRON_TAG, "POD_CREATION") == []
    patch(plane, "cronjob/nightly", CRON_NAMESPACE, {"spec": {"suspend": True}})
    patch(plane, "cronjob/nightly", CRON_NAMESPACE, {"spec": {"suspend": False}})

    def changes() -> list[str] | None:
        found = [data(e)["change"] for e in events(cortex, CRON_TAG, "CRONJOB_SCHEDULE")
                 if data(e)["name"] == "nightly"]  # fmt: skip
        return found if len(found) == 2 else None

    assert sorted(wait_for(changes, what="suspended and resumed")) == ["resumed", "suspended"]


def test_a_cronjob_whose_controller_missed_runs_gets_a_missed_event(
    plane: ControlPlane, namespace: str, cortex: FakeCortex, operator: Operator
) -> None:
    """As if kube-controller-manager had been down for the last two runs: the CronJob's last
    start is moved back to the run before them (its status). With a 10-second starting deadline
    the real CronJob controller finds those runs too late to start (it leaves the status as it
    is), so they stay missed."""
    created = datetime.fromisoformat(
        plane.get("cronjob/late", "-n", CRON_NAMESPACE)["metadata"]["creationTimestamp"]
    )
    # Two runs after the first must be due, so at least three minutes of the CronJob's; and
    # not near a minute's edge, where the next run could start or the count move.
    earliest = created.replace(second=0, microsecond=0) + timedelta(minutes=3, seconds=15)
    now = datetime.now(UTC)
    if now < earliest:
        time.sleep((earliest - now).total_seconds())
    while not 15 <= (now := datetime.now(UTC)).second <= 45:
        time.sleep((75 - now.second) % 60)
    first_run = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    rewound = {"status": {"lastScheduleTime": first_run.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    plane.kubectl("patch", "cronjob/late", "-n", CRON_NAMESPACE, "--subresource=status",
                  "--type=merge", "-p", json.dumps(rewound))  # fmt: skip
    first_missed = first_run + timedelta(minutes=1)

    def missed() -> StoredEvent | None:
        found = [e for e in events(cortex, CRON_TAG, "CRONJOB_SCHEDULE")
                 if data(e)["name"] == "late" and data(e)["change"] == "missed"]  # fmt: skip
        return found[0] if found and data(found[0])["missedRuns"] >= 2 else None

    event = wait_for(missed, 90, "the missed runs")
    count = data(event)["missedRuns"]
    assert event.title == f"CronJob late missed {count} scheduled runs"
    assert data(event)["firstMissed"] == first_missed.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event.timestamp == first_missed
    plane.kubectl("delete", "cronjob/late", "-n", CRON_NAMESPACE)
