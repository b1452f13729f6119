"""The simulated StatefulSet, Job and CronJob controllers, driven with the official client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cortex_events_sim.cluster import BEHAVIOR_ANNOTATION
from cortex_events_sim.cluster.batch_controllers import CronJobController
from cortex_events_sim.cluster.owners import OwnerIndex
from cortex_events_sim.kubeapi.store import Store
from cortex_events_sim.server_thread import ServerThread, serve_in_thread
from tests.sim.test_cluster import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[ServerThread]:
    with serve_in_thread(cluster=True) as handle:
        yield handle


def statefulset(image: str, partition: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"partition": partition}},
            "template": {"metadata": {"labels": {"app": "db"}},
                         "spec": {"containers": [{"name": "db", "image": image}]}},
        },
    }  # fmt: skip


def images_by_pod(core: Any) -> dict[str, str]:
    pods = core.list_namespaced_pod("default", label_selector="app=db").items
    return {
        p.metadata.name: p.spec.containers[0].image
        for p in pods
        if p.metadata.deletion_timestamp is None
    }


def read(apps: Any) -> dict[str, Any]:
    """The StatefulSet as stored (raw: the generated model refuses a status not yet written)."""
    answer = apps.read_namespaced_stateful_set("db", "default", _preload_content=False)
    found: dict[str, Any] = json.loads(answer.data)
    return found


def status(apps: Any) -> dict[str, Any]:
    return dict(read(apps).get("status") or {})


def test_a_statefulset_gets_ordered_pods_revisions_and_a_partitioned_rollout(
    core: Any, apps: Any
) -> None:
    apps.create_namespaced_stateful_set("default", statefulset("postgres:15"),
                                        _preload_content=False)  # fmt: skip
    first = eventually(lambda: status(apps), lambda s: s["readyReplicas"] == 3)
    assert first["currentRevision"] == first["updateRevision"]
    assert set(images_by_pod(core)) == {"db-0", "db-1", "db-2"}
    # Partition 1: pods 1 and 2 take revision 2, pod 0 keeps revision 1.
    apps.patch_namespaced_stateful_set("db", "default", statefulset("postgres:16", partition=1),
                                       _preload_content=False)  # fmt: skip

    def partial(s: dict[str, Any]) -> bool:
        return bool(s["updatedReplicas"] == 2 and s["readyReplicas"] == 3)

    held = eventually(lambda: status(apps), partial)
    assert held["currentRevision"] != held["updateRevision"]
    assert images_by_pod(core) == {"db-0": "postgres:15", "db-1": "postgres:16",
                                   "db-2": "postgres:16"}  # fmt: skip
    revisions = apps.list_namespaced_controller_revision("default").items
    assert sorted(r.revision for r in revisions) == [1, 2]
    assert {r.metadata.owner_references[0].name for r in revisions} == {"db"}
    # Partition 0: the rest follows, and the update revision becomes the current one.
    apps.patch_namespaced_stateful_set("db", "default", statefulset("postgres:16"),
                                       _preload_content=False)  # fmt: skip
    done = eventually(lambda: status(apps),
                      lambda s: s["currentRevision"] == s["updateRevision"])  # fmt: skip
    assert done["updatedReplicas"] == 3
    assert set(images_by_pod(core).values()) == {"postgres:16"}


def job(name: str, fate: str, owner: Any = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob",
                                        "name": owner.metadata.name, "uid": owner.metadata.uid,
                                        "controller": True}]  # fmt: skip
    return {
        "metadata": metadata,
        "spec": {"backoffLimit": 1, "template": {
            "metadata": {"annotations": {BEHAVIOR_ANNOTATION: fate}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "a", "image": "busybox:1"}]}}},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("fate", "condition", "failed"),
    [("Succeeded", ("Complete", None), 0), ("Failed", ("Failed", "BackoffLimitExceeded"), 2)],
)
def test_a_job_runs_pods_until_one_succeeds_or_its_backoff_limit(
    batch: Any, fate: str, condition: tuple[str, str | None], failed: int
) -> None:
    batch.create_namespaced_job("default", job("run", fate))
    found = eventually(lambda: batch.read_namespaced_job("run", "default"),
                       lambda j: any(c.status == "True" for c in j.status.conditions))  # fmt: skip
    (end,) = found.status.conditions
    assert (end.type, end.reason) == condition
    assert found.status.start_time is not None
    assert (found.status.failed or 0) == failed  # backoffLimit 1: two tries


def test_a_cronjob_starts_the_latest_due_run_and_records_it() -> None:
    store = Store()
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": "default"}})  # fmt: skip
    created = store.create(
        "cronjobs.batch",
        {"apiVersion": "batch/v1", "kind": "CronJob",
         "metadata": {"name": "nightly", "namespace": "default"},
         "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {
             "spec": {"containers": [{"name": "a", "image": "busybox:1"}]}}}}}},
    )  # fmt: skip
    made = datetime.fromisoformat(created["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    controller = CronJobController(OwnerIndex(store))
    # At its creation nothing is due. (A second later would be flaky: one CronJob in 300 is
    # created in the last second before a five-minute mark.)
    controller.sync_all(made)
    assert store.list("jobs.batch", "default") == []
    later = made + timedelta(minutes=12)
    controller.sync_all(later)
    controller.sync_all(later)  # the same moment again: no second Job
    due = _every_five(made, later)
    (made_job,) = store.list("jobs.batch", "default")
    assert made_job["metadata"]["ownerReferences"][0]["name"] == "nightly"
    stamp = max(due).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        made_job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        == stamp
    )
    stored = store.peek("cronjobs.batch", "nightly", "default")
    assert stored is not None
    assert stored["status"]["lastScheduleTime"] == stamp


def _every_five(after: datetime, until: datetime) -> list[datetime]:
    moment = after.replace(second=0, microsecond=0, tzinfo=UTC)
    found = []
    while moment <= until:
        if moment > after and moment.minute % 5 == 0:
            found.append(moment)
        moment += timedelta(minutes=1)
    return found
