"""What every kind's rules share: the creation and deletion event, a revision's rollout event,
and the replica counts read from a raw workload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest

from cortex_events.domain.changes import ChangeDetails
from cortex_events.domain.deployments import Revision, rollout_intent
from cortex_events.domain.lifecycle import lifecycle_event
from cortex_events.domain.model import EventType, WorkloadRef, replica_fields
from cortex_events.domain.parsing import object_parts
from cortex_events.domain.quiet import Quiet

AT = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("kind", "change", "key", "title"),
    [
        ("Pod", "created", "pod/u1/created", "Pod web-1 created"),
        ("Deployment", "deleted", "deployment/u1/deleted", "Deployment web-1 deleted"),
        ("StatefulSet", "created", "statefulset/u1/created", "StatefulSet web-1 created"),
        ("Rollout", "deleted", "argo-rollout/u1/deleted", "Rollout web-1 deleted"),
    ],
)
def test_a_creation_or_deletion_is_keyed_and_titled_alike_for_every_kind(
    kind: str, change: Literal["created", "deleted"], key: str, title: str
) -> None:
    ref = WorkloadRef(kind, "shop", "web-1", "u1")
    event = lifecycle_event(EventType.POD_CREATION, ref, change, "what it was", AT, {"a": 1})
    assert (event.key, event.title, event.description) == (key, title, "what it was")
    assert event.timestamp == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert (event.subject, event.details, event.updatable, event.quiet) == (
        ref,
        {"a": 1},
        False,
        None,
    )


def test_a_creation_event_may_be_updatable_and_quiet() -> None:
    ref = WorkloadRef("Pod", "shop", "web-1", "u1")
    quiet = Quiet.JOB_POD
    event = lifecycle_event(
        EventType.POD_CREATION, ref, "created", "Running", AT, {}, updatable=True, quiet=quiet
    )
    assert (event.updatable, event.quiet) == (True, quiet)


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("Deployment", "deployment/u1/rollout/3"),
        ("DaemonSet", "daemonset/u1/rollout/3"),
        ("Rollout", "argo-rollout/u1/revision/3"),
    ],
)
def test_a_rollout_event_is_dated_at_its_revision_and_says_what_changed(
    kind: str, key: str
) -> None:
    ref = WorkloadRef(kind, "shop", "web", "u1")
    change = ChangeDetails(by="kubectl", cause="bump")
    revision = Revision(3, ("app:2",), datetime(2026, 3, 1, tzinfo=UTC), details=change)
    details: dict[str, object] = {"revision": 3}
    event = rollout_intent(
        EventType.DEPLOYMENT_ROLLOUT, ref, revision, "Rollout of web", "Revision 3", details
    )
    assert (event.key, event.timestamp, event.updatable) == (key, revision.started, True)
    assert event.details == {"revision": 3, "changedBy": "kubectl", "changeCause": "bump"}
    assert event.description.startswith("Revision 3; ")
    assert event.description != "Revision 3"


def test_replica_counts_default_to_one_replica_only_where_unset() -> None:
    metadata, spec, status = object_parts(
        {"metadata": {"generation": 4}, "spec": {}, "status": {"readyReplicas": 1}}
    )
    assert replica_fields(metadata, spec, status) == {
        "generation": 4,
        "replicas": 1,
        "ready_replicas": 1,
        "updated_replicas": 0,
    }
    assert replica_fields({}, {"replicas": 0}, {})["replicas"] == 0


def test_the_parts_of_an_object_are_empty_where_absent_or_malformed() -> None:
    assert object_parts({"metadata": {"name": "a"}, "spec": "junk"}) == ({"name": "a"}, {}, {})
