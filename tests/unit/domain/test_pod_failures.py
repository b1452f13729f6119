"""Every common way a Pod fails, from its state: keys, times, thresholds, runs of restarts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events.domain.failure_model import RECOVERY, FailurePolicy
from cortex_events.domain.intents import EventIntent
from cortex_events.domain.model import EventType, PodSnapshot
from cortex_events.domain.pod_failures import pod_failures
from cortex_events.domain.pod_restarts import loop_starts
from cortex_events.domain.pod_waits import next_due
from cortex_events.domain.pods import pod_events
from cortex_events.domain.snapshots import pod_snapshot

Factory = Callable[..., dict[str, Any]]
UID = "5f0c2a1e-pod-0001"
NAME = "web-5d8f7c9b4-x2k9p"
STARTED = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # the pods' creation and startTime


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def at(minutes: float) -> datetime:
    return STARTED + timedelta(minutes=minutes)


def failures(pod: PodSnapshot, now: datetime, **options: Any) -> dict[str, EventIntent]:
    """The failure and disruption events by key, without the creation event."""
    return {
        e.key.removeprefix(f"pod/{UID}/"): e
        for e in pod_events(None, pod, now=now, **options)
        if e.type in (EventType.POD_FAILURE, EventType.POD_DISRUPTION)
    }


def with_condition(raw: dict[str, Any], kind: str, status: str, **fields: Any) -> dict[str, Any]:
    conditions = [c for c in raw["status"]["conditions"] if c["type"] != kind]
    condition = {"type": kind, "status": status} | {
        key: stamp(value) if isinstance(value, datetime) else value for key, value in fields.items()
    }
    raw["status"]["conditions"] = [*conditions, condition]
    return raw


def terminated(reason: str, code: int, started: datetime, finished: datetime) -> dict[str, Any]:
    return {
        "terminated": {
            "reason": reason,
            "exitCode": code,
            "startedAt": stamp(started),
            "finishedAt": stamp(finished),
        }
    }


def waiting(reason: str, message: str | None = None) -> dict[str, Any]:
    return {"waiting": {"reason": reason} | ({"message": message} if message else {})}


def running(since: datetime) -> dict[str, Any]:
    return {"running": {"startedAt": stamp(since)}}


# -- a Pod that cannot be scheduled ------------------------------------------------------------

UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available"


def unschedulable(make_pod: Factory, reason: str = "Unschedulable") -> PodSnapshot:
    raw = make_pod(phase="Pending", ready=False, node=None, containers=[])
    raw["status"]["conditions"] = []
    with_condition(
        raw, "PodScheduled", "False", reason=reason, message=UNSCHEDULABLE, lastTransitionTime=at(0)
    )
    return pod_snapshot(raw)


def test_a_short_pending_is_no_failure_and_says_when_it_would_be(make_pod: Factory) -> None:
    pod = unschedulable(make_pod)
    assert failures(pod, at(0.5)) == {}
    assert failures(pod, at(4.9)) == {}
    assert next_due(pod, at(0.5)) == at(5)


def test_a_pod_unschedulable_past_its_threshold_fails_from_when_it_began(
    make_pod: Factory,
) -> None:
    pod = unschedulable(make_pod)
    found = failures(pod, at(5))
    (event,) = found.values()
    assert list(found) == ["unschedulable"]
    assert event.type is EventType.POD_FAILURE
    assert event.title == f"Pod {NAME} cannot be scheduled"
    assert event.description == UNSCHEDULABLE
    assert event.timestamp == at(0)
    assert event.details["reason"] == "Unschedulable"
    assert event.details["message"] == UNSCHEDULABLE
    assert next_due(pod, at(5)) is None
    # The same state later on: the same event.
    assert failures(pod, at(60)) == found


def test_the_threshold_is_the_policys(make_pod: Factory) -> None:
    pod = unschedulable(make_pod)
    policy = FailurePolicy(unschedulable_after=timedelta(seconds=20))
    assert failures(pod, at(0.3), policy=policy) == {}
    assert list(failures(pod, at(0.34), policy=policy)) == ["unschedulable"]
    assert next_due(pod, at(0.1), policy=policy) == at(0) + timedelta(seconds=20)


def test_a_scheduling_gate_and_a_deleted_pod_are_not_waiting_to_fail(make_pod: Factory) -> None:
    gated = unschedulable(make_pod, reason="SchedulingGated")
    assert failures(gated, at(60)) == {}
    assert next_due(gated, at(0)) is None
    raw = make_pod(phase="Pending", ready=False, node=None, containers=[], deletion=stamp(at(3)))
    with_condition(raw, "PodScheduled", "False", reason="Unschedulable", lastTransitionTime=at(0))
    assert failures(pod_snapshot(raw), at(60)) == {}


# -- a container that cannot be created ------------------------------------------------------


def test_a_missing_secret_fails_after_a_minute_and_again_after_the_next_run(
    make_pod: Factory, make_container: Factory
) -> None:
    message = 'secret "db" not found'
    first = make_container(ready=False, state=waiting("CreateContainerConfigError", message))
    pod = pod_snapshot(make_pod(phase="Pending", ready=False, containers=[first]))
    assert failures(pod, at(0.9)) == {}
    assert next_due(pod, at(0.9)) == at(1)
    (event,) = failures(pod, at(1)).values()
    assert event.key == f"pod/{UID}/configerror/app/0"
    assert event.title == f"Pod {NAME}: container app has a configuration error"
    assert event.description == f"Container app (nginx:1.25): CreateContainerConfigError: {message}"
    assert event.timestamp == at(0)
    assert event.details["reason"] == "CreateContainerConfigError"
    assert event.details["message"] == message

    # It ran once (the Secret came), exited, and cannot be created again: a new occurrence,
    # timed from the end of that run.
    again = make_container(
        ready=False,
        restart_count=0,
        state=waiting("CreateContainerConfigError", message),
        last_state=terminated("Error", 1, at(5), at(30)),
    )
    pod = pod_snapshot(make_pod(ready=False, containers=[again]))
    assert failures(pod, at(30.5)) == {}
    (event,) = failures(pod, at(31)).values()
    assert event.key == f"pod/{UID}/configerror/app/1"
    assert event.timestamp == at(30)


def test_a_container_that_cannot_be_created_has_its_own_key(
    make_pod: Factory, make_container: Factory
) -> None:
    error = 'failed to reserve container name "app": name is reserved'
    container = make_container(ready=False, state=waiting("CreateContainerError", error))
    found = failures(pod_snapshot(make_pod(phase="Pending", containers=[container])), at(2))
    assert list(found) == ["createerror/app/0"]
    assert found["createerror/app/0"].title == f"Pod {NAME}: container app cannot be created"


# -- runs of restarts ------------------------------------------------------------------------


def crash_looping(
    make_container: Factory, restarts: int, *, name: str = "app", **state: Any
) -> dict[str, Any]:
    return make_container(
        name,
        ready=False,
        restart_count=restarts,
        state=state.get("state", waiting("CrashLoopBackOff", "back-off 40s restarting")),
        last_state=state.get("last", terminated("Error", 1, at(1), at(1.2))),
    )


def test_a_crash_loop_is_one_event_updated_with_its_restart_count(
    make_pod: Factory, make_container: Factory
) -> None:
    early = failures(pod_snapshot(make_pod(containers=[crash_looping(make_container, 3)])), at(2))
    later = failures(pod_snapshot(make_pod(containers=[crash_looping(make_container, 9)])), at(9))
    assert list(early) == list(later) == ["crashloop/app"]
    first, second = early["crashloop/app"], later["crashloop/app"]
    assert first.updatable
    assert first.title == second.title == f"Pod {NAME}: container app in CrashLoopBackOff"
    assert "after 3 restarts" in first.description
    assert "after 9 restarts" in second.description
    assert (first.details["restartCount"], second.details["restartCount"]) == (3, 9)
    assert first.details["reason"] == second.details["reason"] == "CrashLoopBackOff"


def test_an_init_container_that_fails_then_loops_is_one_event(
    make_pod: Factory, make_container: Factory
) -> None:
    def pod_with(init: dict[str, Any]) -> PodSnapshot:
        app = make_container(ready=False, state=waiting("PodInitializing"))
        return pod_snapshot(
            make_pod(phase="Pending", ready=False, init_containers=[init], containers=[app])
        )

    failed = make_container(
        "migrate", "migrate:2", ready=False, state=terminated("Error", 1, at(0), at(0.5))
    )
    looping = crash_looping(make_container, 2, name="migrate")
    first = failures(pod_with(failed), at(1))
    then = failures(pod_with(looping), at(3))
    assert list(first) == list(then) == ["crashloop/migrate"]
    assert first["crashloop/migrate"].title == f"Pod {NAME}: init container migrate failed"
    assert "exit code 1 (Error)" in first["crashloop/migrate"].description
    assert then["crashloop/migrate"].title == (
        f"Pod {NAME}: init container migrate in CrashLoopBackOff"
    )
    assert then["crashloop/migrate"].details["initContainer"] is True


def test_an_init_container_that_fails_a_pod_that_never_restarts_is_its_failure(
    make_pod: Factory, make_container: Factory
) -> None:
    failed = make_container(
        "migrate", "migrate:2", ready=False, state=terminated("Error", 1, at(0), at(0.5))
    )
    app = make_container(ready=False, state=waiting("PodInitializing"))
    raw = make_pod(phase="Failed", ready=False, init_containers=[failed], containers=[app])
    found = failures(pod_snapshot(raw), at(1))
    assert list(found) == ["failed"]
    assert found["failed"].description == "Container migrate exited with code 1 (Error)"


def probed(raw: dict[str, Any]) -> dict[str, Any]:
    raw["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 80}}
    return raw


def test_a_liveness_probe_killing_a_container_again_and_again_is_a_crash_loop(
    make_pod: Factory, make_container: Factory
) -> None:
    def killed(restarts: int, since: datetime) -> PodSnapshot:
        container = make_container(
            restart_count=restarts,
            state=running(since),
            last_state=terminated("Error", 137, since - timedelta(minutes=2), since),
        )
        return pod_snapshot(probed(make_pod(containers=[container])))

    assert failures(killed(2, at(6)), at(7)) == {}  # twice is not yet a loop
    found = failures(killed(3, at(6)), at(7))
    assert list(found) == ["crashloop/app"]
    event = found["crashloop/app"]
    assert "last exit code 137 (Error), as when its liveness probe fails" in event.description
    assert event.details["probes"] == ["liveness"]
    assert event.details["lastExitCode"] == 137
    # Up for as long as the kubelet takes to forgive it: recovered, nothing to say.
    assert failures(killed(3, at(6)), at(6) + RECOVERY) == {}
    # The policy's count.
    assert list(failures(killed(2, at(6)), at(7), policy=FailurePolicy(restarts=2))) == [
        "crashloop/app"
    ]


def test_a_run_of_restarts_after_a_recovery_is_a_new_event(
    make_pod: Factory, make_container: Factory
) -> None:
    # Five restarts long ago, then a run of two hours, then crashes again.
    long_run = terminated("Error", 1, at(10), at(130))
    after = crash_looping(make_container, 6, state=running(at(130)), last=long_run)
    pod = pod_snapshot(make_pod(containers=[after]))
    assert failures(pod, at(131)) == {}  # one restart since: not a loop yet
    known = loop_starts(pod, {})
    assert known == {"app": 5}
    # Back-off: a new run of restarts, under a key of its own.
    backing_off = crash_looping(make_container, 7, last=terminated("Error", 1, at(131), at(132)))
    later = pod_snapshot(make_pod(containers=[backing_off]))
    found = failures(later, at(133), loops=known)
    assert list(found) == ["crashloop/app/5"]
    assert found["crashloop/app/5"].details["restartsInLoop"] == 2
    assert loop_starts(later, known) == known
    # Without what was kept, the Pod's first run of restarts is assumed.
    assert list(failures(later, at(133))) == ["crashloop/app"]


def test_a_container_that_cannot_start_says_why(make_pod: Factory, make_container: Factory) -> None:
    error = 'exec: "serve": executable file not found in $PATH'
    # It never ran: the runtime reports it started at the epoch, which is no long run.
    start_error = terminated("StartError", 128, datetime(1970, 1, 1, tzinfo=UTC), at(1))
    start_error["terminated"]["message"] = error
    first = make_container(
        ready=False, restart_count=1, state=waiting("RunContainerError", error), last_state={}
    )
    then = crash_looping(make_container, 4, last=start_error)
    for container in (first, then):
        (event,) = failures(pod_snapshot(make_pod(containers=[container])), at(2)).values()
        assert event.key == f"pod/{UID}/crashloop/app"
        assert event.title == f"Pod {NAME}: container app cannot start"
        assert event.description.endswith(error)
        assert event.details["reason"] == "RunContainerError"


# -- a Pod that runs without becoming ready --------------------------------------------------


def not_ready(make_pod: Factory, since: datetime, containers: Any = None) -> PodSnapshot:
    raw = make_pod(ready=False, containers=containers)
    with_condition(
        raw,
        "Ready",
        "False",
        reason="ContainersNotReady",
        message="containers with unready status: [app]",
        lastTransitionTime=since,
    )
    return pod_snapshot(raw)


def test_a_pod_never_ready_fails_after_its_tolerance(make_pod: Factory) -> None:
    pod = not_ready(make_pod, at(0))
    assert failures(pod, at(9)) == {}
    assert next_due(pod, at(9)) == at(10)
    found = failures(pod, at(10))
    key = f"notready/{int(at(0).timestamp())}"
    assert list(found) == [key]
    event = found[key]
    assert event.title == f"Pod {NAME} not ready for 10m"
    assert event.description == (
        "Running on sim-node-1, not ready: "
        "ContainersNotReady: containers with unready status: [app]"
    )
    assert event.timestamp == at(0)
    assert event.details["toleratedSeconds"] == 600
    # Its Deployment tolerates less (progressDeadlineSeconds): that is the threshold.
    assert list(failures(pod, at(2), not_ready_after=timedelta(minutes=2))) == [key]
    # Ready again, then not ready again: a new occurrence.
    assert list(failures(not_ready(make_pod, at(30)), at(40))) == [
        f"notready/{int(at(30).timestamp())}"
    ]


def test_a_pod_not_ready_because_a_container_fails_is_that_failure_only(
    make_pod: Factory, make_container: Factory
) -> None:
    pod = not_ready(make_pod, at(0), containers=[crash_looping(make_container, 5)])
    assert list(failures(pod, at(30))) == ["crashloop/app"]
    assert next_due(pod, at(1)) is None


# -- how a Pod ends --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "message", "title"),
    [
        ("EvictionByEvictionAPI", "Eviction API: evicting", "evicted by the Eviction API"),
        (
            "PreemptionByScheduler",
            "default-scheduler: preempting to accommodate a higher priority pod",
            "preempted by the scheduler",
        ),
        (
            "DeletionByTaintManager",
            "Taint manager: deleting due to NoExecute taint",
            "deleted by the taint manager",
        ),
        ("DeletionByPodGC", "PodGC: node no longer exists", "deleted by the Pod garbage collector"),
    ],
)
def test_a_disruption_is_an_event_of_its_own_type(
    make_pod: Factory, make_container: Factory, reason: str, message: str, title: str
) -> None:
    killed = make_container(ready=False, state=terminated("Error", 137, at(0), at(5)))
    # The Pod garbage collector marks the Pod Failed as it deletes it.
    raw = make_pod(phase="Failed", ready=False, containers=[killed], deletion=stamp(at(5)))
    with_condition(raw, "DisruptionTarget", "True", reason=reason, message=message,
                   lastTransitionTime=at(4))  # fmt: skip
    found = failures(pod_snapshot(raw), at(6))
    assert list(found) == ["disrupted"]
    event = found["disrupted"]
    assert event.type is EventType.POD_DISRUPTION
    assert event.title == f"Pod {NAME} {title} on sim-node-1"
    assert event.description == message
    assert event.timestamp == at(4)
    assert (event.details["reason"], event.details["message"]) == (reason, message)


def test_the_kubelets_own_eviction_stays_a_failure(
    make_pod: Factory, make_container: Factory
) -> None:
    raw = make_pod(
        phase="Failed",
        ready=False,
        reason="Evicted",
        message="The node was low on resource: memory.",
        containers=[make_container(ready=False, state=terminated("Error", 137, at(0), at(5)))],
    )
    with_condition(raw, "DisruptionTarget", "True", reason="TerminationByKubelet",
                   message="The node was low on resource: memory.")  # fmt: skip
    found = failures(pod_snapshot(raw), at(6))
    assert list(found) == ["evicted"]
    assert found["evicted"].type is EventType.POD_FAILURE


def test_a_pod_that_fails_as_it_is_deleted_did_not_fail(
    make_pod: Factory, make_container: Factory
) -> None:
    # A real kubelet stops a deleted Pod's containers (SIGTERM: exit 143) and reports Failed.
    stopped = make_container(
        ready=False,
        state=terminated(
            "Error",
            143,
            at(0),
            at(
                20,
            ),
        ),
    )
    asked = at(20) - timedelta(seconds=10)  # the deletion was asked for before they stopped
    raw = make_pod(phase="Failed", ready=False, containers=[stopped],
                   deletion=stamp(asked + timedelta(seconds=30)))  # fmt: skip
    assert failures(pod_snapshot(raw), at(21)) == {}
    # One that had failed before its deletion was asked for did fail.
    crashed = make_container(ready=False, state=terminated("Error", 1, at(0), at(19)))
    raw = make_pod(phase="Failed", ready=False, containers=[crashed],
                   deletion=stamp(at(20) + timedelta(seconds=30)))  # fmt: skip
    assert list(failures(pod_snapshot(raw), at(21))) == ["failed"]


def test_same_state_same_failures(make_pod: Factory, make_container: Factory) -> None:
    pod = not_ready(make_pod, at(0), containers=[make_container(ready=False)])
    assert pod_failures(pod, at(20)) == pod_failures(pod, at(20))
