"""Pod states -> events: creation (updated with state), failures, deletion, stable keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cortex_events.domain.intents import EventIntent
from cortex_events.domain.model import EventType, PodSnapshot
from cortex_events.domain.pods import pod_events
from cortex_events.domain.snapshots import pod_snapshot

Factory = Callable[..., dict[str, Any]]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UID = "5f0c2a1e-pod-0001"


def events(snapshot: PodSnapshot, prev: PodSnapshot | None = None) -> dict[str, EventIntent]:
    return {e.key: e for e in pod_events(prev, snapshot, now=NOW)}


def failures(snapshot: PodSnapshot) -> dict[str, EventIntent]:
    return {k: e for k, e in events(snapshot).items() if e.type is EventType.POD_FAILURE}


def waiting(reason: str, message: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message:
        state["message"] = message
    return {"waiting": state}


def oom(finished: str = "2026-03-01T10:05:00Z") -> dict[str, Any]:
    return {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": finished}}


def test_creation_follows_phase_and_readiness(make_pod: Factory) -> None:
    stages = [
        (make_pod(phase="Pending", ready=False, node=None, containers=[]), "Pending", False),
        (
            make_pod(
                phase="Pending",
                ready=False,
                containers=[make_container_waiting("ContainerCreating")],
            ),
            "Pending",
            False,
        ),
        (make_pod(phase="Running", ready=False), "Running", False),
        (make_pod(phase="Running", ready=True), "Running", True),
    ]
    descriptions = []
    for raw, phase, ready in stages:
        created = events(pod_snapshot(raw))[f"pod/{UID}/created"]
        assert created.type is EventType.POD_CREATION
        assert created.updatable
        assert created.title == "Pod web-5d8f7c9b4-x2k9p created"
        assert created.timestamp == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
        assert created.details["phase"] == phase
        assert created.details["ready"] is ready
        descriptions.append(created.description)
    assert descriptions == [
        "Pending, not yet scheduled",
        "Pending on sim-node-1",
        "Running on sim-node-1, not ready",
        "Running and ready on sim-node-1",
    ]


def make_container_waiting(reason: str) -> dict[str, Any]:
    return {
        "name": "app",
        "image": "nginx:1.25",
        "ready": False,
        "restartCount": 0,
        "state": waiting(reason),
        "lastState": {},
    }


def test_creation_details_name_node_images_and_replicaset(make_pod: Factory) -> None:
    created = events(pod_snapshot(make_pod()))[f"pod/{UID}/created"]
    assert created.details == {
        "phase": "Running",
        "ready": True,
        "node": "sim-node-1",
        "images": ["nginx:1.25"],
        "replicaSet": "web-5d8f7c9b4",
    }


def test_healthy_running_pod_implies_only_its_creation(make_pod: Factory) -> None:
    assert list(events(pod_snapshot(make_pod()))) == [f"pod/{UID}/created"]


def test_deleted_pod_keeps_final_state_and_adds_deletion(make_pod: Factory) -> None:
    raw = make_pod(deletion="2026-03-01T11:30:00Z")
    found = events(pod_snapshot(raw))
    created = found[f"pod/{UID}/created"]
    assert created.description == "Running and ready on sim-node-1"
    assert created.details["phase"] == "Running"
    deleted = found[f"pod/{UID}/deleted"]
    assert deleted.type is EventType.POD_DELETION
    assert not deleted.updatable
    assert deleted.title == "Pod web-5d8f7c9b4-x2k9p deleted"
    assert deleted.description == "Deleted while ready on sim-node-1"
    # deletionTimestamp minus the 30 s grace period: when the deletion was asked for.
    assert deleted.timestamp == datetime(2026, 3, 1, 11, 29, 30, tzinfo=UTC)


def test_oom_kill_has_one_key_before_and_after_the_restart(
    make_pod: Factory, make_container: Factory
) -> None:
    # Restart policy Never or the moment before the restart: current state terminated.
    terminated = make_container(ready=False, restart_count=0, state=oom())
    # After the restart: running again, the kill moved to lastState, restartCount 1.
    restarted = make_container(restart_count=1, last_state=oom())
    before = failures(pod_snapshot(make_pod(containers=[terminated])))
    after = failures(pod_snapshot(make_pod(containers=[restarted])))
    key = f"pod/{UID}/oomkilled/app/0"
    assert list(before) == [key]
    assert list(after) == [key]
    event = before[key]
    assert event.title == "Pod web-5d8f7c9b4-x2k9p: container app OOMKilled"
    assert "exceeding its memory limit (exit code 137)" in event.description
    assert event.timestamp == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert event.details["reason"] == "OOMKilled"
    assert event.details["exitCode"] == 137
    assert event.details["container"] == "app"
    assert not event.updatable


def test_each_oom_kill_is_its_own_event(make_pod: Factory, make_container: Factory) -> None:
    second_kill = make_container(
        ready=False,
        restart_count=1,
        state=oom("2026-03-01T10:09:00Z"),
        last_state=oom("2026-03-01T10:05:00Z"),
    )
    found = failures(pod_snapshot(make_pod(containers=[second_kill])))
    assert sorted(found) == [f"pod/{UID}/oomkilled/app/0", f"pod/{UID}/oomkilled/app/1"]
    assert found[f"pod/{UID}/oomkilled/app/1"].timestamp == datetime(2026, 3, 1, 10, 9, tzinfo=UTC)


def test_crash_loop_once_per_container(make_pod: Factory, make_container: Factory) -> None:
    def crashing(restarts: int) -> dict[str, Any]:
        return make_container(
            "worker",
            ready=False,
            restart_count=restarts,
            state=waiting("CrashLoopBackOff", "back-off 40s restarting failed container"),
            last_state={
                "terminated": {
                    "reason": "Error",
                    "exitCode": 1,
                    "finishedAt": "2026-03-01T10:07:00Z",
                }
            },
        )

    early = failures(pod_snapshot(make_pod(containers=[make_container(), crashing(3)])))
    later = failures(pod_snapshot(make_pod(containers=[make_container(), crashing(9)])))
    key = f"pod/{UID}/crashloop/worker"
    assert list(early) == [key]
    assert list(later) == [key]
    event = early[key]
    assert event.title == "Pod web-5d8f7c9b4-x2k9p: container worker in CrashLoopBackOff"
    assert event.description == (
        "Container worker (nginx:1.25) keeps crashing after 3 restarts; last exit code 1 (Error)"
    )
    assert event.details["lastExitCode"] == 1
    assert event.timestamp == datetime(2026, 3, 1, 10, 7, tzinfo=UTC)


def test_image_pull_failure_once_per_container_and_image(
    make_pod: Factory, make_container: Factory
) -> None:
    def pulling(reason: str, image: str) -> PodSnapshot:
        message = f'Back-off pulling image "{image}"'
        container = make_container(
            image=image, ready=False, state=waiting(reason, message), last_state={}
        )
        return pod_snapshot(make_pod(phase="Pending", ready=False, containers=[container]))

    err = failures(pulling("ErrImagePull", "registry.example.com/shop/nginx:nope"))
    backoff = failures(pulling("ImagePullBackOff", "registry.example.com/shop/nginx:nope"))
    fixed_typo = failures(pulling("ImagePullBackOff", "registry.example.com/shop/nginx:nope2"))
    assert list(err) == list(backoff)
    assert list(err) == [f"pod/{UID}/imagepull/app/registry.example.com/shop/nginx:nope"]
    assert list(fixed_typo) != list(err)
    event = backoff[next(iter(backoff))]
    assert event.title == "Pod web-5d8f7c9b4-x2k9p: cannot pull image nginx:nope"
    assert event.description.startswith("Container app: ImagePullBackOff: Back-off pulling")
    assert event.timestamp == NOW


def test_init_container_failures_are_reported(make_pod: Factory, make_container: Factory) -> None:
    init = make_container("migrate", "migrate:2", ready=False, state=waiting("ImagePullBackOff"))
    found = failures(
        pod_snapshot(
            make_pod(
                phase="Pending",
                ready=False,
                init_containers=[init],
                containers=[make_container(ready=False, state=waiting("PodInitializing"))],
            )
        )
    )
    (event,) = found.values()
    assert event.details["initContainer"] is True
    assert event.description.startswith("Init container migrate: ImagePullBackOff")


def test_failed_pod_once(make_pod: Factory, make_container: Factory) -> None:
    exited = make_container(
        ready=False,
        state={
            "terminated": {"reason": "Error", "exitCode": 2, "finishedAt": "2026-03-01T10:02:00Z"}
        },
    )
    found = failures(
        pod_snapshot(make_pod(phase="Failed", ready=False, containers=[exited], replicaset=None))
    )
    event = found[f"pod/{UID}/failed"]
    assert list(found) == [f"pod/{UID}/failed"]
    assert event.title == "Pod web-5d8f7c9b4-x2k9p failed"
    assert event.description == "Container app exited with code 2 (Error)"
    assert event.timestamp == datetime(2026, 3, 1, 10, 2, tzinfo=UTC)
    created = events(
        pod_snapshot(make_pod(phase="Failed", ready=False, containers=[exited], replicaset=None))
    )[f"pod/{UID}/created"]
    assert created.description == "Failed on sim-node-1: container app exited with code 2 (Error)"


def test_eviction_replaces_the_failed_event(make_pod: Factory, make_container: Factory) -> None:
    raw = make_pod(
        phase="Failed",
        ready=False,
        reason="Evicted",
        message="The node was low on resource: memory. ",
        containers=[make_container(ready=False, state={"terminated": {"exitCode": 137}})],
    )
    found = failures(pod_snapshot(raw))
    assert list(found) == [f"pod/{UID}/evicted"]
    event = found[f"pod/{UID}/evicted"]
    assert event.title == "Pod web-5d8f7c9b4-x2k9p evicted from sim-node-1"
    assert event.description == "The node was low on resource: memory."
    assert event.timestamp == NOW
    created = events(pod_snapshot(raw))[f"pod/{UID}/created"]
    assert created.description.startswith("Evicted from sim-node-1")


def test_same_state_same_keys_and_content(make_pod: Factory, make_container: Factory) -> None:
    def raw() -> dict[str, Any]:
        return make_pod(
            containers=[make_container(restart_count=2, last_state=oom())],
            deletion="2026-03-01T11:00:00Z",
        )

    first = pod_events(None, pod_snapshot(raw()), now=NOW)
    again = pod_events(pod_snapshot(raw()), pod_snapshot(raw()), now=NOW)
    assert first == again


def test_different_pods_get_different_keys(make_pod: Factory) -> None:
    a = {e.key for e in pod_events(None, pod_snapshot(make_pod(uid="uid-a")), now=NOW)}
    b = {e.key for e in pod_events(None, pod_snapshot(make_pod(uid="uid-b")), now=NOW)}
    assert a.isdisjoint(b)


def test_naive_now_is_taken_as_utc(make_pod: Factory, make_container: Factory) -> None:
    container = make_container(ready=False, state=waiting("ErrImagePull"))
    pod = pod_snapshot(make_pod(containers=[container]))
    (event,) = [
        e for e in pod_events(None, pod, now=NOW.replace(tzinfo=None)) if e.details.get("reason")
    ]
    assert event.timestamp == NOW
