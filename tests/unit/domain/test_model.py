"""Snapshots taken from raw Kubernetes objects keep what the rules need and tolerate gaps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cortex_events.domain.model import ALL_EVENT_TYPES, EPOCH, EventType
from cortex_events.domain.snapshots import deployment_snapshot, pod_snapshot

Factory = Callable[..., dict[str, Any]]


def test_event_types_keep_the_seven_contract_names_and_add_one_set_per_kind() -> None:
    assert {t.value for t in ALL_EVENT_TYPES} == {
        "POD_CREATION",
        "POD_FAILURE",
        "POD_DELETION",
        "POD_DISRUPTION",
        "DEPLOYMENT_CREATION",
        "DEPLOYMENT_ROLLOUT",
        "DEPLOYMENT_SCALE",
        "DEPLOYMENT_DELETION",
        "STATEFULSET_CREATION",
        "STATEFULSET_ROLLOUT",
        "STATEFULSET_SCALE",
        "STATEFULSET_DELETION",
        "DAEMONSET_CREATION",
        "DAEMONSET_ROLLOUT",
        "DAEMONSET_DELETION",
        "JOB_RUN",
        "CRONJOB_SCHEDULE",
        "ARGO_ROLLOUT_CREATION",
        "ARGO_ROLLOUT_REVISION",
        "ARGO_ROLLOUT_SCALE",
        "ARGO_ROLLOUT_DELETION",
        "DEPLOYMENT_PODS",
        "STATEFULSET_PODS",
        "DAEMONSET_PODS",
        "JOB_PODS",
        "ARGO_ROLLOUT_PODS",
    }
    assert EventType.POD_FAILURE == "POD_FAILURE"


def test_pod_snapshot_reads_identity_state_and_owner(make_pod: Factory) -> None:
    pod = pod_snapshot(
        make_pod(annotations={"cortex.io/tag": "web", "cortex.io/events": "enabled"})
    )
    assert pod.ref.kind == "Pod"
    assert (pod.ref.namespace, pod.ref.name, pod.ref.uid) == (
        "shop",
        "web-5d8f7c9b4-x2k9p",
        "5f0c2a1e-pod-0001",
    )
    assert pod.created == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert pod.deleted_at is None
    assert pod.owner_replicaset == "web-5d8f7c9b4"
    assert pod.node_name == "sim-node-1"
    assert pod.phase == "Running"
    assert pod.ready is True
    assert pod.images == ("nginx:1.25",)
    assert pod.labels == {"app": "web", "pod-template-hash": "5d8f7c9b4"}


def test_pod_snapshot_keeps_only_cortex_annotations(make_pod: Factory) -> None:
    pod = pod_snapshot(make_pod(annotations={"cortex.io/tag": "web"}))
    assert pod.annotations == {"cortex.io/tag": "web"}


def test_pod_snapshot_reads_container_states(make_pod: Factory, make_container: Factory) -> None:
    crashing = make_container(
        "worker",
        "busybox:1.36",
        ready=False,
        restart_count=4,
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        last_state={
            "terminated": {
                "reason": "OOMKilled",
                "exitCode": 137,
                "finishedAt": "2026-03-01T10:05:00Z",
            }
        },
    )
    pod = pod_snapshot(make_pod(containers=[make_container(), crashing]))
    app, worker = pod.containers
    assert app.name == "app"
    assert app.ready is True
    assert app.waiting_reason is None
    assert worker.image == "busybox:1.36"
    assert worker.restart_count == 4
    assert worker.waiting_reason == "CrashLoopBackOff"
    assert worker.waiting_message == "back-off 40s"
    assert worker.last_terminated_reason == "OOMKilled"
    assert worker.last_terminated_exit_code == 137
    assert worker.last_terminated_at == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert worker.terminated_reason is None


def test_init_containers_come_first_and_are_marked(
    make_pod: Factory, make_container: Factory
) -> None:
    init = make_container(
        "migrate",
        "migrate:2",
        ready=False,
        state={"terminated": {"reason": "Completed", "exitCode": 0}},
    )
    pod = pod_snapshot(make_pod(init_containers=[init]))
    assert [(c.name, c.init) for c in pod.containers] == [("migrate", True), ("app", False)]
    assert pod.containers[0].terminated_exit_code == 0
    assert pod.images == ("nginx:1.25",)


def test_deletion_timestamp_is_used_unless_given(make_pod: Factory) -> None:
    raw = make_pod(deletion="2026-03-01T11:00:00Z")
    # The fixture's grace period is 30 s: deletion was asked for 30 s before the timestamp.
    assert pod_snapshot(raw).deleted_at == datetime(2026, 3, 1, 10, 59, 30, tzinfo=UTC)
    given = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert pod_snapshot(raw, deleted_at=given).deleted_at == given


def test_pending_pod_without_statuses_or_node(make_pod: Factory) -> None:
    raw = make_pod(phase="Pending", ready=False, node=None, containers=[])
    raw["spec"]["containers"] = [{"name": "app", "image": "nginx:1.25"}]
    pod = pod_snapshot(raw)
    assert pod.node_name is None
    assert pod.containers == ()
    assert pod.images == ("nginx:1.25",)
    assert pod.ready is False


def test_tolerates_a_nearly_empty_object() -> None:
    pod = pod_snapshot({"metadata": {"name": "bare"}})
    assert pod.ref.name == "bare"
    assert pod.ref.namespace == "default"
    assert pod.created == EPOCH
    assert pod.phase == "Pending"
    assert pod.containers == ()
    assert pod.owner_replicaset is None
    deployment = deployment_snapshot({"metadata": {"name": "bare"}, "status": None})
    assert deployment.replicas == 1
    assert deployment.revision is None
    assert deployment.images == ()


def test_malformed_values_become_empty(make_pod: Factory) -> None:
    raw = make_pod()
    raw["metadata"]["creationTimestamp"] = "yesterday"
    raw["metadata"]["labels"] = {"app": "web", "broken": 5}
    raw["status"]["containerStatuses"][0]["restartCount"] = "many"
    pod = pod_snapshot(raw)
    assert pod.created == EPOCH
    assert pod.labels == {"app": "web"}
    assert pod.containers[0].restart_count == 0


def test_deployment_snapshot_reads_spec_status_and_revision(make_deployment: Factory) -> None:
    d = deployment_snapshot(
        make_deployment(
            replicas=5,
            generation=4,
            observed_generation=3,
            revision=3,
            images=("nginx:1.26", "envoy:1.30"),
            updated=2,
            available=4,
            ready=4,
            progressing_reason="ReplicaSetUpdated",
            progressing_message='ReplicaSet "web-7c9" is progressing.',
            annotations={"cortex.io/tag": "web-api", "other.io/x": "y"},
        )
    )
    assert d.ref.kind == "Deployment"
    assert (d.generation, d.observed_generation) == (4, 3)
    assert (d.replicas, d.updated_replicas, d.available_replicas, d.ready_replicas) == (5, 2, 4, 4)
    assert d.revision == 3
    assert d.images == ("nginx:1.26", "envoy:1.30")
    assert d.progressing_reason == "ReplicaSetUpdated"
    assert d.progressing_message == 'ReplicaSet "web-7c9" is progressing.'
    assert d.progressing_updated == datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)
    assert d.annotations == {"cortex.io/tag": "web-api"}


def test_deployment_without_replicas_defaults_to_one(make_deployment: Factory) -> None:
    assert deployment_snapshot(make_deployment(replicas=None)).replicas == 1
    assert deployment_snapshot(make_deployment(replicas=0)).replicas == 0


def test_opt_out_annotation_is_case_insensitive(make_pod: Factory) -> None:
    assert pod_snapshot(make_pod(annotations={"cortex.io/events": " Disabled "})).events_disabled
    assert not pod_snapshot(make_pod(annotations={"cortex.io/events": "on"})).events_disabled


def test_snapshots_of_the_same_object_are_equal(make_pod: Factory) -> None:
    assert pod_snapshot(make_pod()) == pod_snapshot(make_pod())
    assert pod_snapshot(make_pod()) != pod_snapshot(make_pod(ready=False))


def test_snapshots_can_be_kept_in_sets(make_pod: Factory, make_deployment: Factory) -> None:
    pods = {pod_snapshot(make_pod()), pod_snapshot(make_pod()), pod_snapshot(make_pod(uid="b"))}
    assert len(pods) == 2
    deployments = {deployment_snapshot(make_deployment()), deployment_snapshot(make_deployment())}
    assert len(deployments) == 1


def test_deletion_time_is_when_deletion_was_asked_not_the_end_of_the_grace_period() -> None:
    from cortex_events.domain.snapshots import pod_snapshot

    snapshot = pod_snapshot(
        {
            "metadata": {
                "name": "web-1",
                "namespace": "shop",
                "uid": "u1",
                "creationTimestamp": "2026-11-26T07:00:00Z",
                "deletionTimestamp": "2026-11-26T07:10:30Z",
                "deletionGracePeriodSeconds": 30,
            },
            "status": {"phase": "Running"},
        }
    )
    assert snapshot.deleted_at is not None
    assert snapshot.deleted_at.isoformat() == "2026-11-26T07:10:00+00:00"


def test_pod_snapshot_keeps_what_the_failure_rules_read_and_bounds_messages(
    make_pod: Factory, make_container: Factory
) -> None:
    message = "0/5000 nodes are available: " + "1 node(s) had untolerated taint, " * 500
    raw = make_pod(phase="Pending", ready=False, node=None, containers=[])
    raw["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": message, "lastTransitionTime": "2026-03-01T10:00:05Z"},
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
         "message": "Eviction API: evicting", "lastTransitionTime": "2026-03-01T10:01:00Z"},
    ]  # fmt: skip
    pod = pod_snapshot(raw)
    assert pod.unscheduled is not None
    assert pod.unscheduled.reason == "Unschedulable"
    assert pod.unscheduled.since == datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)
    assert pod.unscheduled.message is not None
    assert len(pod.unscheduled.message) == 300
    assert pod.unscheduled.message.endswith("…")
    assert pod.disruption is not None
    assert pod.disruption.message == "Eviction API: evicting"
    assert pod.not_ready is None  # no Ready condition yet
    assert pod.started_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # kept while not ready

    probed = make_container(
        restart_count=2,
        last_state={"terminated": {"reason": "Error", "exitCode": 137, "message": "x" * 5000,
                                   "startedAt": "2026-03-01T10:00:00Z",
                                   "finishedAt": "2026-03-01T10:03:00Z"}},
    )  # fmt: skip
    raw = make_pod(containers=[probed])
    raw["spec"]["containers"][0]["livenessProbe"] = {"exec": {"command": ["true"]}}
    (container,) = pod_snapshot(raw).containers
    assert container.probes == ("liveness",)
    assert container.last_started_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert container.running_since == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert container.last_terminated_message is not None
    assert len(container.last_terminated_message) == 300
    # A ready Pod, a container that never restarted: nothing kept that no rule reads.
    healthy = pod_snapshot(make_pod())
    assert healthy.started_at is None
    assert healthy.containers[0].running_since is None


def test_deployment_snapshot_reads_its_progress_deadline(make_deployment: Factory) -> None:
    raw = make_deployment()
    assert deployment_snapshot(raw).progress_deadline == 600  # as the API server defaults it
    del raw["spec"]["progressDeadlineSeconds"]
    assert deployment_snapshot(raw).progress_deadline is None
    raw["spec"]["progressDeadlineSeconds"] = 120
    assert deployment_snapshot(raw).progress_deadline == 120
